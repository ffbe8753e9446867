import Foundation
import TestSupport
import Testing

@Suite struct CronScheduleTests {
    @Test func crontabToOnCalendar() {
        #expect(CronScheduleProbe.calendar("*/5 * * * *") == "*-*-* *:00/5:00")
        #expect(CronScheduleProbe.calendar("0 3 * * 1-5") == "Mon..Fri *-*-* 03:00:00")
        #expect(CronScheduleProbe.calendar("15,45 * 1 */2 *") == "*-01/2-01 *:15,45:00")
        #expect(CronScheduleProbe.calendar("@daily") == "*-*-* 00:00:00")
        #expect(CronScheduleProbe.calendar("0 0 * * 0") == "Sun *-*-* 00:00:00")
        #expect(CronScheduleProbe.calendar("61 * * * *") == nil)
        #expect(CronScheduleProbe.calendar("* * *") == nil)
        #expect(CronScheduleProbe.calendar("0-10/5 * * * *") == "*-*-* *:00,05,10:00")
    }
}

@testable import Platform

enum CronScheduleProbe {
    static func calendar(_ text: String) -> String? { CronSchedule(text)?.calendar }
}

/// Crash safety (kill -9 at several points of a deploy, then one `ps:restore` converges)
/// and scheduled tasks, on the real systemd manager.
@Suite(.enabled(if: Integration.systemdEnabled, "needs a systemd manager: run scripts/test"))
struct CrashAndCronTests {
    @Test(arguments: ["built", "launched", "checked", "switched"])
    func killedDeployConverges(at step: String) throws {
        _ = try #require(Integration.systemdBus, "DOKKULITE_SYSTEMD_BUS is not set; scripts/test sets it")
        let sandbox = try Sandbox("crash\(step)")
        try sandbox.run("domains:set-global", "dokku.test")
        try sandbox.run("checks:set", "--global", "wait-to-retire", "0")
        let proxy = try DaemonProcess(sandbox)
        let app = uniqueApp("crash")
        let source = try AppSource(sandbox, files: DeployTests.versionApp("stable"))
        #expect(try source.push(app).status == 0)

        try source.commit(["VERSION": "interrupted\n"], message: "interrupted")
        sandbox.environment["DOKKULITE_CRASH_AT"] = step
        let killed = try source.push(app)
        sandbox.environment["DOKKULITE_CRASH_AT"] = nil
        #expect(killed.status != 0, "the push fails when dokkulite dies mid-deploy")

        let restored = try sandbox.run("ps:restore", app)
        #expect(restored.status == 0, "\(restored)")
        // One release current, the lock cleared, no orphan units, routes matching the store.
        #expect(try sandbox.sql("SELECT COUNT(*) FROM release WHERE app = '\(app)' AND status = 'current'") == "1")
        #expect(try sandbox.sql("SELECT COUNT(*) FROM release WHERE app = '\(app)' AND status = 'building'") == "0")
        #expect(try sandbox.sql("SELECT COUNT(*) FROM deployLock") == "0")
        let recorded = Set(try sandbox.sql("SELECT unit FROM instance WHERE app = '\(app)'").split(separator: "\n").map(String.init))
        #expect(try sandbox.sql("SELECT COUNT(*) FROM instance WHERE app = '\(app)' AND state != 'running'") == "0")
        let units = try Shell.which("systemctl", ["--user", "list-units", "--plain", "--no-legend", "--state=active", "\(sandbox.slice)-*.service"])
        let live = Set(units.stdout.split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) })
        #expect(live == recorded, "no orphan units: live \(live) recorded \(recorded)")
        let expected = step == "switched" ? "interrupted" : "stable"
        #expect(proxy.get("\(app).dokku.test")?.body == expected, "the proxy serves the current release")

        // The next deploy works: nothing is stuck.
        try source.commit(["VERSION": "after\n"], message: "after")
        #expect(try source.push(app).status == 0)
        #expect(proxy.get("\(app).dokku.test")?.body == "after")
    }

    @Test func cronEntriesBecomeTimers() throws {
        _ = try #require(Integration.systemdBus, "DOKKULITE_SYSTEMD_BUS is not set; scripts/test sets it")
        let sandbox = try Sandbox("cron")
        try sandbox.run("checks:set", "--global", "wait-to-retire", "0")
        _ = try DaemonProcess(sandbox)
        let app = uniqueApp("cron")
        var files = DeployTests.versionApp("cron")
        files["app.json"] = #"{"cron": [{"command": "echo cron ran for $DYNO; exit 3", "schedule": "*/10 * * * *"}]}"#
        #expect(try AppSource(sandbox, files: files).push(app).status == 0)
        let listed = try sandbox.run("cron:list", app, "--format", "json")
        let tasks = try #require(try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: String]])
        #expect(tasks.count == 1)
        let task = try #require(tasks.first)
        #expect(task["schedule"] == "*/10 * * * *")
        #expect(task["calendar"] == "*-*-* *:00/10:00")
        let timers = try Shell.which("systemctl", ["--user", "list-timers", "--all", "--no-legend", "--plain"])
        #expect(timers.stdout.contains(task["timer"] ?? "?"), "\(timers.stdout)")
        let run = try sandbox.run("cron:run", app, task["id"] ?? "")
        #expect(run.status == 3, "\(run)")
        #expect(run.stdout.contains("cron ran for cron"))

        // Suspended, a task keeps its place in cron:list but loses its timer; resumed, it
        // gets it back. `maintenance` does the same for all of an app's tasks.
        func scheduled() throws -> Bool {
            try Shell.which("systemctl", ["--user", "list-timers", "--all", "--no-legend", "--plain"]).stdout.contains(task["timer"] ?? "?")
        }
        let id = task["id"] ?? ""
        #expect(try sandbox.run("cron:suspend", app, id).stdout == "=====> Setting maintenance.\(id) to true\n")
        #expect(try !scheduled())
        #expect(try sandbox.run("cron:list", app).stdout.contains("true (task)"))
        #expect(try sandbox.run("cron:report", app, "--cron-maintenance-\(id)").stdout == "true\n")
        #expect(try sandbox.run("cron:resume", app, id).stdout == "=====> Unsetting maintenance.\(id)\n")
        #expect(try scheduled())
        try sandbox.run("cron:set", app, "maintenance", "true")
        #expect(try !scheduled())
        #expect(try sandbox.run("cron:list", app).stdout.contains("true (app)"))
        try sandbox.run("cron:set", app, "maintenance")
        #expect(try scheduled())
        let unknown = try sandbox.run("cron:suspend", app, "nope")
        #expect(unknown.status == 1)
        #expect(unknown.stderr == " !     No matching Cron ID found. Please specify a Cron ID from the output of 'dokku cron:list \(app)'\n")
        try sandbox.run("--force", "apps:destroy", app)
        #expect(!(try Shell.which("systemctl", ["--user", "list-timers", "--all", "--no-legend", "--plain"]).stdout.contains(task["timer"] ?? "?")))
    }
}

