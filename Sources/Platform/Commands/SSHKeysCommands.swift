import ArgumentParser
import Foundation

/// The keys allowed to push, kept in the `dokku` user's `authorized_keys`: one line per
/// key with a forced command that names the key and runs the ssh entry point.
struct AuthorizedKeys {
    let context: Context

    /// One allowed key.
    struct Key: Equatable, Encodable {
        var name: String
        var fingerprint: String
        var publicKey: String

        enum CodingKeys: String, CodingKey {
            case name, fingerprint
            case publicKey = "public-key"
        }
    }

    static let options = "no-agent-forwarding,no-user-rc,no-X11-forwarding,no-port-forwarding"

    var path: String { context.settings.authorizedKeys }

    /// The keys dokkulite manages (other lines are left alone).
    func keys() -> [Key] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            guard let nameRange = line.range(of: "--key-name "), let close = line.range(of: "\",", range: nameRange.upperBound..<line.endIndex) else { return nil }
            let name = String(line[nameRange.upperBound..<close.lowerBound])
            guard let keyStart = line.range(of: Self.options + " ") else { return nil }
            let publicKey = String(line[keyStart.upperBound...])
            return Key(name: name, fingerprint: (try? Self.fingerprint(publicKey)) ?? "", publicKey: publicKey)
        }
    }

    /// `SHA256:…` of a public key; throws Dokku's message when it is not one.
    static func fingerprint(_ publicKey: String) throws -> String {
        let file = NSTemporaryDirectory() + "dokkulite-key-\(UUID().uuidString)"
        FileManager.default.createFile(atPath: file, contents: Data((publicKey + "\n").utf8), attributes: [.posixPermissions: 0o600])
        defer { try? FileManager.default.removeItem(atPath: file) }
        let result = try Subprocess.run("/usr/bin/ssh-keygen", ["-l", "-E", "sha256", "-f", file])
        guard result.status == 0, let fingerprint = result.stdout.split(separator: " ").dropFirst().first else {
            throw CommandError("Key specified in is not a valid ssh public key")
        }
        return String(fingerprint)
    }

    /// Checks every line of the file with ssh-keygen, as Dokku does before it trusts the
    /// file (blank lines and `#` comments aside, which sshd skips too). A missing file
    /// has no bad line.
    func verify() throws {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return }
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let key = line.trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty, !key.hasPrefix("#") else { continue }
            guard (try? Self.fingerprint(key)) != nil else { throw CommandError("\(path) line \(index + 1) failed ssh-keygen check.") }
        }
    }

    /// Rewrites the file atomically with dokkulite's lines replaced by `keys`.
    func write(_ keys: [Key]) throws {
        let existing = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        var lines = existing.split(separator: "\n").map(String.init).filter { !$0.contains(" ssh-command --key-name ") }
        for key in keys {
            lines.append("command=\"\(context.settings.sshCommandPrefix) ssh-command --key-name \(key.name)\",\(Self.options) \(key.publicKey)")
        }
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let temporary = path + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: Data((lines.joined(separator: "\n") + (lines.isEmpty ? "" : "\n")).utf8), attributes: [.posixPermissions: 0o600]) else {
            throw CommandError("cannot write \(temporary)")
        }
        // Keep the owner of the file (the dokku user) so sshd accepts it.
        var info = stat()
        if stat(directory, &info) == 0 { chown(temporary, info.st_uid, info.st_gid) }
        guard rename(temporary, path) == 0 else { throw CommandError("cannot write \(path): \(String(cString: strerror(errno)))") }
    }
}

/// `ssh-keys:*` changes who may push, so only root on the server may run them.
struct SSHKeysAdd: Command {
    static let configuration = CommandConfiguration(commandName: "ssh-keys:add", abstract: "Add a new public key by pipe or path")
    static let access = Access.serverRoot
    static let usage = "<name> [<key-file>]"
    static let takesApp = false
    @Argument var name: String?
    @Argument var file: String?

