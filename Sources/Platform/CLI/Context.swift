import Supervisor

/// What every command runs with: settings, output, the store (opened on first use), and
/// the app named by the global `--app` flag.
final class Context {
    let settings: Settings
    var output: Output
    /// Set by the global `--force` flag (`dokku --force apps:destroy myapp`).
    var force = false
    private var openedStore: Store?
    fileprivate var openedSupervisor: Supervisor?

    init(settings: Settings, output: Output) {
        self.settings = settings
        self.output = output
    }

    /// A context over a store already open (the API server's, shared by its requests).
    init(settings: Settings, output: Output, store: Store) {
        self.settings = settings
        self.output = output
        openedStore = store
    }

    /// The state store, opened once.
    func store() throws -> Store {
        if let openedStore { return openedStore }
        do {
            let store = try Store(path: settings.paths.database)
            openedStore = store
            return store
        } catch {
            throw CommandError("cannot open the state database \(settings.paths.database): \(error)")
        }
    }

    /// Validates an app argument without requiring the app to exist.
    func appName(_ raw: String?) throws -> AppName {
        guard let raw, !raw.isEmpty else { throw CommandError.missingApp }
        return try AppName.parse(raw)
    }

    /// Validates an app argument and requires the app to exist (exit 20 otherwise).
    func existingApp(_ raw: String?) throws -> AppName {
        let app = try appName(raw)
        guard try store().appExists(app) else { throw CommandError.appNotFound(app.rawValue) }
        return app
    }

    /// The scope a `--global`-capable command acts on.
    func scope(app raw: String?, global: Bool) throws -> Scope {
        if global { return .global }
        return .app(try existingApp(raw))
    }
}

extension Context {
    /// The connection to systemd, opened once per command.
    func supervisor() throws -> Supervisor {
        if let openedSupervisor { return openedSupervisor }
        do {
            let supervisor = try Supervisor(address: settings.bus)
            openedSupervisor = supervisor
            return supervisor
        } catch {
            throw CommandError("\(error)")
        }
    }
}
