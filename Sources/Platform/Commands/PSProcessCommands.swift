import ArgumentParser
import Foundation
import Supervisor

extension Context {
    /// `[--all|<app>]`: every app, or the one named (which must exist).
    func targets(_ app: String?, all: Bool) throws -> [AppName] {
        if all || app == "--all" { return try store().apps().map(\.name) }
        return [try existingApp(app)]
    }

    /// Runs `body` for each target that has a current release, in order; one without is
    /// named in a warning, as Dokku does, and skipped.
    func forEachDeployed(_ app: String?, all: Bool, _ body: (AppName) throws -> Void) throws {
        for app in try targets(app, all: all) {
            guard try ProcessManager(self).currentRelease(app) != nil else {
                output.warn("App \(app) has not been deployed")
                continue
            }
            try body(app)
        }
    }
}

struct PSStart: Command {
    static let configuration = CommandConfiguration(commandName: "ps:start", abstract: "Start an app")
    static let usage = "[--parallel count] [--all|<app>]"
    @Flag var all = false
    /// Accepted as Dokku takes it; apps are handled one after another here.
    @Option var parallel: Int?
    @Argument var app: String?

    func run(in context: Context) throws {
        try context.forEachDeployed(app, all: all) { app in
            let store = try context.store()
            let running = try store.instances(app).contains(where: { $0.state == .running })
            if !running { context.output.step("Starting \(app)") }
            try store.setProperty(.app(app), "ps", "restore", nil)
            try Deployer(context).restore(app)
            if running { context.output.warn("App \(app) already running") }
        }
    }
}

struct PSStop: Command {
    static let configuration = CommandConfiguration(commandName: "ps:stop", abstract: "Stop an app")
    static let usage = "[--parallel count] [--all|<app>]"
    @Flag var all = false
    /// Accepted as Dokku takes it; apps are handled one after another here.
    @Option var parallel: Int?
    @Argument var app: String?

    func run(in context: Context) throws {
        try context.forEachDeployed(app, all: all) { app in
            context.output.step("Stopping \(app)")
            try Deployer(context).withDeployLock(app, operation: "stop") {
                try ProcessManager(context).stopAll(app)
                try RouteSync(context).update(app)
                try CronScheduler(context).sync(app)
                try Plugins(context).fire("post-stop", [app.rawValue])
            }
        }
    }
}

struct PSRestart: Command {
    static let configuration = CommandConfiguration(commandName: "ps:restart", abstract: "Restart an app")
    static let usage = "[--parallel count] [--all|<app>] [<process-name>]"
    @Flag var all = false
    /// Accepted as Dokku takes it; apps restart one after another here.
    @Option var parallel: Int?
    @Argument var app: String?
    @Argument var processType: String?

    func run(in context: Context) throws {
        var app = app, processType = processType
        if all, processType == nil, let named = app { (app, processType) = (nil, named) }
        if all, processType != nil {
            throw CommandError("Unable to restart all apps when specifying a process name")
        }
        try context.forEachDeployed(app, all: all) { app in
            try Deployer(context).restart(app, processType: processType)
        }
    }
}

struct PSRestore: Command {
    static let configuration = CommandConfiguration(commandName: "ps:restore", abstract: "Start previously running apps e.g. after reboot")
    static let usage = "[--all|<app>]"
    @Flag var all = false
    @Argument var app: String?

    func run(in context: Context) throws {
        if app == nil && !all { context.output.warn("Restore specified without app, assuming --all") }
        // Services first: apps linked to them connect as they start.
        var failures = all || app == nil ? ServiceManager.restoreAll(context) : 0
        for app in try context.targets(app, all: all || app == nil) {
            do {
                if try context.store().property(.app(app), "ps", "restore") == "false" {
                    context.output.warn("Skipping ps:restore for \(app) as restore property is false")
                }
                if try ProcessManager(context).currentRelease(app) != nil {
                    context.output.step("Restoring \(app)")
                }
                try Deployer(context).restore(app)
            } catch {
                failures += 1
                context.output.warn("Error running ps:restore against app \(app): \(error)")
            }
        }
        if failures > 0 { throw CommandError("ps:restore command returned \(failures) errors") }
    }
}

struct PSReport: Command {
    static let configuration = CommandConfiguration(commandName: "ps:report", abstract: "Displays a process report for one or more apps")
    static let usage = "[<app>|--global] [<flag>]"
    /// The ps settings: the app's, global and computed values, as Dokku reports them.
    static let settings = SettingsReport(
        namespace: "ps",
        keys: [
            .init(name: "procfile-path", fallback: "Procfile"), .init(name: "restart-policy", fallback: RestartPolicy.default.description),
            .init(name: "skip-deploy", fallback: "false"), .init(name: "stop-timeout-seconds", fallback: "30"),
        ],
        appOnly: ["start-cmd", "dockerfile-start-cmd"])
    @Argument(parsing: .allUnrecognized) var words: [String] = []

