import Beneath
import Builder
import Foundation
import Supervisor

/// Maps apps to running processes: which instances a release needs, their units, ports
/// and environment, starting and stopping them, and converging after a crash.
struct ProcessManager {
    let context: Context

    init(_ context: Context) {
        self.context = context
    }

    private var settings: Settings { context.settings }
    private var store: Store { get throws { try context.store() } }

    // MARK: Planning

    /// The instance counts a release runs: the recorded formation (web defaults to 1)
    /// limited to the release's process types; `release` never runs as a service.
    /// `formation` stands in for the recorded scale (app.json's, before a deploy saves it).
    func desiredCounts(_ app: AppName, release: Release, formation given: [String: Int]? = nil) throws -> [String: Int] {
        let formation = try given ?? store.formation(app)
        var counts: [String: Int] = [:]
        for type in release.processTypes.keys where type != "release" {
            counts[type] = formation[type] ?? (type == "web" ? 1 : 0)
        }
        return counts
    }

    /// Records and starts instances of `release`: `counts` per type, numbered from 1 (or the
    /// given numbers), in one generation. Returns the instances, which are `starting` until
    /// the caller marks them running.
    @discardableResult
    func launch(_ app: AppName, release: Release, generation: Int, numbers: [String: [Int]]) throws -> [InstanceRecord] {
        try writeEnvironmentFile(app)
        var planned: [InstanceRecord] = []
        for type in numbers.keys.sorted() {
            for number in numbers[type]! {
                let unit = UnitNames.instanceUnit(root: settings.rootSlice, app: app.rawValue, processType: type, number: number, generation: generation)
                planned.append(InstanceRecord(unit: unit, app: app, release: release.version, processType: type, number: number, generation: generation, port: nil, state: .starting))
            }
        }
        let instances = try store.reserveInstances(planned, needsPort: { $0.processType == "web" }, range: settings.portRange, isFree: Supervisor.isFree)
        let specs = try instances.map { try spec(for: $0, release: release) }
        do {
            try context.supervisor().start(specs)
        } catch {
            try? stop(instances)
            throw CommandError("\(app): starting \(instances.map(\.dyno).joined(separator: ", ")) failed: \(error)")
        }
        return instances
    }

    /// Numbers 1…count for each type.
    static func numbering(_ counts: [String: Int]) -> [String: [Int]] {
        counts.filter { $0.value > 0 }.mapValues { Array(1...$0) }
    }

    /// Stops instances' units and forgets them.
    func stop(_ instances: [InstanceRecord]) throws {
        guard !instances.isEmpty else { return }
        try store.setInstanceState(instances.map(\.unit), .retiring)
        try context.supervisor().stop(instances.map(\.unit))
        try store.deleteInstances(instances.map(\.unit))
    }

    /// Waits until each instance passes the default check: a web process accepts
    /// connections on its port; every process is still up, never restarted, `uptime` after
    /// the check began. All instances share the one uptime window.
    func waitUntilReady(_ instances: [InstanceRecord], timeout: Duration = .seconds(60), uptime: Duration = .milliseconds(500)) throws {
        let supervisor = try context.supervisor()
        let began = ContinuousClock.now
        for instance in instances {
            guard let port = instance.port else { continue }
            do {
                try supervisor.waitUntilListening(unit: instance.unit, port: port, owner: try userID(of: instance.app), timeout: timeout)
            } catch {
                throw CommandError("\(instance.app) \(instance.dyno) \(Self.reason(error))")
            }
        }
        let others = instances.filter { $0.port == nil }
        guard !others.isEmpty else { return }
        let left = ContinuousClock.now.duration(to: began.advanced(by: uptime))
        if left > .zero { Thread.sleep(forTimeInterval: Double(left.components.attoseconds) / 1e18 + Double(left.components.seconds)) }
        for instance in others {
            let status = try supervisor.status(of: instance.unit)
            guard let status, status.isRunning, status.restarts == 0 else {
                throw CommandError("\(instance.app) \(instance.dyno) exited within \(uptime) of starting")
            }
        }
    }

    /// The uid of the app's own user, which its listeners and its log lines must have (nil
    /// with systemd's dynamic users, whose uids are not known in advance).
    func userID(of app: AppName) throws -> UInt32? {
        try AppUser.name(of: app, store: store).flatMap(AppUser.uid(of:)).map { UInt32($0.uid) }
    }

    private static func reason(_ error: any Error) -> String {
        if case SupervisorError.processFailed(_, let reason) = error { return reason }
        if case SupervisorError.portTaken(_, let port, let uid) = error { return SupervisorError.portTakenReason(port: port, uid: uid) }
        return "\(error)"
    }

    // MARK: Units

    /// Where every process sees its release tree, as on Heroku: builds happen there too, so
    /// absolute paths a build writes (a virtualenv's) stay valid when the release runs.
    static let appMount = "/app"
    /// Where every process finds this dokkulite binary (the static file server runs it),
    /// wherever it is installed and whatever PrivateTmp hides.
    static let binaryMount = "/usr/local/lib/dokkulite/dokkulite"

    /// What no app process or build may open: dokkulite's state and certificates (root's
    /// already; hidden as well), and the system bus, over which any local user can read the
    /// properties of every unit on the server (other apps' command lines and environment).
    static func hiddenPaths(_ paths: Paths) -> [String] {
        // The storage root too: an app reaches the storage bound into it, at its own paths,
        // never another app's entry by its name.
        // And every service's files (`postgres:*`, `redis:*`): linked apps reach a service
        // over its port, never its directory.
        [paths.database, paths.database + "-wal", paths.database + "-shm", paths.certs, paths.storage, paths.services, "/run/dbus/system_bus_socket"]
    }

