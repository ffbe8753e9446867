import ArgumentParser
import Foundation

/// The front door: global flags, command lookup, help, and turning errors into Dokku's
/// ` !     ` lines and exit codes. Returns the process exit code; never calls `exit`.
package enum CommandLineTool {
    /// Runs the command line `arguments` (without the program's name) with the settings of
    /// the process's environment; the exit code. What the executable calls.
    package static func main(_ arguments: [String]) -> Int32 {
        run(arguments)
    }

    /// Bare names that stand for a command.
    static let aliases = ["apps": "apps:list"]

    /// Every command, in help order.
    static let commands: [any Command.Type] = CommandCatalog.all

    /// The global flags that may come before a command, as in
    /// `dokku --quiet --app myapp config:show`.
    struct GlobalFlags {
        var quiet = false
        var force = false
        var app: String?

        /// Takes the global flags off the front of `arguments`; what is left starts with
        /// the command. The ssh entry and the command line both parse with this, so the
        /// command the ssh entry checks is the one that runs.
        static func parse(_ arguments: [String]) throws(CommandError) -> (GlobalFlags, [String]) {
            var flags = GlobalFlags()
            var rest = arguments[...]
            while let first = rest.first, first.hasPrefix("--") {
                if first == "--quiet" {
                    flags.quiet = true
                } else if first == "--trace" {
                } else if first == "--force" {
                    flags.force = true
                } else if first == "--app" {
                    guard rest.count >= 2 else { throw CommandError("--app requires an app name") }
                    rest.removeFirst()
                    flags.app = rest.first
                } else if first.hasPrefix("--app=") {
                    flags.app = String(first.dropFirst("--app=".count))
                } else {
                    break
                }
                rest.removeFirst()
            }
            return (flags, Array(rest))
        }
    }

    /// What the first word after the global flags asks for.
    enum Resolution {
        case overview(all: Bool)
        case namespaceHelp(String)
        case version
        case command(any Command.Type)
        /// A command an installed plugin provides (or may provide, through its `commands`).
        case plugin
        case unknown
    }

    /// Looks the command up: help, version, a namespace's help, a command, a plugin's.
    static func resolve(_ arguments: [String], context: Context) -> Resolution {
        guard let invoked = arguments.first else { return .overview(all: false) }
        let rest = arguments.dropFirst()
        // Bare plugin names that run a command rather than print help, as in Dokku.
        let name = aliases[invoked] ?? invoked
        switch name {
        case "help", "--help", "-h":
            if let topic = rest.first, topic != "--all" { return .namespaceHelp(String(topic.split(separator: ":").first ?? "")) }
            return .overview(all: rest.first == "--all")
        case "version", "--version", "-v":
            return .version
        default:
            break
        }
        // `NS:help`, a bare namespace without a command of its name, and `NS --help` (as
        // `apps --help` in Dokku, even where `apps` itself is a command) print its help.
        if rest.first == "--help" || rest.first == "-h", !invoked.contains(":"), Help.namespaces[invoked] != nil {
            return .namespaceHelp(invoked)
        }
        if name.hasSuffix(":help") || (!name.contains(":") && Help.namespaces[name] != nil && commands.first(where: { $0.name == name }) == nil) {
            return .namespaceHelp(String(name.split(separator: ":").first ?? ""))
        }
        if let type = commands.first(where: { $0.name == name }) { return .command(type) }
        if !name.hasPrefix("-"), Plugins(context).providesCommand(name) { return .plugin }
        return .unknown
    }

    static func run(_ given: [String], settings: Settings = Settings()) -> Int32 {
        var output = Output()
        // A marker of letters and digits only: it begins every event line.
        if let marker = ProcessInfo.processInfo.environment["DOKKULITE_OUTPUT_EVENTS"], (16...64).contains(marker.utf8.count),
            marker.utf8.allSatisfy({ (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0) })
        {
            output.eventMarker = marker
        }
        // The marker is this call's alone: programs it runs (plugins, git, dokkulite again)
        // write their own output, which the caller reads as raw lines.
        unsetenv("DOKKULITE_OUTPUT_EVENTS")
        let flags: GlobalFlags, arguments: [String]
        do {
            (flags, arguments) = try GlobalFlags.parse(given)
        } catch {
            output.failure(error.message, kind: .invalid)
            return 1
        }
        output.quiet = flags.quiet
        let context = Context(settings: settings, output: output)
        context.force = flags.force
        Help.pluginContext = context
        switch resolve(arguments, context: context) {
        case .overview(let all):
            Help.printOverview(output: output, all: all)
            return 0
        case .namespaceHelp(let namespace):
            guard Help.printNamespace(namespace, output: output) else {
                // `help NS` names only the topic in its refusal.
                let asked = ["help", "--help", "-h"].contains(arguments[0]) ? Array(arguments.dropFirst().prefix(1)) : arguments
                return unknown(asked, output)
            }
            return 0
        case .version:
            output.data("\(Program.name) version \(Version.current)")
            return 0
        case .plugin, .unknown:
            if let status = try? Plugins(context).runCommand(arguments) { return status }
            return unknown(arguments, output)
        case .command(let type):
            var rest = Array(arguments.dropFirst())
            if let app = flags.app, type.takesApp {
                rest.insert(app, at: 0)
            }
            return execute(type, arguments: rest, context: context)
        }
    }

    private static func execute(_ type: any Command.Type, arguments: [String], context: Context) -> Int32 {
        var command: any Command
        do {
            guard let parsed = try type.parse(arguments) as? any Command else { return 1 }
            command = parsed
        } catch {
            let code = type.exitCode(for: error)
            // Help only when asked for by name: `-dash` is an unknown option (ArgumentParser
            // reads it as `-d -a -s -h`), not a request for help.
            if code == .success, !arguments.contains("--help"), !arguments.contains("-h") {
                let stray = arguments.first { $0.hasPrefix("-") } ?? arguments.first ?? ""
                context.output.failure("Unknown option '\(stray)' for \(type.name)", kind: .invalid)
                return 1
            }
            if code == .success {
                context.output.data(type.fullMessage(for: error))
                return 0
            }
            let message = type.message(for: error)
            context.output.failure(message.isEmpty ? "invalid arguments for \(type.name)" : message, kind: .invalid)
            return 1
        }
        do {
            try command.run(in: context)
            return 0
        } catch let error as CommandError {
            if !error.message.isEmpty { context.output.failure(error.message, kind: error.kind) }
            return error.exitCode
        } catch let error as ExitCode {
            return error.rawValue
        } catch {
            context.output.failure("\(error)")
            return 1
        }
    }

    private static func unknown(_ words: [String], _ output: Output) -> Int32 {
        output.failure("`\(words.joined(separator: " "))` is not a \(Program.dokku) command.", kind: .invalid)
        output.failure("See `\(Program.dokku) help` for a list of available commands.", kind: .invalid)
        return 1
    }
}

/// The program's version.
enum Version {
    static let current = "0.1.0"
}
