import Beneath
import Builder
import Foundation
import Supervisor

/// Dokku's deploy flow without containers: lock, (build,) release phase, start the new
/// formation next to the old, check it, switch the proxy, retire the old. Restarts,
/// rollbacks and config changes take the same path without the build.
struct Deployer {
    let context: Context

    init(_ context: Context) {
        self.context = context
    }

    private var output: Output { context.output }

    /// Fault injection for the crash-safety tests: `DOKKULITE_CRASH_AT=STEP` kills this
    /// process with SIGKILL when the deploy reaches STEP (`built`, `launched`, `checked`,
    /// `switched`), as a power cut or `kill -9` would.
    private func crashPoint(_ step: String) {
        if ProcessInfo.processInfo.environment["DOKKULITE_CRASH_AT"] == step { kill(getpid(), SIGKILL) }
    }

    /// Builds `source` and deploys the result; the running release keeps serving when any
    /// step fails.
    func buildAndDeploy(_ app: AppName, source: ReleaseBuilder.Source, description: String) throws {
        try withDeployLock(app, operation: "deploy") {
            try Plugins(context).fire("pre-build", [app.rawValue, "buildpacks"])
            let release = try ReleaseBuilder(context).build(app, source: source, description: description)
            try Plugins(context).fire("post-build", [app.rawValue, "buildpacks"])
            crashPoint("built")
            do {
                try deploy(app, release: release)
            } catch {
                // Recorded in `releases`; the running release is untouched.
                if try context.store().currentRelease(app) != release.version {
                    try? context.store().failRelease(app, version: release.version, reason: (error as? CommandError)?.message ?? "\(error)")
                }
                throw error
            }
        }
    }

    /// A restart without downtime: the current release again, in a new generation.
    /// Restarts the app's processes without downtime: all of them, or one process type's.
    func restart(_ app: AppName, processType: String? = nil) throws {
        try withDeployLock(app, operation: "restart") {
            guard let release = try context.store().currentReleaseRecord(app) else {
                throw CommandError("App \(app) has not been deployed")
            }
            try deploy(app, release: release, announce: false, onlyType: processType)
        }
    }

    /// Deploys the current release again in full: release phase, checks, the
    /// `Application deployed` summary.
    func redeploy(_ app: AppName) throws {
        try withDeployLock(app, operation: "deploy") {
            guard let release = try context.store().currentReleaseRecord(app) else {
                throw CommandError("App \(app) has not been deployed")
            }
            try deploy(app, release: release)
        }
    }

    /// Makes an earlier release current again, without rebuilding.
    func rollback(_ app: AppName, to version: Int?) throws {
        try withDeployLock(app, operation: "rollback") {
            let store = try context.store()
            let current = try store.currentRelease(app)
            let candidates = try store.releases(app).filter { $0.status == .available && $0.version != current }
            let target: Release
            if let version {
                guard let release = try store.release(app, version: version) else { throw CommandError("Release v\(version) of \(app) does not exist", kind: .notFound) }
                guard release.status == .available || release.status == .current else {
                    throw CommandError("Release v\(version) of \(app) cannot be rolled back to: it is \(release.status.rawValue)")
                }
                guard FileManager.default.fileExists(atPath: context.settings.paths.slug(app, version: version)) else {
                    throw CommandError("Release v\(version) of \(app) has been pruned")
                }
                target = release
            } else {
                guard let previous = candidates.first(where: { current == nil || $0.version < current! }) else {
                    throw CommandError("\(app) has no earlier release to roll back to")
                }
                target = previous
            }
            output.step("Rolling back \(app) to v\(target.version)")
            try deploy(app, release: target)
        }
    }

