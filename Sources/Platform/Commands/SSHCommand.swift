import ArgumentParser
import Foundation

/// The forced command of every allowed key. Reads `SSH_ORIGINAL_COMMAND` and runs exactly
/// one of: git's receive-pack or upload-pack for a valid app, or a dokkulite command as if
/// typed. Nothing else runs: no shell, no other program.
///
/// The global flags are taken off first, with the same parser the command line uses, and
/// the allowlist applies to the command that is left: whatever comes before it, a command
/// for root at the server (`Access.serverRoot`) never runs from here.
struct SSHCommand: Command {
    static let configuration = CommandConfiguration(commandName: "ssh-command", abstract: "The ssh entry point (the forced command of allowed keys)", shouldDisplay: false)
    static let access = Access.serverRoot
    static let usage = "--key-name NAME"
    static let takesApp = false
    @Option(name: .customLong("key-name")) var keyName: String?

    func run(in context: Context) throws {
        // The crash handler is already in place: `main` installs it for the ssh entry.
        var settings = context.settings
        settings.remoteCaller = true
        let original = ProcessInfo.processInfo.environment["SSH_ORIGINAL_COMMAND"] ?? ""
        let words: [String]
        do {
            words = try ShellWords.split(original)
        } catch {
            throw CommandError("Cannot parse the command: \(error)")
        }
        let (_, command) = try CommandLineTool.GlobalFlags.parse(words)
        let name = command.first ?? ""
        // user-auth: a plugin may refuse this user, key or command.
        try Plugins(context).fire("user-auth", [NSUserName(), keyName ?? "", name] + Array(command.dropFirst()))
        if name == "git-receive-pack" || name == "git-upload-pack" {
            guard words.count == 2 else { throw CommandError("\(name) takes exactly one repository") }
            // Validation happens in the command; the repository path is built from the name.
            throw ExitCode(CommandLineTool.run([name, words[1]], settings: settings))
        }
        // Help, the version, a command for key holders, or one a plugin provides. git's
        // programs are let in above, with their one argument; nothing else is.
        switch CommandLineTool.resolve(command, context: context) {
        case .overview, .namespaceHelp, .version, .plugin:
            break
        case .command(let type) where type.access == .keyHolders && !["git-receive-pack", "git-upload-pack"].contains(type.name):
            break
        case .command(let type) where type.configuration.shouldDisplay:
            throw CommandError("\(type.name) can only be run by root on the server")
        case .command, .unknown:
            throw CommandError("`\(original.trimmingCharacters(in: .whitespaces))` is not a dokku command.\nSee `dokku help` for a list of available commands.")
        }
        throw ExitCode(CommandLineTool.run(words, settings: settings))
    }
}

/// Splits a command line the way a POSIX shell splits words (single quotes, double quotes,
/// backslashes), and nothing more: no expansion, no globbing, no operators.
enum ShellWords {
    struct UnbalancedQuote: Error, CustomStringConvertible {
        var description: String { "unbalanced quote" }
    }

    static func split(_ line: String) throws -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var iterator = line.makeIterator()
        while let character = iterator.next() {
            switch character {
            case " ", "\t", "\n":
                if inWord { words.append(current); current = ""; inWord = false }
            case "'":
                inWord = true
                var closed = false
                while let next = iterator.next() {
                    if next == "'" { closed = true; break }
                    current.append(next)
                }
                if !closed { throw UnbalancedQuote() }
            case "\"":
                inWord = true
                var closed = false
                while let next = iterator.next() {
                    if next == "\"" { closed = true; break }
                    if next == "\\" {
                        guard let escaped = iterator.next() else { throw UnbalancedQuote() }
                        if !["\"", "\\", "$", "`", "\n"].contains(escaped) { current.append("\\") }
                        if escaped != "\n" { current.append(escaped) }
                        continue
                    }
                    current.append(next)
                }
                if !closed { throw UnbalancedQuote() }
            case "\\":
                inWord = true
                if let escaped = iterator.next(), escaped != "\n" { current.append(escaped) }
            default:
                inWord = true
                current.append(character)
            }
        }
        if inWord { words.append(current) }
        return words
    }
}
