import ArgumentParser
import Foundation
import Supervisor

/// `postgres:*` and `redis:*`: one set of commands, as dokku-postgres and dokku-redis share
/// theirs, parameterised by the kind.
protocol ServiceKindTag {
    static var kind: ServiceKind { get }
}

enum PostgresTag: ServiceKindTag {
    static var kind: ServiceKind { .postgres }
}

enum RedisTag: ServiceKindTag {
    static var kind: ServiceKind { .redis }
}

/// What every service command shares: its name (`KIND:VERB`), no `--app` first argument.
protocol ServiceCommand: Command {
    associatedtype Kind: ServiceKindTag
    static var verb: String { get }
    static var abstract: String { get }
}

extension ServiceCommand {
    static var configuration: CommandConfiguration { CommandConfiguration(commandName: "\(Kind.kind.rawValue):\(verb)", abstract: abstract) }
    static var takesApp: Bool { false }
    static var usage: String { "<service>" }
    var kind: ServiceKind { Kind.kind }
}

/// Every service command, for the catalog.
enum ServiceCommands {
    static func all<K: ServiceKindTag>(_: K.Type) -> [any Command.Type] {
        [
            ServiceAppLinks<K>.self, ServiceBackup<K>.self, ServiceBackupAuth<K>.self, ServiceBackupDeauth<K>.self, ServiceBackupList<K>.self,
            ServiceBackupRestore<K>.self, ServiceBackupSchedule<K>.self, ServiceBackupScheduleCat<K>.self, ServiceBackupSetEncryption<K>.self,
            ServiceBackupUnschedule<K>.self, ServiceBackupUnsetEncryption<K>.self, ServiceClone<K>.self, ServiceConnect<K>.self,
            ServiceCreate<K>.self, ServiceDestroy<K>.self, ServiceExists<K>.self, ServiceExport<K>.self, ServiceExpose<K>.self,
            ServiceImport_<K>.self, ServiceInfo<K>.self, ServiceLink<K>.self, ServiceLinked<K>.self, ServiceLinksCommand<K>.self,
            ServiceList<K>.self, ServiceLogs<K>.self, ServicePause<K>.self, ServicePromote<K>.self, ServiceRestart<K>.self, ServiceSet<K>.self,
            ServiceStart<K>.self, ServiceStop<K>.self, ServiceUnexpose<K>.self, ServiceUnlink<K>.self, ServiceUpgrade<K>.self,
        ]
    }

    static let catalog: [any Command.Type] = all(PostgresTag.self) + all(RedisTag.self)
}

/// Memory as dokku-postgres takes it (`--memory 512`: megabytes), or with a unit (`512m`).
private func serviceMemory(_ text: String) throws -> UInt64 {
    if let megabytes = UInt64(text), megabytes > 0 { return megabytes << 20 }
    guard let bytes = ResourceSettings.memoryBytes(text), bytes >= 16 << 20 else {
        throw CommandError("Invalid memory value \(text): megabytes (512) or with a unit (512m, 1g), at least 16m")
    }
    return bytes
}

// MARK: Create, list, info

struct ServiceCreate<Kind: ServiceKindTag>: ServiceCommand {
    static var verb: String { "create" }
    static var abstract: String { "Create a \(Kind.kind.rawValue) service" }
    static var usage: String { "<service> [--password PASSWORD] [--memory MB] [--image-version VERSION]" }
    @Option(name: [.customShort("p"), .customLong("password")]) var password: String?
    @Option(name: [.customShort("m"), .customLong("memory")]) var memory: String?
    @Option(name: [.customShort("I"), .customLong("image-version")]) var imageVersion: String?
    @Option(name: [.customShort("i"), .customLong("image")]) var image: String?
    @Option(name: [.customShort("c"), .customLong("config-options")]) var configOptions: String?
    @Option(name: [.customShort("C"), .customLong("custom-env")]) var customEnv: String?
    @Argument var service: String?

    func run(in context: Context) throws {
        let name = try ServiceName.parse(service)
        let memoryBytes = try memory.map(serviceMemory)
        for (flag, value) in [("--image", image), ("--image-version", imageVersion), ("--config-options", configOptions), ("--custom-env", customEnv)] where value != nil {
            context.output.warn("\(flag) is ignored: dokkulite runs Debian's \(kind.title) \(kind.version)")
        }
        if password != nil { context.output.warn("Specified password may not be as secure as the auto-generated password") }
        context.output.detail("Waiting for container to be ready")
        if kind == .postgres { context.output.detail("Creating container database") }
        let record = try ServiceManager(context, kind).create(name, password: password, memoryBytes: memoryBytes)
        if kind == .postgres { context.output.detail("Securing connection to database") }
        context.output.section("\(kind.title) container created: \(name)")
        try ServiceInfoPrinter(context: context, kind: kind).print(record)
    }
}

