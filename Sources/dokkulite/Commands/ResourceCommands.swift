import ArgumentParser
import Supervisor

struct ResourceLimit: Command {
    static let configuration = CommandConfiguration(commandName: "resource:limit", abstract: "Limit resources for an app (applied to running processes at once)")
    static let usage = "[--process-type T] [--memory M] [--cpu C] [--tasks N] <app>"
    @Option(name: .customLong("process-type")) var processType: String?
    @Option var memory: String?
    @Option var cpu: String?
    @Option var tasks: String?
    @Argument var app: String?

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        let type = processType ?? ResourceSettings.defaultType
        let given = [("cpu", cpu), ("memory", memory), ("tasks", tasks)].compactMap { key, value in value.map { (key, $0) } }
        let store = try context.store()
        let suffix = processType.map { " (\($0))" } ?? ""
        if given.isEmpty {
            let properties = try store.properties(.app(app), "resource")
            context.output.section("resource limits \(app) information [\(processType ?? "defaults")]")
            for key in ResourceSettings.keys {
                context.output.detail("\(key): \(properties["\(type).limit.\(key)"] ?? "")")
            }
            return
        }
        for (key, value) in given where value != "clear" { try ResourceSettings.validate(key, value) }
        context.output.section("Setting resource limits for \(app)\(suffix)")
        for (key, value) in given {
            try store.setProperty(.app(app), "resource", "\(type).limit.\(key)", value == "clear" ? nil : value)
            context.output.detail("\(key): \(value == "clear" ? "cleared" : value)")
        }
        try ResourceSettings(context).applyToRunning(app)
    }
}

struct ResourceLimitClear: Command {
    static let configuration = CommandConfiguration(commandName: "resource:limit-clear", abstract: "Clear the resource limits of an app")
    static let usage = "[--process-type T] <app>"
    @Option(name: .customLong("process-type")) var processType: String?
    @Argument var app: String?

    func run(in context: Context) throws {
        try ResourceSettings.clear(app, processType: processType, context: context)
    }
}

/// `resource:reset`: the same as `resource:limit-clear`.
struct ResourceReset: Command {
    static let configuration = CommandConfiguration(commandName: "resource:reset", abstract: "Reset the resource limits of an app")
    static let usage = "[--process-type T] <app>"
    @Option(name: .customLong("process-type")) var processType: String?
    @Argument var app: String?

    func run(in context: Context) throws {
        try ResourceSettings.clear(app, processType: processType, context: context)
    }
}

struct ResourceReport: Command {
    static let configuration = CommandConfiguration(commandName: "resource:report", abstract: "Display the resource limits of one or more apps")
    static let usage = "[<app>] [<flag>]"
    @Argument(parsing: .allUnrecognized) var words: [String] = []

    func run(in context: Context) throws {
        let arguments = try ReportArguments(words)
        for app in try context.reportApps(arguments) {
            let properties = try context.store().properties(.app(app), "resource")
            var values: [String: String] = [:]
            for (key, value) in properties { values["--resource-\(key)"] = value }
            if arguments.infoFlag == nil, arguments.format != "json" {
                context.output.section("\(app) resource information")
                for key in values.keys.sorted() {
                    let label = key.dropFirst(2).replacingOccurrences(of: "-", with: " ").replacingOccurrences(of: ".", with: " ")
                    context.output.data("       \(label): \(values[key]!)")
                }
                continue
            }
            try Report(type: "resource", values: values).print(subject: app.rawValue, arguments: arguments, output: context.output)
        }
    }
}

extension ResourceSettings {
    /// Clears limits (all, or one process type's) and applies that to running processes.
    static func clear(_ app: String?, processType: String?, context: Context) throws {
        let app = try context.existingApp(app)
        let store = try context.store()
        for key in try store.properties(.app(app), "resource").keys where processType == nil || key.hasPrefix("\(processType!).") {
            try store.setProperty(.app(app), "resource", key, nil)
        }
        context.output.section("clearing \(app) limits\(processType.map { " (\($0))" } ?? "")")
        try ResourceSettings(context).applyToRunning(app)
    }

    /// Sets the current limits on the app's running units, so a change needs no restart.
    func applyToRunning(_ app: AppName) throws {
        let instances = try context.store().instances(app).filter { $0.state == .running }
        guard !instances.isEmpty else { return }
        let supervisor = try context.supervisor()
        for instance in instances {
            let spec = ProcessSpec(
                unit: instance.unit, slice: "", description: "", command: "", workingDirectory: "",
                limits: try limits(app, processType: instance.processType), syslogIdentifier: "")
            do {
                try supervisor.setRuntimeProperties(instance.unit, spec.limitProperties)
            } catch .noSuchUnit {
                continue
            } catch {
                throw CommandError("\(app) \(instance.dyno): cannot apply limits: \(error)")
            }
        }
    }
}
