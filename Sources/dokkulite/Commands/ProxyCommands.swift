import ArgumentParser
import Foundation
import Logging
import Proxy
import ServiceLifecycle

struct ProxyReport: Command {
    static let configuration = CommandConfiguration(commandName: "proxy:report", abstract: "Displays a proxy report for one or more apps")
    static let usage = "[<app>] [<flag>]"
    @Argument(parsing: .allUnrecognized) var words: [String] = []

    func run(in context: Context) throws {
        let store = try context.store()
        let global = ["--proxy-global-type": "", "--proxy-computed-type": "dokkulite", "--proxy-global-proxy-port": "", "--proxy-global-proxy-ssl-port": ""]
        try context.printReports("proxy", words, global: { global }) { app in
            let props = try store.properties(.app(app), "proxy")
            let disabled = props["disabled"] == "true"
            let maps = try PortPlan.effective(app, context: context)
            let running = try store.instances(app).filter { $0.state == .running && $0.processType == "web" }.compactMap(\.port)
            // Dokku's keys: the type is always dokkulite's own proxy, and the computed
            // ports are those the port maps give (no proxy-port properties are kept).
            let values = [
                "--proxy-enabled": disabled ? "false" : "true",
                "--proxy-disabled": props["disabled"] ?? "",
                "--proxy-computed-disabled": disabled ? "true" : "false",
                "--proxy-type": "", "--proxy-global-type": "", "--proxy-computed-type": "dokkulite",
                "--proxy-proxy-port": "", "--proxy-global-proxy-port": "",
                "--proxy-computed-proxy-port": maps.first { $0.scheme == .http }.map { String($0.hostPort) } ?? "",
                "--proxy-proxy-ssl-port": "", "--proxy-global-proxy-ssl-port": "",
                "--proxy-computed-proxy-ssl-port": try Certificates(context).exists(app) ? maps.first { $0.scheme == .https }.map { String($0.hostPort) } ?? "" : "",
                "--proxy-client-max-body-size": props["client-max-body-size"] ?? "",
                "--proxy-upstreams": running.map { "127.0.0.1:\($0)" }.joined(separator: " "),
            ]
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
    static let usage = "<app> <key> [<value>]"
    @Argument var words: [String] = []

    func run(in context: Context) throws {
        var words = words[...]
        let appWord = words.popFirst()
        let key = words.popFirst() ?? ""
        let value = words.first
        try PropertySetter(namespace: "proxy", properties: ["client-max-body-size": false], validate: { _, value in try ProxySettings.validateBodySize(value) })
            .set(context: context, appWord: appWord, global: false, key: key, value: value)
        try RouteSync(context).update(try context.existingApp(appWord))
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