struct ServiceList<Kind: ServiceKindTag>: ServiceCommand {
    static var verb: String { "list" }
    static var abstract: String { "List all \(Kind.kind.rawValue) services" }
    static var usage: String { "" }

    func run(in context: Context) throws {
        let services = try context.store().services(kind)
        guard !services.isEmpty else {
            context.output.warn("There are no \(kind.title) services")
            return
        }
        context.output.section("\(kind.title) services")
        for service in services { context.output.data(service.name.rawValue) }
    }
}

/// `KIND:info`'s fields, as dokku-postgres prints them.
struct ServiceInfoPrinter {
    let context: Context
    let kind: ServiceKind

    static let flags = [
        "--config-dir", "--config-options", "--data-dir", "--dsn", "--exposed-ports", "--id", "--internal-ip", "--initial-network", "--links",
        "--post-create-network", "--post-start-network", "--service-root", "--status", "--version",
    ]

    func values(_ record: ServiceRecord) throws -> [String: String] {
        let manager = ServiceManager(context, kind)
        let links = try context.store().serviceLinks(kind, record.name).map(\.app.rawValue)
        let status: String
        if let unit = try context.supervisor().status(of: manager.unit(record.name)) {
            status = unit.isRunning ? "running" : (unit.activeState == "failed" ? "exited" : unit.activeState)
        } else {
            status = record.stopped ? "exited" : "missing"
        }
        return [
            "--config-dir": kind == .postgres ? manager.dataDirectory(record.name) : manager.directory(record.name),
            "--config-options": "",
            "--data-dir": manager.dataDirectory(record.name),
            "--dsn": manager.url(record),
            "--exposed-ports": record.exposedPort.map { "\(kind == .postgres ? 5432 : 6379)->\($0) " } ?? "-",
            "--id": manager.unit(record.name),
            "--internal-ip": "127.0.0.1",
            "--initial-network": "",
            "--links": links.isEmpty ? "-" : links.joined(separator: " ") + " ",
            "--post-create-network": "",
            "--post-start-network": "",
            "--service-root": manager.directory(record.name),
            "--status": status,
            "--version": "\(kind.rawValue):\(record.version)",
        ]
    }

    func print(_ record: ServiceRecord) throws {
        let values = try values(record)
        context.output.section("\(record.name) \(kind.rawValue) service information")
        for flag in Self.flags {
            var label = String(flag.dropFirst(2)).replacingOccurrences(of: "-", with: " ")
            label = label.prefix(1).uppercased() + label.dropFirst() + ":"
            let padded = label.padding(toLength: max(20, label.count), withPad: " ", startingAt: 0)
            let value = values[flag]!
            context.output.data("       \(padded) \(value.padding(toLength: max(25, value.count), withPad: " ", startingAt: 0))")
        }
    }
}

struct ServiceInfo<Kind: ServiceKindTag>: ServiceCommand {
    static var verb: String { "info" }
    static var abstract: String { "Print the service information" }
    static var usage: String { "<service> [--single-info-flag]" }
    @Argument(parsing: .allUnrecognized) var words: [String] = []

    func run(in context: Context) throws {
        let flags = words.filter { $0.hasPrefix("--") }
        let record = try ServiceManager(context, kind).existing(words.first { !$0.hasPrefix("--") })
        let printer = ServiceInfoPrinter(context: context, kind: kind)
        guard let flag = flags.first else { return try printer.print(record) }
        guard let value = try printer.values(record)[flag] else {
            throw CommandError("Invalid flag passed, valid flags: \(ServiceInfoPrinter.flags.joined(separator: " "))")
        }
        context.output.data(value)
    }
}

struct ServiceExists<Kind: ServiceKindTag>: ServiceCommand {
    static var verb: String { "exists" }
    static var abstract: String { "Check if the service exists" }
    @Argument var service: String?

    func run(in context: Context) throws {
        let record = try ServiceManager(context, kind).existing(service)
        context.output.step("Service \(record.name) exists")
    }
}

// MARK: Links

/// The service, then the app, each checked, in the order dokku-postgres checks them.
private func serviceAndApp(_ service: String?, _ app: String?, kind: ServiceKind, context: Context, appFirst: Bool) throws -> (ServiceRecord, AppName) {
    _ = try ServiceName.parse(service)
    guard let app, !app.isEmpty else { throw CommandError.missingApp }
    if appFirst {
        let name = try context.existingApp(app)
        return (try ServiceManager(context, kind).existing(service), name)
    }
    let record = try ServiceManager(context, kind).existing(service)
    return (record, try context.existingApp(app))
}

