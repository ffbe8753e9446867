import ArgumentParser

#if canImport(Glibc)
import Glibc
#endif

/// A dokkulite command. ArgumentParser parses its arguments (its `commandName` is Dokku's
/// spelling, e.g. `apps:create`); the command line runs it with the shared context.
protocol Command: ParsableCommand {
    /// Runs the command. Throw `CommandError` for failures the user reads.
    mutating func run(in context: Context) throws

    /// The usage shown in help after the command name, e.g. `<app> <key>=<value>...`.
    static var usage: String { get }

    /// Whether the global `--app` flag supplies this command's first argument.
    static var takesApp: Bool { get }

    /// Who may run the command: everyone who may run dokkulite (the default), or root at the
    /// server's own console only (internal commands, and those that change who is trusted).
    static var access: Access { get }
}

/// Who may run a command.
enum Access {
    /// ssh key holders and root at the server.
    case keyHolders
    /// Root at the server only: the ssh entry refuses the command whatever comes before it.
    case serverRoot
}

/// Refuses a credentials command (`ssh-keys:*`, `api:*`) unless root runs it at the
/// server: the ssh entry refuses `serverRoot` commands already; this holds for any other way in.
func requireRootAtConsole(_ context: Context, for commands: String) throws {
    guard !context.settings.remoteCaller else { throw CommandError("\(commands) commands must be run as root on the server", kind: .forbidden) }
    guard getuid() == 0 else { throw CommandError("\(commands) commands must be run as root", kind: .forbidden) }
}

extension Command {
    static var usage: String { "<app>" }
    static var takesApp: Bool { true }
    static var access: Access { .keyHolders }
    /// The abstract from the configuration, for help listings.
    static var summary: String { configuration.abstract }
    /// Dokku's spelling of the command.
    static var name: String { configuration.commandName ?? "\(Self.self)" }
    /// The namespace before the colon (`apps` for `apps:create`).
    static var namespace: String { String(name.split(separator: ":").first ?? "") }
}
