import ArgumentParser
import Foundation

/// dokku-letsencrypt's commands, answered by dokkulite's own ACME client; renewal is the
/// `dokkulite-letsencrypt.timer` systemd timer.

struct LetsencryptEnable: Command {
    static let configuration = CommandConfiguration(
        commandName: "letsencrypt:enable",
        abstract: "Enable or renew letsencrypt for an app (skipped when a valid certificate already exists unless --force is set)")
    static let usage = "<app> [--force]"
    @Flag(name: [.long, .customShort("f")]) var force = false
    @Flag var all = false
    @Argument var app: String?

    func run(in context: Context) throws {
        let letsEncrypt = LetsEncrypt(context: context)
        if all {
            var failed: [String] = []
            for app in try context.store().apps().map(\.name) {
                do { try letsEncrypt.enable(app, force: force) } catch { context.output.failure("\(error)"); failed.append(app.rawValue) }
            }
            if !failed.isEmpty { throw CommandError("letsencrypt failed for \(failed.joined(separator: ", "))") }
            return
        }
        try letsEncrypt.enable(try context.existingApp(app), force: force)
    }
}

struct LetsencryptDisable: Command {
    static let configuration = CommandConfiguration(commandName: "letsencrypt:disable", abstract: "Disable letsencrypt for an app")

    @Argument var app: String?

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        context.output.step("Disabling letsencrypt for app")
        context.output.detail("Removing letsencrypt files for \(app)")
        try LetsEncrypt(context: context).forget(app)
        // Kept out of `auto-enable` until enabled again.
        try context.store().setProperty(.app(app), LetsEncrypt.namespace, "disabled", "true")
        context.output.detail("Removing SSL endpoint from \(app)")
        if try Certificates(context).exists(app) { try Certificates(context).remove(app) }
        context.output.step("Done")
    }
}

struct LetsencryptActive: Command {
    static let configuration = CommandConfiguration(commandName: "letsencrypt:active", abstract: "Verify if letsencrypt is active for an app")
    @Argument var app: String?

    func run(in context: Context) throws {
        context.output.data(String(try LetsEncrypt(context: context).isActive(try context.existingApp(app))))
    }
}

struct LetsencryptAutoRenew: Command {
    static let configuration = CommandConfiguration(commandName: "letsencrypt:auto-renew", abstract: "Auto-renew app if renewal is necessary")
    static let usage = "[<app>]"
    static let takesApp = false
    @Argument var app: String?

    func run(in context: Context) throws {
        let letsEncrypt = LetsEncrypt(context: context)
        let output = context.output
        if let app {
            let app = try context.existingApp(app)
            guard try letsEncrypt.isActive(app) else {
                output.step("Letsencrypt not enabled for \(app)")
                return
            }
            if let time = try letsEncrypt.timeToRenewal(app), time >= 0, try !letsEncrypt.domainsChanged(app) {
                output.detail("\(app) still has \(TimeDiff.format(time)) left before renewal")
                return
            }
            output.section("Auto-renew \(app)...")
            try letsEncrypt.enable(app, force: true)
            return
        }
        output.section("Auto-renewing all apps...")
        let now = Int(Date().timeIntervalSince1970)
        let autoEnable = try letsEncrypt.autoEnable
        var due: [(AppName, Int)] = []
        for app in try context.store().apps().map(\.name) {
            if try letsEncrypt.isActive(app) {
                let time = try letsEncrypt.timeToRenewal(app, now: now) ?? -1
                due.append((app, try letsEncrypt.domainsChanged(app) ? -1 : time))
            } else if autoEnable, try !letsEncrypt.domains(app).isEmpty, try !Certificates(context).exists(app),
                try context.store().property(.app(app), LetsEncrypt.namespace, "disabled") != "true"
            {
                due.append((app, -1))
            }
        }
        var failed = false
        for (app, time) in due.sorted(by: { $0.1 < $1.1 }) {
            guard time < 0 else {
                output.detail("\(app) still has \(TimeDiff.format(time)) left before renewal")
                continue
            }
            if let wait = try letsEncrypt.backoff(app, now: now), wait > 0 {
                output.detail("\(app) failed recently; next attempt in \(TimeDiff.format(wait))")
                continue
            }
            output.step("\(app) needs renewal")
            do {
                try letsEncrypt.enable(app, force: true)
            } catch {
                output.failure("\(error)")
                failed = true
            }
        }
        // Certificates got on demand are renewed the same way, by name.
        let onDemand = OnDemandCertificates(context: context)
        for app in try context.store().apps().map(\.name) {
            let grace = try letsEncrypt.gracePeriod(app)
            for (name, expiry) in try onDemand.issued(app) where expiry - grace - now < 0 {
                output.step("\(name) (on demand, \(app)) needs renewal")
                do {
                    try onDemand.issue(name)
                } catch {
                    output.failure("\(error)")
                    failed = true
                }
            }
        }
        // The API host's certificate, when api:letsencrypt got it.
        let api = APICertificate(context: context)
        if let time = try api.timeToRenewal(now: now), time < 0 {
            output.step("The API's certificate needs renewal")
            do {
                try api.obtain(force: true)
            } catch {
                output.failure("\(error)")
                failed = true
            }
        }
        output.section("Finished auto-renewal")
        if failed { throw CommandError("One or more apps failed to have their certificates renewed") }
    }
}

