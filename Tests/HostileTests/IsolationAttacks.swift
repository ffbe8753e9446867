import Foundation
import TestSupport
import Testing

extension OnTheInstalledServer {
    /// App code against other apps and the server: one user per app, secrets root's alone,
    /// nothing shared in /dev/shm or /proc, a sandbox without privileges, and no taking
    /// another app's port.
    @Suite struct IsolationAttacks {
        /// Item 5: a long name is shortened to `dl-PREFIX-HASH`, itself a valid app name;
        /// an app of that name, or named after an existing account, gets a user of its own.
        @Test func everyAppHasAUserOfItsOwn() throws {
            let server = try InstalledServer.get()
            let long = "long" + String(repeating: "x", count: 36) + String(UUID().uuidString.prefix(6).lowercased())
            #expect(try server.console("apps:create", long).status == 0)
            defer { server.cleanUp(long) }
            #expect(try server.push(long, files: InstalledServer.webApp("long")).status == 0)
            let longUser = try server.ssh("run \(long) id -un").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(longUser.hasPrefix("dl-") && longUser.count <= 32, "\(longUser)")
            let lookalike = String(longUser.dropFirst(3))
            #expect(try server.console("apps:create", lookalike).status == 0, "a valid app name")
            defer { server.cleanUp(lookalike) }
            #expect(try server.push(lookalike, files: InstalledServer.webApp("lookalike")).status == 0)
            let lookalikeUser = try server.ssh("run \(lookalike) id -un").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(!lookalikeUser.isEmpty && lookalikeUser != longUser, "\(lookalikeUser) vs \(longUser)")

            // An account that exists already is never taken over.
            let taken = "taken-\(UUID().uuidString.prefix(6).lowercased())"
            #expect(try Shell.run("/usr/sbin/useradd", ["--system", "--no-create-home", "--user-group", "dl-\(taken)"]).status == 0)
            defer { _ = try? Shell.run("/usr/sbin/userdel", ["dl-\(taken)"]) }
            #expect(try server.console("apps:create", taken).status == 0)
            defer { server.cleanUp(taken) }
            #expect(try server.push(taken, files: InstalledServer.webApp("taken")).status == 0)
            let takenUser = try server.ssh("run \(taken) id -un").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(!takenUser.isEmpty && takenUser != "dl-\(taken)", "\(takenUser)")
        }

        /// Item 6: every app's config vars are in the database and its side files, and in
        /// each app's ENV: root's alone.
        @Test func secretsAreRootsAlone() throws {
            let server = try InstalledServer.get()
            let (victim, _) = try server.victim()
            defer { server.cleanUp(victim) }
            let root = InstalledServer.root
            for file in ["\(root)/dokkulite.db", "\(root)/dokkulite.db-wal", "\(root)/dokkulite.db-shm", "\(root)/apps/\(victim)/ENV"] {
                let attributes = try FileManager.default.attributesOfItem(atPath: file)
                #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600, "\(file)")
                #expect((attributes[.ownerAccountID] as? NSNumber)?.intValue == 0, "\(file)")
            }
            // Another app's code reads none of it.
            let spy = server.newApp("spy")
            defer { server.cleanUp(spy) }
            #expect(try server.push(spy, files: InstalledServer.webApp("spy")).status == 0)
            for file in ["\(root)/dokkulite.db", "\(root)/dokkulite.db-wal", "\(root)/apps/\(victim)/ENV", "\(root)/apps/\(victim)/repo.git/config", "\(root)/apps/\(victim)/data"] {
                let read = try server.ssh("run \(spy) cat \(file)")
                #expect(read.status != 0, "\(file): \(read)")
            }
        }

        /// Item 9: /dev/shm was shared by every app, and other apps' command lines showed in
        /// /proc.
        @Test func noSharedMemoryAndNoOtherAppsProcesses() throws {
            let server = try InstalledServer.get()
            let token = "argv-secret-\(UUID().uuidString.prefix(8))"
            let victim = server.newApp("shm")
            let spy = server.newApp("peek")
            defer { server.cleanUp(victim, spy) }
            var files = InstalledServer.webApp("shm")
            files["Procfile"] = "web: echo \(token) > /dev/shm/\(token) && exec python3 server.py \(token)\n"
            #expect(try server.push(victim, files: files).status == 0)
            #expect(try server.push(spy, files: InstalledServer.webApp("peek")).status == 0)
            let look = try server.ssh("run \(spy) sh -c 'ls -a /dev/shm; cat /proc/[0-9]*/cmdline 2>/dev/null | tr \"\\\\0\" \" \"; ps -eo user,args'")
            #expect(look.status == 0, "\(look)")
            #expect(!look.stdout.contains(token), "\(look)")
            #expect(!FileManager.default.fileExists(atPath: "/dev/shm/\(token)"), "not in the server's /dev/shm either")
        }

