import ArgumentParser
import Supervisor

/// The options `resource:limit` and `resource:reserve` take, as Dokku's.
struct ResourceOptions: ParsableArguments {
    @Option(name: .customLong("process-type")) var processType: String?
    @Option var cpu: String?
    @Option var memory: String?
    @Option(name: .customLong("memory-swap")) var memorySwap: String?
    @Option var network: String?
    @Option(name: .customLong("network-ingress")) var networkIngress: String?
    @Option(name: .customLong("network-egress")) var networkEgress: String?
    @Option(name: .customLong("nvidia-gpu")) var nvidiaGPU: String?
    @Option var tasks: String?

    var given: [(key: String, value: String)] {
        [("cpu", cpu), ("memory", memory), ("memory-swap", memorySwap), ("network", network), ("network-ingress", networkIngress),
         ("network-egress", networkEgress), ("nvidia-gpu", nvidiaGPU), ("tasks", tasks)].compactMap { key, value in value.map { (key, $0) } }
    }

    /// Sets (`clear` clears) the given values of `kind` (`limit`, `reserve`), or shows
    /// them when none is given, with Dokku's messages (`noun`: limits, reservation).
    func apply(_ appWord: String?, kind: String, noun: String, context: Context) throws {
        let app = try context.existingApp(appWord)
        let type = processType ?? ResourceSettings.defaultType
        let store = try context.store()
        let suffix = processType.map { " (\($0))" } ?? ""
        if given.isEmpty {
            let properties = try store.properties(.app(app), "resource")
            context.output.section("resource \(noun) \(app) information \(processType.map { "(\($0))" } ?? "[defaults]")")
            for key in ResourceSettings.keys {
                context.output.detail("\(key): \(properties["\(type).\(kind).\(key)"] ?? "")")
            }
            return
        }
        for (key, value) in given where value != "clear" { try ResourceSettings.validate(key, value) }
        context.output.section("Setting resource \(noun) for \(app)\(suffix)")
        for (key, value) in given {
            try store.setProperty(.app(app), "resource", "\(type).\(kind).\(key)", value == "clear" ? nil : value)
            context.output.detail("\(key): \(value == "clear" ? "cleared" : value)")
        }
        try ResourceSettings(context).applyToRunning(app)
    }
}

struct ResourceLimit: Command {
    static let configuration = CommandConfiguration(commandName: "resource:limit", abstract: "Limit resources for a given app/process-type combination (applied to running processes at once)")
    static let usage = "[--process-type <process-type>] [RESOURCE_OPTS...] <app>"
    @OptionGroup var options: ResourceOptions
    @Argument var app: String?

    func run(in context: Context) throws {
        try options.apply(app, kind: "limit", noun: "limits", context: context)
    }
}

struct ResourceReserve: Command {
    static let configuration = CommandConfiguration(commandName: "resource:reserve", abstract: "Reserve resources for a given app/process-type combination")
    static let usage = "[--process-type <process-type>] [RESOURCE_OPTS...] <app>"
    @OptionGroup var options: ResourceOptions
    @Argument var app: String?

    func run(in context: Context) throws {
        try options.apply(app, kind: "reserve", noun: "reservation", context: context)
    }
}

struct ResourceLimitClear: Command {
    static let configuration = CommandConfiguration(commandName: "resource:limit-clear", abstract: "Clear the resource limits of an app")
    static let usage = "[--process-type <process-type>] <app>"
    @Option(name: .customLong("process-type")) var processType: String?
    @Argument var app: String?

    func run(in context: Context) throws {
        try ResourceSettings.clear(app, kind: "limit", processType: processType, context: context)
    }
}

struct ResourceReserveClear: Command {
    static let configuration = CommandConfiguration(commandName: "resource:reserve-clear", abstract: "Clear the resource reservations of an app")
    static let usage = "[--process-type <process-type>] <app>"
    @Option(name: .customLong("process-type")) var processType: String?
    @Argument var app: String?

    func run(in context: Context) throws {
        try ResourceSettings.clear(app, kind: "reserve", processType: processType, context: context)
    }
}

/// `resource:reset`: the same as `resource:limit-clear`.
struct ResourceReset: Command {
    static let configuration = CommandConfiguration(commandName: "resource:reset", abstract: "Reset the resource limits of an app")
    static let usage = "[--process-type <process-type>] <app>"
    @Option(name: .customLong("process-type")) var processType: String?
    @Argument var app: String?

    func run(in context: Context) throws {
        try ResourceSettings.clear(app, kind: "limit", processType: processType, context: context)
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
    /// Clears limits or reservations (all, or one process type's) and applies that to
    /// running processes.
    static func clear(_ app: String?, kind: String, processType: String?, context: Context) throws {
        let app = try context.existingApp(app)
        let store = try context.store()
        for key in try store.properties(.app(app), "resource").keys
        where key.contains(".\(kind).") && (processType == nil || key.hasPrefix("\(processType!).")) {
            try store.setProperty(.app(app), "resource", key, nil)
        }
        let noun = kind == "limit" ? "limit" : "reservation"
        context.output.step("Clearing resource \(noun) for \(app)\(processType.map { " (\($0))" } ?? "")")
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
