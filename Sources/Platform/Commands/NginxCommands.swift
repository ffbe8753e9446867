import ArgumentParser
import Proxy

/// Dokku's `nginx:*` settings, for users and scripts that set them: every key nginx:set
/// takes is kept and reported; dokkulite's proxy applies those in `applied`, and takes no
/// nginx configuration.
enum NginxSettings {
    /// Dokku's keys, each settable per app or with `--global`, as in Dokku.
    static let keys = [
        "access-log-format", "access-log-path", "bind-address-ipv4", "bind-address-ipv6", "client-body-timeout", "client-header-timeout",
        "client-max-body-size", "disable-custom-config", "error-log-path", "hsts", "hsts-include-subdomains", "hsts-preload", "hsts-max-age",
        "keepalive-timeout", "lingering-timeout", "nginx-conf-sigil-path", "nginx-service-command", "proxy-buffer-size", "proxy-buffering",
        "proxy-buffers", "proxy-busy-buffers-size", "proxy-connect-timeout", "proxy-read-timeout", "proxy-send-timeout", "proxy-keepalive",
        "send-timeout", "underscore-in-headers", "x-forwarded-for-value", "x-forwarded-port-value", "x-forwarded-proto-value", "x-forwarded-ssl",
    ]

    /// The keys whose values are nginx time intervals.
    static let durations: Set<String> = [
        "client-body-timeout", "client-header-timeout", "keepalive-timeout", "lingering-timeout", "proxy-connect-timeout", "proxy-read-timeout",
        "proxy-send-timeout", "send-timeout",
    ]

    /// The keys the proxy applies. The rest are kept and reported, as Dokku keeps them, and
    /// `nginx:report` lists them as not applicable: they configure nginx itself (its files,
    /// logs and their format, listen addresses, service command, custom config), or tune
    /// what dokkulite's proxy does its own way (buffer sizes and counts, upstream keep-alive
    /// connections). `client-header-timeout` applies server-wide (set with
    /// `--global`): the app is not known until the head has arrived.
    static let applied: Set<String> = [
        "client-max-body-size", "proxy-read-timeout", "hsts", "hsts-include-subdomains", "hsts-max-age", "hsts-preload", "proxy-buffering",
        "access-log-path", "proxy-connect-timeout", "x-forwarded-for-value", "x-forwarded-proto-value", "x-forwarded-port-value", "x-forwarded-ssl",
        "keepalive-timeout", "client-body-timeout", "send-timeout", "proxy-send-timeout", "underscore-in-headers", "client-header-timeout",
        "lingering-timeout", "error-log-path",
    ]

    /// The nginx variables the `x-forwarded-*-value` keys may name, per key, and what each
    /// means to the proxy; any value without a `$` is sent as it is.
    static let forwardedVariables: [String: [String: RouteTable.App.Forwarded.Source]] = [
        "x-forwarded-for-value": ["$remote_addr": .own, "$http_x_forwarded_for": .client, "$proxy_add_x_forwarded_for": .appendPeer],
        "x-forwarded-proto-value": ["$scheme": .own, "$http_x_forwarded_proto": .client],
        "x-forwarded-port-value": ["$server_port": .own, "$http_x_forwarded_port": .client],
    ]

    /// A fixed header value: printable ASCII without `$`, at most 128 bytes.
    static func isLiteralValue(_ value: String) -> Bool {
        !value.isEmpty && value.utf8.count <= 128 && value.utf8.allSatisfy { (32...126).contains($0) && $0 != UInt8(ascii: "$") }
    }

    /// What an app's `x-forwarded-*` settings ask of the proxy; nil when none is set (the
    /// proxy's own values).
    static func forwarded(_ app: AppName, store: Store) throws -> RouteTable.App.Forwarded? {
        func source(_ key: String) throws -> RouteTable.App.Forwarded.Source? {
            guard let value = try store.computedProperty(app, "nginx", key), !value.isEmpty else { return nil }
            if let known = forwardedVariables[key]?[value] { return known }
            return isLiteralValue(value) ? .literal(value) : nil
        }
        let forValue = try source("x-forwarded-for-value"), proto = try source("x-forwarded-proto-value"), port = try source("x-forwarded-port-value")
        // A value kept from before nginx:set checked it is left out unless it is on or off:
        // it goes into every request head.
        let ssl = try store.computedProperty(app, "nginx", "x-forwarded-ssl").flatMap { ["on", "off"].contains($0) ? $0 : nil }
        guard forValue != nil || proto != nil || port != nil || ssl != nil else { return nil }
        return RouteTable.App.Forwarded(forValue: forValue ?? .own, proto: proto ?? .own, port: port ?? .own, ssl: ssl)
    }

    /// The keys dokkulite keeps and reports but does not apply.
    static var notApplicable: [String] { keys.filter { !applied.contains($0) } }

    /// The `Strict-Transport-Security` value Dokku's template gives HTTPS responses: on by
    /// default, `max-age=15724800; includeSubdomains`; nil when `hsts` is `false`.
    static func strictTransportSecurity(_ app: AppName, store: Store) throws -> String? {
        func value(_ key: String) throws -> String? { try store.computedProperty(app, "nginx", key) }
        guard try value("hsts") != "false" else { return nil }
        let maxAge = try value("hsts-max-age").flatMap { UInt64($0) } ?? 15_724_800
        var header = "max-age=\(maxAge)"
        if try value("hsts-include-subdomains") != "false" { header += "; includeSubdomains" }
        if try value("hsts-preload") == "true" { header += "; preload" }
        return header
    }

