/// Dokku's deploy flow without containers: lock, (build,) start the new formation next to
/// the old, check it, switch the proxy, retire the old. Restarts and config changes take
/// the same path without the build.
struct Deployer {
    let context: Context

    init(_ context: Context) {
        self.context = context
    }

    /// A restart without downtime: the current release's formation starts fresh, is
    /// checked, takes the traffic, and the old instances stop.
    func restart(_ app: AppName) throws {
        try withDeployLock(app, operation: "restart") {
            try ProcessManager(context).restart(app)
            try RouteSync(context).update(app)
        }
    }

    /// Clears what a killed deploy left behind: a lock whose holder is gone.
    func recover(_ app: AppName) throws {
        let store = try context.store()
        if let lock = try store.deployLock(app), !ProcessIdentity.isAlive(pid: lock.pid, identity: lock.identity) {
            try store.releaseDeployLock(app)
        }
    }

    /// Runs `body` holding the app's deploy lock; a second deploy of the same app fails
    /// with Dokku's message, and a lock left by a dead process is taken over.
    func withDeployLock<T>(_ app: AppName, operation: String, _ body: () throws -> T) throws -> T {
        let store = try context.store()
        if try store.app(app)?.locked == true || store.acquireDeployLock(app, operation: operation) != nil {
            throw CommandError("\(app) currently has a deploy lock in place. Exiting...\nRun 'apps:unlock' to release the existing deploy lock")
        }
        defer { try? store.releaseDeployLock(app) }
        return try body()
    }
}
