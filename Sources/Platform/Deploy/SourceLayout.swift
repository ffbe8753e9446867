import Foundation

/// The settings that choose which part of the pushed code is built, applied to the code
/// extracted into a new release tree before anything reads it, as Dokku applies them
/// after extracting a push:
/// - `builder:set APP build-dir DIR`: DIR's contents become the tree; the rest is dropped.
/// - `app-json:set APP appjson-path FILE`: FILE (in the built part) is read as app.json; if
///   it is missing the app is built as if it had no app.json.
enum SourceLayout {
    static func apply(_ app: AppName, tree: String, store: Store) throws {
        if let directory = try BuilderSettings.buildDirectory(app, store: store) {
            try keepOnly(directory, of: tree)
        }
        let appJSON = try AppJSONSettings.path(app, store: store)
        guard appJSON != "app.json" else { return }
        let standard = tree + "/app.json"
        try? FileManager.default.removeItem(atPath: standard)
        if let source = inside(tree, appJSON), isDirectory(source) == false {
            try FileManager.default.copyItem(atPath: source, toPath: standard)
        }
    }

    /// Makes `directory` (relative to `tree`) the whole tree.
    private static func keepOnly(_ directory: String, of tree: String) throws {
        guard let source = inside(tree, directory), isDirectory(source) == true else {
            throw CommandError("Specified build-dir not found in sourcecode working directory: \(directory)")
        }
        let fm = FileManager.default
        let kept = tree + ".build-dir"
        try? fm.removeItem(atPath: kept)
        try fm.moveItem(atPath: source, toPath: kept)
        try fm.removeItem(atPath: tree)
        try fm.moveItem(atPath: kept, toPath: tree)
    }

    /// `relative` under `tree`, when it resolves to a place inside the tree: a path with
    /// `..` or a symbolic link that leads out names nothing.
    private static func inside(_ tree: String, _ relative: String) -> String? {
        let path = tree + "/" + relative
        guard let root = realpath(tree), let resolved = realpath(path), resolved.hasPrefix(root + "/") else { return nil }
        return resolved
    }

    private static func realpath(_ path: String) -> String? {
        guard let resolved = Foundation.realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Whether a path names a directory (true) or a file (false); nil when nothing is
    /// there. Paths here are resolved already, so they are never symbolic links.
    private static func isDirectory(_ path: String) -> Bool? {
        var directory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &directory) else { return nil }
        return directory.boolValue
    }
}