/// systemd 252 writes a transient unit's `ExecStart=` to disk with `;` and `$` escaped and
/// reads the escapes back as characters on a reload: a command in `ExecStart=` broke for
/// every process that started or restarted after an administrator's (or apt's)
/// `daemon-reload`. Commands travel in `Environment=`, which survives it.
@Suite(.enabled(if: Integration.systemdEnabled, "needs a systemd manager: run scripts/test"))
struct ReloadTests {
    @Test func processesRestartWithTheirCommandAfterADaemonReload() throws {
        _ = try #require(Integration.systemdBus, "DOKKULITE_SYSTEMD_BUS is not set; scripts/test sets it")
        let sandbox = try Sandbox("reload")
        try sandbox.run("domains:set-global", "dokku.test")
        let proxy = try DaemonProcess(sandbox)
        let app = uniqueApp("reload")
        var files = DeployTests.versionApp("before")
        // Semicolons, dollars, quotes and a backslash: what the escaping broke.
        files["Procfile"] = #"web: X="a;b" ; test "$X" = 'a;b' && echo "\$HOME ok" && exec python3 server.py"# + "\n"
        #expect(try AppSource(sandbox, files: files).push(app).status == 0)
        #expect(proxy.get("\(app).dokku.test")?.body == "before")
        let reload = try Shell.run("/bin/systemctl", ["--user", "daemon-reload"])
        #expect(reload.status == 0, "\(reload)")
        // The process dies; systemd restarts it from the unit as it read it back.
        let unit = try sandbox.sql("SELECT unit FROM instance WHERE app = '\(app)' AND processType = 'web'")
        #expect(try Shell.run("/bin/systemctl", ["--user", "kill", "--signal", "SIGKILL", unit]).status == 0)
        #expect(try eventually(timeout: .seconds(20)) {
            let status = try Shell.run("/bin/systemctl", ["--user", "show", unit, "-p", "NRestarts", "-p", "ActiveState"]).stdout
            return status.contains("NRestarts=1") && status.contains("ActiveState=active")
        }, "restarted once")
        #expect(try eventually(timeout: .seconds(20)) { proxy.get("\(app).dokku.test")?.body == "before" }, "serving again with its command intact")
        // A one-off started after the reload runs its command too.
        #expect(try sandbox.run("run", app, #"A="x;y" ; echo "$A""#).stdout == "x;y\n")
    }
}
