import ArgumentParser
import Foundation
import Supervisor

struct Run: Command {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Run a one-off process inside the app's environment")
    static let usage = "[-e|--env KEY=VALUE] [--no-tty] [--ttl-seconds N] <app> <cmd>"
    @Option(name: [.customShort("e"), .customLong("env")]) var env: [String] = []
    @Flag(name: .customLong("no-tty")) var noTTY = false
    @Flag(name: .customLong("force-tty")) var forceTTY = false
    @Option(name: .customLong("ttl-seconds")) var ttlSeconds: Int?
    @Argument var app: String?
    @Argument(parsing: .captureForPassthrough) var command: [String] = []

    func run(in context: Context) throws {
        guard !(noTTY && forceTTY) else { throw CommandError("Cannot specify both --force-tty and --no-tty") }
        if let ttlSeconds, !(1...31_536_000).contains(ttlSeconds) { throw CommandError("Invalid --ttl-seconds value: \(ttlSeconds)") }
        let app = try context.existingApp(app)
        let manager = ProcessManager(context)
        guard let release = try manager.currentRelease(app) else {
            throw CommandError("App \(app) has not been deployed")
        }
        let extra = try Run.environment(env)
        var line = Self.commandLine(command, release: release)
        if command.isEmpty { line = "/bin/bash" }
        if let first = command.first, release.processTypes[first] != nil {
            context.output.step("Found '\(first)' in Procfile, running that command")
        }
        let exitCode = try manager.runOneOff(app, release: release, command: line, environment: extra, timeLimit: ttlSeconds)
        throw ExitCode(exitCode)
    }

    /// `-e KEY=VALUE` pairs as an environment.
    static func environment(_ pairs: [String]) throws -> [String: String] {
        var environment: [String: String] = [:]
        for pair in pairs {
            guard let equals = pair.firstIndex(of: "="), ConfigVars.isValidKey(String(pair[..<equals])) else {
                throw CommandError("Invalid env pair: \(pair)")
            }
            environment[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
        }
        return environment
    }

    /// The shell line a one-off runs. As Dokku: a Procfile type as the first word runs that
    /// type's command, with the remaining words after it.
    static func commandLine(_ words: [String], release: Release) -> String {
        guard let first = words.first, let procfileCommand = release.processTypes[first] else { return shellLine(words) }
        return ([procfileCommand] + [shellLine(Array(words.dropFirst()))]).filter { !$0.isEmpty }.joined(separator: " ")
    }

    /// The words of a command as one shell line, much as the Heroku CLI builds it: a single
    /// word is taken as written (it may hold shell syntax, `"echo $PORT && ls"`); of several,
    /// those with spaces, quotes or parentheses are double-quoted (`python -c 'print(1)'`),
    /// so variables still expand and `|`, `>` or `*` given as words still act.
    static func shellLine(_ words: [String]) -> String {
        if words.count == 1 { return words[0] }
        return words.map { word in
            let special = Set(" \t\n'\"()\\")
            guard word.isEmpty || word.contains(where: { special.contains($0) }) else { return word }
            var quoted = "\""
            for character in word {
                if character == "\"" || character == "\\" || character == "`" { quoted.append("\\") }
                quoted.append(character)
            }
            return quoted + "\""
        }.joined(separator: " ")
    }
}

struct RunDetached: Command {
    static let configuration = CommandConfiguration(commandName: "run:detached", abstract: "Run a command in a new detached process using the current release")
    static let usage = "[-e|--env KEY=VALUE] [--force-tty] [--ttl-seconds N] <app> <cmd>"
    @Option(name: [.customShort("e"), .customLong("env")]) var env: [String] = []
    @Flag(name: .customLong("force-tty")) var forceTTY = false
    @Option(name: .customLong("ttl-seconds")) var ttlSeconds: Int?
    @Argument var app: String?
    @Argument(parsing: .captureForPassthrough) var command: [String] = []

    func run(in context: Context) throws {
        if let ttlSeconds, !(1...31_536_000).contains(ttlSeconds) { throw CommandError("Invalid --ttl-seconds value: \(ttlSeconds)") }
        let app = try context.existingApp(app)
        guard !command.isEmpty else { throw CommandError("No command specified") }
        let manager = ProcessManager(context)
        guard let release = try manager.currentRelease(app) else { throw CommandError("App \(app) has not been deployed") }
        let extra = try Run.environment(env)
        let line = Run.commandLine(command, release: release)
        let dyno = try manager.startOneOff(app, release: release, command: line, environment: extra, timeLimit: ttlSeconds)
        // As Dokku: the name of the new process, for run:list, run:logs and run:stop.
        context.output.data("\(app).\(dyno)")
    }
}

/// The app's one-off processes (`run`, `run:detached`) as systemd has them.
struct OneOffProcesses {
    let context: Context

    func list(_ app: AppName) throws -> [UnitStatus] {
        let pattern = "\(context.settings.rootSlice)-\(UnitNames.escape(app.rawValue))-run.*"
        return try context.supervisor().status(matching: [pattern]).filter { $0.activeState != "inactive" }
    }

    /// `APP.run.N` for a unit `ROOT-APP-run.N-0.service`.
    func name(_ unit: String, app: AppName) -> String {
        guard let parsed = UnitNames.parseInstanceUnit(unit, root: context.settings.rootSlice) else { return unit }
        return "\(app).\(parsed.processType).\(parsed.number)"
    }