struct LetsencryptList: Command {
    static let configuration = CommandConfiguration(commandName: "letsencrypt:list", abstract: "List letsencrypt-secured apps with certificate expiry times")
    static let usage = ""
    static let takesApp = false

    func run(in context: Context) throws {
        let letsEncrypt = LetsEncrypt(context: context)
        let now = Int(Date().timeIntervalSince1970)
        func cell(_ text: String) -> String { text.padding(toLength: max(25, text.count), withPad: " ", startingAt: 0) }
        if !context.output.quiet {
            context.output.data("-----> " + "App name".padding(toLength: 18, withPad: " ", startingAt: 0) + " " + cell("Certificate Expiry") + " " + cell("Time before expiry") + " " + cell("Time before renewal"))
        }
        var rows: [(AppName, Int)] = []
        var failures: [(AppName, LetsEncrypt.State)] = []
        for app in try context.store().apps().map(\.name) {
            let state = try letsEncrypt.state(app)
            if try letsEncrypt.isActive(app), let expiry = state.expiry { rows.append((app, expiry)) }
            if state.lastError != nil { failures.append((app, state)) }
        }
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        formatter.locale = Locale(identifier: "en_US_POSIX")
        for (app, expiry) in rows.sorted(by: { $0.1 < $1.1 }) {
            let grace = try letsEncrypt.gracePeriod(app)
            let date = formatter.string(from: Date(timeIntervalSince1970: TimeInterval(expiry)))
            context.output.data(cell(app.rawValue) + " " + cell(date) + " " + cell(TimeDiff.format(expiry - now)) + " " + cell(TimeDiff.format(expiry - grace - now)))
        }
        // dokkulite adds the last failure of each app, so a renewal that keeps failing shows.
        for (app, state) in failures {
            let when = state.lastAttempt.map { formatter.string(from: Date(timeIntervalSince1970: TimeInterval($0))) } ?? "?"
            context.output.warn("\(app): last attempt failed (\(when)): \(state.lastError ?? "")")
        }
    }
}

struct LetsencryptRevoke: Command {
    static let configuration = CommandConfiguration(commandName: "letsencrypt:revoke", abstract: "Revoke letsencrypt certificate for app")
    @Argument var app: String?

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        let letsEncrypt = LetsEncrypt(context: context)
        context.output.section("Revoke letsencrypt certificate from \(app)...")
        guard try letsEncrypt.isActive(app) else { throw CommandError("Letsencrypt is not active for \(app): its certificate was not issued here") }
        context.output.step("Revoking letsencrypt certificate for \(app)")
        try letsEncrypt.revoke(app)
        context.output.step("Certificate revoked successfully.")
        try letsEncrypt.forget(app)
        try Certificates(context).remove(app)
        context.output.step("Done")
    }
}

struct LetsencryptCleanup: Command {
    static let configuration = CommandConfiguration(commandName: "letsencrypt:cleanup", abstract: "Remove stale certificate directories for app")
    @Argument var app: String?

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        // Certificates are replaced in place here: nothing stale is ever kept.
        context.output.section("Cleaning up stale certificate directories for \(app)")
        context.output.detail("Nothing to clean: dokkulite keeps only the certificate in use")
    }
}

struct LetsencryptCronJob: Command {
    static let configuration = CommandConfiguration(
        commandName: "letsencrypt:cron-job", abstract: "Add, remove, or display the status of the auto-renewal cron job")
    static let usage = "[--add|--remove]"
    static let takesApp = false
    @Flag var add = false
    @Flag var remove = false

    func run(in context: Context) throws {
        // Renewal is the dokkulite-letsencrypt.timer systemd timer, installed and on with
        // dokkulite: there is no cron job to add or remove.
        if add || remove {
            context.output.step("Renewal already runs from the dokkulite-letsencrypt.timer systemd timer (twice a day): nothing to \(add ? "add" : "remove")")
            return
        }
        context.output.section("Auto-renew cron job is enabled")
        context.output.detail("Renewal runs from the dokkulite-letsencrypt.timer systemd timer: systemctl list-timers dokkulite-letsencrypt.timer")
    }
}

struct LetsencryptSet: Command {
    static let configuration = CommandConfiguration(commandName: "letsencrypt:set", abstract: "Set or clear a letsencrypt property for an app")
    static let usage = "<app>|--global <property> (<value>)"
    @Flag var global = false
    @Argument var app: String?
    @Argument var key: String?
    @Argument var value: String?

