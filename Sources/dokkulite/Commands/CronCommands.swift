import ArgumentParser
import Foundation

struct CronList: Command {
    static let configuration = CommandConfiguration(commandName: "cron:list", abstract: "List scheduled cron tasks for an app")
    static let usage = "<app> [--format stdout|json]"
    @Option var format = "stdout"
    @Argument var app: String?

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        let scheduler = CronScheduler(context)
        let tasks = try context.store().currentReleaseRecord(app).map { try scheduler.tasks($0) } ?? []
        switch format {
        case "json":
            context.output.data(JSON.encode(tasks.map { ["id": $0.id, "schedule": $0.schedule.text, "command": $0.command, "calendar": $0.schedule.calendar, "timer": scheduler.timerUnit(app, $0)] }))
        case "stdout":
            context.output.section("\(app) cron tasks")
            context.output.table([["ID", "Schedule", "Command"]] + tasks.map { [$0.id, $0.schedule.text, $0.command] })
        default:
            throw CommandError("Invalid --format value specified")
        }
    }
}

struct CronRun: Command {
    static let configuration = CommandConfiguration(commandName: "cron:run", abstract: "Run a cron task now")
    static let usage = "<app> <cron-id>"
    @Argument var app: String?
    @Argument var id: String?

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        guard let id, !id.isEmpty else { throw CommandError("Please specify a cron id") }
        guard let release = try context.store().currentReleaseRecord(app) else { throw CommandError("App \(app) has not been deployed") }
        guard let task = try CronScheduler(context).tasks(release).first(where: { $0.id == id }) else {
            throw CommandError("No cron task with id \(id) for \(app)")
        }
        let code = try ProcessManager(context).runOneOff(app, release: release, command: task.command, environment: [:], dyno: "cron")
        throw ExitCode(code)
    }
}