struct ServiceLink<Kind: ServiceKindTag>: ServiceCommand {
    static var verb: String { "link" }
    static var abstract: String { "Link the service to the app" }
    static var usage: String { "<service> <app> [--alias NAME] [--querystring QUERY] [--no-restart]" }
    @Option(name: [.customShort("a"), .customLong("alias")]) var alias: String?
    @Option(name: [.customShort("q"), .customLong("querystring")]) var querystring: String?
    @Flag(name: [.customShort("n"), .customLong("no-restart")]) var noRestart = false
    @Argument var service: String?
    @Argument var app: String?

    func run(in context: Context) throws {
        let (record, app) = try serviceAndApp(service, app, kind: kind, context: context, appFirst: true)
        _ = try ServiceLinks(context, kind).link(record, app: app, alias: alias, querystring: querystring)
        if noRestart {
            context.output.detail("Skipping restart of linked app")
        } else {
            try Restarter(context).restartAfterConfigChange(app)
        }
    }
}

struct ServiceUnlink<Kind: ServiceKindTag>: ServiceCommand {
    static var verb: String { "unlink" }
    static var abstract: String { "Unlink the service from the app" }
    static var usage: String { "<service> <app> [--no-restart]" }
    @Flag(name: [.customShort("n"), .customLong("no-restart")]) var noRestart = false
    @Argument var service: String?
    @Argument var app: String?

    func run(in context: Context) throws {
        let (record, app) = try serviceAndApp(service, app, kind: kind, context: context, appFirst: false)
        try ServiceLinks(context, kind).unlink(record, app: app)
        if noRestart {
            context.output.detail("Skipping restart of linked app")
        } else {
            try Restarter(context).restartAfterConfigChange(app)
        }
    }
}

struct ServicePromote<Kind: ServiceKindTag>: ServiceCommand {
    static var verb: String { "promote" }
    static var abstract: String { "Promote the service as the app's \(Kind.kind.defaultAlias)_URL" }
    static var usage: String { "<service> <app>" }
    @Argument var service: String?
    @Argument var app: String?

    func run(in context: Context) throws {
        let (record, app) = try serviceAndApp(service, app, kind: kind, context: context, appFirst: false)
        try ServiceLinks(context, kind).promote(record, app: app)
        try Restarter(context).restartAfterConfigChange(app)
    }
}

struct ServiceLinked<Kind: ServiceKindTag>: ServiceCommand {
    static var verb: String { "linked" }
    static var abstract: String { "Check if the service is linked to an app" }
    static var usage: String { "<service> <app>" }
    @Argument var service: String?
    @Argument var app: String?

    func run(in context: Context) throws {
        let (record, app) = try serviceAndApp(service, app, kind: kind, context: context, appFirst: false)
        guard try !ServiceLinks(context, kind).variables(record, app: app).isEmpty else {
            throw CommandError("Service \(record.name) is not linked to \(app)")
        }
        context.output.step("Service \(record.name) is linked to \(app)")
    }
}

struct ServiceLinksCommand<Kind: ServiceKindTag>: ServiceCommand {
    static var verb: String { "links" }
    static var abstract: String { "List all apps linked to the service" }
    @Argument var service: String?

    func run(in context: Context) throws {
        let record = try ServiceManager(context, kind).existing(service)
        for link in try context.store().serviceLinks(kind, record.name) { context.output.data(link.app.rawValue) }
    }
}

struct ServiceAppLinks<Kind: ServiceKindTag>: ServiceCommand {
    static var verb: String { "app-links" }
    static var abstract: String { "List all \(Kind.kind.rawValue) services linked to an app" }
    static var usage: String { "<app>" }
    static var takesApp: Bool { true }
    @Argument var app: String?

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        for link in try context.store().serviceLinks(app: app) where link.kind == kind { context.output.data(link.name.rawValue) }
    }
}

// MARK: Data in and out

struct ServiceConnect<Kind: ServiceKindTag>: ServiceCommand {
    static var verb: String { "connect" }
    static var abstract: String { "Connect to the service via the \(Kind.kind == .postgres ? "psql" : "redis-cli") client" }
    @Argument var service: String?

    func run(in context: Context) throws {
        let manager = ServiceManager(context, kind)
        let record = try manager.existing(service)
        guard try manager.isRunning(record) else { throw CommandError("Service \(record.name) is not running") }
        let argv: [String]
        switch kind {
        case .postgres:
            argv = [kind.binaries + "/psql", "-v", "ON_ERROR_STOP=1"] + manager.postgresConnection(record) + ["--dbname=" + record.name.databaseName]
        case .redis:
            argv = ["/usr/bin/redis-cli", "--no-auth-warning"] + manager.redisConnection(record)
        }
        let status = try manager.runTool(manager.toolSpec(record, purpose: "connect", argv: argv, environment: ["LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"]))
        if status != 0 { throw ExitCode(status) }
    }
}

