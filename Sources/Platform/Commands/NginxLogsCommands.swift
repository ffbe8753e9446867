import ArgumentParser
import Foundation
import Proxy
import Supervisor

/// `nginx:access-logs APP [-t]`: the proxy's access lines for one app. Dokku tails
/// `/var/log/nginx/APP-access.log`; dokkulite's proxy writes its lines to the journal of
/// its unit, one per request, beginning `app=APP `.
struct NginxAccessLogs: Command {
    static let configuration = CommandConfiguration(commandName: "nginx:access-logs", abstract: "Show the proxy's access log for an app (-t follows)")
    static let usage = "<app> [-t]"
    @Flag(name: .customShort("t")) var follow = false
    @Argument var app: String?

    func run(in context: Context) throws {
        try ProxyLog(kind: .access, app: try context.existingApp(app)).show(follow: follow, context: context)
    }
}

/// `nginx:error-logs APP [-t]`: the proxy's error lines for one app (what it answered
/// itself with a 5xx, instances that failed to connect), beginning `error app=APP `.
struct NginxErrorLogs: Command {
    static let configuration = CommandConfiguration(commandName: "nginx:error-logs", abstract: "Show the proxy's error log for an app (-t follows)")
    static let usage = "<app> [-t]"
    @Flag(name: .customShort("t")) var follow = false
    @Argument var app: String?

    func run(in context: Context) throws {
        try ProxyLog(kind: .error, app: try context.existingApp(app)).show(follow: follow, context: context)
    }
}

/// One app's lines in the proxy daemon's journal.
struct ProxyLog {
    enum Kind { case access, error }

    /// The unit the proxy runs as (`units/dokkulite-proxy.service`). The journal files an
    /// entry under a unit from the cgroup of the process that wrote it, which no process
    /// can choose, so an app cannot add lines here.
    static let unit = "dokkulite-proxy.service"
    /// As many lines as Dokku's `tail -n 20` shows.
    static let lines = 20
    /// How far back to look for them: the proxy's other apps may have written most lines.
    static let scanLimit = 1_000_000

    /// How this app's lines begin: `app=APP ` or `error app=APP `.
    let prefix: String

    init(kind: Kind, app: AppName) {
        prefix = kind == .error ? "error app=\(app.rawValue) " : "app=\(app.rawValue) "
    }

    /// Whether an entry is one of this app's lines. The proxy writes each line whole, and
    /// cuts client-given fields short enough that journald never splits one: a line of
    /// another app cannot begin with this app's prefix.
    func matches(_ entry: Journal.Entry) -> Bool {
        entry.uid == 0 && entry.message.hasPrefix(prefix)
    }

    /// `TIME LINE`: the journal's time, then the proxy's line.
    func line(_ entry: Journal.Entry) -> String {
        "\(Journal.rfc3339(entry.timestamp)) \(entry.message)"
    }

    /// Prints the last `lines` lines, then, when following, new ones as they come.
    func show(follow: Bool, context: Context) throws {
        let journal = try Journal()
        _ = try journal.match(units: [Self.unit])
        journal.seekTail(back: 0)
        var last: [Journal.Entry] = []
        var scanned = 0
        while last.count < Self.lines, scanned < Self.scanLimit, let entry = journal.previous() {
            scanned += 1
            if matches(entry) { last.append(entry) }
        }
        for entry in last.reversed() { context.output.data(line(entry)) }
        guard follow else { return }
        journal.seekTail(back: 0)
        while true {
            while let entry = journal.next() {
                if matches(entry) { context.output.data(line(entry)) }
            }
            journal.wait(timeout: .seconds(1))
        }
    }
}

/// `nginx:show-config APP`: the app's route as the proxy holds it, written in nginx's
/// words so that what Dokku users look for there (server names, listen ports, upstreams,
/// certificate files, the `nginx:set` values in effect) is where they expect it. There is
/// no nginx and no file: this is rendered from the store, as the proxy's routes are.
struct NginxShowConfig: Command {
    static let configuration = CommandConfiguration(commandName: "nginx:show-config", abstract: "Display an app's proxy route, written as an nginx config")
    static let usage = "<app>"
    @Argument var app: String?

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        let store = try context.store()
        if try store.property(.app(app), "proxy", "disabled") == "true" {
            throw CommandError("No nginx config exists for \(app): its proxy is disabled")
        }
        guard try store.currentRelease(app) != nil else { throw CommandError("No nginx config exists for \(app): it has not been deployed") }
        context.output.data(try NginxConfigText(context: context, app: app).text())
    }
}

