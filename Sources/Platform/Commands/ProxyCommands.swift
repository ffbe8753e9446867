import ArgumentParser
import Foundation
import Logging
import Proxy
import ServiceLifecycle

struct ProxyReport: Command {
    static let configuration = CommandConfiguration(commandName: "proxy:report", abstract: "Displays a proxy report for one or more apps")
    static let usage = "[<app>] [<flag>]"
    @Argument(parsing: .allUnrecognized) var words: [String] = []

    /// The proxy type reported when none is set: dokkulite's proxy stands in for Dokku's
    /// nginx plugin (it takes nginx:set properties and Dokku's port maps), and scripts
    /// branch on that name.
    static let defaultType = "nginx"

    func run(in context: Context) throws {
        let store = try context.store()
        let global = try store.properties(.global, "proxy")
        func globalValues() -> [String: String] {
            [
                "--proxy-global-type": global["type"] ?? "", "--proxy-computed-type": global["type"] ?? Self.defaultType,
                "--proxy-global-proxy-port": global["proxy-port"] ?? "", "--proxy-global-proxy-ssl-port": global["proxy-ssl-port"] ?? "",
            ]
        }
        // Instances the running proxy has marked down after refused connections (passive
        // health), by app; nothing when no proxy daemon runs.
        var down: [String: [String]] = [:]
        for line in (try ProxyControl(context).ask("health") ?? "").split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count == 3 else { continue }
            down[String(fields[0]), default: []].append("\(fields[1]) (\(fields[2])s)")
        }
        try context.printReports("proxy", words, global: globalValues) { app in
            let props = try store.properties(.app(app), "proxy")
            let disabled = props["disabled"] == "true"
            let running = try store.instances(app).filter { $0.state == .running && $0.processType == "web" }.compactMap(\.port)
            // Dokku's keys and its computing: the app's value, else the global one (the
            // ports of detected maps follow them; explicit ports:set maps win).
            var values = globalValues()
            values.merge([
                "--proxy-enabled": disabled ? "false" : "true",
                "--proxy-disabled": props["disabled"] ?? "",
                "--proxy-computed-disabled": disabled ? "true" : "false",
                "--proxy-type": props["type"] ?? "", "--proxy-computed-type": props["type"] ?? global["type"] ?? Self.defaultType,
                "--proxy-proxy-port": props["proxy-port"] ?? "", "--proxy-computed-proxy-port": props["proxy-port"] ?? global["proxy-port"] ?? "",
                "--proxy-proxy-ssl-port": props["proxy-ssl-port"] ?? "",
                "--proxy-computed-proxy-ssl-port": props["proxy-ssl-port"] ?? global["proxy-ssl-port"] ?? "",
                "--proxy-client-max-body-size": props["client-max-body-size"] ?? "",
                "--proxy-upstreams": running.map { "127.0.0.1:\($0)" }.joined(separator: " "),
                "--proxy-upstreams-down": down[app.rawValue, default: []].joined(separator: " "),
            ]) { _, app in app }
            return values
        }
    }
}

struct ProxyEnable: Command {
    static let configuration = CommandConfiguration(commandName: "proxy:enable", abstract: "Enable proxy for app")
    static let usage = "[--all|<app>]"
    @Flag var all = false
    @Argument var app: String?

    func run(in context: Context) throws {
        try setProxy(context, app, all: all, enabled: true)
    }
}

struct ProxyDisable: Command {
    static let configuration = CommandConfiguration(commandName: "proxy:disable", abstract: "Disable proxy for app")
    static let usage = "[--all|<app>]"
    @Flag var all = false
    @Argument var app: String?

    func run(in context: Context) throws {
        try setProxy(context, app, all: all, enabled: false)
    }
}

/// `proxy:enable` and `proxy:disable`: records the choice and updates the app's routes,
/// with Dokku's messages (its "already disable" included).
private func setProxy(_ context: Context, _ app: String?, all: Bool, enabled: Bool) throws {
    for app in try context.targets(app, all: all) {
        let disabled = try context.store().property(.app(app), "proxy", "disabled") == "true"
        if disabled != enabled {
            context.output.step(enabled ? "Proxy is already enabled for app" : "Proxy is already disable for app")
            continue
        }
        context.output.step(enabled ? "Enabling proxy for app" : "Disabling proxy for app")
        try context.store().setProperty(.app(app), "proxy", "disabled", enabled ? nil : "true")
        try RouteSync(context).update(app)
    }
}

struct ProxySet: Command {
    static let configuration = CommandConfiguration(commandName: "proxy:set", abstract: "Set or clear a proxy property for an app")
    static let usage = "(<app>|--global) <key> [<value>]"
    @Argument(parsing: .allUnrecognized) var words: [String] = []

    /// Property → may be set with `--global`. Dokku's, and the body size dokkulite's proxy
    /// applies (Dokku's nginx:set key, which proxy:set takes too).
    static let properties = ["client-max-body-size": false, "proxy-port": true, "proxy-ssl-port": true, "type": true]

    func run(in context: Context) throws {
        var (appWord, global, key, value) = SettingWords.split(words)
        // Dokku's older form, `proxy:set APP TYPE`: a word that is no property, alone.
        if Self.properties[key] == nil, value == nil, !key.isEmpty {
            if key.contains(":") {
                context.output.warn("Detected potential port mapping instead of proxy type")
                throw CommandError("Consider using ports:set command or specifying a valid proxy")
            }
            (key, value) = ("type", key)
        }
        let setter = PropertySetter(namespace: "proxy", properties: Self.properties, validate: { key, value in
            switch key {
            case "client-max-body-size": try ProxySettings.validateBodySize(value)
            case "proxy-port", "proxy-ssl-port":
                guard let port = Int(value), (1...65535).contains(port) else { throw CommandError("Invalid \(key): \(value) (expected a port, 1-65535)") }
            default: break
            }
        })
        try setter.set(context: context, appWord: appWord, global: global, key: key, value: value)
        // The body size and the ports of detected maps change routes; the type is kept and
        // reported (dokkulite's proxy is the one proxy, whatever it is called).
        guard key != "type" else { return }
        let apps = global ? try context.store().apps().map(\.name) : [try context.existingApp(appWord)]
        for app in apps { try RouteSync(context).update(app) }
    }
}

struct ProxyBuildConfig: Command {
    static let configuration = CommandConfiguration(commandName: "proxy:build-config", abstract: "(Re)apply the proxy routes of an app")
    @Argument var app: String?

    func run(in context: Context) throws {
        try RouteSync(context).update(try context.existingApp(app))
    }
}

/// `static:serve`: the static file server the built-in static buildpack runs.
struct StaticServe: Command {
    static let configuration = CommandConfiguration(commandName: "static:serve", abstract: "Serve a directory over HTTP (used by static sites)", shouldDisplay: false)
    static let access = Access.serverRoot
    static let usage = "--root DIR --port PORT"
    static let takesApp = false
    @Option var root: String
    @Option var port: Int
    @Option var host = "0.0.0.0"

    func run(in context: Context) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CommandError("Static root \(root) is not a directory")
        }
        let server = StaticFileServer(root: root, host: host, port: port)
        try BlockingTask.run {
            let group = ServiceGroup(configuration: .init(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: Logger(label: "dokkulite.static")))
            try await group.run()
        }
    }
}