    func run(in context: Context) throws {
        var (appWord, key, value) = (app, key, value)
        if global { (appWord, key, value) = (nil, app, key) }
        let scope = try context.scope(app: appWord, global: global)
        guard let key, !key.isEmpty else { throw CommandError("No key specified") }
        let valid = LetsEncrypt.keys + LetsEncrypt.legoKeys
        if key == "dns-provider" || key.hasPrefix("dns-provider-") {
            throw CommandError("Invalid key specified: \(key): DNS-01 is not available in dokkulite; use challenge http-01 or tls-alpn-01")
        }
        guard valid.contains(key) else { throw CommandError("Invalid key specified, valid keys include: \(valid.joined(separator: ", "))") }
        if key == "auto-enable" || key == "on-demand-rate", !global { throw CommandError("\(key) is a global setting: letsencrypt:set --global \(key) VALUE") }
        if let value, !value.isEmpty {
            if let problem = LetsEncrypt.problem(key: key, value: value) { throw CommandError(problem) }
            context.output.section("Setting \(key) to \(value)")
            try context.store().setProperty(scope, LetsEncrypt.namespace, key, value)
        } else {
            context.output.section("Unsetting \(key)")
            try context.store().setProperty(scope, LetsEncrypt.namespace, key, nil)
        }
        // What the proxy listens on and which names it may issue for on demand follow these.
        if ["challenge", "on-demand"].contains(key) {
            if let app = scope.app { try RouteSync(context).update(app) } else { try RouteSync(context).updateAll() }
        }
    }
}

struct LetsencryptReport: Command {
    static let configuration = CommandConfiguration(commandName: "letsencrypt:report", abstract: "Display a letsencrypt report for one or more apps")
    static let usage = "[<app>|--global] [<flag>] [--format json]"
    @Argument(parsing: .allUnrecognized) var words: [String] = []

    func run(in context: Context) throws {
        let letsEncrypt = LetsEncrypt(context: context)
        let store = try context.store()
        func settings(_ app: AppName?) throws -> [String: String] {
            var values: [String: String] = [:]
            for key in LetsEncrypt.keys + LetsEncrypt.legoKeys {
                values["--letsencrypt-global-\(key)"] = try store.property(.global, LetsEncrypt.namespace, key) ?? ""
                guard let app else { continue }
                values["--letsencrypt-\(key)"] = try store.property(.app(app), LetsEncrypt.namespace, key) ?? ""
                values["--letsencrypt-computed-\(key)"] = try letsEncrypt.value(app, key) ?? ""
            }
            if let app {
                values["--letsencrypt-computed-server"] = try letsEncrypt.server(app)
                values["--letsencrypt-computed-graceperiod"] = String(try letsEncrypt.gracePeriod(app))
                values["--letsencrypt-computed-challenge"] = try letsEncrypt.challenge(app)
                values["--letsencrypt-computed-auto-enable"] = String(try letsEncrypt.autoEnable)
                values["--letsencrypt-auto-enable"] = ""
            }
            return values
        }
        try context.printReports("letsencrypt", words, global: { try settings(nil) }) { app in
            var values = try settings(app)
            let state = try letsEncrypt.state(app)
            values["--letsencrypt-active"] = String(try letsEncrypt.isActive(app))
            values["--letsencrypt-autorenew"] = "true"
            values["--letsencrypt-expiration"] = state.expiry.map(String.init) ?? ""
            values["--letsencrypt-domains"] = state.domains.joined(separator: " ")
            values["--letsencrypt-last-error"] = state.lastError ?? ""
            return values
        }
    }
}

extension LetsEncrypt {
    /// Whether the app's domains differ from those its certificate was issued for (a
    /// domain added or removed since: the next renewal run issues again).
    func domainsChanged(_ app: AppName) throws -> Bool {
        Set(try state(app).domains) != Set(try domains(app))
    }

    /// Seconds to wait before trying an app that failed again: an hour after the first
    /// failure, doubling, at most two days; nil when it has not failed.
    func backoff(_ app: AppName, now: Int) throws -> Int? {
        let state = try state(app)
        guard state.failures > 0, let last = state.lastAttempt else { return nil }
        let wait = min(3600 << min(state.failures - 1, 10), 172_800)
        return last + wait - now
    }
}

/// dokku-letsencrypt's durations: `1d, 2h, 3m, 4s`, only the parts that are not zero,
/// ` ago` after a negative one.
enum TimeDiff {
    static func format(_ seconds: Int) -> String {
        let value = abs(seconds)
        let parts = [(value / 86400, "d"), (value % 86400 / 3600, "h"), (value % 3600 / 60, "m"), (value % 60, "s")]
        let text = parts.filter { $0.0 != 0 }.map { "\($0.0)\($0.1)" }.joined(separator: ", ")
        return seconds < 0 ? text + " ago" : text
    }
}
