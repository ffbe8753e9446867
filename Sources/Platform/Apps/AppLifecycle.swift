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
        guard try store.createApp(app) else { throw CommandError("Name is already taken", kind: .conflict) }
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
        // Everything else of the app's too: one-off processes, builds, cron timers and their
        // runs, retirement helpers. None of its code keeps running once it is gone.
        // (An app never built has none, and needs no systemd to go.)
        if try !store.releases(app).isEmpty {
            let units = try context.supervisor().status(matching: [UnitNames.appUnitPattern(root: context.settings.rootSlice, app: app.rawValue)]).map(\.unit)
            try context.supervisor().stop(units)
        }
        try store.deleteApp(app)
        try RouteSync(context).update(app)
        if let user {
            if let ids = AppUser.uid(of: user) { orphanStorage(of: ids.uid) }
            AppUser.remove(user)
        }
        try Plugins(context).fire("post-delete", [app.rawValue])
        let directory = context.settings.paths.app(app)
        // The app's data, cache and trees are the app's to write: removed without
        // following a link it left there.
        do {
            try Beneath.removeTree(directory)
        } catch {
            // Out of the way, root's alone, so an app of the same name starts afresh.
            let aside = "\(context.settings.paths.apps)/.destroyed-\(app)-\(UUID().uuidString.prefix(8))"
            if Glibc.rename(directory, aside) == 0 { chmod(aside, 0o700) }
            context.output.warn("\(directory) could not be removed (\(error)); it was moved to \(aside)")
        }
    }

    /// Gives the storage directories the app's user owned to root, closed (0700): the
    /// system may hand the freed uid to the next user it creates, the user of a new app,
    /// which must not find the old app's files its own. The directories stay, as Dokku
    /// leaves storage after `apps:destroy`; `storage:ensure-directory --chown` gives one out
    /// again.
    private func orphanStorage(of uid: uid_t) {
        let storage = context.settings.paths.storage
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: storage),
            let directory = try? Beneath.openDirectory(storage)
        else { return }
        defer { close(directory) }
        for name in names {
            let fd = Beneath.open(name, at: directory, flags: O_RDONLY | O_DIRECTORY, links: .refused)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            var info = stat()
            guard fstat(fd, &info) == 0, info.st_uid == uid else { continue }
            fchown(fd, 0, 0)
            fchmod(fd, 0o700)
            context.output.detail("Storage \(storage)/\(name) kept, now root's (storage:ensure-directory --chown APP \(name) gives it to an app)")
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
        // Explicit modes: a directory left from before keeps none of its own.
        chmod(appDirectory, 0o750)
        chmod(paths.releases(app), 0o750)
        for private_ in [paths.data(app), paths.cache(app)] { chmod(private_, 0o700) }
        if let owner {
            chown(appDirectory, 0, owner.gid)
            chown(paths.releases(app), 0, owner.gid)
            chown(paths.data(app), owner.uid, owner.gid)
            chown(paths.cache(app), owner.uid, owner.gid)
        }
    }
}
