import Beneath
import Foundation
import Supervisor

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
        do {
            try prepareDirectories(app)
        } catch {
            try? store.deleteApp(app)
            throw error
        }
        try Plugins(context).fire("post-create", [app.rawValue])
    }

    /// Removes the app, its processes, data and settings.
    func destroy(_ app: AppName) throws {
        context.output.step("Destroying \(app) (including all add-ons)")
        let store = try context.store()
        let instances = try store.instances(app)
        if !instances.isEmpty {
            try ProcessManager(context).stop(instances)
        }
        let user = try AppUser.name(of: app, store: store)
        if try !store.releases(app).isEmpty {
            let timers = try context.supervisor().status(matching: ["\(context.settings.rootSlice)-\(UnitNames.escape(app.rawValue))-cron-*"]).map(\.unit)
            try context.supervisor().stop(timers)
        }
        try store.deleteApp(app)
        try RouteSync(context).update(app)
        if let user { AppUser.remove(user) }
        try Plugins(context).fire("post-delete", [app.rawValue])
        let directory = context.settings.paths.app(app)
        // The app's data, cache and trees are the app's to write: removed without
        // following a link it left there.
        do {
            try Beneath.removeTree(directory)
        } catch {
            throw CommandError("cannot remove \(directory): \(error)")
        }
    }

    /// Renames the app; its settings, domains and files follow.
    func rename(_ old: AppName, to new: AppName, deploy: Bool) throws {
        context.output.step("Renaming \(old) to \(new)")
        let instances = try context.store().instances(old)
        if !instances.isEmpty {
            // Units and paths carry the name: stop under the old name, start under the new.
            try ProcessManager(context).stop(instances)
            try RouteSync(context).update(old)
        }
        try context.store().renameApp(old, to: new)
        let from = context.settings.paths.app(old)
        let to = context.settings.paths.app(new)
        if FileManager.default.fileExists(atPath: from) {
            try FileManager.default.moveItem(atPath: from, toPath: to)
        } else {
            try prepareDirectories(new)
        }
        if deploy, !instances.isEmpty, try context.store().currentRelease(new) != nil {
            // As Dokku's rename, the app deploys again under its new name (without a
            // rebuild here: the release is already built).
            try Deployer(context).redeploy(new)
        } else if !instances.isEmpty {
            try RouteSync(context).update(new)
        }
    }

    /// Creates the app's user and directories. Only the app's group may enter the app
    /// directory; config (`ENV`) is root's alone; `data` and `cache` belong to the app.
    private func prepareDirectories(_ app: AppName) throws {
        let paths = context.settings.paths
        let fm = FileManager.default
        // App users must be able to traverse the root to reach their own tree.
        var info = stat()
        if stat(paths.root, &info) == 0, info.st_mode & 0o001 == 0 {
            chmod(paths.root, (info.st_mode & 0o7777) | 0o111)
        }
        try fm.createDirectory(atPath: paths.apps, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o711])
        var owner: (uid: uid_t, gid: gid_t)?
        if context.settings.appUsers {
            let user = try AppUser.create(for: app, prefix: context.settings.userPrefix, store: try context.store())
            owner = AppUser.uid(of: user)
        }
        let appDirectory = paths.app(app)
        try fm.createDirectory(atPath: appDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        try fm.createDirectory(atPath: paths.releases(app), withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        for private_ in [paths.data(app), paths.cache(app)] {
            try fm.createDirectory(atPath: private_, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        if let owner {
            chown(appDirectory, 0, owner.gid)
            chown(paths.releases(app), 0, owner.gid)
            chown(paths.data(app), owner.uid, owner.gid)
            chown(paths.cache(app), owner.uid, owner.gid)
        }
    }
}
