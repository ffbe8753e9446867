import Foundation
import Supervisor

extension ProcessManager {
    /// The current release, or nil before the first deploy.
    func currentRelease(_ app: AppName) throws -> Release? {
        try context.store().currentReleaseRecord(app)
    }

    /// Starts and stops instances within the running generation so that the app runs the
    /// recorded formation. New web instances are ready before this returns.
    func applyFormation(_ app: AppName) throws {
        guard let release = try currentRelease(app) else { return }
        let store = try context.store()
        let running = try store.instances(app).filter { $0.state == .running && $0.release == release.version }
        guard let generation = running.map(\.generation).max() else {
            // Nothing runs (stopped app): scaling only records the formation.
            return
        }
        let counts = try desiredCounts(app, release: release)
        var toStart: [String: [Int]] = [:]
        var toStop: [InstanceRecord] = []
        for type in Set(counts.keys).union(running.map(\.processType)) {
            let have = running.filter { $0.processType == type }.sorted { $0.number < $1.number }
            let want = counts[type] ?? 0
            if want > have.count {
                let used = Set(have.map(\.number))
                toStart[type] = Array((1...want).filter { !used.contains($0) }.prefix(want - have.count))
            } else if want < have.count {
                toStop += have.suffix(have.count - want)
            }
        }
        if !toStart.isEmpty {
            let started = try launch(app, release: release, generation: generation, numbers: toStart)
            do {
                try waitUntilReady(started)
            } catch {
                try? stop(started)
                throw error
            }
            try store.setInstanceState(started.map(\.unit), .running)
        }
        try stop(toStop)
    }

    /// Stops every instance of the app; `ps:restore` leaves it stopped.
    func stopAll(_ app: AppName) throws {
        try stop(try context.store().instances(app))
        try context.store().setProperty(.app(app), "ps", "restore", "false")
    }

    /// Converges one app after a crash or reboot: interrupted deploys are rolled back,
    /// running instances whose unit vanished are started again, and units nobody recorded
    /// are stopped. Returns what changed, for the report.
    @discardableResult
    func restore(_ app: AppName) throws -> (started: Int, stopped: Int) {
        let store = try context.store()
        let supervisor = try context.supervisor()
        let records = try store.instances(app)
        let live = try supervisor.status(matching: [UnitNames.appUnitPattern(root: context.settings.rootSlice, app: app.rawValue)])
        // A unit waiting out its restart delay is started again at once (not left pending).
        let liveUnits = Set(live.filter(\.isRunning).map(\.unit))

        // Half-finished deploys and retirements: their instances must not survive.
        let abandoned = records.filter { $0.state != .running }
        let recorded = Set(records.map(\.unit))
        let root = context.settings.rootSlice
        let strays = live.map(\.unit).filter { !recorded.contains($0) && UnitNames.parseInstanceUnit($0, root: root) != nil && !$0.contains("-run.") && !$0.contains("-build.") }
        try stop(abandoned)
        try supervisor.stop(strays)

        var started = 0
        let restoreWanted = try store.property(.app(app), "ps", "restore") != "false"
        let running = records.filter { $0.state == .running }
        if restoreWanted, let release = try currentRelease(app) {
            let missing = running.filter { !liveUnits.contains($0.unit) }
            if running.isEmpty {
                let generation = try store.nextGeneration(app)
                let fresh = try launch(app, release: release, generation: generation, numbers: Self.numbering(try desiredCounts(app, release: release)))
                try waitUntilReady(fresh)
                try store.setInstanceState(fresh.map(\.unit), .running)
                started = fresh.count
            } else if !missing.isEmpty {
                try writeEnvironmentFile(app)
                let specs = try missing.map { instance -> ProcessSpec in
                    let recordRelease = try store.release(app, version: instance.release) ?? release
                    return try spec(for: instance, release: recordRelease)
                }
                try supervisor.start(specs)
                try waitUntilReady(missing)
                started = missing.count
            }
        } else if !restoreWanted {
            try stop(running)
        }
        return (started, abandoned.count + strays.count)
    }
}

extension ProcessManager {
    /// Starts a helper unit that runs `ps:retire` for the app after `seconds`: the old
    /// instances of a deploy stop once in-flight requests had time to finish.
    func scheduleRetirement(_ app: AppName, generation: Int, after seconds: Int) throws {
        let unit = "\(context.settings.rootSlice)-\(UnitNames.escape(app.rawValue))-retire-\(generation).service"
        var environment = Settings.forwardedEnvironment()
        environment["DOKKULITE_ROOT"] = context.settings.paths.root
        let spec = ProcessSpec(
            unit: unit,
            slice: UnitNames.appSlice(root: context.settings.rootSlice, app: app.rawValue),
            description: "dokkulite \(app): retire processes older than generation \(generation)",
            command: "",
            workingDirectory: "/",
            environment: environment,
            identity: .root,
            restart: .init(mode: "no", maxStarts: nil),
            sandbox: .init(hardened: false),
            syslogIdentifier: "dokkulite",
            // No script: an `ExecStart=` script does not survive a systemd reload.
            argv: [ReleaseBuilder.binaryPath, "ps:retire", app.rawValue, "--before", String(generation), "--after", String(seconds)])
        try context.supervisor().start([spec])
    }

    /// Stops the app's retiring instances from generations before `generation`.
    func retire(_ app: AppName, before generation: Int) throws {
        let retiring = try context.store().instances(app).filter { $0.state == .retiring && $0.generation < generation }
        try stop(retiring)
    }
}
