import Foundation
import TestSupport
import Testing

/// Processes as systemd transient units, against the real user manager.
@Suite(.enabled(if: Integration.systemdEnabled, "needs a systemd manager: run scripts/test"))
struct ProcessTests {
    /// A sandbox with one app whose current release is the fixture server (+ a worker).
    func deployedApp(_ base: String, extraTypes: [String: String] = [:]) throws -> (Sandbox, String) {
        _ = try #require(Integration.systemdBus, "DOKKULITE_SYSTEMD_BUS is not set; scripts/test sets it")
        let sandbox = try Sandbox(base)
        let app = uniqueApp(base)
        #expect(try sandbox.run("apps:create", app).status == 0)
        var types = ["web": "exec python3 server.py"]
        types.merge(extraTypes) { $1 }
        try sandbox.installRelease(app: app, files: ["server.py": fixtureServer, ".profile.d/greet.sh": "export FROM_PROFILE=yes\n"], processTypes: types)
        return (sandbox, app)
    }

    func report(_ sandbox: Sandbox, _ app: String) throws -> [String: Any] {
        let result = try sandbox.run("ps:report", app, "--format", "json")
        #expect(result.status == 0, "\(result)")
        return try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] ?? [:]
    }

    func instances(_ sandbox: Sandbox, _ app: String) throws -> [[String: Any]] {
        try report(sandbox, app)["instances"] as? [[String: Any]] ?? []
    }

    func get(_ port: Int, _ path: String = "/") -> String? {
        try? Shell.which("curl", ["-fsS", "--max-time", "5", "http://127.0.0.1:\(port)\(path)"]).stdout
    }

    func webPort(_ sandbox: Sandbox, _ app: String) throws -> Int {
        try #require(Int(try sandbox.sql("SELECT port FROM instance WHERE app = '\(app)' AND processType = 'web' AND state = 'running' LIMIT 1")))
    }

    @Test func startsWithConfigProfileAndPort() throws {
        let (sandbox, app) = try deployedApp("envapp")
        try sandbox.run("config:set", "--no-restart", app, "BODY={DYNO} {GREETING} $FROM_PROFILE", "GREETING=it's \"quoted\" $HOME")
        let started = try sandbox.run("ps:start", app)
        #expect(started.status == 0, "\(started)")
        let port = try webPort(sandbox, app)
        #expect(get(port) == "web.1 it's \"quoted\" $HOME $FROM_PROFILE")
        let report = try report(sandbox, app)
        let unit = try #require((report["instances"] as? [[String: Any]])?.first?["unit"] as? String)
        #expect(report["can-scale"] as? String == "true" && report["ps-can-scale"] as? String == "true", "trimmed and legacy keys, as Dokku's ps report gives")
        #expect(unit.hasPrefix("\(sandbox.slice)-\(app.replacingOccurrences(of: "-", with: "\\x2d"))-web.1-"))
        let slice = try Shell.which("systemctl", ["--user", "show", "-p", "Slice", "--value", unit])
        #expect(slice.stdout.trimmingCharacters(in: .newlines) == "\(sandbox.slice)-\(app.replacingOccurrences(of: "-", with: "\\x2d")).slice")
    }

    @Test func scaleUpAndDown() throws {
        let (sandbox, app) = try deployedApp("scale", extraTypes: ["worker": "while true; do echo tick; sleep 1; done"])
        #expect(try sandbox.run("ps:start", app).status == 0)
        let up = try sandbox.run("ps:scale", app, "web=3", "worker=2")
        #expect(up.status == 0, "\(up)")
        var running = try instances(sandbox, app)
        #expect(running.filter { $0["state"] as? String == "running" }.count == 5)
        let ports = Set(running.compactMap { $0["port"] as? Int })
        #expect(ports.count == 3, "each web instance has its own port")
        for port in ports { #expect(get(port) != nil) }
        #expect(try sandbox.run("ps:scale", app, "web=1", "worker=0").status == 0)
        running = try instances(sandbox, app)
        #expect(running.map { $0["process"] as? String } == ["web.1"])
        let units = try Shell.which("systemctl", ["--user", "list-units", "--plain", "--no-legend", "\(sandbox.slice)-*.service"])
        #expect(units.stdout.split(separator: "\n").count == 1, "\(units.stdout)")
    }

    @Test func crashedProcessIsRestartedAndReported() throws {
        let (sandbox, app) = try deployedApp("crash")
        #expect(try sandbox.run("ps:start", app).status == 0)
        let port = try webPort(sandbox, app)
        _ = get(port, "/crash")
        #expect(try eventually(timeout: .seconds(15)) { try instances(sandbox, app).first?["restarts"] as? Int == 1 && get(port) != nil })
        // Eventually: a daemon-reload elsewhere (the install test runs one) holds the
        // manager's state updates back for a moment after the process already answers.
        var after: [[String: Any]] = []
        #expect(try eventually(timeout: .seconds(10)) {
            after = try instances(sandbox, app)
            return after.first?["state"] as? String == "running"
        }, "\(after)")
    }

    @Test func processesRunSandboxedAsTheAppsOwnUser() throws {
        let (sandbox, app) = try deployedApp("sandboxed")
        let other = uniqueApp("other")
        try sandbox.run("apps:create", other)
        #expect(try sandbox.run("ps:start", app).status == 0)
        let id = try sandbox.run("run", app, "id -u")
        #expect(id.status == 0)
        #expect(id.stdout != "0\n" && !id.stdout.isEmpty)
        let usr = try sandbox.run("run", app, "touch /usr/dokkulite-test")
        #expect(usr.status != 0)
        #expect(!FileManager.default.fileExists(atPath: "/usr/dokkulite-test"))
        let foreign = try sandbox.run("run", app, "ls \(sandbox.root)/apps/\(other)/")
        #expect(foreign.status != 0, "an app cannot read another app's tree")
        let database = try sandbox.run("run", app, "cat \(sandbox.root)/dokkulite.db")
        #expect(database.status != 0, "an app cannot read the state database")
        let data = try sandbox.run("run", app, "echo kept > \(sandbox.root)/apps/\(app)/data/file && cat \(sandbox.root)/apps/\(app)/data/file")
        #expect(data.stdout == "kept\n", "\(data)")
    }

    @Test func memoryLimitIsEnforced() throws {
        let (sandbox, app) = try deployedApp("memory")
        #expect(try sandbox.run("ps:start", app).status == 0)
        let limit = try sandbox.run("resource:limit", "--memory", "64m", app)
        #expect(limit.status == 0, "\(limit)")
        let report = try report(sandbox, app)
        let unit = try #require((report["instances"] as? [[String: Any]])?.first?["unit"] as? String)
        #expect(report["can-scale"] as? String == "true" && report["ps-can-scale"] as? String == "true", "trimmed and legacy keys, as Dokku's ps report gives")
        let applied = try Shell.which("systemctl", ["--user", "show", "-p", "MemoryMax", "--value", unit])
        #expect(applied.stdout == "\(64 << 20)\n", "applied to the running unit without a restart")
        let hog = try sandbox.run("run", app, "python3 -c 'x = bytearray(256 * 1024 * 1024); print(len(x))'")
        #expect(hog.status == 137, "killed by the OOM killer: \(hog)")
        let small = try sandbox.run("run", app, "python3 -c 'x = bytearray(4 * 1024 * 1024); print(len(x))'")
        #expect(small.status == 0, "\(small)")

        // Dokku's size syntax and options; a reservation becomes MemoryLow.
        #expect(try sandbox.run("resource:limit", "--memory", "512MB", "--memory-swap", "1GB", "--network", "10", app).status == 0)
        #expect(try sandbox.run("resource:report", app, "--resource-_default_.limit.memory").stdout == "512MB\n")
        #expect(try Shell.which("systemctl", ["--user", "show", "-p", "MemorySwapMax", "--value", unit]).stdout == "\(512 << 20)\n", "swap is memory-swap less memory")
        let reserved = try sandbox.run("resource:reserve", "--memory", "32m", "--process-type", "web", app)
        #expect(reserved.stdout == "=====> Setting resource reservation for \(app) (web)\n       memory: 32m\n")
        #expect(try Shell.which("systemctl", ["--user", "show", "-p", "MemoryLow", "--value", unit]).stdout == "\(32 << 20)\n")
        let shown = try sandbox.run("resource:reserve", "--process-type", "web", app)
        #expect(shown.stdout.hasPrefix("=====> resource reservation \(app) information (web)\n       cpu: \n       memory: 32m\n"), "\(shown)")
        #expect(try sandbox.run("resource:reserve-clear", app).stdout == "-----> Clearing resource reservation for \(app)\n")
        #expect(try Shell.which("systemctl", ["--user", "show", "-p", "MemoryLow", "--value", unit]).stdout == "0\n")
        #expect(try sandbox.run("resource:limit-clear", app).stdout == "-----> Clearing resource limit for \(app)\n")
        #expect(try Shell.which("systemctl", ["--user", "show", "-p", "MemoryMax", "--value", unit]).stdout == "infinity\n")
    }

    @Test func badCommandFailsInsteadOfHanging() throws {
        let (sandbox, app) = try deployedApp("badcmd")
        try sandbox.installRelease(app: app, version: 2, files: [:], processTypes: ["web": "exec /nonexistent/server"])
        let started = ContinuousClock.now
        let result = try sandbox.run("ps:start", app)
        #expect(result.status != 0)
        #expect(result.stderr.contains("web.1"), "\(result)")
        #expect(ContinuousClock.now - started < .seconds(30))
    }

    @Test func logsCarryProcessTags() throws {
        let (sandbox, app) = try deployedApp("logs", extraTypes: ["worker": "echo worker says hi; sleep 300"])
        try sandbox.run("ps:scale", app, "worker=1")
        #expect(try sandbox.run("ps:start", app).status == 0)
        #expect(try eventually { try sandbox.run("logs", app, "-p", "worker").stdout.contains("\(app)[worker.1]: worker says hi") })
        let web = try sandbox.run("logs", app, "-n", "1", "-p", "web")
        #expect(web.stdout.hasSuffix("\(app)[web.1]: listening on \(try webPort(sandbox, app))\n"), "\(web)")
        #expect(web.stdout.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z "#, options: .regularExpression) != nil)
        let quiet = try sandbox.run("logs", app, "-q", "-p", "worker")
        #expect(quiet.stdout == "worker says hi\n")
    }

    @Test func runPropagatesExitCodesAndOutput() throws {
        let (sandbox, app) = try deployedApp("runner")
        let ok = try sandbox.run("run", app, "echo", "$DYNO")
        #expect(ok.status == 0)
        #expect(ok.stdout.hasPrefix("run."))
        let failed = try sandbox.run("run", app, "exit 42")
        #expect(failed.status == 42, "\(failed)")
        #expect(try sandbox.run(["run", app, "cat"], input: "from stdin").stdout == "from stdin")
        #expect(try sandbox.run("run", "-e", "EXTRA=yes", app, "echo $EXTRA").stdout == "yes\n")
        let quoted = try sandbox.run("run", app, "python3", "-c", "print('a  b')")
        #expect(quoted.stdout == "a  b\n", "each word reaches the command as given: \(quoted)")
    }

    @Test func detachedRunsAreListedAndStopped() throws {
        let (sandbox, app) = try deployedApp("detached")
        let started = try sandbox.run("run:detached", app, "sleep 300")
        #expect(started.status == 0, "\(started)")
        let name = started.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(name.range(of: "^\(app)\\.run\\.[0-9]+$", options: .regularExpression) != nil, "Dokku prints the new process's name: \(name)")
        let listed = try sandbox.run("run:list", app, "--format", "json")
        let rows = try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: String]] ?? []
        #expect(rows.map { $0["name"] } == [name], "\(listed)")
        #expect(rows.first?["command"] == "sleep 300" && rows.first?["state"] == "running")
        let table = try sandbox.run("run:list", app).stdout
        #expect(table.hasPrefix("=====> \(app) run containers\n") && table.contains(name), "\(table)")
        let quiet = try sandbox.run("run:list", "--quiet", app).stdout
        #expect(quiet.hasPrefix("NAMES") && quiet.contains(name), "--quiet leaves the header line out: \(quiet)")
        #expect(try sandbox.run("run:stop", "--container", name).status == 0)
        #expect(try sandbox.run("run:list", app, "--format", "json").stdout == "[]\n")
        let short = try sandbox.run("run:detached", app, "echo detached says hi")
        #expect(short.status == 0)
        #expect(try eventually(timeout: .seconds(10)) { (try? sandbox.run("run:list", app, "--format", "json").stdout) == "[]\n" }, "a finished process goes away")

        // run:logs: every run process of the app, or one by the name run:detached printed.
        let shortName = short.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try eventually { try sandbox.run("run:logs", app).stdout.contains("\(app)[\(shortName.dropFirst(app.count + 1))]: detached says hi") })
        #expect(try sandbox.run("run:logs", "--container", shortName, "-q").stdout == "detached says hi\n")
        #expect(try sandbox.run("run:logs", "--container", name).stdout == "", "the first process wrote nothing")
        #expect(try sandbox.run("run:logs", "--container", "nonsense").stderr == " !     Invalid container name: nonsense (run:list names them APP.run.N)\n")
    }

    @Test func runTakesAProcfileTypeWithArguments() throws {
        // Dokku's run_2.bats: `run APP custom 'hi dokku'` with `custom: echo -n`.
        let (sandbox, app) = try deployedApp("runtype", extraTypes: ["custom": "echo -n"])
        let result = try sandbox.run("run", app, "custom", "hi dokku")
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout.hasSuffix("hi dokku"), "\(result)")
        #expect(result.stdout.contains("Found 'custom' in Procfile, running that command"), "\(result)")
        let limited = try sandbox.run("run", "--ttl-seconds", "1", app, "sleep 30")
        #expect(limited.status != 0, "the process is stopped after its time: \(limited)")
    }

    @Test func restoreConvergesAfterUnitsAreKilled() throws {
        let (sandbox, app) = try deployedApp("restore", extraTypes: ["worker": "sleep 300"])
        try sandbox.run("ps:scale", app, "web=2", "worker=1")
        #expect(try sandbox.run("ps:start", app).status == 0)
        let units = try instances(sandbox, app).compactMap { $0["unit"] as? String }
        #expect(units.count == 3)
        // Behind dokkulite's back: kill two units and start a stray in the app's namespace.
        try Shell.which("systemctl", ["--user", "kill", "--signal=KILL", units[0]])
        try Shell.which("systemctl", ["--user", "stop", units[2]])
        let stray = units[1].replacingOccurrences(of: "web.2-", with: "web.9-")
        try Shell.which("systemd-run", ["--user", "--unit", stray, "sleep", "300"])
        let restored = try sandbox.run("ps:restore", app)
        #expect(restored.status == 0, "\(restored)")
        let after = try instances(sandbox, app)
        #expect(after.count == 3, "\(after)")
        #expect(after.allSatisfy { $0["state"] as? String == "running" })
        let active = try Shell.which("systemctl", ["--user", "is-active", stray])
        #expect(active.stdout.trimmingCharacters(in: .newlines) != "active", "the stray unit was stopped")
    }

    @Test func destroyLeavesNoUnitsOrUser() throws {
        let (sandbox, app) = try deployedApp("destroyed")
        #expect(try sandbox.run("ps:start", app).status == 0)
        let user = try sandbox.sql("SELECT value FROM property WHERE app = '\(app)' AND key = 'user'")
        #expect(try Shell.which("id", [user]).status == 0)
        #expect(try sandbox.run("--force", "apps:destroy", app).status == 0)
        let units = try Shell.which("systemctl", ["--user", "list-units", "--plain", "--no-legend", "\(sandbox.slice)-*"])
        #expect(!units.stdout.contains(".service"), "\(units.stdout)")
        #expect(try Shell.which("id", [user]).status != 0)
    }
}