    /// The command, from the unit's description (`dokkulite APP one-off run.N: CMD`).
    func command(_ status: UnitStatus) -> String {
        guard let colon = status.description.range(of: ": ") else { return "" }
        return String(status.description[colon.upperBound...])
    }
}

private struct RunListRow: Encodable {
    var name: String
    var state: String
    var command: String
    var created_at: String
}

struct RunList: Command {
    static let configuration = CommandConfiguration(commandName: "run:list", abstract: "List all run processes for an app")
    static let usage = "[--format json|stdout] [--quiet] [<app>]"
    @Option var format = "stdout"
    /// As the global `--quiet`: the table without its header line.
    @Flag var quiet = false
    @Argument var app: String?

    func run(in context: Context) throws {
        var output = context.output
        if quiet { output.quiet = true }
        let context = Context(settings: context.settings, output: output)
        let app = try context.existingApp(app)
        let processes = OneOffProcesses(context: context)
        let now = UInt64(Date().timeIntervalSince1970 * 1_000_000)
        let rows = try processes.list(app).map { status in
            let started = status.startedAtMicroseconds ?? now
            return RunListRow(
                name: processes.name(status.unit, app: app), state: status.isRunning ? "running" : status.activeState, command: processes.command(status),
                created_at: ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(started) / 1_000_000)))
        }
        switch format {
        case "json":
            context.output.data(JSON.encode(rows))
        case "stdout":
            context.output.section("\(app) run containers")
            // Docker's table, as Dokku prints it: three spaces between columns.
            context.output.table([["NAMES", "COMMAND", "CREATED"]] + rows.map { [$0.name, "\"" + $0.command + "\"", $0.created_at] }, gap: 3)
        default:
            throw CommandError("Invalid format specified, supported formats: json, stdout")
        }
    }
}

struct RunStop: Command {
    static let configuration = CommandConfiguration(commandName: "run:stop", abstract: "Stops all run processes for an app or a specified run process")
    static let usage = "<app|--container NAME>"
    @Option var container: String?
    @Argument var app: String?

    func run(in context: Context) throws {
        if let container {
            // APP.run.N: the app is everything before the last two parts.
            let parts = container.split(separator: ".")
            guard parts.count >= 3, parts[parts.count - 2] == "run", let number = Int(parts[parts.count - 1]) else {
                throw CommandError("Invalid run container name: \(container)")
            }
            let app = try context.existingApp(parts.dropLast(2).joined(separator: "."))
            let unit = UnitNames.instanceUnit(root: context.settings.rootSlice, app: app.rawValue, processType: "run", number: number, generation: 0)
            guard try context.supervisor().status(of: unit)?.isRunning == true else { throw CommandError("No such run container: \(container)") }
            context.output.step("Stopping \(container)")
            try context.supervisor().stop([unit])
            return
        }
        let app = try context.existingApp(app)
        let processes = OneOffProcesses(context: context)
        let running = try processes.list(app)
        for status in running { context.output.step("Stopping \(processes.name(status.unit, app: app))") }
        try context.supervisor().stop(running.map(\.unit))
    }
}

extension ProcessManager {
    /// Runs a one-off process of the app (`DYNO=run.N`) attached to this terminal's stdio.
    func runOneOff(_ app: AppName, release: Release, command: String, environment: [String: String], dyno type: String = "run", timeLimit: Int? = nil) throws -> Int32 {
        let (spec, handOver) = try oneOffSpec(app, release: release, command: command, environment: environment, dyno: type, timeLimit: timeLimit)
        defer { handOver.map { _ = unlink($0) } }
        do {
            return try context.supervisor().runAttached(spec)
        } catch {
            throw CommandError("\(app): run failed: \(error)")
        }
    }

    /// Starts a one-off process in the background; returns its dyno name (`run.N`).
    func startOneOff(_ app: AppName, release: Release, command: String, environment: [String: String], timeLimit: Int?) throws -> String {
        let (spec, handOver) = try oneOffSpec(app, release: release, command: command, environment: environment, dyno: "run", timeLimit: timeLimit)
        // systemd has read the file once the process started.
        defer { handOver.map { _ = unlink($0) } }
        do {
            try context.supervisor().startDetached(spec)
        } catch {
            throw CommandError("\(app): run failed: \(error)")
        }
        return spec.environment["DYNO"] ?? "run"
    }

    /// The unit of a one-off, and the root-only file its `-e` values are handed over in
    /// (the caller removes it once the process has started).
    private func oneOffSpec(_ app: AppName, release: Release, command: String, environment: [String: String], dyno type: String, timeLimit: Int?) throws -> (ProcessSpec, handOver: String?) {
        let number = Int.random(in: 1000...99999)
        let instance = InstanceRecord(
            unit: UnitNames.instanceUnit(root: context.settings.rootSlice, app: app.rawValue, processType: type, number: number, generation: 0),
            app: app, release: release.version, processType: type, number: number, generation: 0, port: nil, state: .running)
        try writeEnvironmentFile(app)
        var spec = try spec(for: instance, release: Release(
            app: app, version: release.version, status: release.status, revision: release.revision, description: "",
            buildpacks: [], processTypes: [type: command], appJSON: "{}", createdAt: release.createdAt), phase: "run")
        // `-e` values may be secrets: in a root-only file systemd reads, as config vars are,
        // never in the unit's properties, which any local user can read over D-Bus (apps
        // cannot: the bus is out of their sandbox). The command is one of them anyway
        // (DOKKULITE_COMMAND), and the description carries it for run:list.
        var handOver: String?
        if !environment.isEmpty {
            let file = context.settings.paths.app(app) + "/\(instance.dyno).env"
            try SecretFile.write(ConfigVars.systemdEnvironmentFile(environment.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }), to: file)
            spec.environmentFiles.append(file)
            handOver = file
        }
        spec.runtimeMaxSeconds = timeLimit
        spec.description = "dokkulite \(app) one-off \(instance.dyno): \(command)"
        return (spec, handOver)
    }
}
