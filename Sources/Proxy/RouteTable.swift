internal import NIOCore

/// Which app answers a Host, and where its processes listen. A plain value: the daemon
/// builds it from the store, the standalone mode from its arguments, and the server swaps
/// it in whole, so every request sees one consistent table.
package struct RouteTable: Sendable, Equatable {
    /// One app's routing.
    package struct App: Sendable, Equatable {
        /// The app's name, for error pages and the access log.
        package var name: String
        /// `127.0.0.1:PORT` of each running web instance.
        package var upstreams: [Upstream]
        /// Largest request body accepted (`proxy:set APP client-max-body-size`); nil: no limit.
        package var maxBodyBytes: Int?
        /// Redirect plain HTTP to HTTPS (the app has a certificate).
        package var redirectToHTTPS: Bool
        /// The HTTPS port to redirect to.
        package var httpsPort: Int
        /// How long a request waits for the app's response to begin, in milliseconds
        /// (`nginx:set APP proxy-read-timeout`); nil: the server's default (60 s).
        package var responseTimeoutMilliseconds: Int64?
        /// The `Strict-Transport-Security` value HTTPS responses get when the app sends none
        /// (Dokku's `nginx:set APP hsts*`); nil: none.
        package var strictTransportSecurity: String?
        /// Read a response as fast as the app sends it and hold it for a slow client
        /// (`nginx:set APP proxy-buffering`); off, the app is read only as fast as the client reads.
        package var responseBuffering: Bool
        /// Access log lines for this app's requests (`nginx:set APP access-log-path off`: none).
        package var accessLog: Bool
        /// Error lines for this app: what the proxy answered itself with a 5xx, and each
        /// instance that failed to connect (`nginx:set APP error-log-path off`: none).
        package var errorLog = true
        /// How long connecting to an instance may take, in milliseconds (`nginx:set APP
        /// proxy-connect-timeout`); nil: the server's default (5 s).
        package var connectTimeoutMilliseconds: Int64?
        /// Where the forwarding headers' values come from (Dokku's `nginx:set APP
        /// x-forwarded-*-value` and `x-forwarded-ssl`); nil: the proxy's own, which apps can trust.
        package var forwarded: Forwarded?
        /// How long a kept-alive client connection may wait for its next request after one
        /// of this app's responses (`nginx:set APP keepalive-timeout`); nil: the server's (75 s).
        package var keepaliveTimeoutMilliseconds: Int64?
        /// How long a request body may stop arriving (`client-body-timeout`); nil: 60 s.
        package var clientBodyTimeoutMilliseconds: Int64?
        /// How long a client may take none of its response (`send-timeout`); nil: 60 s.
        package var sendTimeoutMilliseconds: Int64?
        /// How long an instance may take none of a request body (`proxy-send-timeout`); nil: 60 s.
        package var upstreamSendTimeoutMilliseconds: Int64?
        /// After a response to a request whose body the proxy will not read, how long the
        /// client may send nothing before the connection closes (`lingering-timeout`);
        /// nil: 5 s. The whole wait is at most 30 s, as nginx's `lingering_time`.
        package var lingeringTimeoutMilliseconds: Int64?
        /// Request headers whose names hold `_` reach the app (`nginx:set APP
        /// underscore-in-headers on`). Off by default, as nginx ignores them: CGI-style
        /// servers turn `-` and `_` into the same variable, so `X_Forwarded_For` would pass
        /// for the proxy's `X-Forwarded-For`.
        package var underscoresInHeaders = false

        /// The values of `X-Forwarded-For`, `-Proto` and `-Port`, as Dokku's template sets
        /// them from nginx variables: behind another balancer, the client's own headers.
        package struct Forwarded: Sendable, Equatable {
            package enum Source: Sendable, Equatable {
                /// The peer's address, the listener's scheme or port (`$remote_addr`,
                /// `$scheme`, `$server_port`).
                case own
                /// The client's header, or the proxy's own without one (`$http_x_forwarded_…`).
                case client
                /// The client's `X-Forwarded-For` with the peer added (`$proxy_add_x_forwarded_for`).
                case appendPeer
                /// A fixed value.
                case literal(String)
            }
            package var forValue = Source.own
            package var proto = Source.own
            package var port = Source.own
            /// `X-Forwarded-Ssl`, when set.
            package var ssl: String?

            /// An upper bound of what the fixed values add to a request head.
            var literalBytes: Int {
                func count(_ source: Source) -> Int {
                    if case .literal(let value) = source { return value.utf8.count }
                    return 0
                }
                return count(forValue) + count(proto) + count(port) + (ssl?.utf8.count ?? 0) + 96
            }

            package init(forValue: Source = .own, proto: Source = .own, port: Source = .own, ssl: String? = nil) {
                self.forValue = forValue
                self.proto = proto
                self.port = port
                self.ssl = ssl
            }
        }

        package init(
            name: String, upstreams: [Upstream], maxBodyBytes: Int? = nil, redirectToHTTPS: Bool = false, httpsPort: Int = 443,
            responseTimeoutMilliseconds: Int64? = nil, strictTransportSecurity: String? = nil,
            responseBuffering: Bool = true, accessLog: Bool = true, forwarded: Forwarded? = nil,
            connectTimeoutMilliseconds: Int64? = nil
        ) {
            self.connectTimeoutMilliseconds = connectTimeoutMilliseconds
            self.accessLog = accessLog
            self.forwarded = forwarded
            self.responseBuffering = responseBuffering
            self.strictTransportSecurity = strictTransportSecurity
            self.name = name
            self.upstreams = upstreams
            self.maxBodyBytes = maxBodyBytes
            self.redirectToHTTPS = redirectToHTTPS
            self.httpsPort = httpsPort
            self.responseTimeoutMilliseconds = responseTimeoutMilliseconds
        }
    }

    /// Lowercased exact host → app.
    package var hosts: [String: App]
    /// `*.example.com` routes, as `.example.com` suffixes, longest first.
    package var wildcards: [(suffix: String, app: App)]
    /// Per listener port: the app that takes requests whose Host matches nothing (an app
    /// without domains owning a port, as Dokku serves apps without vhosts).
    package var portDefaults: [Int: App]
    /// Per TCP listener port: the app whose processes take the connections.
    package var tcp: [Int: App]
    /// How long a client has to send a whole request head, in milliseconds (`nginx:set
    /// --global client-header-timeout`); nil: the server's (30 s). Server-wide: the app is
    /// not known until the head has arrived (nginx, too, takes it from the default server).
    package var headerTimeoutMilliseconds: Int64?

    package init(hosts: [String: App] = [:], wildcards: [(suffix: String, app: App)] = [], portDefaults: [Int: App] = [:], tcp: [Int: App] = [:]) {
        self.hosts = hosts
        self.wildcards = wildcards.sorted { $0.suffix.count > $1.suffix.count }
        self.portDefaults = portDefaults
        self.tcp = tcp
    }

    /// Every upstream the table routes to.
    var upstreams: Set<Upstream> {
        var all = Set<Upstream>()
        for app in hosts.values { all.formUnion(app.upstreams) }
        for (_, app) in wildcards { all.formUnion(app.upstreams) }
        for app in portDefaults.values { all.formUnion(app.upstreams) }
        for app in tcp.values { all.formUnion(app.upstreams) }
        return all
    }

    /// Builds a table from domains: `*.x.y` entries become wildcard routes.
    package init(domains: [(domain: String, app: App)], portDefaults: [Int: App] = [:], tcp: [Int: App] = [:]) {
        var hosts: [String: App] = [:]
        var wildcards: [(String, App)] = []
        for (domain, app) in domains {
            let lower = domain.lowercased()
            if lower.hasPrefix("*.") {
                wildcards.append((String(lower.dropFirst()), app))
            } else {
                hosts[lower] = app
            }
        }
        self.init(hosts: hosts, wildcards: wildcards, portDefaults: portDefaults, tcp: tcp)
    }

    /// The app for a Host header value (port and trailing dot ignored, case-insensitive).
    package func app(forHost host: String?, port: Int) -> App? {
        Self.find(host, port: port, hosts: hosts, wildcards: wildcards, portDefaults: portDefaults)
    }

    /// The lookup behind `app(forHost:port:)`, for any table of this shape (each event
    /// loop keeps one of its own, see `LoopRoutes`).
    static func find<Value>(_ host: String?, port: Int, hosts: [String: Value], wildcards: [(suffix: String, app: Value)], portDefaults: [Int: Value]) -> Value? {
        if let host {
            // Fast path: the common Host is already a bare lowercase name.
            if let value = hosts[host] { return value }
            let name = normalize(host)
            if let value = hosts[name] { return value }
            for (suffix, value) in wildcards where name.hasSuffix(suffix) && name.count > suffix.count {
                return value
            }
        }
        return portDefaults[port]
    }

    /// `Example.COM:8080` → `example.com`; IPv6 literals keep their brackets.
    static func normalize(_ host: String) -> String {
        var name = Substring(host)
        if name.hasPrefix("[") {
            if let end = name.firstIndex(of: "]") { name = name[...end] }
        } else if let colon = name.lastIndex(of: ":") {
            name = name[..<colon]
        }
        if name.hasSuffix(".") { name = name.dropLast() }
        return name.lowercased()
    }

    package static func == (lhs: RouteTable, rhs: RouteTable) -> Bool {
        lhs.hosts == rhs.hosts && lhs.portDefaults == rhs.portDefaults && lhs.tcp == rhs.tcp && lhs.headerTimeoutMilliseconds == rhs.headerTimeoutMilliseconds
            && lhs.wildcards.map(\.suffix) == rhs.wildcards.map(\.suffix) && lhs.wildcards.map(\.app) == rhs.wildcards.map(\.app)
    }
}

/// An upstream process: host and port.
package struct Upstream: Sendable, Hashable, CustomStringConvertible {
    package var host: String
    package var port: Int

    package init(host: String = "127.0.0.1", port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT`.
    package init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else { return nil }
        let host = String(text[..<colon])
        guard !host.isEmpty else { return nil }
        self.init(host: host, port: port)
    }

    package var description: String { "\(host):\(port)" }

    /// Hashes the port alone: upstreams are nearly always on 127.0.0.1, so the host would
    /// add cost to each pool lookup and tell nothing apart. Equality still compares both.
    package func hash(into hasher: inout Hasher) {
        hasher.combine(port)
    }
}