/// The text `nginx:show-config` prints.
struct NginxConfigText {
    let context: Context
    let app: AppName

    func text() throws -> String {
        let store = try context.store()
        let upstreams = try store.instances(app).filter { $0.state == .running && $0.processType == "web" }.compactMap(\.port).sorted()
        let domains = try store.domains(.app(app))
        let maps = try PortPlan.effective(app, context: context)
        let certificates = Certificates(context)
        let hasCertificate = try certificates.exists(app)
        let upstreamName = "\(app)-web"
        func value(_ key: String) throws -> String? { try store.computedProperty(app, "nginx", key).flatMap { $0.isEmpty ? nil : $0 } }

        var out = ["# \(app): dokkulite's own proxy serves this app (there is no nginx); its route, in nginx's words", ""]
        out.append("upstream \(upstreamName) {")
        if upstreams.isEmpty { out.append("  # no running web processes: requests get a 502") }
        for port in upstreams { out.append("  server 127.0.0.1:\(port);") }
        out.append("}")

        // What every HTTP server block of the app carries.
        var settings: [String] = []
        if let size = try NginxSettings.clientMaxBodySize(app, store: store) { settings.append("client_max_body_size \(size);") }
        for key in NginxSettings.durations.sorted() where key != "client-header-timeout" {
            if let time = try value(key) { settings.append("\(key.replacingOccurrences(of: "-", with: "_")) \(time);") }
        }
        if try value("proxy-buffering") == "off" { settings.append("proxy_buffering off;") }
        if try value("underscore-in-headers") == "on" { settings.append("underscores_in_headers on;") }
        if try value("access-log-path") == "off" { settings.append("access_log off;") }
        if try value("error-log-path") == "off" { settings.append("error_log off;") }
        let forwarded = [("x-forwarded-for-value", "X-Forwarded-For"), ("x-forwarded-proto-value", "X-Forwarded-Proto"), ("x-forwarded-port-value", "X-Forwarded-Port")]
        for (key, header) in forwarded {
            if let source = try value(key) { settings.append("proxy_set_header \(header) \(source);") }
        }
        if let ssl = try value("x-forwarded-ssl") { settings.append("proxy_set_header X-Forwarded-Ssl \(ssl);") }

        let names = domains.isEmpty ? "_" : domains.joined(separator: " ")
        let httpsPort = maps.first { $0.scheme == .https }?.hostPort ?? 443
        for map in maps.sorted() {
            out.append("")
            switch map.scheme {
            case .tcp:
                out.append("# stream")
                out.append("server {")
                out.append("  listen \(map.hostPort);")
                out.append("  proxy_pass \(upstreamName);")
                out.append("}")
            case .http:
                out.append("server {")
                out.append("  listen \(map.hostPort);")
                out.append("  server_name \(names);")
                if hasCertificate {
                    out.append("  return 301 https://$host:\(httpsPort)$request_uri;")
                } else {
                    out += settings.map { "  " + $0 }
                    out += ["  location / {", "    proxy_pass http://\(upstreamName);", "  }"]
                }
                out.append("}")
            case .https:
                guard hasCertificate else {
                    out.append("# https:\(map.hostPort): not served until the app has a certificate")
                    continue
                }
                out.append("server {")
                out.append("  listen \(map.hostPort) ssl;")
                out.append("  http2 on;")
                out.append("  server_name \(names);")
                out.append("  ssl_certificate \(certificates.directory(app))/server.crt;")
                out.append("  ssl_certificate_key \(certificates.directory(app))/server.key;")
                if let hsts = try NginxSettings.strictTransportSecurity(app, store: store) {
                    out.append("  add_header Strict-Transport-Security \"\(hsts)\" always;")
                }
                out += settings.map { "  " + $0 }
                out += ["  location / {", "    proxy_pass http://\(upstreamName);", "  }"]
                out.append("}")
            }
        }
        return out.joined(separator: "\n")
    }
}
