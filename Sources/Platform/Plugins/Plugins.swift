import Foundation

/// Dokku-style plugins: a directory under `$DOKKULITE_ROOT/plugins/NAME` with a
/// `plugin.toml`, executables named after triggers, an optional `commands` script (exit 10
/// for "not mine") and `subcommands/NAME`. Triggers run with a timeout, as argv arrays,
/// never through a shell built from user input.
struct Plugins {
    let context: Context

    init(_ context: Context) {
        self.context = context
    }

    /// Where plugins live.
    var directory: String { context.settings.paths.plugins }

    /// An installed plugin.
    struct Plugin: Equatable {
        var name: String
        var path: String
        var enabled: Bool
        var version: String
        var description: String
    }

    /// Exit status a plugin's `commands` script uses for a command it does not handle.
    static let notImplemented: Int32 = 10
    /// Triggers whose non-zero exit stops the operation.
    static let vetoes: Set<String> = ["pre-deploy", "user-auth", "check-deploy", "pre-receive-app", "pre-build"]

    /// Installed plugins, by name.
    func installed() -> [Plugin] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory))?.sorted() ?? []
        return names.compactMap { name in
            let path = directory + "/" + name
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue,
                PluginName.isValid(name)
            else { return nil }
            let toml = (try? String(contentsOfFile: path + "/plugin.toml", encoding: .utf8)) ?? ""
            return Plugin(
                name: name, path: path, enabled: !FileManager.default.fileExists(atPath: path + "/.disabled"),
                version: Self.tomlValue(toml, "version") ?? "0.0.0", description: Self.tomlValue(toml, "description") ?? "")
        }
    }

    /// The enabled plugins.
    var enabled: [Plugin] { installed().filter(\.enabled) }

    /// Runs every enabled plugin's executable for `trigger` with `arguments`. What a
    /// trigger prints reaches the user, as Dokku's do (in a push, the pusher), unless
    /// `showingOutput` is false (a trigger asked for data), and its stdout is also
    /// returned. A plugin that fails a veto trigger stops the operation with its message;
    /// one that hangs is killed after the timeout and named.
    @discardableResult
    func fire(_ trigger: String, _ arguments: [String], input: String? = nil, showingOutput: Bool = true) throws -> String {
        var answers = ""
        for plugin in enabled {
            let executable = plugin.path + "/" + trigger
            guard FileManager.default.isExecutableFile(atPath: executable) else { continue }
            let result = try PluginProcess.run(executable, arguments, directory: plugin.path, input: input, timeout: context.settings.pluginTimeout, environment: environment)
            answers += result.stdout
            if showingOutput, !result.stdout.isEmpty { context.output.raw(result.stdout) }
            if result.timedOut {
                let message = "plugin \(plugin.name): trigger \(trigger) did not finish within \(Int(context.settings.pluginTimeout))s and was stopped"
                if Self.vetoes.contains(trigger) { throw CommandError(message) }
                context.output.warn(message)
                continue
            }
            if result.status != 0 {
                let said = result.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
                let message = said.isEmpty ? "plugin \(plugin.name): trigger \(trigger) failed with exit status \(result.status)" : said
                if Self.vetoes.contains(trigger) { throw CommandError(message) }
                context.output.warn("plugin \(plugin.name): trigger \(trigger) failed (exit status \(result.status))\(said.isEmpty ? "" : ": \(said)")")
            } else if !result.stderr.isEmpty {
                FileHandle.standardError.write(Data(result.stderr.utf8))
            }
        }
        return answers
    }

    /// The plugin that handles `command` (a `subcommands/NAME` file, or a `commands` script
    /// that does not answer 10), run with the words; nil when no plugin does.
    func runCommand(_ words: [String]) throws -> Int32? {
        guard let name = words.first else { return nil }
        for plugin in enabled {
            let subcommand = plugin.path + "/subcommands/" + name
            if FileManager.default.isExecutableFile(atPath: subcommand) {
                return try PluginProcess.runAttached(subcommand, words, directory: plugin.path, environment: environment)
            }
        }
        for plugin in enabled {
            let commands = plugin.path + "/commands"
            guard FileManager.default.isExecutableFile(atPath: commands) else { continue }
            let status = try PluginProcess.runAttached(commands, words, directory: plugin.path, environment: environment)
            if status != Self.notImplemented { return status }
        }
        return nil
    }

    /// Help lines plugins add (`commands help`), for `dokkulite help`.
    func helpLines() -> [String] {
        enabled.compactMap { plugin -> String? in
            let commands = plugin.path + "/commands"
            if FileManager.default.isExecutableFile(atPath: commands),
                let result = try? PluginProcess.run(commands, ["help"], directory: plugin.path, input: nil, timeout: 5, environment: environment),
                result.status == 0, !result.stdout.isEmpty
            {
                return result.stdout.trimmingCharacters(in: .newlines)
            }
            let subcommands = (try? FileManager.default.contentsOfDirectory(atPath: plugin.path + "/subcommands"))?.sorted() ?? []
            guard !subcommands.isEmpty else { return nil }
            return subcommands.map { "    \($0.padding(toLength: 25, withPad: " ", startingAt: 0))\(plugin.description)" }.joined(separator: "\n")
        }
    }

    /// What plugins see: Dokku's variables, pointing at this installation.
    private var environment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["DOKKU_ROOT"] = context.settings.paths.root
        environment["DOKKU_LIB_ROOT"] = context.settings.paths.root
        environment["PLUGIN_PATH"] = directory
        environment["DOKKULITE_BINARY"] = ReleaseBuilder.binaryPath
        return environment
    }

    private static func tomlValue(_ toml: String, _ key: String) -> String? {
        for line in toml.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if parts.count == 2, parts[0] == key {
                return parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            }
        }
        return nil
    }
}