struct ServiceExport<Kind: ServiceKindTag>: ServiceCommand {
    static var verb: String { "export" }
    static var abstract: String { "Export a dump of the service database" }
    @Argument var service: String?

    func run(in context: Context) throws {
        let manager = ServiceManager(context, kind)
        let record = try manager.existing(service)
        guard try manager.isRunning(record) else { throw CommandError("Service \(record.name) is not running") }
        let line = ServiceBackups(context, kind).dumpCommand(record)
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { close(null) }
        let status = try manager.runTool(manager.toolSpec(record, purpose: "export", argv: ["/bin/bash", "-c", line]), input: null)
        if status != 0 { throw CommandError("Export of \(record.name) failed (exit status \(status))") }
    }
}

struct ServiceImport_<Kind: ServiceKindTag>: ServiceCommand {
    static var verb: String { "import" }
    static var abstract: String { "Import a dump into the service database" }
    static var usage: String { "<service> < dump" }
    @Argument var service: String?

    func run(in context: Context) throws {
        let record = try ServiceManager(context, kind).existing(service)
        if isatty(0) != 0 { throw CommandError("No data provided on stdin.") }
        try ServiceImport(context, kind).restore(record, from: 0)
    }
}

struct ServiceClone<Kind: ServiceKindTag>: ServiceCommand {
    static var verb: String { "clone" }
    static var abstract: String { "Create a container then copy data from the service into it" }
    static var usage: String { "<service> <new-service>" }
    @Option(name: [.customShort("m"), .customLong("memory")]) var memory: String?
    @Argument var service: String?
    @Argument var newService: String?

    func run(in context: Context) throws {
        let manager = ServiceManager(context, kind)
        let record = try manager.existing(service)
        guard let newService, !newService.isEmpty else { throw CommandError("Please specify a name for the new service") }
        let name = try ServiceName.parse(newService)
        if try context.store().service(kind, name) != nil {
            throw CommandError("Invalid service name \(name). Verify the service name is not already in use.")
        }
        guard try manager.isRunning(record) else { throw CommandError("Service \(record.name) container is not running") }
        context.output.section("Cloning \(record.name) to \(name) @ \(kind.rawValue):\(record.version)")
        context.output.detail("Waiting for container to be ready")
        let copy = try manager.create(name, password: nil, memoryBytes: try memory.map(serviceMemory) ?? record.memoryBytes)
        context.output.section("\(kind.title) container created: \(name)")
        context.output.step("Copying data from \(record.name) to \(name)")
        do {
            try ServiceCopy(context: context, kind: kind).copy(from: record, to: copy)
        } catch {
            try? manager.removeEverything(copy)
            throw error
        }
        context.output.section("Done")
    }
}

/// Copies one service's data into another through a root-only anonymous file.
struct ServiceCopy {
    let context: Context
    let kind: ServiceKind

    func copy(from source: ServiceRecord, to target: ServiceRecord) throws {
        let manager = ServiceManager(context, kind)
        let file = try ServiceBackups(context, kind).scratchFile()
        defer { close(file) }
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { close(null) }
        let line = ServiceBackups(context, kind).dumpCommand(source)
        let status = try manager.runTool(manager.toolSpec(source, purpose: "export", argv: ["/bin/bash", "-c", line]), input: null, output: file)
        guard status == 0 else { throw CommandError("Export of \(source.name) failed (exit status \(status))") }
        lseek(file, 0, SEEK_SET)
        try ServiceImport(context, kind).restore(target, from: file)
    }
}

// MARK: Expose

struct ServiceExpose<Kind: ServiceKindTag>: ServiceCommand {
    static var verb: String { "expose" }
    static var abstract: String { "Expose the service on a public port (the proxy forwards it)" }
    static var usage: String { "<service> [port]" }
    @Argument var service: String?
    @Argument var ports: [String] = []

