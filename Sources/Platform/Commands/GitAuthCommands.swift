import ArgumentParser
import Beneath
import Foundation

/// A host as `git:auth` and `git:allow-host` take it: a name or address, never an option.
private func gitHost(_ host: String?) throws -> String {
    guard let host, !host.isEmpty else { throw CommandError("Please supply a git host") }
    guard host.wholeMatch(of: /[A-Za-z0-9_\[][A-Za-z0-9_.:\[\]-]*/) != nil, host.utf8.count <= 253 else {
        throw CommandError("Invalid git host: \(host)")
    }
    return host
}

/// The password of `git:auth HOST USER [PASS]`: the argument, else a line from stdin when
/// stdin is a pipe, as Dokku reads it.
private func netrcPassword(login: String?, password: String?) throws -> String? {
    guard login != nil else { return nil }
    if let password, !password.isEmpty { return password }
    var info = stat()
    guard fstat(0, &info) == 0, (info.st_mode & S_IFMT) == S_IFIFO else { return nil }
    let line = String(decoding: FileHandle.standardInput.readDataToEndOfFile().prefix(4096), as: UTF8.self)
    return line.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init)
}

/// The `login` and password given, checked; throws Dokku's message when the password is missing.
private func netrcCredentials(_ login: String?, _ password: String?) throws -> (login: String, password: String)? {
    guard let login, !login.isEmpty else { return nil }
    guard let password = try netrcPassword(login: login, password: password), !password.isEmpty else {
        throw CommandError("Missing password for netrc auth entry")
    }
    guard Netrc.isToken(login), Netrc.isToken(password) else {
        throw CommandError("A netrc login or password cannot contain spaces or control characters")
    }
    return (login, password)
}

struct GitAuth: Command {
    static let configuration = CommandConfiguration(commandName: "git:auth", abstract: "Configures netrc authentication for a given git server")
    static let usage = "<host> [<username> <password>]"
    static let takesApp = false
    @Argument var host: String?
    @Argument var login: String?
    @Argument var password: String?

    func run(in context: Context) throws {
        let host = try gitHost(host)
        let credentials = try netrcCredentials(login, password)
        let home = DokkuHome(context.settings)
        let existing = try home.read(".netrc")
        var netrc = Netrc(existing ?? "")
        if let credentials {
            context.output.step("Setting netrc auth entry for host \(host)")
            netrc.set(host, login: credentials.login, password: credentials.password)
        } else {
            context.output.step("Removing netrc auth entry for host \(host)")
            guard existing != nil else { return }
            netrc.set(host, login: nil, password: nil)
        }
        // Written whole, 0600 and the dokku user's from the start (a file left readable
        // by others is replaced by one that is not).
        try SecretFile.write(netrc.text, to: home.path + "/.netrc", owner: try home.owner())
    }
}

struct GitAuthStatus: Command {
    static let configuration = CommandConfiguration(commandName: "git:auth-status", abstract: "Reports whether the netrc entry matches the requested state (exit 0 if matches)")
    static let usage = "<host> [<username> <password>]"
    static let takesApp = false
    @Argument var host: String?
    @Argument var login: String?
    @Argument var password: String?

    func run(in context: Context) throws {
        let host = try gitHost(host)
        let credentials = try netrcCredentials(login, password)
        let current = Netrc(try DokkuHome(context.settings).read(".netrc") ?? "").credentials(host)
        // As Dokku: success when there is no entry and none was given, or when the entry
        // is exactly the one given; a silent failure otherwise.
        let matches = credentials.map { current == "\($0.login):\($0.password)" } ?? (current == nil)
        if !matches { throw ExitCode(1) }
    }
}

struct GitAllowHost: Command {
    static let configuration = CommandConfiguration(commandName: "git:allow-host", abstract: "Adds a host to known_hosts")
    static let usage = "<host>"
    static let takesApp = false
    @Argument var host: String?

    func run(in context: Context) throws {
        let host = try gitHost(host)
        let scan = try Subprocess.run("/usr/bin/ssh-keyscan", ["-t", "rsa", "--", host])
        let keys = scan.stdout.split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.isEmpty }
        guard !keys.isEmpty else {
            throw CommandError("Could not get the host key of \(host): \(scan.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        let home = DokkuHome(context.settings)
        let owner = try home.owner()
        do {
            let directory = try Beneath.openDirectory(home.path)
            defer { close(directory) }
            if mkdirat(directory, ".ssh", 0o700) == 0 { fchownat(directory, ".ssh", owner.uid, owner.gid, AT_SYMLINK_NOFOLLOW) }
            let fd = Beneath.open(".ssh/known_hosts", at: directory, flags: O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, mode: 0o644, links: .refused)
            guard fd >= 0 else { throw CommandError("Cannot write \(home.path)/.ssh/known_hosts: \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            var info = stat()
            if fstat(fd, &info) == 0, info.st_uid != owner.uid { fchown(fd, owner.uid, owner.gid) }
            let text = Array(keys.map { $0 + "\n" }.joined().utf8)
            guard text.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == text.count else {
                throw CommandError("Cannot write \(home.path)/.ssh/known_hosts: \(String(cString: strerror(errno)))")
            }
        } catch let failure as Beneath.Failure {
            throw CommandError("Cannot write \(home.path)/.ssh/known_hosts: \(failure.description)")
        }
        context.output.step("\(host) added to known hosts")
    }
}

struct GitPublicKey: Command {
    static let configuration = CommandConfiguration(commandName: "git:public-key", abstract: "Outputs the dokku public deploy key")
    static let usage = ""
    static let takesApp = false

    func run(in context: Context) throws {
        let home = DokkuHome(context.settings)
        for name in [".ssh/id_ed25519.pub", ".ssh/id_rsa.pub"] {
            if let key = try home.read(name, limit: 64 << 10) {
                context.output.data(key.trimmingCharacters(in: .newlines))
                return
            }
        }
        // Dokku's words, without its git:generate-deploy-key (dokkulite fetches by network
        // URL only; its git client never uses the dokku user's keys).
        context.output.warn("There is no deploy key associated with the dokku user.")
        throw CommandError("As an alternative, configure the netrc authentication via the git:auth command")
    }
}