        /// The sandbox each process runs in: no capabilities, no new privileges, a seccomp
        /// filter, no devices, no namespaces, no kernel log.
        @Test func processesRunWithoutPrivileges() throws {
            let server = try InstalledServer.get()
            let app = server.newApp("sandbox")
            defer { server.cleanUp(app) }
            #expect(try server.push(app, files: InstalledServer.webApp("sandbox")).status == 0)
            let status = try server.ssh("run \(app) grep -E '^(CapBnd|CapEff|NoNewPrivs|Seccomp):' /proc/self/status").stdout
            #expect(status.contains("CapBnd:\t0000000000000000"), "\(status)")
            #expect(status.contains("CapEff:\t0000000000000000"))
            #expect(status.contains("NoNewPrivs:\t1"))
            #expect(status.contains("Seccomp:\t2"))
            for attempt in ["test -e /dev/mem", "test -e /dev/sda -o -e /dev/vda -o -e /dev/nvme0n1", "unshare -U true", "cat /dev/kmsg", "touch /usr/x", "touch /var/lib/dokkulite/x", "ls /root"] {
                #expect(try server.ssh("run \(app) \(attempt)").status != 0, "\(attempt)")
            }
        }

        /// Apps share the host's network: an app that takes the port handed to another's new
        /// instance is never mistaken for it; the deploy fails and nothing routes to it.
        @Test func aPortTakenByAnotherAppIsNeverRoutedTo() throws {
            let server = try InstalledServer.get()
            let squatter = server.newApp("squat")
            let slow = server.newApp("slow")
            defer { server.cleanUp(squatter, slow) }
            #expect(try server.push(squatter, files: InstalledServer.webApp("squatter")).status == 0)
            #expect(try server.console("apps:create", slow).status == 0)
            #expect(try server.console("checks:set", slow, "wait", "40").status == 0)
            let files = InstalledServer.webApp("slow", extra: ["Procfile": "web: exec sleep 600\n"])
            let result = ResultBox()
            let pushing = Thread {
                result.value = try? server.push(slow, files: files)
            }
            pushing.start()
            // The port handed to the new instance, as soon as it is recorded.
            var port: Int?
            _ = try eventually(timeout: .seconds(60)) {
                port = Int(try Shell.which("sqlite3", ["\(InstalledServer.root)/dokkulite.db", "SELECT port FROM instance WHERE app = '\(slow)' AND port IS NOT NULL"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines))
                return port != nil
            }
            let taken = try #require(port, "the slow app's instance got a port")
            let listen = "python3 -c 'import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((\"127.0.0.1\", \(taken))); s.listen(); time.sleep(120)'"
            #expect(try server.ssh("run:detached \(squatter) \(listen)").status == 0)
            _ = eventually(timeout: .seconds(90)) { result.value != nil }
            let pushed = try #require(result.value, "the push ended")
            #expect(pushed.status != 0, "\(pushed)")
            let squatterUID = try server.ssh("run \(squatter) id -u").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let bound = try String(contentsOfFile: "/proc/net/tcp", encoding: .utf8).split(separator: "\n").contains {
                let fields = $0.split(separator: " ")
                return fields.count > 7 && fields[1].hasSuffix(":" + String(format: "%04X", taken)) && fields[3] == "0A" && String(fields[7]) == squatterUID
            }
            if bound {
                // Where systemd cannot keep the port from it (no BPF framework), the
                // readiness check sees whose listener it is.
                #expect(pushed.stderr.contains("cannot use port \(taken): a process of another user"), "\(pushed)")
            }
            #expect((try? server.get(server.host(slow)).body) != "squatter", "nothing routes the slow app's traffic to the squatter")
            _ = try? server.ssh("run:stop \(squatter)")
        }
    }
}

/// A value handed back from another thread.
final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: ProcessResult?
    var value: ProcessResult? {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}

extension OnTheInstalledServer {
    /// What an app leaves when it goes, what one-off secrets are visible as, and whose logs
    /// are whose.
    @Suite struct LifecycleAttacks {
        /// An app's logs are what its own user wrote: another app naming itself `APP.web.1`
        /// (through syslog or journald's socket) adds nothing to them.
        @Test func noAppWritesAnotherAppsLogs() throws {
            let server = try InstalledServer.get()
            let victim = server.newApp("logged"), forger = server.newApp("forger")
            defer { server.cleanUp(victim, forger) }
            #expect(try server.push(victim, files: InstalledServer.webApp("logged")).status == 0)
            #expect(try server.push(forger, files: InstalledServer.webApp("forger")).status == 0)
            let token = "forged-\(UUID().uuidString.prefix(8))"
            // From inside the sandbox, where journald's sockets are within reach (on a
            // system manager they are: syslog goes through them)...
            _ = try server.ssh("run \(forger) sh -c 'logger -t \(victim).web.1 \(token)-syslog; echo \(token)-journal | systemd-cat -t \(victim).web.1; true'")
            // ...and, as surely, from any process of the forger's user.
            let ids = try server.ssh("run \(forger) sh -c 'echo $(id -u) $(id -g)'").stdout.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            #expect(ids.count == 2)
            _ = try Shell.run("/usr/bin/setpriv", ["--reuid", ids[0], "--regid", ids[1], "--clear-groups", "/usr/bin/logger", "-t", "\(victim).web.1", "\(token)-syslog"])
            let forged = try Shell.run("/usr/bin/setpriv", ["--reuid", ids[0], "--regid", ids[1], "--clear-groups", "/usr/bin/systemd-cat", "-t", "\(victim).web.1", "/bin/echo", "\(token)-journal"])
            #expect(forged.status == 0, "\(forged)")
            #expect(try eventually(timeout: .seconds(10)) { try Shell.run("/bin/journalctl", ["--no-pager", "-t", "\(victim).web.1"]).stdout.contains("\(token)-journal") }, "the forgery is in the journal")
            // The victim's web process logs the paths it serves: its own line shows; the
            // forgeries do not.
            _ = try server.get(server.host(victim), path: "/own-line-\(token)")
            #expect(try eventually(timeout: .seconds(10)) { try server.console("logs", victim, "-n", "200").stdout.contains("own-line-\(token)") })
            let logs = try server.console("logs", victim, "-n", "200").stdout
            #expect(!logs.contains("\(token)-syslog") && !logs.contains("\(token)-journal"), "\(logs)")
        }