    func run(in context: Context) throws {
        let manager = ServiceManager(context, kind)
        let record = try manager.existing(service)
        if let exposed = record.exposedPort { throw CommandError("Service \(record.name) already exposed on port(s) \(exposed)") }
        let standard = kind == .postgres ? 5432 : 6379
        guard ports.count <= 1 else { throw CommandError("1 ports to be exposed need to be provided in the following order: \(standard)") }
        let port: Int
        if let text = ports.first {
            guard let number = Int(text), (1...65535).contains(number) else { throw CommandError("Invalid port \(text): a number from 1 to 65535") }
            port = number
        } else {
            // As Docker picks a host port: a free one, here above the app range's default.
            let exposed = Set(try context.store().services().compactMap(\.exposedPort))
            guard let free = (30000...39999).first(where: { !exposed.contains($0) && !context.settings.portRange.contains($0) && Supervisor.isFree(port: $0) }) else {
                throw CommandError("No free port to expose \(record.name) on")
            }
            port = free
        }
        if context.settings.portRange.contains(port) {
            throw CommandError("Port \(port) is in the range app processes use (DOKKULITE_PORT_RANGE)")
        }
        let taken = try context.store().apps().contains { app in try PortPlan.effective(app.name, context: context).contains { $0.hostPort == port } }
        if taken || [80, 443].contains(port) { throw CommandError("Port \(port) is already used by an app's port map") }
        guard Supervisor.isFree(port: port) else { throw CommandError("Port \(port) is in use on this server") }
        try context.store().setServiceExposedPort(kind, record.name, port)
        try RouteSync(context).updateAll()
        context.output.step("Service \(record.name) exposed on port(s) [container->host]: \(standard)->\(port) ")
    }
}

struct ServiceUnexpose<Kind: ServiceKindTag>: ServiceCommand {
    static var verb: String { "unexpose" }
    static var abstract: String { "Unexpose a previously exposed service" }
    @Argument var service: String?

    func run(in context: Context) throws {
        let record = try ServiceManager(context, kind).existing(service)
        if record.exposedPort != nil {
            try context.store().setServiceExposedPort(kind, record.name, nil)
            try RouteSync(context).updateAll()
        }
        context.output.step("Service \(record.name) unexposed")
    }
}

// MARK: Life

struct ServiceStart<Kind: ServiceKindTag>: ServiceCommand {
    static var verb: String { "start" }
    static var abstract: String { "Start a previously stopped service" }
    @Argument var service: String?

    func run(in context: Context) throws {
        let manager = ServiceManager(context, kind)
        let record = try manager.existing(service)
        if try manager.isRunning(record) {
            context.output.warn("Service is already started")
            return
        }
        context.output.section("Starting container")
        try manager.start(record)
        if record.exposedPort != nil { try RouteSync(context).updateAll() }
        context.output.section("Container started")
    }
}

struct ServiceStop<Kind: ServiceKindTag>: ServiceCommand {
    static var verb: String { "stop" }
    static var abstract: String { "Stop a running service" }
    @Argument var service: String?

    func run(in context: Context) throws {
        try Self.stop(service, kind: kind, context: context)
    }

    /// `stop`, and `pause`, which is the same here (there is no container to keep).
    static func stop(_ service: String?, kind: ServiceKind, context: Context) throws {
        let manager = ServiceManager(context, kind)
        let record = try manager.existing(service)
        guard try manager.isRunning(record) else {
            try context.store().setServiceStopped(kind, record.name, true)
            context.output.warn("Service is already paused")
            return
        }
        context.output.section("Pausing container")
        try manager.stop(record)
        if record.exposedPort != nil { try RouteSync(context).updateAll() }
        context.output.detail("Container paused")
    }
}

struct ServicePause<Kind: ServiceKindTag>: ServiceCommand {
    static var verb: String { "pause" }
    static var abstract: String { "Pause a running service" }
    @Argument var service: String?

    func run(in context: Context) throws {
        try ServiceStop<Kind>.stop(service, kind: kind, context: context)
    }
}

struct ServiceRestart<Kind: ServiceKindTag>: ServiceCommand {
    static var verb: String { "restart" }
    static var abstract: String { "Graceful shutdown and restart of the service" }
    @Argument var service: String?

    func run(in context: Context) throws {
        let manager = ServiceManager(context, kind)
        let record = try manager.existing(service)
        if try manager.isRunning(record) {
            context.output.section("Pausing container")
            // Not remembered as stopped: a failed start still leaves it to ps:restore.
            try manager.stop(record, remember: false)
            context.output.detail("Container paused")
        }
        context.output.section("Starting container")
        try manager.start(record)
        if record.exposedPort != nil { try RouteSync(context).updateAll() }
        context.output.section("Container started")
        context.output.step("Please call dokku ps:restart on all linked apps")
    }
}

struct ServiceLogs<Kind: ServiceKindTag>: ServiceCommand {
    static var verb: String { "logs" }
    static var abstract: String { "Print the most recent log(s) for this service" }
    static var usage: String { "<service> [-t|--tail] [<tail-num>]" }
    @Flag(name: [.customShort("t"), .customLong("tail")]) var tail = false
    @Argument var service: String?
    @Argument var count: Int?

