import Foundation
import Proxy

/// Builds the proxy's route table and listeners from the store: every app's domains and
/// port maps, pointing at its running web instances.
struct RouteBuilder {
    let context: Context

    init(_ context: Context) {
        self.context = context
    }

    /// What the daemon should serve.
    struct Plan: Equatable {
        var routes: RouteTable
        var listeners: [ProxyServer.Listener]
        var certificates: [TLSCertificates.Entry]
        /// The names on-demand TLS may be asked for.
        var onDemand = OnDemandIssuer.Policy()
    }

    func plan() throws -> Plan {
        let store = try context.store()
        var domains: [(domain: String, app: RouteTable.App)] = []
        var portDefaults: [Int: RouteTable.App] = [:]
        var tcp: [Int: RouteTable.App] = [:]
        var ports: [Int: ProxyServer.Listener.Kind] = [80: .http]
        var certificates: [TLSCertificates.Entry] = []
        var acmePorts: Set<Int> = []
        var onDemand = OnDemandIssuer.Policy()
        let certs = Certificates(context)
        for record in try store.apps() {
            let app = record.name
            if try store.property(.app(app), "proxy", "disabled") == "true" { continue }
            let upstreams = try store.instances(app)
                .filter { $0.state == .running && $0.processType == "web" }
                .compactMap { $0.port.map { Upstream(port: $0) } }
            let hasCertificate = try certs.exists(app)
            let maps = try PortPlan.effective(app, context: context)
            let httpsPort = maps.first { $0.scheme == .https }?.hostPort ?? 443
            let maxBody = try NginxSettings.clientMaxBodySize(app, store: store).flatMap(ProxySettings.bytes)
            /// An `nginx:set` time (the app's, else the global one) in milliseconds.
            func milliseconds(_ key: String) throws -> Int64? { try store.computedProperty(app, "nginx", key).flatMap(NginxSettings.milliseconds) }
            var route = RouteTable.App(
                name: app.rawValue, upstreams: upstreams, maxBodyBytes: maxBody, redirectToHTTPS: hasCertificate, httpsPort: httpsPort,
                responseTimeoutMilliseconds: try milliseconds("proxy-read-timeout"), strictTransportSecurity: try NginxSettings.strictTransportSecurity(app, store: store),
                responseBuffering: try store.computedProperty(app, "nginx", "proxy-buffering") != "off",
                accessLog: try store.computedProperty(app, "nginx", "access-log-path") != "off",
                forwarded: try NginxSettings.forwarded(app, store: store),
                connectTimeoutMilliseconds: try milliseconds("proxy-connect-timeout"))
            route.keepaliveTimeoutMilliseconds = try milliseconds("keepalive-timeout")
            route.clientBodyTimeoutMilliseconds = try milliseconds("client-body-timeout")
            route.sendTimeoutMilliseconds = try milliseconds("send-timeout")
            route.upstreamSendTimeoutMilliseconds = try milliseconds("proxy-send-timeout")
            route.lingeringTimeoutMilliseconds = try milliseconds("lingering-timeout")
            route.errorLog = try store.computedProperty(app, "nginx", "error-log-path") != "off"
            route.underscoresInHeaders = try store.computedProperty(app, "nginx", "underscore-in-headers") == "on"
            let appDomains = try store.domains(.app(app))
            // TLS-ALPN-01 is answered on the HTTPS port, which must listen before the app
            // has a certificate of its own.
            let letsEncrypt = LetsEncrypt(context: context)
            let onDemandApp = try letsEncrypt.value(app, "on-demand") == "true"
            if try letsEncrypt.challenge(app) == "tls-alpn-01" || onDemandApp {
                ports[httpsPort] = .https
                acmePorts.insert(httpsPort)
            }
            if onDemandApp {
                for domain in appDomains {
                    if domain.hasPrefix("*.") { onDemand.suffixes.append(String(domain.dropFirst())) } else { onDemand.names.insert(domain) }
                }
                if appDomains.isEmpty { onDemand.catchAll = true }
            }
            let onDemandCertificates = OnDemandCertificates(context: context)
            for name in try onDemandCertificates.issued(app).keys.sorted() {
                let base = onDemandCertificates.directory(app) + "/" + name
                certificates.append(TLSCertificates.Entry(hosts: [name], certificatePath: base + ".crt", keyPath: base + ".key"))
            }
            for map in maps {
                switch map.scheme {
                case .http:
                    ports[map.hostPort] = ports[map.hostPort] ?? .http
                case .https:
                    guard hasCertificate else { continue }
                    ports[map.hostPort] = .https
                case .tcp:
                    ports[map.hostPort] = .tcp
                    tcp[map.hostPort] = route
                    continue
                }
                if appDomains.isEmpty, portDefaults[map.hostPort] == nil {
                    portDefaults[map.hostPort] = route
                }
            }
            for domain in appDomains { domains.append((domain, route)) }
            if hasCertificate {
                certificates.append(TLSCertificates.Entry(
                    hosts: appDomains, certificatePath: certs.directory(app) + "/server.crt", keyPath: certs.directory(app) + "/server.key"))
            }
        }
        // Exposed services (`postgres:expose`): a raw TCP forward from the public port to
        // the service on 127.0.0.1, as `ports:add tcp:…` is for an app.
        for service in try store.services() where service.stopped == false {
            guard let exposed = service.exposedPort, ports[exposed] == nil else { continue }
            ports[exposed] = .tcp
            tcp[exposed] = RouteTable.App(name: "\(service.kind.rawValue).\(service.name)", upstreams: [Upstream(port: service.port)])
        }
        // The HTTP API, at its host name, unless an app has claimed that name. Its route's
        // name, `_api` in the access log, is no app's: app names have no `_`. With its own
        // certificate (`api:certs:add`), HTTPS, and plain HTTP redirected there.
        if let host = try apiHost(store), !domains.contains(where: { $0.domain.lowercased() == host }), let api = Upstream(context.settings.apiListen) {
            var route = RouteTable.App(name: "_api", upstreams: [api])
            let apiCertificate = APICertificate(context: context)
            if apiCertificate.exists, ports[443] != .tcp {
                certificates.append(TLSCertificates.Entry(hosts: [host], certificatePath: apiCertificate.directory + "/server.crt", keyPath: apiCertificate.directory + "/server.key"))
                ports[443] = .https
                route.redirectToHTTPS = true
            }
            domains.append((host, route))
        }
        let remap = context.settings.proxyPortRemap
        let listeners = ports.keys.sorted().compactMap { port -> ProxyServer.Listener? in
            if ports[port] == .https && certificates.isEmpty && !acmePorts.contains(port) { return nil }
            return ProxyServer.Listener(host: context.settings.proxyListenHost, port: remap[port] ?? port, kind: ports[port]!)
        }
        // Routes are keyed by the port the request arrived on.
        let remappedDefaults = Dictionary(portDefaults.map { (remap[$0.key] ?? $0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        let remappedTCP = Dictionary(tcp.map { (remap[$0.key] ?? $0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        var routes = RouteTable(domains: domains, portDefaults: remappedDefaults, tcp: remappedTCP)
        routes.headerTimeoutMilliseconds = try store.property(.global, "nginx", "client-header-timeout").flatMap(NginxSettings.milliseconds)
        return Plan(routes: routes, listeners: listeners, certificates: certificates, onDemand: onDemand)
    }
}

extension RouteBuilder {
    /// The host name the API is reached at: `DOKKULITE_API_HOST`, else `dokkulite.` and the
    /// first global domain; nil without either.
    func apiHost(_ store: Store) throws -> String? {
        if let host = context.settings.apiHost { return host }
        return try store.domains(.global).first.map { "dokkulite.\($0.lowercased())" }
    }
}

/// `proxy:set` values.
enum ProxySettings {
    /// nginx's size syntax for `client-max-body-size`: bytes, or `k`/`m`/`g` suffixed; `0`
    /// means no limit.
    static func bytes(_ text: String) -> Int? {
        let lower = text.lowercased().trimmingCharacters(in: .whitespaces)
        let units: [Character: Int] = ["k": 1 << 10, "m": 1 << 20, "g": 1 << 30]
        var number = lower
        var unit = 1
        if let last = lower.last, let multiplier = units[last] {
            number.removeLast()
            unit = multiplier
        }
        guard let value = Int(number), value >= 0 else { return nil }
        let (bytes, overflow) = value.multipliedReportingOverflow(by: unit)
        return value == 0 || overflow ? nil : bytes
    }

    /// Refuses a `client-max-body-size` that `bytes` cannot read (`0` is valid: no limit).
    static func validateBodySize(_ value: String) throws {
        guard value == "0" || bytes(value) != nil else {
            throw CommandError("Invalid client-max-body-size: \(value) (expected a size such as 1m, 512k or 0)")
        }
    }
}