    /// The transient unit for one instance.
    /// `phase` is Dokku's: `deploy` for the app's processes, `run` for one-offs and cron
    /// tasks (storage attachments name the phases they apply to).
    func spec(for instance: InstanceRecord, release: Release, phase: String = "deploy") throws -> ProcessSpec {
        let app = instance.app
        let store = try store
        guard let command = release.processTypes[instance.processType] else {
            throw CommandError("\(app): release v\(release.version) has no \(instance.processType) process type")
        }
        let slug = settings.paths.slug(app, version: release.version)
        let storage = try storageBinds(app, tree: slug, phase: phase, processType: instance.processType)
        // Buildpacks' `config_vars` are defaults: the app's config (EnvironmentFile, read
        // after Environment=) overrides them.
        var environment = release.configVars
        environment.merge([
            "DYNO": instance.dyno,
            "PS": instance.dyno,
            "HOME": Self.appMount,
            "APP_NAME": app.rawValue,
            "DOKKU_APP_NAME": app.rawValue,
            "DOKKU_APP_TYPE": "herokuish",
            "DOKKULITE_RELEASE": "v\(release.version)",
            // The app's persistent, writable directory (kept across deploys and rollbacks).
            "DATA_DIR": settings.paths.data(app),
        ]) { $1 }
        if let port = instance.port { environment["PORT"] = String(port) }
        let identity: ProcessSpec.Identity = try AppUser.name(of: app, store: store).map { .user($0) } ?? .dynamic(name: nil)
        return ProcessSpec(
            unit: instance.unit,
            slice: UnitNames.appSlice(root: settings.rootSlice, app: app.rawValue),
            description: "dokkulite \(app) \(instance.dyno) (v\(release.version))",
            command: command,
            workingDirectory: Self.appMount,
            environment: environment,
            environmentFiles: [settings.paths.environmentFile(app)],
            identity: identity,
            restart: try restartRule(app),
            stopTimeoutSeconds: try stopTimeout(app),
            limits: try ResourceSettings(context).limits(app, processType: instance.processType),
            sandbox: ProcessSpec.Sandbox(
                hardened: true,
                readWritePaths: [settings.paths.data(app)],
                inaccessiblePaths: Self.hiddenPaths(settings.paths),
                // /app is writable, as a dyno's or a Dokku container's filesystem is (apps
                // write caches, compiled assets, SQLite files next to their code; Dokku's
                // predeploy task writes into the image). Unlike theirs, what is written stays
                // with the release: the next deploy starts from a fresh tree.
                bindPaths: [BindPath(source: slug, destination: Self.appMount)] + storage.filter { !$0.readOnly }.map(\.path),
                readOnlyBindPaths: [
                    BindPath(source: ReleaseBuilder.binaryPath, destination: Self.binaryMount),
                    try HelperScripts.launcher(settings.paths),
                ] + storage.filter(\.readOnly).map(\.path),
                ownPorts: instance.port.map { [UInt16($0)] } ?? [],
                reservedPorts: settings.reservedPorts),
            syslogIdentifier: "\(app).\(instance.dyno)")
    }

    /// The app's `storage:mount`s as bind mounts, each checked again as it is about to be
    /// used: its host directory still out of anyone's reach but root's, and a mount point
    /// inside `/app` made beneath the release tree, refusing a link there (systemd makes a
    /// missing mount point as root, following links, before the app's view is read-only).
    private func storageBinds(_ app: AppName, tree: String, phase: String, processType: String) throws -> [(path: BindPath, readOnly: Bool)] {
        try StorageRegistry(context: context).binds(app, phase: phase, processType: processType).map { bind in
            if let problem = StorageMounts.containerPathProblem(bind.container) ?? StorageMounts.hostPathProblem(bind.host) {
                throw CommandError("\(app): storage mount \(bind.text) cannot be used: \(problem)")
            }
            if bind.container.hasPrefix(Self.appMount + "/") {
                let relative = String(bind.container.dropFirst(Self.appMount.count + 1))
                do {
                    close(try Beneath.makeDirectories(relative, in: tree, mode: 0o755))
                } catch let failure as Beneath.Failure {
                    throw CommandError("\(app): storage mount \(bind.text) cannot be used: \(bind.container) \(failure.reason) in the app's tree")
                }
            }
            return (BindPath(source: bind.host, destination: bind.container), bind.readOnly)
        }
    }

    /// Writes the app's merged config vars where systemd reads them (root-only).
    func writeEnvironmentFile(_ app: AppName) throws {
        let path = settings.paths.environmentFile(app)
        try SecretFile.write(ConfigVars.systemdEnvironmentFile(try store.mergedConfig(app)), to: path)
    }

    private func restartRule(_ app: AppName) throws -> ProcessSpec.RestartRule {
        let text = try store.computedProperty(app, "ps", "restart-policy")
        switch text.flatMap(RestartPolicy.init) ?? .default {
        case .no: return .init(mode: "no", maxStarts: nil)
        case .always, .unlessStopped: return .init(mode: "always", maxStarts: nil)
        case .onFailure(nil): return .init(mode: "on-failure", maxStarts: nil)
        case .onFailure(let n?): return .init(mode: "on-failure", maxStarts: n + 1)
        }
    }

    private func stopTimeout(_ app: AppName) throws -> Int {
        let text = try store.computedProperty(app, "ps", "stop-timeout-seconds")
        return min(max(text.flatMap { Int($0) } ?? 30, 0), 86_400)
    }
}
