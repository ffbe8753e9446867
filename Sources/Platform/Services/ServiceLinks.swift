import Foundation

/// Linking apps to services the way dokku-postgres and dokku-redis do: a first link sets
/// `DATABASE_URL` (`REDIS_URL`); when that is taken, the first free
/// `DOKKU_POSTGRES_<COLOR>_URL`; `--alias NAME` sets `NAME_URL`. The app's
/// `POSTGRES_DATABASE_SCHEME` (`REDIS_DATABASE_SCHEME`) replaces the URL's scheme.
struct ServiceLinks {
    let context: Context
    let kind: ServiceKind

    init(_ context: Context, _ kind: ServiceKind) {
        self.context = context
        self.kind = kind
    }

    private var store: Store { get throws { try context.store() } }
    private var manager: ServiceManager { ServiceManager(context, kind) }

    /// dokku-postgres's alternative aliases, in the order it tries them.
    static let colors = ["AQUA", "BLACK", "BLUE", "FUCHSIA", "GRAY", "GREEN", "LIME", "MAROON", "NAVY", "OLIVE", "PURPLE", "RED", "SILVER", "TEAL", "WHITE", "YELLOW"]

    /// `DOKKU_POSTGRES`, `DOKKU_REDIS`.
    var alternativePrefix: String { "DOKKU_\(kind.rawValue.uppercased())" }

    /// The service's URL as this app sees it (its scheme override applied), without a
    /// querystring: what a config var holding it starts with.
    func url(_ record: ServiceRecord, app: AppName, querystring: String? = nil) throws -> String {
        var url = manager.url(record, querystring: querystring)
        let key = "\(kind.rawValue.uppercased())_DATABASE_SCHEME"
        if let scheme = try store.config(.app(app)).first(where: { $0.key == key })?.value, !scheme.isEmpty {
            url = scheme + url.drop { $0 != ":" }
        }
        return url
    }

    /// The app's config vars that hold the service's URL.
    func variables(_ record: ServiceRecord, app: AppName) throws -> [String] {
        let url = try url(record, app: app)
        return try store.config(.app(app)).filter { $0.value == url || $0.value.hasPrefix(url + "?") }.map(\.key)
    }

    /// Links: chooses the variable, records the link and sets it in one transaction, prints
    /// the vars as `config:set` does. Returns the variable.
    func link(_ record: ServiceRecord, app: AppName, alias: String?, querystring: String?) throws -> String {
        let config = try store.config(.app(app))
        let keys = Set(config.map(\.key))
        var variable: String
        if let alias {
            var name = alias.uppercased().replacingOccurrences(of: "-", with: "_")
            if name.hasSuffix("_URL") { name.removeLast(4) }
            variable = name + "_URL"
            guard ConfigVars.isValidKey(variable) else { throw CommandError("Invalid alias \(alias)") }
            if keys.contains(variable) { throw CommandError("Specified alias \(name) already in use") }
        } else {
            variable = kind.defaultAlias + "_URL"
            if keys.contains(variable) {
                guard let color = Self.colors.first(where: { !keys.contains("\(alternativePrefix)_\($0)_URL") }) else {
                    throw CommandError("Unable to use default or generated URL alias")
                }
                variable = "\(alternativePrefix)_\(color)_URL"
            }
        }
        let existing = try variables(record, app: app)
        if let first = existing.first { throw CommandError("Already linked as \(first)") }
        if try store.serviceLinks(kind, record.name).contains(where: { $0.app == app }) {
            throw CommandError("Already linked to \(app)")
        }
        var query = querystring
        if query?.hasPrefix("?") == true { query?.removeFirst() }
        let value = try url(record, app: app, querystring: query)
        try store.link(ServiceLinkRecord(kind: kind, name: record.name, app: app, variable: variable), url: value)
        try Plugins(context).fire("post-config-update", [app.rawValue, "set", variable])
        context.output.step("Setting config vars")
        for line in ConfigVars.aligned([(variable, value)], prefix: "       ") where !context.output.quiet {
            context.output.data(line)
        }
        return variable
    }

    /// Unlinks: forgets the link and unsets every var that holds the service's URL.
    func unlink(_ record: ServiceRecord, app: AppName) throws {
        let linked = try store.serviceLinks(kind, record.name).contains { $0.app == app }
        let variables = try variables(record, app: app)
        guard linked || !variables.isEmpty else { throw CommandError("Not linked to app \(app)") }
        try store.unlink(kind, record.name, app: app, variables: variables)
        if !variables.isEmpty {
            try Plugins(context).fire("post-config-update", [app.rawValue, "unset"] + variables)
        }
        for variable in variables { context.output.step("Unsetting \(variable)") }
    }

    /// Makes the service the app's `DATABASE_URL` (`REDIS_URL`), keeping the URL that was
    /// there under a free color alias.
    func promote(_ record: ServiceRecord, app: AppName) throws {
        let variables = try variables(record, app: app)
        guard let first = variables.first else { throw CommandError("Not linked to app \(app)") }
        let primary = kind.defaultAlias + "_URL"
        if variables.contains(primary) { throw CommandError("Service \(record.name) already promoted as \(primary)") }
        let config = try store.config(.app(app))
        let keys = Set(config.map(\.key))
        var pairs: [(key: String, value: String)] = []
        if let current = config.first(where: { $0.key == primary })?.value,
            !config.contains(where: { $0.key != primary && $0.value == current })
        {
            guard let color = Self.colors.first(where: { !keys.contains("\(alternativePrefix)_\($0)_URL") }) else {
                throw CommandError("Unable to use default or generated URL alias")
            }
            pairs.append(("\(alternativePrefix)_\(color)_URL", current))
        }
        pairs.append((primary, config.first { $0.key == first }!.value))
        try store.setConfig(.app(app), pairs)
        try Plugins(context).fire("post-config-update", [app.rawValue, "set"] + pairs.map(\.key))
        context.output.step("Setting config vars")
        for line in ConfigVars.aligned(pairs.sorted { $0.key < $1.key }, prefix: "       ") where !context.output.quiet {
            context.output.data(line)
        }
    }
}