    func run(in context: Context) throws {
        let manager = ServiceManager(context, kind)
        let record = try manager.existing(service)
        if try !manager.isRunning(record) { context.output.warn("Service logs may not be output as service is not running") }
        let journal = try Journal()
        let owner = AppUser.uid(of: record.user).map { UInt32($0.uid) }
        guard try journal.match(identifiers: ["\(kind.rawValue).\(record.name)"]) else { return }
        journal.seekTail(back: count ?? 100_000)
        func show(_ entry: Journal.Entry) {
            if owner == nil || entry.uid == owner { context.output.data(entry.message) }
        }
        while let entry = journal.next() { show(entry) }
        guard tail else { return }
        while true {
            journal.wait(timeout: .seconds(1))
            while let entry = journal.next() { show(entry) }
        }
    }
}

struct ServiceDestroy<Kind: ServiceKindTag>: ServiceCommand {
    static var verb: String { "destroy" }
    static var abstract: String { "Delete the service and its data" }
    static var usage: String { "<service> [-f|--force]" }
    @Flag(name: [.customShort("f"), .customLong("force")]) var force = false
    @Argument var service: String?
    @Argument var forceWord: String?

    func run(in context: Context) throws {
        let manager = ServiceManager(context, kind)
        let record = try manager.existing(service)
        if try !context.store().serviceLinks(kind, record.name).isEmpty { throw CommandError("Cannot delete linked service") }
        if !(force || context.force || forceWord == "force") {
            try Confirmation.require(record.name.rawValue, action: "destroy \(record.name) \(kind.title) service.", output: context.output)
        }
        context.output.section("Deleting \(record.name)")
        if record.exposedPort != nil {
            try context.store().setServiceExposedPort(kind, record.name, nil)
            try RouteSync(context).updateAll()
        }
        context.output.detail("Removing data")
        try manager.removeEverything(record)
        context.output.section("\(kind.title) container deleted: \(record.name)")
    }
}

struct ServiceSet<Kind: ServiceKindTag>: ServiceCommand {
    static var verb: String { "set" }
    static var abstract: String { "Set or clear a property for a service" }
    static var usage: String { "<service> <key> [<value>]" }
    @Argument var service: String?
    @Argument var key: String?
    @Argument var value: String?

    func run(in context: Context) throws {
        let manager = ServiceManager(context, kind)
        let record = try manager.existing(service)
        guard let key, !key.isEmpty else { throw CommandError("No key specified") }
        guard key == "memory" else { throw CommandError("Invalid key specified, valid keys include: memory") }
        let bytes = try value.flatMap { $0.isEmpty ? nil : try serviceMemory($0) }
        try context.store().setServiceMemory(kind, record.name, bytes)
        if let value, !value.isEmpty { context.output.section("Setting \(key) to \(value)") } else { context.output.section("Unsetting \(key)") }
        // Applied to the running unit at once, as resource:limit does for apps.
        if try manager.isRunning(record) {
            let updated = try manager.existing(record.name.rawValue)
            try context.supervisor().setRuntimeProperties(manager.unit(record.name), manager.spec(updated).limitProperties)
        }
    }
}

struct ServiceUpgrade<Kind: ServiceKindTag>: ServiceCommand {
    static var verb: String { "upgrade" }
    static var abstract: String { "Upgrade the service to the server's \(Kind.kind.rawValue) version" }
    static var usage: String { "<service> [--image-version VERSION]" }
    @Option(name: [.customShort("I"), .customLong("image-version")]) var imageVersion: String?
    @Option(name: [.customShort("i"), .customLong("image")]) var image: String?
    @Option(name: [.customShort("R"), .customLong("restart-apps")]) var restartApps: String?
    @Argument var service: String?

    func run(in context: Context) throws {
        let manager = ServiceManager(context, kind)
        let record = try manager.existing(service)
        if let imageVersion {
            let major = imageVersion.split(separator: ".").first.map(String.init) ?? imageVersion
            let current = record.version.split(separator: ".").first.map(String.init) ?? record.version
            if major != current {
                throw CommandError(
                    "Cannot upgrade \(record.name) from \(kind.title) \(record.version) to \(imageVersion): this server runs Debian's \(kind.title) \(kind.version), and a change of major version needs a dump and restore (\(kind.rawValue):export, \(kind.rawValue):create, \(kind.rawValue):import); nothing was changed")
            }
        }
        context.output.step("Service \(record.name) already running \(kind.rawValue):\(kind.version)")
    }
}

// MARK: Backups

struct ServiceBackup<Kind: ServiceKindTag>: ServiceCommand {
    static var verb: String { "backup" }
    static var abstract: String { "Create a backup of the service to a directory or an S3 bucket" }
    static var usage: String { "<service> <file:///DIR|bucket[/prefix]> [--keep N]" }
    @Option var keep: Int?
    @Flag(name: [.customShort("u"), .customLong("use-iam")]) var useIAM = false
    @Argument var service: String?
    @Argument var target: String?

