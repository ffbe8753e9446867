import Foundation

/// Creating, renaming and destroying apps: the store rows, the app's directory tree, and
/// (once processes run) its units.
struct AppLifecycle {
    let context: Context

    init(_ context: Context) {
        self.context = context
    }

    /// Creates the app, or fails with Dokku's "Name is already taken".
    func create(_ app: AppName) throws {
        let store = try context.store()
        guard try store.createApp(app) else { throw CommandError("Name is already taken") }
        context.output.step("Creating \(app)...")
        if try !store.domains(.global).isEmpty {
            context.output.step("Creating new app virtual host file...")
        }
        try prepareDirectories(app)
    }

    /// Removes the app, its processes, data and settings.
    func destroy(_ app: AppName) throws {
        context.output.step("Destroying \(app) (including all add-ons)")
        try context.store().deleteApp(app)
        let directory = context.settings.paths.app(app)
        if FileManager.default.fileExists(atPath: directory) {
            try FileManager.default.removeItem(atPath: directory)
        }
    }

    /// Renames the app; its settings, domains and files follow.
    func rename(_ old: AppName, to new: AppName, deploy: Bool) throws {
        context.output.step("Renaming \(old) to \(new)")
        try context.store().renameApp(old, to: new)
        let from = context.settings.paths.app(old)
        let to = context.settings.paths.app(new)
        if FileManager.default.fileExists(atPath: from) {
            try FileManager.default.moveItem(atPath: from, toPath: to)
        } else {
            try prepareDirectories(new)
        }
    }

    private func prepareDirectories(_ app: AppName) throws {
        let directory = context.settings.paths.app(app)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o711])
    }
}
