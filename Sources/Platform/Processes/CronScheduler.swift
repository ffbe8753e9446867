import Builder
import Foundation
import Supervisor

/// app.json `cron` entries as transient systemd timers, one per entry, recreated on every
/// deploy so they run the current release. `systemctl list-timers` shows them.
struct CronScheduler {
    let context: Context

    init(_ context: Context) {
        self.context = context
    }

    /// One scheduled task of an app.
    struct Task: Equatable {
        var id: String
        var schedule: CronSchedule
        var command: String
        /// app.json marks the task as in maintenance.
        var maintenance = false
    }

    /// The cron tasks of a release, with stable ids (a hash of schedule and command).
    func tasks(_ release: Release) throws -> [Task] {
        guard let appJSON = try? AppJSON(parsing: Data(release.appJSON.utf8)) else { return [] }
        return try appJSON.cron.map { entry in
            guard let schedule = CronSchedule(entry.schedule) else {
                throw CommandError("Invalid cron schedule in app.json: \"\(entry.schedule)\"")
            }
            return Task(id: Self.id(entry.schedule, entry.command), schedule: schedule, command: entry.command, maintenance: entry.maintenance)
        }
    }

    /// Why a task does not run on its schedule, as `cron:list` shows it: suspended by
    /// `cron:suspend` (`task`), the app's or the server's `cron:set maintenance true`, or
    /// app.json; nil when it runs.
    func suspension(_ app: AppName, _ task: Task) throws -> String? {
        let store = try context.store()
        if try store.property(.app(app), "cron", "maintenance.\(task.id)") == "true" { return "task" }
        if try store.property(.app(app), "cron", "maintenance") == "true" { return "app" }
        if try store.property(.global, "cron", "maintenance") == "true" { return "global" }
        return task.maintenance ? "app.json" : nil
    }

    static func id(_ schedule: String, _ command: String) -> String {
        String(String(StableHash.fnv1a(schedule + "\u{0}" + command), radix: 36).prefix(10))
    }

    func timerUnit(_ app: AppName, _ task: Task) -> String {
        "\(context.settings.rootSlice)-\(UnitNames.escape(app.rawValue))-cron-\(task.id).timer"
    }

    /// Replaces the app's timers with those of its current release (none when stopped).
    func sync(_ app: AppName) throws {
        let supervisor = try context.supervisor()
        let pattern = "\(context.settings.rootSlice)-\(UnitNames.escape(app.rawValue))-cron-*"
        let existing = try supervisor.status(matching: [pattern]).map(\.unit)
        try supervisor.stop(existing)
        guard let release = try context.store().currentReleaseRecord(app),
            try context.store().property(.app(app), "ps", "restore") != "false"
        else { return }
        let manager = ProcessManager(context)
        for task in try tasks(release) where try suspension(app, task) == nil {
            let instance = InstanceRecord(
                unit: timerUnit(app, task).replacingOccurrences(of: ".timer", with: ".service"),
                app: app, release: release.version, processType: "cron", number: 1, generation: 0, port: nil, state: .running)
            var spec = try manager.spec(for: instance, release: release.with(type: "cron", command: task.command), phase: "run")
            spec.syslogIdentifier = "\(app).cron.\(task.id)"
            spec.environment["DYNO"] = "cron.\(task.id)"
            try supervisor.startTimer(timerUnit(app, task), calendar: task.schedule.calendar, description: "dokkulite \(app) cron \(task.id): \(task.schedule.text) \(task.command)", service: spec)
        }
    }
}

extension Release {
    /// The release with one extra process type, for one-off and scheduled commands.
    func with(type: String, command: String) -> Release {
        var copy = self
        copy.processTypes[type] = command
        return copy
    }
}