        /// `run -e` values may be secrets: they never become unit properties, which any local
        /// user can read over D-Bus, and the process still has them.
        @Test func oneOffEnvironmentIsNotAUnitProperty() throws {
            let server = try InstalledServer.get()
            let app = server.newApp("runenv")
            defer { server.cleanUp(app) }
            #expect(try server.push(app, files: InstalledServer.webApp("runenv")).status == 0)
            let secret = "run-secret-\(UUID().uuidString.prefix(8))"
            let started = try server.ssh("run:detached -e TOKEN=\(secret) \(app) sh -c 'echo $TOKEN > $DATA_DIR/seen; sleep 60'")
            #expect(started.status == 0, "\(started)")
            let seen = "\(InstalledServer.root)/apps/\(app)/data/seen"
            #expect(try eventually(timeout: .seconds(10)) { (try? String(contentsOfFile: seen, encoding: .utf8)) == "\(secret)\n" }, "the process has it")
            let units = try server.units(of: app).filter { $0.contains("-run.") }
            #expect(!units.isEmpty)
            for unit in units {
                let shown = try server.systemctl("show", unit, "-p", "Environment", "-p", "EnvironmentFiles", "-p", "Description", "-p", "ExecStart").stdout
                #expect(!shown.contains(secret), "\(shown)")
            }
            let left = try FileManager.default.contentsOfDirectory(atPath: "\(InstalledServer.root)/apps/\(app)").filter { $0.hasSuffix(".env") }
            #expect(left.isEmpty, "the hand-over file is gone: \(left)")
        }

        /// `apps:destroy` ends every process of the app and leaves nothing of it to a new app:
        /// not its one-offs, not its storage (whose uid the system may hand out again).
        @Test func destroyLeavesNothingRunningAndNothingToTheNextApp() throws {
            let server = try InstalledServer.get()
            let app = server.newApp("gone")
            defer { server.cleanUp(app) }
            let named = "hostile-\(app)"
            let storage = "\(InstalledServer.storage)/\(named)"
            defer { try? FileManager.default.removeItem(atPath: storage) }
            #expect(try server.console("apps:create", app).status == 0)
            #expect(try server.ssh("storage:mount \(app) \(named):/storage").status == 0)
            #expect(try server.push(app, files: InstalledServer.webApp("gone")).status == 0)
            #expect(try server.ssh("run:detached \(app) sleep 600").status == 0)
            #expect(try server.units(of: app).contains { $0.contains("-run.") })
            #expect(try server.console("--force", "apps:destroy", app).status == 0)
            let remaining = try server.units(of: app).filter { !$0.hasSuffix(".slice") }
            #expect(remaining.isEmpty, "\(remaining)")
            let info = try FileManager.default.attributesOfItem(atPath: storage)
            #expect((info[.ownerAccountID] as? NSNumber)?.intValue == 0, "the storage is root's now")
            #expect((info[.posixPermissions] as? NSNumber)?.intValue == 0o700)
            #expect(!FileManager.default.fileExists(atPath: "\(InstalledServer.root)/apps/\(app)"))
        }

        /// Numbers a key holder sets are bounded: an infinite wait or timeout would stop a
        /// deploy midway, after the proxy switched.
        @Test func keyHoldersNumbersAreBounded() throws {
            let server = try InstalledServer.get()
            let app = server.newApp("numbers")
            defer { server.cleanUp(app) }
            #expect(try server.ssh("apps:create \(app)").status == 0)
            for command in [
                "checks:set \(app) wait-to-retire inf", "checks:set \(app) wait nan", "checks:set \(app) timeout 1e300",
                "ps:set \(app) stop-timeout-seconds 99999999999", "resource:limit --cpu 1e300 \(app)", "run --ttl-seconds 99999999999 \(app) true",
            ] {
                let result = try server.ssh(command)
                #expect(result.status != 0 && result.stderr.hasPrefix(" !     "), "\(command): \(result)")
                #expect(result.stderr.split(separator: "\n").count == 1, "one line: \(result)")
            }
        }
    }
}
