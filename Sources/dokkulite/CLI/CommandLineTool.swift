import ArgumentParser

/// The front door: global flags, command lookup, help, and turning errors into Dokku's
/// ` !     ` lines and exit codes. Returns the process exit code; never calls `exit`.
enum CommandLineTool {
    /// Bare names that stand for a command.
    static let aliases = ["apps": "apps:list"]

    /// Every command, in help order.
    static let commands: [any Command.Type] = CommandCatalog.all

    static func run(_ arguments: [String], settings: Settings = Settings()) -> Int32 {
        var output = Output()
        var arguments = arguments
        var globalApp: String?
        var force = false

        // Global flags come before the command, as in `dokku --quiet --app myapp config:show`.
        while let first = arguments.first, first.hasPrefix("--") {
            if first == "--quiet" {
                output.quiet = true
                arguments.removeFirst()
            } else if first == "--trace" {
                arguments.removeFirst()
            } else if first == "--force" {
                force = true
                arguments.removeFirst()
            } else if first == "--app" {
                guard arguments.count >= 2 else {
                    output.failure("--app requires an app name")
                    return 1
                }
                globalApp = arguments[1]
                arguments.removeFirst(2)
            } else if first.hasPrefix("--app=") {
                globalApp = String(first.dropFirst("--app=".count))
                arguments.removeFirst()
            } else {
                break
            }
        }

        Help.pluginContext = Context(settings: settings, output: output)
        guard let invoked = arguments.first else {
            Help.printOverview(output: output, all: false)
            return 0
        }
        var rest = Array(arguments.dropFirst())
        // Bare plugin names that run a command rather than print help, as in Dokku.
        let name = aliases[invoked] ?? invoked

        switch name {
        case "help", "--help", "-h":
            if let topic = rest.first, topic != "--all" {
                return Help.printNamespace(String(topic.split(separator: ":")[0]), output: output) ? 0 : unknown([topic], output)
            }
            Help.printOverview(output: output, all: rest.first == "--all")
            return 0
        case "version", "--version", "-v":
            output.data("\(Program.name) version \(Version.current)")
            return 0
        default:
            break
        }

        // `NS:help`, a bare namespace without a command of its name, and `NS --help` (as
        // `apps --help` in Dokku, even where `apps` itself is a command) print its help.
        if rest.first == "--help" || rest.first == "-h", !invoked.contains(":"), Help.namespaces[invoked] != nil {
            return Help.printNamespace(invoked, output: output) ? 0 : unknown(arguments, output)
        }
        if name.hasSuffix(":help") || (!name.contains(":") && Help.namespaces[name] != nil && commands.first(where: { $0.name == name }) == nil) {
            let namespace = String(name.split(separator: ":")[0])
            return Help.printNamespace(namespace, output: output) ? 0 : unknown(arguments, output)
        }

        guard let type = commands.first(where: { $0.name == name }) else {
            let context = Context(settings: settings, output: output)
            if let status = try? Plugins(context).runCommand(arguments) { return status }
            return unknown(arguments, output)
        }
        if let globalApp, type.takesApp {
            rest.insert(globalApp, at: 0)
        }
        let context = Context(settings: settings, output: output)
        context.force = force
        return execute(type, arguments: rest, context: context)
    }

    private static func execute(_ type: any Command.Type, arguments: [String], context: Context) -> Int32 {
        var command: any Command
        do {
            guard let parsed = try type.parse(arguments) as? any Command else { return 1 }
            command = parsed
        } catch {
            let code = type.exitCode(for: error)
            if code == .success {
                context.output.data(type.fullMessage(for: error))
                return 0
            }
            let message = type.message(for: error)
            context.output.failure(message.isEmpty ? "invalid arguments for \(type.name)" : message)
            return 1
        }
        do {
            try command.run(in: context)
            return 0
        } catch let error as CommandError {
            if !error.message.isEmpty { context.output.failure(error.message) }
            return error.exitCode
        } catch let error as ExitCode {
            return error.rawValue
        } catch {
            context.output.failure("\(error)")
            return 1
        }
    }

    private static func unknown(_ words: [String], _ output: Output) -> Int32 {
        output.failure("`\(words.joined(separator: " "))` is not a \(Program.dokku) command.")
        output.failure("See `\(Program.dokku) help` for a list of available commands.")
        return 1
    }
}

/// The program's version.
enum Version {
    static let current = "0.1.0"
}
