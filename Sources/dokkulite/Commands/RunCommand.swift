import ArgumentParser
import Foundation
import Supervisor

struct Run: Command {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Run a one-off process inside the app's environment")
    static let usage = "[-e|--env KEY=VALUE] [--no-tty] <app> <cmd>"
    @Option(name: [.customShort("e"), .customLong("env")]) var env: [String] = []
    @Flag(name: .customLong("no-tty")) var noTTY = false
    @Flag(name: .customLong("force-tty")) var forceTTY = false
    @Argument var app: String?
    @Argument(parsing: .captureForPassthrough) var command: [String] = []

    func run(in context: Context) throws {
        guard !(noTTY && forceTTY) else { throw CommandError("Cannot specify both --force-tty and --no-tty") }
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
        var line = command.joined(separator: " ")
        if command.isEmpty { line = "/bin/bash" }
        if command.count == 1, let procfileCommand = release.processTypes[command[0]] {
            context.output.step("Found '\(command[0])' in Procfile, running that command")
            line = procfileCommand
        }
        let exitCode = try manager.runOneOff(app, release: release, command: line, environment: extra)
        throw ExitCode(exitCode)
    }
}

extension ProcessManager {
    /// Runs a one-off process of the app (`DYNO=run.N`) attached to this terminal's stdio.
    func runOneOff(_ app: AppName, release: Release, command: String, environment: [String: String], dyno type: String = "run") throws -> Int32 {
        let number = Int.random(in: 1000...99999)
        let instance = InstanceRecord(
            unit: UnitNames.instanceUnit(root: context.settings.rootSlice, app: app.rawValue, processType: type, number: number, generation: 0),
            app: app, release: release.version, processType: type, number: number, generation: 0, port: nil, state: .running)
        try writeEnvironmentFile(app)
        var spec = try spec(for: instance, release: Release(
            app: app, version: release.version, status: release.status, revision: release.revision, description: "",
            buildpacks: [], processTypes: [type: command], appJSON: "{}", createdAt: release.createdAt))
        spec.environment.merge(environment) { $1 }
        spec.description = "dokkulite \(app) one-off \(instance.dyno)"
        do {
            return try context.supervisor().runAttached(spec)
        } catch {
            throw CommandError("\(app): run failed: \(error)")
        }
    }
}
