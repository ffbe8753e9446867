import ACME
import Beneath
import Builder
import Foundation

/// Certificates from an ACME server (Let's Encrypt by default) for an app's domains,
/// installed where `certs:add` puts them, with dokku-letsencrypt's settings: `email`,
/// `server`, `graceperiod` per app or `--global`, and dokkulite's `challenge` and
/// `auto-enable`. The proxy answers the challenges itself, so the app never stops.
struct LetsEncrypt {
    let context: Context

    static let namespace = "letsencrypt"
    static let production = "https://acme-v02.api.letsencrypt.org/directory"
    static let staging = "https://acme-staging-v02.api.letsencrypt.org/directory"
    static let defaultGracePeriod = 2_592_000
    /// Settings a user may set, per app or `--global`.
    static let keys = ["auto-enable", "challenge", "email", "graceperiod", "on-demand", "on-demand-allow", "on-demand-ask", "on-demand-rate", "server"]
    /// dokku-letsencrypt's lego settings: kept and reported, without effect here.
    static let legoKeys = ["lego-args", "lego-docker-options"]
    static let challenges = ["http-01", "tls-alpn-01"]

    private var store: Store { get throws { try context.store() } }

    // MARK: Settings

    func value(_ app: AppName?, _ key: String) throws -> String? {
        let value: String?
        if let app { value = try store.computedProperty(app, Self.namespace, key) } else { value = try store.property(.global, Self.namespace, key) }
        return value.flatMap { $0.isEmpty ? nil : $0 }
    }

    func email(_ app: AppName) throws -> String? { try value(app, "email") }

    /// The directory URL in effect: the app's or the global `server`, `staging` and
    /// `default` standing for Let's Encrypt's.
    func server(_ app: AppName?) throws -> String {
        switch try value(app, "server") {
        case nil, "default": Self.production
        case "staging": Self.staging
        case let url?: url
        }
    }

    func gracePeriod(_ app: AppName?) throws -> Int {
        try value(app, "graceperiod").flatMap { Int($0) } ?? Self.defaultGracePeriod
    }

    func challenge(_ app: AppName?) throws -> String {
        try value(app, "challenge") ?? "http-01"
    }

    var autoEnable: Bool {
        get throws { try value(nil, "auto-enable") == "true" }
    }