    func run(in context: Context) throws {
        try requireRootAtConsole(context, for: "ssh-keys")
        guard let name, !name.isEmpty else { throw CommandError("A name is required to add a key, ie: dokku ssh-keys:add <name> <key-file>") }
        guard name.utf8.allSatisfy({ (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0) || $0 == 45 || $0 == 95 || $0 == 46 }), name.utf8.count <= 64 else {
            throw CommandError("Invalid key name: \(name) (letters, digits, '.', '-' and '_' only)")
        }
        let data: Data
        if let file, file != "-" {
            guard let contents = FileManager.default.contents(atPath: file) else { throw CommandError("No key specified via file or pipe") }
            data = contents
        } else {
            guard isatty(0) == 0 else { throw CommandError("No key specified via file or pipe") }
            data = FileHandle.standardInput.readDataToEndOfFile()
        }
        let lines = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !lines.isEmpty else { throw CommandError("Empty key was specified") }
        guard lines.count == 1 else { throw CommandError("Too many keys provided, set one per invocation of dokku ssh-keys:add <NAME> <KEY_FILE>") }
        let publicKey = lines[0]
        guard !publicKey.contains("\""), !publicKey.hasPrefix("command=") else { throw CommandError("Key specified in is not a valid ssh public key") }
        let fingerprint = try AuthorizedKeys.fingerprint(publicKey)
        let store = AuthorizedKeys(context: context)
        try store.verify()
        var keys = store.keys()
        guard !keys.contains(where: { $0.name == name }) else { throw CommandError("Duplicate ssh key name") }
        guard !keys.contains(where: { $0.fingerprint == fingerprint }) else { throw CommandError("Duplicate ssh public key specified") }
        keys.append(.init(name: name, fingerprint: fingerprint, publicKey: publicKey))
        try store.write(keys)
        context.output.data(fingerprint)
    }
}

struct SSHKeysRemove: Command {
    static let configuration = CommandConfiguration(commandName: "ssh-keys:remove", abstract: "Remove an SSH public key by name")
    static let access = Access.serverRoot
    static let usage = "<name>|--fingerprint FINGERPRINT"
    static let takesApp = false
    @Option var fingerprint: String?
    @Argument var name: String?

    func run(in context: Context) throws {
        try requireRootAtConsole(context, for: "ssh-keys")
        let store = AuthorizedKeys(context: context)
        if let fingerprint {
            try store.write(store.keys().filter { $0.fingerprint != fingerprint })
            return
        }
        guard let name, !name.isEmpty else { throw CommandError("A name is required to remove a key, ie: dokku ssh-keys:remove <name>") }
        try store.write(store.keys().filter { $0.name != name })
    }
}

struct SSHKeysList: Command {
    static let configuration = CommandConfiguration(commandName: "ssh-keys:list", abstract: "List the SSH public keys allowed to push")
    static let access = Access.serverRoot
    static let usage = "[--format text|json] [<name>]"
    static let takesApp = false
    @Option var format = "text"
    @Argument var name: String?

    func run(in context: Context) throws {
        try requireRootAtConsole(context, for: "ssh-keys")
        let store = AuthorizedKeys(context: context)
        try store.verify()
        let keys = store.keys().filter { name == nil || $0.name == name }
        switch format {
        case "json":
            context.output.data(JSON.encode(keys))
        case "text":
            guard !keys.isEmpty else {
                // As Dokku: a name with no key is an empty answer, no message.
                if name != nil { throw ExitCode(1) }
                throw CommandError("No public keys found.")
            }
            for key in keys {
                context.output.data("\(key.fingerprint) NAME=\"\(key.name)\" SSHCOMMAND_ALLOWED_KEYS=\"\(AuthorizedKeys.options)\"")
            }
        default:
            throw CommandError("Invalid output format specified, supported formats: json, text")
        }
    }
}
