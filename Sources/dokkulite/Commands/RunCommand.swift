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
        if let ttlSeconds, ttlSeconds < 1 { throw CommandError("Invalid --ttl-seconds value: \(ttlSeconds)") }
        let app = try context.existingApp(app)
        let manager = ProcessManager(context)
        guard let release = try manager.currentRelease(app) else {
            throw CommandError("App \(app) has not been deployed")
        }
        var extra: [String: String] = [:]
        for pair in env {
            guard let equals = pair.firstIndex(of: "="), ConfigVars.isValidKey(String(pair[..<equals])) else {
                throw CommandError("Invalid env pair: \(pair)")
            }
            extra[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
        }
        var line = Self.shellLine(command)
        if command.isEmpty { line = "/bin/bash" }
        if let first = command.first, let procfileCommand = release.processTypes[first] {
            // As Dokku: a Procfile type runs its command, with the remaining words after it.
            context.output.step("Found '\(first)' in Procfile, running that command")
            line = ([procfileCommand] + [Self.shellLine(Array(command.dropFirst()))]).filter { !$0.isEmpty }.joined(separator: " ")
        }
        let exitCode = try manager.runOneOff(app, release: release, command: line, environment: extra, timeLimit: ttlSeconds)
        throw ExitCode(exitCode)
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

extension ProcessManager {
    /// Runs a one-off process of the app (`DYNO=run.N`) attached to this terminal's stdio.
    func runOneOff(_ app: AppName, release: Release, command: String, environment: [String: String], dyno type: String = "run", timeLimit: Int? = nil) throws -> Int32 {
        let number = Int.random(in: 1000...99999)
        let instance = InstanceRecord(
            unit: UnitNames.instanceUnit(root: context.settings.rootSlice, app: app.rawValue, processType: type, number: number, generation: 0),
            app: app, release: release.version, processType: type, number: number, generation: 0, port: nil, state: .running)
        try writeEnvironmentFile(app)
        var spec = try spec(for: instance, release: Release(
            app: app, version: release.version, status: release.status, revision: release.revision, description: "",
            buildpacks: [], processTypes: [type: command], appJSON: "{}", createdAt: release.createdAt))
        spec.environment.merge(environment) { $1 }
        spec.runtimeMaxSeconds = timeLimit
        spec.description = "dokkulite \(app) one-off \(instance.dyno)"
        do {
            return try context.supervisor().runAttached(spec)
        } catch {
            throw CommandError("\(app): run failed: \(error)")
        }
    }
}