/// Plugin names: the same rule as app names, so a name never escapes the plugin directory.
enum PluginName {
    static func isValid(_ name: String) -> Bool {
        AppName(name) != nil
    }
}

/// Runs plugin executables with a timeout.
enum PluginProcess {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        var timedOut: Bool
    }

    /// Runs and captures; after `timeout` seconds the plugin and everything it started are
    /// killed (coreutils' `timeout` signals its whole process group, so a grandchild that
    /// holds the output pipe cannot keep us waiting).
    static func run(_ path: String, _ arguments: [String], directory: String, input: String?, timeout: Double, environment: [String: String]) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        process.arguments = ["--kill-after=2", String(format: "%.1f", timeout), path] + arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.environment = environment
        let out = Pipe(), err = Pipe(), inp = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input == nil ? FileHandle.nullDevice : inp
        do { try process.run() } catch { throw CommandError("cannot run plugin \(path): \(error.localizedDescription)") }
        if let input {
            inp.fileHandleForWriting.write(Data(input.utf8))
            try? inp.fileHandleForWriting.close()
        }
        let stdoutReader = DataReader(out.fileHandleForReading)
        let stderrReader = DataReader(err.fileHandleForReading)
        process.waitUntilExit()
        // 124: timed out; 137, or timeout itself killed with its group: killed after the
        // grace period.
        let timedOut = process.terminationStatus == 124 || process.terminationStatus == 137
            || (process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL)
        return Result(
            status: process.terminationStatus, stdout: String(decoding: stdoutReader.wait(), as: UTF8.self),
            stderr: String(decoding: stderrReader.wait(), as: UTF8.self), timedOut: timedOut)
    }

    /// Runs with this process's stdio (plugin commands talk to the user directly).
    static func runAttached(_ path: String, _ arguments: [String], directory: String, environment: [String: String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.environment = environment
        do { try process.run() } catch { throw CommandError("cannot run plugin \(path): \(error.localizedDescription)") }
        process.waitUntilExit()
        return process.terminationStatus
    }
}

extension Plugins {
    /// Whether an enabled plugin has `subcommands/NAME` or a `commands` script that may
    /// handle the command (checked for the ssh entry, which runs only known commands).
    func providesCommand(_ name: String) -> Bool {
        enabled.contains { plugin in
            FileManager.default.isExecutableFile(atPath: plugin.path + "/subcommands/" + name)
                || (FileManager.default.isExecutableFile(atPath: plugin.path + "/commands") && name.contains(":"))
        }
    }
}