    /// Why `value` cannot be `key`'s, or nil.
    static func problem(key: String, value: String) -> String? {
        switch key {
        case "email":
            let parts = value.split(separator: "@", omittingEmptySubsequences: false)
            let plain = value.utf8.allSatisfy { $0 > 32 && $0 < 127 && $0 != 60 && $0 != 62 && $0 != 44 && $0 != 59 }
            guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), !parts[1].hasPrefix("."), !parts[1].hasSuffix("."), plain else {
                return "Invalid email address: \(value)"
            }
        case "server":
            guard value == "default" || value == "staging" || (NetworkURL.isNetwork(value, schemes: ["https://"]) && URL(string: value)?.host != nil) else {
                return "Invalid server: \(value) (default, staging, or an https:// ACME directory URL)"
            }
        case "graceperiod":
            guard let seconds = Int(value), seconds >= 0, seconds <= 315_360_000 else {
                return "Invalid graceperiod: \(value) (seconds before expiry to renew, 0 to 315360000)"
            }
        case "challenge":
            guard challenges.contains(value) else { return "Invalid challenge: \(value) (http-01 or tls-alpn-01)" }
        case "auto-enable", "on-demand":
            guard value == "true" || value == "false" else { return "Invalid \(key): \(value) (true or false)" }
        case "on-demand-ask":
            guard NetworkURL.isNetwork(value, schemes: NetworkURL.httpSchemes), URL(string: value)?.host != nil else {
                return "Invalid on-demand-ask: \(value) (an http:// or https:// URL, asked GET URL?domain=NAME)"
            }
        case "on-demand-allow":
            let patterns = value.split(separator: " ").map(String.init)
            for pattern in patterns where !OnDemandCertificates.isHostName(pattern.hasPrefix("*.") ? String(pattern.dropFirst(2)) : pattern) {
                return "Invalid on-demand-allow: \(pattern) (host names or *.domain patterns, separated by spaces)"
            }
        case "on-demand-rate":
            guard let rate = Int(value), rate >= 0, rate <= 1000 else { return "Invalid on-demand-rate: \(value) (certificates an hour, 0 to 1000)" }
        default: break
        }
        return nil
    }

    // MARK: State

    /// The app's issued-certificate state, kept as properties: what was issued, when it
    /// expires, and how the last attempt went.
    struct State {
        var domains: [String] = []
        var expiry: Int?
        var fingerprint: String?
        var lastError: String?
        var lastAttempt: Int?
        var failures = 0
    }

    func state(_ app: AppName) throws -> State {
        let values = try store.properties(.app(app), Self.namespace)
        return State(
            domains: (values["issued-domains"] ?? "").split(separator: " ").map(String.init),
            expiry: values["expiry"].flatMap { Int($0) }, fingerprint: values["fingerprint"], lastError: values["last-error"],
            lastAttempt: values["last-attempt"].flatMap { Int($0) }, failures: values["failures"].flatMap { Int($0) } ?? 0)
    }

    /// Whether the certificate the app serves is the one issued here (a `certs:add` since
    /// replaces it, and Let's Encrypt is no longer active for the app).
    func isActive(_ app: AppName) throws -> Bool {
        guard let fingerprint = try state(app).fingerprint else { return false }
        return installedFingerprint(app) == fingerprint
    }

    private func installedFingerprint(_ app: AppName) -> String? {
        guard let bytes = try? Beneath.read("server.crt", in: Certificates(context).directory(app), limit: 1 << 20, links: .refused) else { return nil }
        return Self.fingerprint(bytes)
    }

    static func fingerprint(_ bytes: [UInt8]) -> String { Fingerprint.hex(bytes) }

    /// The names a certificate for the app covers: its domains, unless turned off.
    func domains(_ app: AppName) throws -> [String] {
        if try store.property(.app(app), "domains", "disabled") == "true" { return [] }
        return try store.domains(.app(app)).filter { $0 != "_" && !$0.hasPrefix("*") }
    }

    /// Seconds until the app's certificate should be renewed (negative: now), nil when
    /// none was issued.
    func timeToRenewal(_ app: AppName, now: Int = Int(Date().timeIntervalSince1970)) throws -> Int? {
        guard let expiry = try state(app).expiry else { return nil }
        return expiry - (try gracePeriod(app)) - now
    }

    // MARK: Issuing

    /// Gets a certificate for the app's domains and installs it; the old one keeps serving
    /// on any failure, and the failure is recorded for `letsencrypt:list`.
    func enable(_ app: AppName, force: Bool) throws {
        let domains = try domains(app)
        guard !domains.isEmpty else { throw CommandError("No domains detected for \(app)") }
        let output = context.output
        output.section("Enabling letsencrypt for \(app)")
        guard let email = try email(app) else {
            throw CommandError("Cannot request a certificate without an e-mail address: run dokku letsencrypt:set \(app) email <e-mail>")
        }
        let state = try state(app)
        if !force, try isActive(app), Set(state.domains) == Set(domains), let time = try timeToRenewal(app), time >= 0 {
            output.step("Certificate is still valid for \(app), skipping certificate request")
            output.step("Pass --force to letsencrypt:enable to request a new certificate anyway")
            return
        }
        let challenge = try challenge(app)
        // The proxy listens on the HTTPS port for TLS-ALPN-01 even before a certificate.
        if challenge == "tls-alpn-01" { try RouteSync(context).update(app) }
        output.step("Getting letsencrypt certificate for \(app) via \(challenge.uppercased())")
        for domain in domains { output.detail(" - Domain '\(domain)'") }
        let now = Int(Date().timeIntervalSince1970)
        try store.setProperty(.app(app), Self.namespace, "last-attempt", String(now))
        let issued: IssuedCertificate
        do {
            issued = try issue(app: app, domains: domains, email: email, challenge: challenge)
        } catch {
            let reason = (error as? ACMEError)?.description ?? "\(error)"
            try store.setProperty(.app(app), Self.namespace, "last-error", reason)
            try store.setProperty(.app(app), Self.namespace, "failures", String(state.failures + 1))
            output.step("Certificate retrieval failed!")
            throw CommandError("Failed to setup letsencrypt for \(app): \(reason)")
        }
        output.step("Certificate retrieved successfully.")
        output.step("Installing let's encrypt certificates")
        let chain = Array(issued.chainPEM.utf8)
        try Certificates(context).install(app, certificate: chain, key: Array(issued.keyPEM.utf8))
        try store.write { db in
            let set = { (key: String, value: String?) in try Store.setProperty(.app(app), Self.namespace, key, value, db) }
            try set("fingerprint", Self.fingerprint(chain))
            try set("expiry", String(Int(issued.notAfter.timeIntervalSince1970)))
            try set("issued-domains", domains.joined(separator: " "))
            try set("last-error", nil)
            try set("failures", nil)
            try set("disabled", nil)
        }
        output.step("Done")
    }

    /// A certificate for `domains` from the app's ACME server (nil: the global one).
    func issue(app: AppName?, domains: [String], email: String, challenge: String) throws -> IssuedCertificate {
        let server = try server(app)
        let key = try accountKey(server: server)
        let responder = ChallengeFiles(directory: context.settings.paths.acmeChallenges)
        var configuration = ACMEClient.Configuration(directory: server, trustRootsFile: context.settings.acmeTrustRoots)
        configuration.orderTimeout = context.settings.acmeTimeout
        let output = context.output
        let result = LockedBox<IssuedCertificate?>(nil)
        let client = try ACMEClient(configuration, key: key) { line in output.detail(line) }
        try BlockingTask.run {
            do {
                result.set(try await client.issue(domains: domains, email: email, challengeType: challenge, responder: responder))
                await client.shutdown()
            } catch {
                await client.shutdown()
                throw error
            }
        }
        guard let issued = result.get() else { throw CommandError("no certificate") }
        return issued
    }

    /// Revokes the app's certificate with the account that got it.
    func revoke(_ app: AppName) throws {
        guard let certificate = try? Beneath.readText("server.crt", in: Certificates(context).directory(app), limit: 1 << 20, links: .refused) else {
            throw CommandError("\(app) has no certificate to revoke")
        }
        let server = try server(app)
        let client = try ACMEClient(
            ACMEClient.Configuration(directory: server, trustRootsFile: context.settings.acmeTrustRoots), key: try accountKey(server: server))
        try BlockingTask.run {
            do {
                try await client.revoke(certificatePEM: certificate)
                await client.shutdown()
            } catch {
                await client.shutdown()
                throw error
            }
        }
    }

    /// The account key for a server: one per directory URL, made on first use, root's
    /// alone (0600 from creation).
    private func accountKey(server: String) throws -> AccountKey {
        let directory = context.settings.paths.letsencrypt + "/accounts"
        for path in [context.settings.paths.letsencrypt, directory] where mkdir(path, 0o700) != 0 && errno != EEXIST {
            throw CommandError("cannot create \(path): \(String(cString: strerror(errno)))")
        }
        let name = Self.fingerprint(Array(server.utf8)) + ".pem"
        if let pem = try? Beneath.readText(name, in: directory, limit: 16 << 10, links: .refused) {
            return try AccountKey(pem: pem)
        }
        let key = AccountKey()
        try SecretFile.write(key.pem, to: directory + "/" + name)
        return key
    }

    // MARK: Automatic

    /// After a deploy: with `auto-enable`, an app with domains and no certificate gets one
    /// (a failure is a warning; the deploy stands, and the renewal timer tries again).
    func deployed(_ app: AppName) {
        guard (try? autoEnable) == true, (try? domains(app).isEmpty) == false, (try? Certificates(context).exists(app)) == false,
            (try? store.property(.app(app), Self.namespace, "disabled")) != "true"
        else { return }
        attempt(app)
    }

    /// After `domains:add` or `domains:set`: with `auto-enable`, the certificate is issued
    /// again for the new names at once; otherwise, as dokku-letsencrypt, a reminder.
    func afterDomainsUpdate(_ app: AppName) {
        guard (try? isActive(app)) == true || ((try? autoEnable) == true && (try? Certificates(context).exists(app)) == false) else { return }
        guard (try? autoEnable) == true, (try? store.property(.app(app), Self.namespace, "disabled")) != "true" else {
            context.output.warn("Please run dokku letsencrypt:enable to add https support to the new domain")
            return
        }
        attempt(app)
    }

    private func attempt(_ app: AppName) {
        do {
            try enable(app, force: false)
        } catch {
            context.output.warn("letsencrypt: \((error as? CommandError)?.message ?? "\(error)"); the renewal timer tries again")
        }
    }

    /// Forgets the app's certificate state (its certificate itself is `certs:remove`'s).
    func forget(_ app: AppName) throws {
        for key in ["fingerprint", "expiry", "issued-domains", "last-error", "failures", "last-attempt"] {
            try store.setProperty(.app(app), Self.namespace, key, nil)
        }
    }
}

