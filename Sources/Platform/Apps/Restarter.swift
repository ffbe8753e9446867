/// Applies a settings change to a deployed app, as Dokku does unless `--no-restart`:
/// config changes restart the processes, scale changes start or stop instances. An app
/// that was never deployed has nothing to apply.
struct Restarter {
    let context: Context

    init(_ context: Context) {
        self.context = context
    }

    /// Restarts the app's processes with its current release if it runs.
    func restartAfterConfigChange(_ app: AppName) throws {
        guard try context.store().currentRelease(app) != nil,
            try context.store().property(.app(app), "ps", "restore") != "false"
        else { return }
        context.output.step("Restarting app \(app)")
        try Deployer(context).restart(app)
    }

    /// Starts or stops instances so the running formation matches the recorded one.
    func applyFormation(_ app: AppName) throws {
        guard try context.store().currentRelease(app) != nil else { return }
        try ProcessManager(context).applyFormation(app)
        try RouteSync(context).update(app)
    }
}