    func run(in context: Context) throws {
        let record = try ServiceManager(context, kind).existing(service)
        guard let target, !target.isEmpty else { throw CommandError("Please specify an aws bucket for the backup, or file:///DIR") }
        if useIAM { throw CommandError("--use-iam is not supported: set credentials with \(kind.rawValue):backup-auth") }
        if let keep, keep < 1 { throw CommandError("Invalid --keep value \(keep): at least 1") }
        let path = try ServiceBackups(context, kind).backup(record, target: target, keep: keep)
        context.output.step("Backup of \(record.name) written to \(path)")
    }
}

struct ServiceBackupList<Kind: ServiceKindTag>: ServiceCommand {
    static var verb: String { "backup-list" }
    static var abstract: String { "List the service's backups in a directory, oldest first" }
    static var usage: String { "<service> <file:///DIR>" }
    @Argument var service: String?
    @Argument var target: String?

    func run(in context: Context) throws {
        let record = try ServiceManager(context, kind).existing(service)
        guard let target, !target.isEmpty else { throw CommandError("Please specify a backup target (file:///DIR)") }
        for path in try ServiceBackups(context, kind).list(record, target: target) { context.output.data(path) }
    }
}

struct ServiceBackupRestore<Kind: ServiceKindTag>: ServiceCommand {
    static var verb: String { "backup-restore" }
    static var abstract: String { "Restore the service from one of its backup files" }
    static var usage: String { "<service> <file:///DIR/FILE>" }
    @Argument var service: String?
    @Argument var file: String?

    func run(in context: Context) throws {
        let record = try ServiceManager(context, kind).existing(service)
        guard let file, !file.isEmpty else { throw CommandError("Please specify a backup file to restore") }
        try ServiceBackups(context, kind).restore(record, file: file)
        context.output.step("Restored \(record.name) from \(file)")
    }
}

struct ServiceBackupAuth<Kind: ServiceKindTag>: ServiceCommand {
    static var verb: String { "backup-auth" }
    static var abstract: String { "Set up authentication for backups on the S3 bucket" }
    static var usage: String { "<service> <aws-access-key-id> <aws-secret-access-key> [<aws-default-region>] [<aws-signature-version>] [<endpoint-url>]" }
    @Argument var service: String?
    @Argument var accessKeyID: String?
    @Argument var secretAccessKey: String?
    @Argument var region: String?
    @Argument var signatureVersion: String?
    @Argument var endpoint: String?

    func run(in context: Context) throws {
        let record = try ServiceManager(context, kind).existing(service)
        guard let accessKeyID, !accessKeyID.isEmpty else { throw CommandError("Please specify an aws access key id") }
        guard let secretAccessKey, !secretAccessKey.isEmpty else { throw CommandError("Please specify an aws secret access key") }
        func plain(_ text: String) -> Bool { text.utf8.allSatisfy { $0 > 32 && $0 < 127 } }
        guard plain(accessKeyID), plain(secretAccessKey), accessKeyID.count <= 128, secretAccessKey.count <= 256 else {
            throw CommandError("Invalid AWS credentials: printable characters without spaces")
        }
        if let region, !(region.utf8.allSatisfy { (97...122).contains($0) || (48...57).contains($0) || $0 == 45 }) || region.isEmpty {
            throw CommandError("Invalid AWS region \(region)")
        }
        if let signatureVersion, !["s3v4", "v4", "4"].contains(signatureVersion.lowercased()) {
            throw CommandError("Unsupported signature version \(signatureVersion): only s3v4")
        }
        if let endpoint {
            // A key holder's choice: http(s) to a host, nothing else (requests follow no redirect).
            guard let url = URLComponents(string: endpoint), ["http", "https"].contains(url.scheme ?? ""), let host = url.host, !host.isEmpty,
                url.user == nil, url.password == nil, url.query == nil, url.fragment == nil, url.path.isEmpty || url.path == "/"
            else { throw CommandError("Invalid endpoint URL \(endpoint): http(s)://HOST[:PORT]") }
        }
        let store = try context.store()
        try store.setServiceProperty(kind, record.name, "backup-aws-access-key-id", accessKeyID)
        try store.setServiceProperty(kind, record.name, "backup-aws-secret-access-key", secretAccessKey)
        try store.setServiceProperty(kind, record.name, "backup-aws-region", region)
        try store.setServiceProperty(kind, record.name, "backup-endpoint-url", endpoint)
    }
}

struct ServiceBackupDeauth<Kind: ServiceKindTag>: ServiceCommand {
    static var verb: String { "backup-deauth" }
    static var abstract: String { "Remove backup authentication for the service" }
    @Argument var service: String?

