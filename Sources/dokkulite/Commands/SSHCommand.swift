import ArgumentParser
import Foundation

/// The forced command of every allowed key. Reads `SSH_ORIGINAL_COMMAND` and runs exactly
/// one of: git's receive-pack or upload-pack for a valid app, or a dokkulite command as if
/// typed. Nothing else runs: no shell, no other program.
struct SSHCommand: Command {
    static let configuration = CommandConfiguration(commandName: "ssh-command", abstract: "The ssh entry point (the forced command of allowed keys)", shouldDisplay: false)
    static let usage = "--key-name NAME"
    static let takesApp = false
    @Option(name: .customLong("key-name")) var keyName: String?

    /// Commands that never run over ssh: internal ones and those that need root on the
    /// server itself.
    static let refused: Set<String> = ["git-hook", "proxy:daemon", "ssh-command", "static:serve", "ps:retire", "proxy:serve"]

    func run(in context: Context) throws {
        let original = ProcessInfo.processInfo.environment["SSH_ORIGINAL_COMMAND"] ?? ""
        let words: [String]
        do {
            words = try ShellWords.split(original)
        } catch {
            throw CommandError("Cannot parse the command: \(error)")
        }
        guard let first = words.first else {
            Help.printOverview(output: context.output, all: false)
            return
        }
        let name = first.split(separator: " ").first.map(String.init) ?? first
        // user-auth: a plugin may refuse this user, key or command.
        try Plugins(context).fire("user-auth", [NSUserName(), keyName ?? "", name] + Array(words.dropFirst()))
        if name == "git-receive-pack" || name == "git-upload-pack" {
            guard words.count == 2 else { throw CommandError("\(name) takes exactly one repository") }
            // Validation happens in the command; the repository path is built from the name.
            throw ExitCode(CommandLineTool.run([name, words[1]], settings: context.settings))
        }
        if Self.refused.contains(name) || name.hasPrefix("ssh-keys:") || name.hasPrefix("plugin:install") {
            throw CommandError("`\(original)` is not a dokku command.\nSee `dokku help` for a list of available commands.")
        }
        let known = CommandLineTool.commands.contains { $0.name == name } || ["help", "version", "--version", "-v"].contains(name)
            || Plugins(context).providesCommand(name)
            || name.hasSuffix(":help") || Help.namespaces[name] != nil || CommandLineTool.aliases[name] != nil
            || name.hasPrefix("--")
        guard known else {
            throw CommandError("`\(original)` is not a dokku command.\nSee `dokku help` for a list of available commands.")
        }
        throw ExitCode(CommandLineTool.run(words, settings: context.settings))
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