/// HTTP-01 answers as files the proxy reads: one per token, root's alone, in a directory
/// only root can enter.
struct ChallengeFiles: ChallengeResponder {
    let directory: String

    func publish(_ challenge: Challenge) throws {
        guard Base64URL.isToken(challenge.token) else { throw CommandError("bad challenge token") }
        for path in [directory, directory + "/tls-alpn-01"] where mkdir(path, 0o700) != 0 && errno != EEXIST {
            throw CommandError("cannot create \(path): \(String(cString: strerror(errno)))")
        }
        switch challenge.type {
        case "tls-alpn-01":
            guard let name = Self.fileName(challenge.domain) else { throw CommandError("bad challenge domain \(challenge.domain)") }
            let pem = try ChallengeCertificate.make(domain: challenge.domain, keyAuthorization: challenge.keyAuthorization)
            try SecretFile.write(pem, to: directory + "/tls-alpn-01/" + name)
        default:
            try SecretFile.write(challenge.keyAuthorization, to: directory + "/" + challenge.token)
        }
    }

    func withdraw(_ challenge: Challenge) {
        switch challenge.type {
        case "tls-alpn-01":
            if let name = Self.fileName(challenge.domain) { unlink(directory + "/tls-alpn-01/" + name) }
        default:
            if Base64URL.isToken(challenge.token) { unlink(directory + "/" + challenge.token) }
        }
    }

    /// `NAME.pem` for a domain the proxy will look up by its SNI name (lowercase).
    static func fileName(_ domain: String) -> String? {
        let name = domain.lowercased()
        return OnDemandCertificates.isHostName(name) ? name + ".pem" : nil
    }
}