    func run(in context: Context) throws {
        let record = try ServiceManager(context, kind).existing(service)
        for key in ["backup-aws-access-key-id", "backup-aws-secret-access-key", "backup-aws-region", "backup-endpoint-url"] {
            try context.store().setServiceProperty(kind, record.name, key, nil)
        }
    }
}

struct ServiceBackupSchedule<Kind: ServiceKindTag>: ServiceCommand {
    static var verb: String { "backup-schedule" }
    static var abstract: String { "Schedule a backup of the service (a systemd timer)" }
    static var usage: String { "<service> <schedule> <file:///DIR> [--keep N]" }
    @Option var keep: Int?
    @Argument var service: String?
    @Argument var schedule: String?
    @Argument var target: String?

    func run(in context: Context) throws {
        let record = try ServiceManager(context, kind).existing(service)
        guard let schedule, !schedule.isEmpty else { throw CommandError("Please specify a schedule for the backup") }
        guard let target, !target.isEmpty else { throw CommandError("Please specify an aws bucket for the backup, or file:///DIR") }
        guard CronSchedule(schedule) != nil else { throw CommandError("Invalid cron schedule \"\(schedule)\"") }
        if let keep, keep < 1 { throw CommandError("Invalid --keep value \(keep): at least 1") }
        let backups = ServiceBackups(context, kind)
        if case .bucket = try backups.target(target) { _ = try backups.credentials(record.name) }
        let store = try context.store()
        try store.setServiceProperty(kind, record.name, "backup-schedule", schedule)
        try store.setServiceProperty(kind, record.name, "backup-target", target)
        try store.setServiceProperty(kind, record.name, "backup-keep", keep.map(String.init))
        try backups.syncSchedule(record)
    }
}

struct ServiceBackupScheduleCat<Kind: ServiceKindTag>: ServiceCommand {
    static var verb: String { "backup-schedule-cat" }
    static var abstract: String { "Show the backup schedule of the service" }
    @Argument var service: String?

    func run(in context: Context) throws {
        let record = try ServiceManager(context, kind).existing(service)
        let store = try context.store()
        guard let schedule = try store.serviceProperty(kind, record.name, "backup-schedule"),
            let target = try store.serviceProperty(kind, record.name, "backup-target")
        else { throw CommandError("There is no scheduled backup for \(record.name).") }
        let keep = try store.serviceProperty(kind, record.name, "backup-keep").map { " --keep \($0)" } ?? ""
        context.output.data("\(schedule) \(kind.rawValue):backup \(record.name) \(target)\(keep)")
    }
}

struct ServiceBackupUnschedule<Kind: ServiceKindTag>: ServiceCommand {
    static var verb: String { "backup-unschedule" }
    static var abstract: String { "Unschedule the backup of the service" }
    @Argument var service: String?

    func run(in context: Context) throws {
        let record = try ServiceManager(context, kind).existing(service)
        let store = try context.store()
        for key in ["backup-schedule", "backup-target", "backup-keep"] { try store.setServiceProperty(kind, record.name, key, nil) }
        try ServiceBackups(context, kind).syncSchedule(record)
    }
}

struct ServiceBackupSetEncryption<Kind: ServiceKindTag>: ServiceCommand {
    static var verb: String { "backup-set-encryption" }
    static var abstract: String { "Encrypt backups with a GPG passphrase" }
    static var usage: String { "<service> <passphrase>" }
    @Argument var service: String?
    @Argument var passphrase: String?

    func run(in context: Context) throws {
        let manager = ServiceManager(context, kind)
        let record = try manager.existing(service)
        guard let passphrase, !passphrase.isEmpty else { throw CommandError("Please specify a GPG backup passphrase") }
        guard !passphrase.contains(where: { $0.isNewline || $0 == "\0" }) else { throw CommandError("Invalid passphrase: it may not contain line breaks") }
        // The file first: a passphrase recorded but not given to gpg would encrypt with none.
        try manager.writeSecrets(record, passphrase: passphrase)
        try context.store().setServiceProperty(kind, record.name, "backup-passphrase", passphrase)
    }
}

struct ServiceBackupUnsetEncryption<Kind: ServiceKindTag>: ServiceCommand {
    static var verb: String { "backup-unset-encryption" }
    static var abstract: String { "Stop encrypting backups" }
    @Argument var service: String?

    func run(in context: Context) throws {
        let manager = ServiceManager(context, kind)
        let record = try manager.existing(service)
        try context.store().setServiceProperty(kind, record.name, "backup-passphrase", nil)
        try manager.writeSecrets(record, passphrase: nil)
    }
}