    /// Deploys a built release: release phase, new formation, checks, switch, retire.
    /// `onlyType` restarts that process type alone; the others keep running untouched.
    func deploy(_ app: AppName, release: Release, announce: Bool = true, onlyType: String? = nil) throws {
        let store = try context.store()
        let manager = ProcessManager(context)
        let appJSON = (try? AppJSON(parsing: Data(release.appJSON.utf8))) ?? AppJSON()
        let plugins = Plugins(context)
        if announce {
            output.step("Releasing \(app)...")
            try plugins.fire("pre-release", [app.rawValue, "v\(release.version)"])
            try runPhase(app, release: release, name: "predeploy", command: appJSON.predeploy)
            try runPhase(app, release: release, name: "release", command: release.processTypes["release"])
            try plugins.fire("post-release", [app.rawValue, "v\(release.version)"])
        }
        try plugins.fire("pre-deploy", [app.rawValue, "v\(release.version)"])
        // As Dokku: app.json's formation is the whole scale (types it leaves out run zero)
        // and `ps:scale` may no longer change it. Saved once the release serves, so a deploy
        // that fails leaves the running release's scale as it was.
        var appJSONScale: [String: Int]?
        if !appJSON.formation.isEmpty {
            var scale = appJSON.formation
            for type in Array(release.processTypes.keys) + ["web"] where type != "release" && scale[type] == nil { scale[type] = 0 }
            appJSONScale = scale
        }
        output.step("Deploying \(app) via the dokkulite scheduler...")
        var old = try store.instances(app)
        var counts = try manager.desiredCounts(app, release: release, formation: appJSONScale)
        if let onlyType {
            guard counts[onlyType, default: 0] > 0 else {
                throw CommandError("App \(app) has no running \(onlyType) processes to restart")
            }
            counts = [onlyType: counts[onlyType]!]
            old = old.filter { $0.processType == onlyType }
        }
        let checks = HealthChecks(context)
        // checks:disable: the old instances stop first (downtime), as in Dokku.
        let disabledTypes = try counts.keys.filter { try checks.mode(app, processType: $0) == .disabled }
        let stoppedFirst = old.filter { disabledTypes.contains($0.processType) }
        if !stoppedFirst.isEmpty {
            for type in Set(stoppedFirst.map(\.processType)).sorted() {
                output.detail("Zero downtime is disabled, stopping currently running processes  (\(type))")
            }
            try manager.stop(stoppedFirst)
        }
        let generation = try store.nextGeneration(app)
        for type in counts.keys.sorted() where counts[type]! > 0 {
            output.step("Deploying \(type) (count=\(counts[type]!))")
        }
        let started = try manager.launch(app, release: release, generation: generation, numbers: ProcessManager.numbering(counts))
        crashPoint("launched")
        do {
            try checks.verify(app, release: release, instances: started)
            try plugins.fire("check-deploy", [app.rawValue, "v\(release.version)"] + started.compactMap { $0.port.map(String.init) })
        } catch {
            try? manager.stop(started)
            // For `logs:failed`: the journal keeps these units' lines.
            try? store.setProperty(.app(app), "logs", "failed-units", started.map(\.unit).joined(separator: "\n"))
            try? store.failRelease(app, version: release.version, reason: "\(error)")
            if release.status == .current { try? store.makeCurrent(app, version: release.version) }
            throw CommandError("Deploy failed at the health checks: \((error as? CommandError)?.message ?? "\(error)"); the previous release is still serving")
        }
        crashPoint("checked")
        // The switch: new instances serve, the old ones retire, the proxy follows.
        let retiring = old.filter { !stoppedFirst.contains($0) }
        try store.write { db in
            for unit in started.map(\.unit) {
                try db.execute(sql: "UPDATE instance SET state = 'running' WHERE unit = ?", arguments: [unit])
            }
            for unit in retiring.map(\.unit) {
                try db.execute(sql: "UPDATE instance SET state = 'retiring' WHERE unit = ?", arguments: [unit])
            }
        }
        try store.makeCurrent(app, version: release.version)
        if let appJSONScale {
            try store.setFormation(app, appJSONScale.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
            try store.setProperty(.app(app), "ps", "can-scale", "false")
        } else {
            try store.setProperty(.app(app), "ps", "can-scale", nil)
        }
        try store.setProperty(.app(app), "ps", "restore", nil)
        try RouteSync(context).update(app)
        crashPoint("switched")
        // The new release serves from here on: a failure to schedule its cron tasks is
        // reported, not a reason to fail the deploy.
        do {
            try CronScheduler(context).sync(app)
        } catch {
            output.warn("Cron tasks of \(app) could not be scheduled: \((error as? CommandError)?.message ?? "\(error)")")
        }
        try retire(app, retiring, generation: generation)
        try plugins.fire("post-deploy", [app.rawValue, "", "", "v\(release.version)"])
        if announce {
            try runPhase(app, release: release, name: "postdeploy", command: appJSON.postdeploy)
            try prune(app)
            LetsEncrypt(context: context).deployed(app)
            output.section("Application deployed:")
            for url in try URLs(context).all(app) { output.detail(url) }
            output.data("")
        }
    }

    /// Runs app.json's predeploy/postdeploy or the Procfile `release` process as a one-off.
    private func runPhase(_ app: AppName, release: Release, name: String, command: String?) throws {
        let label = name == "release" ? "release task" : "\(name) task"
        output.step("Checking for \(label)")
        guard let command, !command.isEmpty else {
            output.detail("No \(label) found, skipping")
            return
        }
        // Dokku's words (plugins/app-json): the phase's source, and "ephemeral container"
        // for what is here a one-off transient unit.
        let source = name == "release" ? "Procfile" : "app.json"
        output.detail(name == "predeploy"
            ? "Executing \(label) from \(source): \(command)"
            : "Executing \(label) from \(source) in ephemeral container: \(command)")
        output.section("Start of \(app) \(label) output")
        let code = try ProcessManager(context).runOneOff(app, release: release, command: command, environment: [:], dyno: name)
        output.section("End of \(app) \(label) output")
        guard code == 0 else {
            // The release serving (a restart's, a rename's, or the one just switched in
            // before its postdeploy) stays usable: only a release not yet current fails.
            if try context.store().currentRelease(app) != release.version {
                try? context.store().failRelease(app, version: release.version, reason: "\(label) exited \(code)")
            }
            throw CommandError("Execution of \(label) failed: \(command)")
        }
    }

    /// Stops retiring instances after `wait-to-retire` seconds, letting in-flight requests
    /// finish. The wait happens in a transient unit, so the push returns at once; a crash
    /// before it fires is handled by `ps:restore`, which stops every retiring instance.
    private func retire(_ app: AppName, _ instances: [InstanceRecord], generation: Int) throws {
        guard !instances.isEmpty else { return }
        let wait = Int(try HealthChecks(context).setting(app, "wait-to-retire", default: 60))
        if wait <= 0 {
            try ProcessManager(context).stop(instances)
            return
        }
        output.step("Shutting down old processes in \(wait) seconds")
        try ProcessManager(context).scheduleRetirement(app, generation: generation, after: wait)
    }

    /// Deletes the oldest releases beyond the number kept (never the current one).
    func prune(_ app: AppName) throws {
        let store = try context.store()
        let releases = try store.releases(app)
        let keep = context.settings.keepReleases
        let inUse = Set(try store.instances(app).map(\.release))
        let removable = releases.filter { $0.status != .current && !inUse.contains($0.version) && $0.status != .building }
        let excess = releases.count - keep
        guard excess > 0 else { return }
        let victims = Array(removable.sorted { $0.version < $1.version }.prefix(excess))
        for release in victims {
            try? Beneath.removeTree(context.settings.paths.release(app, version: release.version))
        }
        try store.deleteReleases(app, versions: victims.map(\.version))
    }

    /// Converges an app after a crash or reboot, under its deploy lock: a build that was
    /// interrupted is marked failed, and the processes match the recorded state again.
    func restore(_ app: AppName) throws {
        try withDeployLock(app, operation: "restore") {
            try ProcessManager(context).restore(app)
            try RouteSync(context).update(app)
            try CronScheduler(context).sync(app)
        }
    }

    /// Marks releases a killed build left in `building` as failed and removes their trees.
    /// Only called with the deploy lock held, so no build is running.
    private func clearInterruptedBuilds(_ app: AppName) throws {
        let store = try context.store()
        for release in try store.releases(app) where release.status == .building {
            try store.failRelease(app, version: release.version, reason: "interrupted")
            try? Beneath.removeTree(context.settings.paths.release(app, version: release.version))
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
        try clearInterruptedBuilds(app)
        return try body()
    }
}
