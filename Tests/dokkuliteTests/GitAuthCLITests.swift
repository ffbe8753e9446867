import Foundation
import TestSupport
import Testing

/// `git:auth`, `git:auth-status`, `git:allow-host` and `git:public-key`: the dokku user's
/// `.netrc` and `.ssh`, in a home of the sandbox's (found from DOKKULITE_AUTHORIZED_KEYS).
@Suite struct GitAuthCLITests {
    /// A sandbox whose dokku home is `ROOT/home`, with its `.ssh`.
    private func sandboxWithHome() throws -> (Sandbox, home: String) {
        let sandbox = try Sandbox()
        let home = sandbox.root + "/home"
        try FileManager.default.createDirectory(atPath: home + "/.ssh", withIntermediateDirectories: true)
        sandbox.environment["DOKKULITE_AUTHORIZED_KEYS"] = home + "/.ssh/authorized_keys"
        return (sandbox, home)
    }

    private func mode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    @Test func authSetsAndUnsetsEntriesInAPrivateNetrc() throws {
        let (sandbox, home) = try sandboxWithHome()
        let netrc = home + "/.netrc"
        #expect(try sandbox.run("git:auth").stderr == " !     Please supply a git host\n")
        let half = try sandbox.run("git:auth", "git.example.com", "someone")
        #expect(half.status == 1 && half.stderr == " !     Missing password for netrc auth entry\n", "\(half)")
        #expect(!FileManager.default.fileExists(atPath: netrc), "nothing written")
        #expect(try sandbox.run("git:auth", "-oops").status == 1, "an option, never a host")
        #expect(try sandbox.run("git:auth", "a b").stderr == " !     Invalid git host: a b\n")

        let set = try sandbox.run("git:auth", "git.example.com", "someone", "secret")
        #expect(set.status == 0 && set.stdout == "-----> Setting netrc auth entry for host git.example.com\n", "\(set)")
        #expect(try sandbox.run(["git:auth", "other.example.com", "piped"], input: "from-stdin\n").status == 0)
        #expect(try String(contentsOfFile: netrc, encoding: .utf8)
            == "machine git.example.com\n  login someone\n  password secret\nmachine other.example.com\n  login piped\n  password from-stdin\n")
        #expect(try mode(netrc) == 0o600)

        chmod(netrc, 0o644)
        let unset = try sandbox.run("git:auth", "git.example.com")
        #expect(unset.stdout == "-----> Removing netrc auth entry for host git.example.com\n", "\(unset)")
        #expect(try String(contentsOfFile: netrc, encoding: .utf8) == "machine other.example.com\n  login piped\n  password from-stdin\n")
        #expect(try mode(netrc) == 0o600, "a netrc left readable is private again")
    }

    @Test func authStatusAnswersWithItsExitStatus() throws {
        let (sandbox, _) = try sandboxWithHome()
        #expect(try sandbox.run("git:auth-status").status == 1)
        #expect(try sandbox.run("git:auth-status", "git.example.com").status == 0, "no entry, none asked")
        try sandbox.run("git:auth", "git.example.com", "someone", "secret")
        let checks: [([String], Int32)] = [
            (["git.example.com"], 1), (["git.example.com", "someone", "secret"], 0),
            (["git.example.com", "someone", "wrong"], 1), (["git.example.com", "other", "secret"], 1),
        ]
        for (words, status) in checks {
            let result = try sandbox.run(["git:auth-status"] + words)
            #expect(result.status == status && result.stdout.isEmpty && result.stderr.isEmpty, "\(words): \(result)")
        }
        #expect(try sandbox.run(["git:auth-status", "git.example.com", "someone"], input: "secret").status == 0)
        #expect(try sandbox.run(["git:auth-status", "git.example.com", "someone"], input: "wrong").status == 1)
    }

    @Test func publicKeyIsTheDeployKeyOrSaysThereIsNone() throws {
        let (sandbox, home) = try sandboxWithHome()
        let none = try sandbox.run("git:public-key")
        #expect(none.status == 1 && none.stderr.hasPrefix(" !     There is no deploy key associated with the dokku user.\n"), "\(none)")
        // A link is not followed, as root never follows one in the dokku user's home.
        try FileManager.default.createSymbolicLink(atPath: home + "/.ssh/id_ed25519.pub", withDestinationPath: "/etc/hostname")
        let linked = try sandbox.run("git:public-key")
        #expect(linked.status == 1 && linked.stdout.isEmpty, "\(linked)")
        try FileManager.default.removeItem(atPath: home + "/.ssh/id_ed25519.pub")
        try "ssh-ed25519 AAAA dokku@test\n".write(toFile: home + "/.ssh/id_rsa.pub", atomically: true, encoding: .utf8)
        #expect(try sandbox.run("git:public-key").stdout == "ssh-ed25519 AAAA dokku@test\n")
    }

    @Test func allowHostNeedsAHostAndAKey() throws {
        let (sandbox, home) = try sandboxWithHome()
        #expect(try sandbox.run("git:allow-host").stderr == " !     Please supply a git host\n")
        #expect(try sandbox.run("git:allow-host", "-oProxyCommand=x").status == 1, "an option, never a host")
        #expect(try sandbox.run("git:allow-host", "x;y").stderr == " !     Invalid git host: x;y\n")
        // Nothing answers on this name (.invalid never resolves): nothing is added.
        let unknown = try sandbox.run("git:allow-host", "nothing.invalid")
        #expect(unknown.status == 1 && unknown.stderr.hasPrefix(" !     Could not get the host key of nothing.invalid"), "\(unknown)")
        #expect(!FileManager.default.fileExists(atPath: home + "/.ssh/known_hosts"))
    }

    @Test func allowHostAppendsTheHostKeyEachTime() throws {
        // Needs an sshd on this machine to scan; none, nothing to check.
        guard try Shell.which("ssh-keyscan", ["-t", "rsa", "127.0.0.1"]).stdout.contains("ssh-rsa") else { return }
        let (sandbox, home) = try sandboxWithHome()
        try FileManager.default.removeItem(atPath: home + "/.ssh")
        let knownHosts = home + "/.ssh/known_hosts"
        let added = try sandbox.run("git:allow-host", "127.0.0.1")
        #expect(added.status == 0 && added.stdout == "-----> 127.0.0.1 added to known hosts\n", "\(added)")
        #expect(try sandbox.run("git:allow-host", "127.0.0.1").status == 0)
        let lines = try String(contentsOfFile: knownHosts, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2 && lines.allSatisfy { $0.hasPrefix("127.0.0.1 ssh-rsa ") }, "\(lines)")
        // A link planted in its place is not written through.
        try FileManager.default.removeItem(atPath: knownHosts)
        try FileManager.default.createSymbolicLink(atPath: knownHosts, withDestinationPath: sandbox.root + "/elsewhere")
        #expect(try sandbox.run("git:allow-host", "127.0.0.1").status == 1)
        #expect(!FileManager.default.fileExists(atPath: sandbox.root + "/elsewhere"))
    }
}
