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
