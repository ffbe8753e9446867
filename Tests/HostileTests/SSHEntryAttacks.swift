import Foundation
import TestSupport
import Testing

extension OnTheInstalledServer {
    /// A key holder's command line: whatever comes before a command, only commands for key
    /// holders run, and nothing that reaches the server as root.
    @Suite struct SSHEntryAttacks {
        /// Internal commands behind global flags (review item 1): refused with one line, and
        /// nothing they would have started is left running.
        @Test func internalCommandsAreRefusedWhateverFlagsComeFirst() throws {
            let server = try InstalledServer.get()
            let port = try freePort()
            for command in [
                " --quiet static:serve --root / --port \(port)",
                "--trace --force static:serve --root / --port \(port)",
                " --quiet proxy:serve --listen 127.0.0.1:\(port) --route a=127.0.0.1:1",
                "--app x git-hook",
                "--quiet git-hook x",
                "--quiet proxy:daemon",
                "--quiet ps:retire x",
                "--app=x ssh-command",
                "static:serve --root / --port \(port)",
            ] {
                let result = try server.ssh(command)
                #expect(result.status != 0, "\(command): \(result)")
                #expect(result.stderr.contains("is not a dokku command") || result.stderr.contains("can only be run by root on the server"), "\(command): \(result)")
                #expect(!canConnect(port), "\(command) left something listening on \(port)")
            }
        }

        /// `--quiet ssh-command` recursed until it crashed and sent a backtrace (item 1).
        @Test func theEntryCannotCallItselfAndNeverSendsABacktrace() throws {
            let server = try InstalledServer.get()
            for command in [" --quiet ssh-command", "ssh-command --key-name root", "--quiet --quiet ssh-command"] {
                let result = try server.ssh(command)
                #expect(result.status == 1, "\(command): \(result)")
                let lines = result.stderr.split(separator: "\n")
                #expect(lines.count <= 2 && lines.allSatisfy { $0.hasPrefix(" !     ") }, "one refusal, no backtrace: \(result)")
            }
        }

        /// A crash of the entry while it serves a command: one line to the key holder, never
        /// the runtime's backtrace of a root process.
        @Test func aCrashPrintsOneLine() throws {
            let server = try InstalledServer.get()
            let app = server.newApp("crash")
            defer { server.cleanUp(app) }
            #expect(try server.push(app, files: InstalledServer.webApp("crash")).status == 0)
            let ssh = Process()
            ssh.executableURL = URL(fileURLWithPath: "/usr/bin/ssh")
            ssh.arguments = server.sshOptions + ["--", "dokku@127.0.0.1", "logs \(app) -t"]
            let errors = Pipe()
            ssh.standardError = errors
            ssh.standardOutput = FileHandle.nullDevice
            ssh.standardInput = FileHandle.nullDevice
            try ssh.run()
            // The entry itself (not sudo, which runs it): its argv is dokkulite's.
            var entry: Int32?
            _ = eventually(timeout: .seconds(20)) {
                entry = Self.processes(argv: ["/usr/local/bin/dokkulite", "ssh-command", "--key-name", server.keyName]).first
                return entry != nil
            }
            let pid = try #require(entry, "the ssh entry is running")
            // Once it follows the journal it is past start-up: the crash then is one of its
            // own, not of the loader's.
            let following = eventually(timeout: .seconds(20)) {
                ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []).contains { fd in
                    ((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)")) ?? "").contains("/journal/")
                }
            }
            #expect(following, "the entry follows the journal")
            kill(pid, SIGSEGV)
            // Whatever a crash does, it must not keep the key holder waiting.
            let ended = eventually(timeout: .seconds(20)) { !ssh.isRunning }
            if !ended {
                kill(pid, SIGKILL)
                ssh.terminate()
            }
            #expect(ended, "the entry ended on the crash")
            let said = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            ssh.waitUntilExit()
            #expect(ssh.terminationStatus == 70, "\(said)")
            #expect(said == " !     dokkulite stopped on an internal error; the server's administrator can find it in the logs\n", "\(said)")
        }

        /// Processes whose whole argv is `argv`.
        static func processes(argv: [String]) -> [Int32] {
            let wanted = Data((argv.joined(separator: "\u{0}") + "\u{0}").utf8)
            return ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { name in
                guard let pid = Int32(name), let cmdline = FileManager.default.contents(atPath: "/proc/\(name)/cmdline"), cmdline == wanted else { return nil }
                return pid
            }
        }

        /// Triggers run plugins as root with the caller's words; plugin and key
        /// administration change what runs as root or who may log in (item 1).
        @Test func rootOnlyCommandsAreRefused() throws {
            let server = try InstalledServer.get()
            for command in ["plugin:trigger post-deploy x", "--quiet plugin:trigger user-auth", "plugin:install https://example.test/x.git", "plugin:uninstall x", "ssh-keys:add x", "ssh-keys:list", "ssh-keys:remove hostile-tests"] {
                let result = try server.ssh(command)
                #expect(result.status != 0, "\(command): \(result)")
                #expect(result.stderr.contains("can only be run by root on the server") || result.stderr.contains("is not a dokku command"), "\(command): \(result)")
            }
            #expect(try server.console("ssh-keys:list").stdout.contains("hostile-tests"), "the key is still there")
        }

        /// Words that are not a command, or a command hidden in an argument, run nothing.
        @Test func noShellAndNoOtherProgram() throws {
            let server = try InstalledServer.get()
            let marker = server.work + "/pwned-\(UUID().uuidString.prefix(6))"
            for command in ["touch \(marker)", "--quiet touch \(marker)", "apps:list; touch \(marker)", "$(touch \(marker))", "apps:list && touch \(marker)", "--bogus touch \(marker)"] {
                let result = try server.ssh(command)
                #expect(result.status != 0 || !result.stdout.isEmpty, "\(command)")
            }
            #expect(!FileManager.default.fileExists(atPath: marker))
        }

        /// A bad argument is one line and a non-zero exit, never help and 0 (issue's "Also").
        @Test func aBadOptionIsAnErrorNotHelp() throws {
            let server = try InstalledServer.get()
            let result = try server.ssh("apps:create -dash")
            #expect(result.status != 0, "\(result)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(result)")
            #expect(!result.stdout.contains("USAGE"), "\(result)")
        }
    }
}