    /// nginx's time syntax (`60`, `60s`, `2m`, `1h`, `500ms`, `1m30s`) in milliseconds; nil
    /// when it is not one, or is zero or over a day.
    static func milliseconds(_ text: String) -> Int64? {
        let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
        var rest = Substring(text.trimmingCharacters(in: .whitespaces).lowercased())
        guard !rest.isEmpty else { return nil }
        var total: Int64 = 0
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, digits.count <= 9, let number = Int64(digits) else { return nil }
            rest = rest.dropFirst(digits.count)
            if rest.isEmpty {
                total += number * 1000
                break
            }
            guard let unit = units.first(where: { rest.hasPrefix($0.0) && !(rest.hasPrefix("ms") && $0.0 == "m") }) else { return nil }
            total += number * unit.1
            rest = rest.dropFirst(unit.0.count)
        }
        return (1...86_400_000).contains(total) ? total : nil
    }

    /// The body size limit in effect: `proxy:set`, else `nginx:set` for the app, else the
    /// global `nginx:set`.
    static func clientMaxBodySize(_ app: AppName, store: Store) throws -> String? {
        try store.property(.app(app), "proxy", "client-max-body-size") ?? store.computedProperty(app, "nginx", "client-max-body-size")
    }
}

struct NginxSet: Command {
    static let configuration = CommandConfiguration(commandName: "nginx:set", abstract: "Set or clear an nginx property for an app")
    static let usage = "(<app>|--global) <property> (<value>)"
    @Argument(parsing: .allUnrecognized) var words: [String] = []

    func run(in context: Context) throws {
        let (appWord, global, key, value) = SettingWords.split(words)
        let setter = PropertySetter(
            namespace: "nginx", properties: Dictionary(uniqueKeysWithValues: NginxSettings.keys.map { ($0, true) }),
            noun: ("key", "keys"), listed: NginxSettings.keys,
            validate: { key, value in
                if key == "proxy-keepalive", Int(value) == nil { throw CommandError("Invalid value for proxy-keepalive: must be an integer") }
                if key == "client-max-body-size" { try ProxySettings.validateBodySize(value) }
                if NginxSettings.durations.contains(key), NginxSettings.milliseconds(value) == nil {
                    throw CommandError("Invalid value for \(key): a time such as 60s, 2m or 500ms")
                }
                if ["hsts", "hsts-include-subdomains", "hsts-preload"].contains(key), !["true", "false"].contains(value) {
                    throw CommandError("Invalid value for \(key): true or false")
                }
                if key == "hsts-max-age", UInt64(value) == nil { throw CommandError("Invalid value for hsts-max-age: a number of seconds") }
                if key == "proxy-buffering", !["on", "off"].contains(value) { throw CommandError("Invalid value for proxy-buffering: on or off") }
                if let variables = NginxSettings.forwardedVariables[key], variables[value] == nil, !NginxSettings.isLiteralValue(value) {
                    throw CommandError("Invalid value for \(key): one of \(variables.keys.sorted().joined(separator: ", ")) or a fixed value")
                }
                if key == "x-forwarded-ssl", !["on", "off"].contains(value) { throw CommandError("Invalid value for x-forwarded-ssl: on or off") }
                if key == "underscore-in-headers", !["on", "off"].contains(value) {
                    throw CommandError("Invalid value for underscore-in-headers: on or off")
                }
            })
        try setter.set(context: context, appWord: appWord, global: global, key: key, value: value)
        if value != nil, !NginxSettings.applied.contains(key) {
            context.output.warn("\(key) is kept for Dokku compatibility; dokkulite's proxy does not apply it")
        }
        if value != nil, key == "client-header-timeout", !global {
            context.output.warn("client-header-timeout applies to the whole server: the app is not known until the head has arrived; set it with --global")
        }
        if NginxSettings.applied.contains(key) {
            if global {
                try RouteSync(context).updateAll()
            } else {
                try RouteSync(context).update(try context.existingApp(appWord))
            }
        }
    }
}

struct NginxReport: Command {
    static let configuration = CommandConfiguration(commandName: "nginx:report", abstract: "Displays an nginx report for one or more apps")
    static let usage = "[<app>] [<flag>]"
    @Argument(parsing: .allUnrecognized) var words: [String] = []

    func run(in context: Context) throws {
        let store = try context.store()
        let global = try store.properties(.global, "nginx")
        func globalValues() -> [String: String] {
            var values: [String: String] = [:]
            for key in NginxSettings.keys { values["--nginx-global-\(key)"] = global[key] ?? "" }
            return values
        }
        try context.printReports("nginx", words, global: globalValues) { app in
            let props = try store.properties(.app(app), "nginx")
            var values = globalValues()
            for key in NginxSettings.keys {
                values["--nginx-\(key)"] = props[key] ?? ""
                values["--nginx-computed-\(key)"] = props[key] ?? global[key] ?? ""
            }
            values["--nginx-computed-client-max-body-size"] = try NginxSettings.clientMaxBodySize(app, store: store) ?? ""
            values["--nginx-not-applicable"] = NginxSettings.notApplicable.joined(separator: " ")
            return values
        }
    }
}

struct NginxBuildConfig: Command {
    static let configuration = CommandConfiguration(commandName: "nginx:build-config", abstract: "(Re)apply the proxy routes of an app (dokkulite has no nginx config to build)")
    @Argument var app: String?

    func run(in context: Context) throws {
        try RouteSync(context).update(try context.existingApp(app))
    }
}

struct NginxValidateConfig: Command {
    static let configuration = CommandConfiguration(commandName: "nginx:validate-config", abstract: "Validates the proxy configuration (dokkulite's routes come from its store, and are always valid)")
    static let usage = "[<app>] [--clean]"
    @Flag var clean = false
    @Argument var app: String?

    func run(in context: Context) throws {
        if let app { _ = try context.existingApp(app) }
        context.output.step("Proxy configuration is valid: dokkulite's proxy reads its routes from the store, not from nginx files")
    }
}