    func run(in context: Context) throws {
        let arguments = try ReportArguments(words)
        if arguments.global { return try Self.settings.run(words, context: context) }
        let store = try context.store()
        let global = try store.properties(.global, "ps")
        for app in try context.reportApps(arguments) {
            let instances = try store.instances(app).filter { $0.state == .running }
            let patterns = [UnitNames.appUnitPattern(root: context.settings.rootSlice, app: app.rawValue)]
            let live = Dictionary(try context.supervisor().status(matching: patterns).map { ($0.unit, $0) }, uniquingKeysWith: { a, _ in a })
            let props = try store.properties(.app(app), "ps")
            let runningCount = instances.filter { live[$0.unit]?.isRunning == true }.count
            var values = Self.settings.values(own: props, global: global).merging([
                "--deployed": try store.currentRelease(app) != nil ? "true" : "false",
                "--processes": String(instances.count),
                "--ps-can-scale": props["can-scale"] == "false" ? "false" : "true",
                "--restore": props["restore"] == "false" ? "false" : "true",
                "--running": instances.isEmpty || runningCount == 0 ? "false" : runningCount == instances.count ? "true" : "mixed",
                // App-only, as Dokku reports them: the computed value is the app's own.
                "--ps-computed-start-cmd": props["start-cmd"] ?? "",
                "--ps-computed-dockerfile-start-cmd": props["dockerfile-start-cmd"] ?? "",
            ]) { $1 }
            var details: [InstanceReport] = []
            for instance in instances {
                let status = live[instance.unit]
                let detail = InstanceReport(instance: instance, status: status)
                details.append(detail)
                values["--status-\(instance.dyno)"] = detail.summary
            }
            let report = Report(type: "ps", values: values)
            if arguments.format == "json" && arguments.infoFlag == nil {
                var object: [String: AnyEncodable] = [:]
                for (key, value) in values {
                    for name in report.jsonKeys(key) { object[name] = AnyEncodable(value) }
                }
                object["instances"] = AnyEncodable(details)
                context.output.data(JSON.encode(object))
                continue
            }
            try report.print(subject: app.rawValue, arguments: arguments, output: context.output)
        }
    }
}

/// One instance's live state in `ps:report`.
struct InstanceReport: Encodable {
    var process: String
    var unit: String
    var state: String
    var pid: Int32
    var memory_bytes: UInt64?
    var uptime_seconds: Int?
    var restarts: Int
    var port: Int?
    var release: String

    init(instance: InstanceRecord, status: UnitStatus?) {
        process = instance.dyno
        unit = instance.unit
        state = status.map { $0.isRunning ? "running" : "\($0.activeState) (\($0.subState))" } ?? "missing"
        pid = status?.mainPID ?? 0
        memory_bytes = status?.memoryBytes
        restarts = status?.restarts ?? 0
        port = instance.port
        release = "v\(instance.release)"
        if let started = status?.startedAtMicroseconds, status?.isRunning == true {
            uptime_seconds = max(0, Int(Date().timeIntervalSince1970) - Int(started / 1_000_000))
        }
    }

    /// `running (unit: …, pid: 123, memory: 12.3 MB, uptime: 5s, restarts: 0)`.
    var summary: String {
        var parts = ["unit: \(unit)", "pid: \(pid)"]
        if let memory = memory_bytes { parts.append("memory: \(String(format: "%.1f", Double(memory) / 1_048_576)) MB") }
        if let uptime = uptime_seconds { parts.append("uptime: \(uptime)s") }
        parts.append("restarts: \(restarts)")
        return "\(state) (\(parts.joined(separator: ", ")))"
    }
}

/// Wraps any encodable value, for mixed JSON objects.
struct AnyEncodable: Encodable {
    private let encodeValue: (any Encoder) throws -> Void

    init<T: Encodable>(_ value: T) {
        encodeValue = value.encode
    }

    func encode(to encoder: any Encoder) throws {
        try encodeValue(encoder)
    }
}

/// `ps:retire APP --before GEN`: stops an app's retiring processes (run by the timer a
/// deploy schedules; safe to run by hand).
struct PSRetire: Command {
    static let configuration = CommandConfiguration(commandName: "ps:retire", abstract: "Stop an app's old processes left from earlier deploys")
    static let access = Access.serverRoot
    static let usage = "<app> [--before GENERATION] [--after SECONDS]"
    @Option var before: Int = Int.max
    /// Waits this long first (the retirement helper a deploy starts).
    @Option var after: Int = 0
    @Argument var app: String?

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        if after > 0 { Thread.sleep(forTimeInterval: Double(min(after, 86_400))) }
        try ProcessManager(context).retire(app, before: before)
    }
}
