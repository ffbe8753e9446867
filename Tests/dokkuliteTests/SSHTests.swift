import Foundation
import TestSupport
import Testing

/// A real sshd on a loopback port, keys added with ssh-keys:add, pushes with the real git
/// client over ssh, and commands that must be refused.
@Suite(.enabled(if: Integration.systemdEnabled, "needs a systemd manager: run scripts/test"))
struct SSHTests {
    /// sshd in its own daemon mode, stopped through its pid file. (Started under
    /// Foundation's Process, sshd closing every inherited descriptor makes Foundation
    /// believe it exited and block in wait4.)
    final class SSHServer: @unchecked Sendable {
        let port: Int
        let pidFile: String

        init(directory: String, authorizedKeys: String) throws {
            port = try freePort()
            try FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true)
            let hostKey = directory + "/host_key"
            try Shell.which("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", hostKey])
            let config = """
                Port \(port)
                ListenAddress 127.0.0.1
                HostKey \(hostKey)
                PidFile \(directory)/sshd.pid
                AuthorizedKeysFile \(authorizedKeys)
                PermitRootLogin yes
                StrictModes no
                PasswordAuthentication no
                KbdInteractiveAuthentication no
                UsePAM no
                LogLevel ERROR
                """
            try config.write(toFile: directory + "/sshd_config", atomically: true, encoding: .utf8)
            pidFile = directory + "/sshd.pid"
            let started = try Shell.run("/usr/sbin/sshd", ["-f", directory + "/sshd_config"])
            guard started.status == 0 else { throw TestFailure("sshd did not start: \(started)") }
            let port = self.port
            guard eventually({ canConnect(port) }) else { throw TestFailure("sshd did not start") }
        }

        deinit {
            if let text = try? String(contentsOfFile: pidFile, encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                kill(pid, SIGTERM)
            }
        }
    }

    @Test func pushAndCommandsOverSSH() throws {
        _ = try #require(Integration.systemdBus, "DOKKULITE_SYSTEMD_BUS is not set; scripts/test sets it")
        let sandbox = try Sandbox("ssh")
        let authorizedKeys = sandbox.root + "/authorized_keys"
        // The forced command runs under sshd's environment: it finds this sandbox through
        // a settings file.
        let settings = sandbox.root + "/dokkulite.env"
        let keys = ["DOKKULITE_ROOT", "DOKKULITE_SLICE", "DOKKULITE_SYSTEMD_BUS", "DOKKULITE_PORT_RANGE", "XDG_RUNTIME_DIR"]
        try keys.compactMap { key in sandbox.environment[key].map { "\(key)=\($0)" } }.joined(separator: "\n").write(toFile: settings, atomically: true, encoding: .utf8)
        sandbox.environment["DOKKULITE_AUTHORIZED_KEYS"] = authorizedKeys
        sandbox.environment["DOKKULITE_SSH_COMMAND"] = "env DOKKULITE_CONFIG=\(settings) \(Binaries.dokkulite)"
        try sandbox.run("domains:set-global", "dokku.test")
        try sandbox.run("checks:set", "--global", "wait-to-retire", "0")
        let proxy = try DaemonProcess(sandbox)

        let key = sandbox.root + "/id_ed25519"
        try Shell.which("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key])
        let added = try sandbox.run("ssh-keys:add", "admin", key + ".pub")
        #expect(added.status == 0, "\(added)")
        #expect(added.stdout.hasPrefix("SHA256:"))
        #expect(try sandbox.run("ssh-keys:add", "admin", key + ".pub").stderr == " !     Duplicate ssh key name\n")
        #expect(try sandbox.run("ssh-keys:add", "again", key + ".pub").stderr == " !     Duplicate ssh public key specified\n")
        #expect(try sandbox.run(["ssh-keys:add", "bad"], input: "not a key\n").stderr == " !     Key specified in is not a valid ssh public key\n")
        let listed = try sandbox.run("ssh-keys:list", "--format", "json")
        #expect(listed.stdout.contains("\"name\":\"admin\""))
        let line = try String(contentsOfFile: authorizedKeys, encoding: .utf8)
        #expect(line.hasPrefix("command=\"env DOKKULITE_CONFIG=\(settings) \(Binaries.dokkulite) ssh-command --key-name admin\",no-agent-forwarding,no-user-rc,no-X11-forwarding,no-port-forwarding ssh-ed25519 "))

        let server = try SSHServer(directory: sandbox.root, authorizedKeys: authorizedKeys)
        let sshOptions = ["-i", key, "-p", String(server.port), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes"]
        func ssh(_ command: String, key override: String? = nil) throws -> ProcessResult {
            var options = sshOptions
            if let override { options[1] = override }
            return try Shell.which("ssh", options + ["root@127.0.0.1", command])
        }

        let app = uniqueApp("sshapp")
        let source = try AppSource(sandbox, files: DeployTests.versionApp("over-ssh"))
        var pushEnvironment = ProcessInfo.processInfo.environment
        pushEnvironment["GIT_SSH_COMMAND"] = "ssh " + sshOptions.joined(separator: " ")
        let push = try Shell.which("git", ["push", "ssh://root@127.0.0.1:\(server.port)/\(app)", "main"], environment: pushEnvironment, directory: source.directory)
        #expect(push.status == 0, "\(push)")
        #expect(push.stderr.contains("=====> Application deployed:"))
        #expect(proxy.get("\(app).dokku.test")?.body == "over-ssh")

        #expect(try ssh("apps:list").stdout.contains(app))
        #expect(try ssh("config:set --no-restart \(app) GREETING='a b'").status == 0)
        #expect(try sandbox.run("config:get", app, "GREETING").stdout == "a b\n")
        let clone = sandbox.root + "/clone"
        let cloned = try Shell.which("git", ["clone", "-q", "ssh://root@127.0.0.1:\(server.port)/\(app)", clone], environment: pushEnvironment)
        #expect(cloned.status == 0, "\(cloned)")

        let shell = try ssh("bash")
        #expect(shell.status != 0)
        #expect(shell.stderr.contains("is not a dokku command"))
        let escape = try ssh("git-receive-pack '../x'")
        #expect(escape.status != 0)
        #expect(try ssh("ssh-keys:list").status != 0, "ssh-keys need root on the server")
        #expect(try ssh("git-hook \(app)").status != 0)

        let stranger = sandbox.root + "/stranger"
        try Shell.which("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", stranger])
        let refused = try ssh("apps:list", key: stranger)
        #expect(refused.status == 255, "an unknown key is refused by sshd")
        try sandbox.run("ssh-keys:remove", "admin")
        #expect(try ssh("apps:list").status == 255, "a removed key no longer works")
    }

    @Test func shellWordsSplitLikeAShellWithoutExpanding() throws {
        let sandbox = try Sandbox("words")
        sandbox.environment["SSH_ORIGINAL_COMMAND"] = "version"
        #expect(try sandbox.run("ssh-command").stdout.hasPrefix("dokkulite version"))
        sandbox.environment["SSH_ORIGINAL_COMMAND"] = "apps:create 'bad name'"
        #expect(try sandbox.run("ssh-command").stderr.contains("App name must begin"))
        sandbox.environment["SSH_ORIGINAL_COMMAND"] = "ls -la /"
        #expect(try sandbox.run("ssh-command").stderr == " !     `ls -la /` is not a dokku command.\n !     See `dokku help` for a list of available commands.\n")
    }
}
