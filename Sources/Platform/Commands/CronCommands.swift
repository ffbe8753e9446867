import ArgumentParser
import Foundation

struct CronList: Command {
    static let configuration = CommandConfiguration(commandName: "cron:list", abstract: "List scheduled cron tasks for an app")
    static let usage = "(<app>|--global) [--format stdout|json]"
    @Option var format = "stdout"
    @Flag var global = false
    @Argument var app: String?

    func run(in context: Context) throws {
        if global { return try listInjected(context) }
        let app = try context.existingApp(app)
        let scheduler = CronScheduler(context)
        let tasks = try context.store().currentReleaseRecord(app).map { try scheduler.tasks($0) } ?? []
        let suspensions = try tasks.map { try scheduler.suspension(app, $0).map { "true (\($0))" } ?? "false" }
        switch format {
        case "json":
            context.output.data(JSON.encode(zip(tasks, suspensions).map { task, maintenance in
                [
                    "id": task.id, "app": app.rawValue, "schedule": task.schedule.text, "command": task.command, "maintenance": maintenance,
                    "calendar": task.schedule.calendar, "timer": scheduler.timerUnit(app, task),
                ]
            }))
        case "stdout":
            context.output.section("\(app) cron tasks")
            context.output.table([["ID", "Schedule", "Maintenance", "Command"]] + zip(tasks, suspensions).map { [$0.id, $0.schedule.text, $1, $0.command] })
        default:
            throw CommandError("Invalid --format value specified")
        }
    }
}

extension CronList {
    /// `cron:list --global`: the tasks plugins inject through `cron-entries`, asked with
    /// Dokku's scheduler name, as Dokku asks.
    private func listInjected(_ context: Context) throws {
        guard ["stdout", "json"].contains(format) else { throw CommandError("Invalid --format value specified") }
        let answer = try Plugins(context).fire("cron-entries", ["docker-local"], showingOutput: false)
        let tasks = InjectedCronTask.parse(answer, warn: context.output.warn)
        if format == "json" { return context.output.data("[" + tasks.map(\.json).joined(separator: ",") + "]") }
        context.output.section("Global cron tasks")
        context.output.table([["ID", "Schedule", "Maintenance", "Command"]] + tasks.map { [$0.id, $0.schedule, "false", $0.command] })
    }
}

struct CronRun: Command {
    static let configuration = CommandConfiguration(commandName: "cron:run", abstract: "Run a cron task now")
    static let usage = "<app> <cron-id>"
    @Argument var app: String?
    @Argument var id: String?

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        let (release, task) = try CronTasks.find(app, id, context: context)
        let code = try ProcessManager(context).runOneOff(app, release: release, command: task.command, environment: [:], dyno: "cron")
        throw ExitCode(code)
    }
}

/// Finding an app's cron task by the id `cron:list` shows, with Dokku's messages.
enum CronTasks {
    static func find(_ app: AppName, _ id: String?, context: Context) throws -> (Release, CronScheduler.Task) {
        guard let id, !id.isEmpty else {
            throw CommandError("Please specify a Cron ID from the output of 'dokku cron:list \(app)'")
        }
        guard let release = try context.store().currentReleaseRecord(app),
            let task = try CronScheduler(context).tasks(release).first(where: { $0.id == id })
        else {
            throw CommandError("No matching Cron ID found. Please specify a Cron ID from the output of 'dokku cron:list \(app)'")
        }
        return (release, task)
    }

    /// `cron:suspend` (true) and `cron:resume` (false): one task's `maintenance.ID`.
    static func suspend(_ appWord: String?, _ id: String?, _ suspended: Bool, context: Context) throws {
        let app = try context.existingApp(appWord)
        let (_, task) = try find(app, id, context: context)
        try set(app.rawValue, global: false, key: "maintenance.\(task.id)", value: suspended ? "true" : nil, context: context)
    }

    /// Sets or clears a `cron` property, then brings the timers of the apps it touches in
    /// line (only deployed apps have timers).
    static func set(_ appWord: String?, global: Bool, key: String, value: String?, context: Context) throws {
        var properties = ["mailfrom": true, "mailto": true, "maintenance": true]
        if key.hasPrefix("maintenance.") {
            guard !global else { throw CommandError("Task maintenance properties cannot be set globally") }
            let app = try context.existingApp(appWord)
            let id = String(key.dropFirst("maintenance.".count))
            guard !id.isEmpty else { throw CommandError("Invalid task maintenance property, missing ID") }
            let release = try context.store().currentReleaseRecord(app)
            guard let release, try CronScheduler(context).tasks(release).contains(where: { $0.id == id }) else {
                throw CommandError("Invalid task maintenance property, no matching task ID found: \(key)")
            }
            properties[key] = false
        }
        let setter = PropertySetter(namespace: "cron", properties: properties, validate: { key, value in
            if key.hasPrefix("maintenance"), !["true", "false"].contains(value) {
                throw CommandError("Invalid \(key) value: \(value) (expected true or false)")
            }
        })
        try setter.set(context: context, appWord: appWord, global: global, key: key, value: value)
        guard key.hasPrefix("maintenance") else { return }
        let apps = global ? try context.store().apps().map(\.name) : [try context.existingApp(appWord)]
        for app in apps where try context.store().currentReleaseRecord(app) != nil {
            try CronScheduler(context).sync(app)
        }
    }
}

struct CronSet: Command {
    static let configuration = CommandConfiguration(commandName: "cron:set", abstract: "Set or clear a cron property for an app")
    static let usage = "[--global|<app>] <key> <value>"
    @Argument(parsing: .allUnrecognized) var words: [String] = []

    func run(in context: Context) throws {
        let (appWord, global, key, value) = SettingWords.split(words)
        try CronTasks.set(appWord, global: global, key: key, value: value, context: context)
    }
}

struct CronSuspend: Command {
    static let configuration = CommandConfiguration(commandName: "cron:suspend", abstract: "Suspend a cron task")
    static let usage = "<app> <cron_id>"
    @Argument var app: String?
    @Argument var id: String?

    func run(in context: Context) throws {
        try CronTasks.suspend(app, id, true, context: context)
    }
}

struct CronResume: Command {
    static let configuration = CommandConfiguration(commandName: "cron:resume", abstract: "Resume a cron task")
    static let usage = "<app> <cron_id>"
    @Argument var app: String?
    @Argument var id: String?

    func run(in context: Context) throws {
        try CronTasks.suspend(app, id, false, context: context)
    }
}

struct CronReport: Command {
    static let configuration = CommandConfiguration(commandName: "cron:report", abstract: "Display report about an app")
    static let usage = "[<app>] [<flag>]"
    @Argument(parsing: .allUnrecognized) var words: [String] = []

    func run(in context: Context) throws {
        var report = SettingsReport(
            namespace: "cron",
            keys: [.init(name: "mailfrom"), .init(name: "mailto"), .init(name: "maintenance", fallback: "false")])
        report.extra = { app, context in
            let tasks = try context.store().currentReleaseRecord(app).map { try CronScheduler(context).tasks($0) } ?? []
            var values = ["--cron-task-count": String(tasks.count)]
            for task in tasks {
                values["--cron-maintenance-\(task.id)"] = try context.store().property(.app(app), "cron", "maintenance.\(task.id)") ?? "false"
            }
            return values
        }
        try report.run(words, context: context)
    }
}
