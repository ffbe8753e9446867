import ArgumentParser

/// Parses port map words as Dokku does, with its error texts. Bare host ports are allowed
/// only where `allowBare` (for `ports:remove`).
func parsePortMaps(_ words: [String], allowBare: Bool = false) throws -> (maps: [PortMap], bare: [Int]) {
    var maps: [PortMap] = []
    var bare: [Int] = []
    for token in words.joined(separator: " ").split(separator: " ").map(String.init) {
        let parts = token.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        if parts.count == 1 && allowBare {
            guard let port = Int(parts[0]) else {
                throw CommandError("Invalid port map \(token) [err=strconv.Atoi: parsing \"\(parts[0])\": invalid syntax]")
            }
            guard (1...65535).contains(port) else { throw CommandError("Invalid port map \(token) [hostPort=\(port)]") }
            bare.append(port)
            continue
        }
        guard parts.count == 3 else { throw CommandError("Invalid port map \(token) [len=\(parts.count)]") }
        guard let scheme = PortMap.Scheme(rawValue: parts[0]) else {
            throw CommandError("Invalid port map \(token) [scheme=\(parts[0]), expected http, https or tcp]")
        }
        for text in parts[1...] where Int(text) == nil {
            throw CommandError("Invalid port map \(token) [err=strconv.Atoi: parsing \"\(text)\": invalid syntax]")
        }
        let host = Int(parts[1])!, container = Int(parts[2])!
        guard (1...65535).contains(host) else { throw CommandError("Invalid port map \(token) [hostPort=\(host)]") }
        guard (1...65535).contains(container) else { throw CommandError("Invalid port map \(token) [containerPort=\(container)]") }
        maps.append(PortMap(scheme: scheme, hostPort: host, containerPort: container))
    }
    return (maps, bare)
}

/// Rejects two maps that share `scheme:host-port`.
private func checkReuse(_ maps: [PortMap], context what: String) throws {
    var seen = Set<String>()
    for map in maps {
        let key = "\(map.scheme.rawValue):\(map.hostPort)"
        if !seen.insert(key).inserted {
            throw CommandError("Error validating \(what)port mappings: The same scheme:host-port is being reused: \(key)")
        }
    }
}

struct PortsAdd: Command {
    static let configuration = CommandConfiguration(commandName: "ports:add", abstract: "Add port mappings to an app")
    static let usage = "<app> <scheme>:<host-port>:<container-port>..."
    @Argument var app: String?
    @Argument var words: [String] = []

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        guard !words.isEmpty else { throw CommandError("No port mapping specified") }
        let maps = try parsePortMaps(words).maps
        try checkReuse(maps, context: "new ")
        let store = try context.store()
        // A map that is already there counts as reuse, as in Dokku (ports.bats).
        let all = try store.portMaps(app) + maps
        try checkReuse(all, context: "all ")
        try store.addPortMaps(app, maps)
        try RouteSync(context).update(app)
    }
}

struct PortsSet: Command {
    static let configuration = CommandConfiguration(commandName: "ports:set", abstract: "Set port mappings for an app")
    static let usage = "<app> <scheme>:<host-port>:<container-port>..."
    @Argument var app: String?
    @Argument var words: [String] = []

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        guard !words.isEmpty else { throw CommandError("No port mapping specified") }
        let maps = try parsePortMaps(words).maps
        try checkReuse(maps, context: "")
        try context.store().setPortMaps(app, maps)
        try RouteSync(context).update(app)
    }
}

struct PortsRemove: Command {
    static let configuration = CommandConfiguration(commandName: "ports:remove", abstract: "Remove specific port mappings from an app")
    static let usage = "<app> <host-port>|<scheme>:<host-port>:<container-port>..."
    @Argument var app: String?
    @Argument var words: [String] = []

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        guard !words.isEmpty else { throw CommandError("No port mapping specified") }
        let (maps, bare) = try parsePortMaps(words, allowBare: true)
        try context.store().removePortMaps(app, maps: maps, hostPorts: bare)
        try RouteSync(context).update(app)
    }
}

struct PortsClear: Command {
    static let configuration = CommandConfiguration(commandName: "ports:clear", abstract: "Clear all port mappings for an app")
    @Argument var app: String?

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        try context.store().clearPortMaps(app)
        try RouteSync(context).update(app)
    }
}

struct PortsList: Command {
    static let configuration = CommandConfiguration(commandName: "ports:list", abstract: "List port mappings for an app")
    @Argument var app: String?

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        let maps = try context.store().portMaps(app)
        guard !maps.isEmpty else { throw CommandError("No port mappings configured for app") }
        context.output.step("Port mappings for \(app)")
        if !context.output.quiet {
            context.output.data("    -----> scheme  host port  container port")
        }
        for map in maps {
            let scheme = map.scheme.rawValue.padding(toLength: 15, withPad: " ", startingAt: 0)
            let host = String(map.hostPort).padding(toLength: 11, withPad: " ", startingAt: 0)
            context.output.data("    \(scheme)\(host)\(map.containerPort)")
        }
    }
}

struct PortsReport: Command {
    static let configuration = CommandConfiguration(commandName: "ports:report", abstract: "Displays a ports report for one or more apps")
    static let usage = "[<app>] [<flag>]"
    @Argument(parsing: .allUnrecognized) var words: [String] = []

    func run(in context: Context) throws {
        try context.printReports("ports", words) { app in
            let maps = try context.store().portMaps(app)
            let detected = try PortPlan.detected(app, context: context)
            let values = [
                "--ports-map": maps.map(\.description).joined(separator: " "),
                "--ports-map-json": PortPlan.json(maps),
                "--ports-map-detected": detected.map(\.description).joined(separator: " "),
                "--ports-map-detected-json": PortPlan.json(detected),
            ]
            return values
        }
    }
}

/// Which ports an app listens on through the proxy.
enum PortPlan {
    /// The port the app listens on inside, in Dokku's terms (its `PORT` is mapped to it).
    static let defaultContainerPort = 5000

    /// The maps Dokku would detect: `http:80:5000`, plus `https:443:5000` with a certificate;
    /// 80 and 443 are `proxy:set`'s proxy-port and proxy-ssl-port when set, as in Dokku.
    static func detected(_ app: AppName, context: Context) throws -> [PortMap] {
        let store = try context.store()
        func port(_ key: String, else fallback: Int) throws -> Int {
            try store.computedProperty(app, "proxy", key).flatMap { Int($0) } ?? fallback
        }
        var maps = [PortMap(scheme: .http, hostPort: try port("proxy-port", else: 80), containerPort: defaultContainerPort)]
        if try Certificates(context).exists(app) {
            maps.append(PortMap(scheme: .https, hostPort: try port("proxy-ssl-port", else: 443), containerPort: defaultContainerPort))
        }
        return maps
    }

    /// The maps in effect: the explicit ones, else the detected ones.
    static func effective(_ app: AppName, context: Context) throws -> [PortMap] {
        let explicit = try context.store().portMaps(app)
        return explicit.isEmpty ? try detected(app, context: context) : explicit
    }

    /// `[{"container_port":5000,"host_port":80,"scheme":"http"}]`, as Dokku prints.
    static func json(_ maps: [PortMap]) -> String {
        "[" + maps.map { "{\"container_port\":\($0.containerPort),\"host_port\":\($0.hostPort),\"scheme\":\"\($0.scheme.rawValue)\"}" }.joined(separator: ",") + "]"
    }
}
