internal import CGit2
import Foundation

/// A git repository through libgit2: create bare repositories, resolve revisions, extract
/// a revision's tree (with submodules) into a directory, clone.
package final class GitRepository {
    private let repository: OpaquePointer
    var repositoryPointer: OpaquePointer { repository }
    /// The repository's path (its git directory for a bare repository).
    package let path: String

    private static let initialized: Void = {
        git_libgit2_init()
    }()

    private init(_ repository: OpaquePointer, path: String) {
        self.repository = repository
        self.path = path
    }

    deinit {
        git_repository_free(repository)
    }

    /// Opens a repository. Inside a `pre-receive` hook the pushed objects still sit in a
    /// quarantine directory; it is added as an alternate so the pushed revision resolves.
    package static func open(_ path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(BuildError) -> GitRepository {
        _ = initialized
        var repository: OpaquePointer?
        try check(git_repository_open(&repository, path), "open \(path)")
        let repo = GitRepository(repository!, path: path)
        if let quarantine = environment["GIT_QUARANTINE_PATH"] ?? environment["GIT_OBJECT_DIRECTORY"], !quarantine.isEmpty {
            var odb: OpaquePointer?
            try check(git_repository_odb(&odb, repository), "open object database")
            defer { git_odb_free(odb) }
            try check(git_odb_add_disk_alternate(odb, quarantine), "add quarantine objects")
        }
        return repo
    }

    /// Creates a bare repository (or opens the existing one).
    package static func initBare(_ path: String) throws(BuildError) -> GitRepository {
        _ = initialized
        var repository: OpaquePointer?
        try check(git_repository_init(&repository, path, 1), "init \(path)")
        return GitRepository(repository!, path: path)
    }

    /// Clones `url` into `path` (bare or with a work tree).
    package static func clone(_ url: String, into path: String, bare: Bool) throws(BuildError) -> GitRepository {
        _ = initialized
        var options = git_clone_options()
        try check(git_clone_options_init(&options, UInt32(GIT_CLONE_OPTIONS_VERSION)), "clone options")
        options.bare = bare ? 1 : 0
        var repository: OpaquePointer?
        try check(git_clone(&repository, url, path, &options), "clone \(url)")
        return GitRepository(repository!, path: path)
    }

    /// Fetches every branch and tag of `origin` into this repository.
    package func fetchOrigin() throws(BuildError) {
        var remote: OpaquePointer?
        try Self.check(git_remote_lookup(&remote, repository, "origin"), "find origin")
        defer { git_remote_free(remote) }
        var options = git_fetch_options()
        try Self.check(git_fetch_options_init(&options, UInt32(GIT_FETCH_OPTIONS_VERSION)), "fetch options")
        options.prune = GIT_FETCH_PRUNE
        var refspecs = git_strarray()
        try Self.check(git_remote_fetch(remote, &refspecs, &options, nil), "fetch origin")
    }

    /// The full commit id a revision (`main`, a sha, `v1.2`, `origin/main`) names.
    package func resolve(_ revision: String) throws(BuildError) -> String {
        var object: OpaquePointer?
        try Self.check(git_revparse_single(&object, repository, revision), "find revision \(revision)")
        defer { git_object_free(object) }
        var commit: OpaquePointer?
        try Self.check(git_object_peel(&commit, object, GIT_OBJECT_COMMIT), "\(revision) is not a commit")
        defer { git_object_free(commit) }
        return Self.hex(git_object_id(commit))
    }

    /// Writes the tree of `revision` into `directory` (absolute), without touching the
    /// repository's index, then does the same for every submodule it records.
    package func extract(_ revision: String, into directory: String, submoduleCache: String? = nil) throws(BuildError) {
        var object: OpaquePointer?
        try Self.check(git_revparse_single(&object, repository, revision), "find revision \(revision)")
        defer { git_object_free(object) }
        var tree: OpaquePointer?
        try Self.check(git_object_peel(&tree, object, GIT_OBJECT_TREE), "read tree of \(revision)")
        defer { git_object_free(tree) }
        var options = git_checkout_options()
        try Self.check(git_checkout_options_init(&options, UInt32(GIT_CHECKOUT_OPTIONS_VERSION)), "checkout options")
        options.checkout_strategy = GIT_CHECKOUT_FORCE.rawValue | GIT_CHECKOUT_DONT_UPDATE_INDEX.rawValue
        let absolute = directory.hasPrefix("/") ? directory : FileManager.default.currentDirectoryPath + "/" + directory
        try? FileManager.default.createDirectory(atPath: absolute, withIntermediateDirectories: true)
        // A bare repository has no work tree, and checkout refuses trees with submodules
        // without one: lend it the target directory, in memory only (no config written).
        if git_repository_is_bare(repository) == 1 {
            try Self.check(git_repository_set_workdir(repository, absolute, 0), "set work tree")
        }
        let result = absolute.withCString { target in
            options.target_directory = target
            return git_checkout_tree(repository, tree, &options)
        }
        try Self.check(result, "extract \(revision)")
        try extractSubmodules(tree: tree!, into: absolute, cache: submoduleCache)
    }

    /// Reads `.gitmodules` of an extracted tree and extracts each submodule at the commit
    /// the tree records for it.
    ///
    /// `.gitmodules` is the pusher's: a path must stay inside the tree and a URL must be
    /// on the network (https, http or git). A path or `file://` URL, or one relative to the
    /// repository here, would have root clone another repository of this server (another
    /// app's) into the build.
    private func extractSubmodules(tree: OpaquePointer, into directory: String, cache: String?) throws(BuildError) {
        guard let text = try AppFiles.text(".gitmodules", in: directory, limit: AppFiles.smallLimit, links: .refused) else { return }
        for module in Submodule.parse(text) {
            guard Submodule.isInside(module.path) else {
                throw .refusedFile(path: ".gitmodules", reason: "names the submodule path \(module.path), which leaves the tree")
            }
            guard NetworkURL.isNetwork(module.url) else {
                throw .refusedFile(path: ".gitmodules", reason: "names the submodule URL \(module.url), which is not an https, http or git URL")
            }
            var entry: OpaquePointer?
            guard git_tree_entry_bypath(&entry, tree, module.path) == 0, let entry else { continue }
            defer { git_tree_entry_free(entry) }
            guard git_tree_entry_type(entry) == GIT_OBJECT_COMMIT else { continue }
            let commit = Self.hex(git_tree_entry_id(entry))
            let url = module.url
            let cacheRoot = cache ?? NSTemporaryDirectory()
            try? FileManager.default.createDirectory(atPath: cacheRoot, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let clonePath = try CacheSlot.directory(in: cacheRoot, for: url, suffix: ".submodule")
            let clone: GitRepository
            if FileManager.default.fileExists(atPath: clonePath) {
                clone = try GitRepository.open(clonePath, environment: [:])
                if (try? clone.resolve(commit)) == nil { try clone.fetchOrigin() }
            } else {
                clone = try GitRepository.clone(url, into: clonePath, bare: true)
            }
            try clone.extract(commit, into: directory + "/" + module.path, submoduleCache: cacheRoot)
        }
    }

    static func hex(_ oid: UnsafePointer<git_oid>?) -> String {
        var buffer = [CChar](repeating: 0, count: 41)
        git_oid_tostr(&buffer, 41, oid)
        return String(decoding: buffer.prefix(40).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func check(_ result: Int32, _ what: String) throws(BuildError) {
        guard result < 0 else { return }
        let message = git_error_last().map { String(cString: $0.pointee.message) } ?? "error \(result)"
        throw .git(operation: what, reason: message)
    }
}

/// One `[submodule]` section of `.gitmodules`.
struct Submodule: Equatable {
    var path: String
    var url: String

    static func parse(_ text: String) -> [Submodule] {
        var modules: [Submodule] = []
        var path: String?
        var url: String?
        func flush() {
            if let path, let url { modules.append(Submodule(path: path, url: url)) }
            path = nil
            url = nil
        }
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("[") { flush(); continue }
            let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { continue }
            if parts[0] == "path" { path = parts[1] }
            if parts[0] == "url" { url = parts[1] }
        }
        flush()
        return modules
    }

    /// A relative path of real names: no `..`, `.` or empty part, not absolute.
    static func isInside(_ path: String) -> Bool {
        !path.isEmpty && !path.hasPrefix("/") && !path.split(separator: "/", omittingEmptySubsequences: false).contains { $0.isEmpty || $0 == "." || $0 == ".." }
    }

}
