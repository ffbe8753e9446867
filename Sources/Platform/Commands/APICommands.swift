import ArgumentParser
import ACME
import Foundation
import Proxy
import Supervisor

/// `api:tokens:create NAME [--read-only]`: a token for the HTTP API, printed once. Root at
/// the server only, as `ssh-keys:add` is: a token is a credential, as a key is.
struct APITokensCreate: Command {
    static let configuration = CommandConfiguration(commandName: "api:tokens:create", abstract: "Create an API token (printed once)")
    static let access = Access.serverRoot
    static let usage = "<name> [--read-only]"
    static let takesApp = false
    @Flag(name: .customLong("read-only")) var readOnly = false
    @Argument var name: String?

    func run(in context: Context) throws {
        try requireRootAtConsole(context, for: "api")
        guard let name, !name.isEmpty else { throw CommandError("Please specify a token name") }
        guard APITokens.validName(name) else {
            throw CommandError("Invalid token name: \(name) (lowercase letters, digits, '.', '_' and '-', at most 64)")
        }
        let secret = APITokens.generate()
        let record = APITokenRecord(name: name, hash: APITokens.hash(secret), readOnly: readOnly, createdAt: Date())
        let store = try context.store()
        guard try store.addAPIToken(record) else { throw CommandError("Token \(name) already exists", kind: .conflict) }
        try store.addAPIAudit(APIAuditRecord(at: Date(), actor: "console", action: "api:tokens:create", target: name, status: 0))
        context.output.section("Created API token \(name) (\(readOnly ? "read-only" : "full access")); it is shown only now")
        context.output.data(secret)
    }
}

/// `api:tokens:list`: names, access and use; never the secrets, which are not kept.
struct APITokensList: Command {
    static let configuration = CommandConfiguration(commandName: "api:tokens:list", abstract: "List the API tokens")
    static let access = Access.serverRoot
    static let usage = "[--format text|json]"
    static let takesApp = false
    @Option var format = "text"

    func run(in context: Context) throws {
        try requireRootAtConsole(context, for: "api")
        let tokens = try context.store().apiTokens()
        switch format {
        case "json":
            struct Item: Encodable {
                var name: String, access: String, created_at: String, last_used_at: String?
            }
            context.output.data(JSON.encode(tokens.map { Item(name: $0.name, access: $0.readOnly ? "read-only" : "full", created_at: APIAccess.time($0.createdAt), last_used_at: $0.lastUsedAt.map(APIAccess.time)) }))
        case "text":
            guard !tokens.isEmpty else {
                context.output.warn("No API tokens")
                return
            }
            context.output.section("API tokens")
            context.output.table([["name", "access", "created", "last used"]] + tokens.map {
                [$0.name, $0.readOnly ? "read-only" : "full", APIAccess.time($0.createdAt), $0.lastUsedAt.map(APIAccess.time) ?? "never"]
            })
        default:
            throw CommandError("Invalid output format specified, supported formats: json, text")
        }
    }
}

/// `api:tokens:revoke NAME`: the token stops working at once.
struct APITokensRevoke: Command {
    static let configuration = CommandConfiguration(commandName: "api:tokens:revoke", abstract: "Revoke an API token")
    static let access = Access.serverRoot
    static let usage = "<name>"
    static let takesApp = false
    @Argument var name: String?

    func run(in context: Context) throws {
        try requireRootAtConsole(context, for: "api")
        guard let name, !name.isEmpty else { throw CommandError("Please specify a token name") }
        let store = try context.store()
        guard try store.revokeAPIToken(name) else { throw CommandError("No API token named \(name)") }
        try store.addAPIAudit(APIAuditRecord(at: Date(), actor: "console", action: "api:tokens:revoke", target: name, status: 0))
        context.output.section("Revoked API token \(name)")
    }
}

/// `api:audit [-n NUM]`: the changes made through the API, and to its tokens, with who
/// made them.
struct APIAudit: Command {
    static let configuration = CommandConfiguration(commandName: "api:audit", abstract: "Show the API's audit log")
    static let access = Access.serverRoot
    static let usage = "[-n|--num NUM]"
    static let takesApp = false
    @Option(name: [.customShort("n"), .customLong("num")]) var count = 100

    func run(in context: Context) throws {
        try requireRootAtConsole(context, for: "api")
        guard count > 0 else { throw CommandError("Invalid value for --num: \(count)") }
        for entry in try context.store().apiAudit(last: count) {
            context.output.data("\(APIAccess.time(entry.at)) \(entry.actor) \(entry.action) \(entry.target) \(entry.status)")
        }
    }
}

enum APIAccess {
    /// `2026-01-02T03:04:05Z`, as ISO8601DateFormatter writes it, without building one
    /// (an ICU formatter a call, fifty per apps list, cost more than the list's reads):
    /// the journal's time to the second.
    static func time(_ date: Date) -> String {
        let micros = UInt64(max(0, date.timeIntervalSince1970.rounded(.down))) * 1_000_000
        return String(Journal.rfc3339(micros).prefix(19)) + "Z"
    }
}

/// `api:serve`: the HTTP API in the foreground, as the `dokkulite-api` unit runs it. It
/// listens on loopback (`--listen`, default `DOKKULITE_API_LISTEN`, `127.0.0.1:7780`);
/// clients reach it through the proxy, at `dokkulite.GLOBAL_DOMAIN` (`DOKKULITE_API_HOST`).
struct APIServe: Command {
    static let configuration = CommandConfiguration(commandName: "api:serve", abstract: "Run the HTTP API (as the dokkulite-api unit does)")
    static let access = Access.serverRoot
    static let usage = "[--listen HOST:PORT]"
    static let takesApp = false
    @Option var listen: String?

    func run(in context: Context) throws {
        try requireRootAtConsole(context, for: "api")
        // Socket activation: the listening socket `dokkulite-api.socket` holds, unless an
        // address is named here.
        let inherited = listen == nil ? SocketActivation.listeners().sorted { $0.key < $1.key }.first?.value : nil
        let listen = listen ?? context.settings.apiListen
        guard let address = Upstream(listen) else { throw CommandError("Invalid --listen address: \(listen) (expected HOST:PORT)", kind: .invalid) }
        let program = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let server = APIServer(settings: context.settings, store: try context.store(), program: program)
        try APIServer.serve(server, socket: inherited, host: address.host, port: address.port)
    }
}

/// The API host's own certificate, in `certs/_api` (no app can be named `_api`). With it,
/// the proxy answers the API host over HTTPS and sends plain HTTP there, so a token never
/// has to cross the network in the clear.
struct APICertificate {
    let context: Context

    /// Global properties of the certificate `api:letsencrypt` got: its host and expiry.
    static let namespace = "api-letsencrypt"

    var directory: String { context.settings.paths.certs + "/_api" }
    var exists: Bool { FileManager.default.fileExists(atPath: directory + "/server.crt") }

    /// The host name it is for, or a one-line refusal without one.
    func host() throws -> String {
        guard let host = try RouteBuilder(context).apiHost(try context.store()) else {
            throw CommandError("The API has no host name: set a global domain (domains:set-global) or DOKKULITE_API_HOST", kind: .invalid)
        }
        return host
    }

    /// Installs a certificate and key, and has the proxy serve them.
    func install(certificate: [UInt8], key: [UInt8]) throws {
        try Certificates(context).install(in: directory, certificate: certificate, key: key)
        try RouteSync(context).updateAll()
    }

    /// Gets one from Let's Encrypt (the global `letsencrypt:set` server and e-mail) over
    /// HTTP-01, which the proxy answers for any host; unless `force`, only when the one
    /// it got before is due for renewal or was for another name.
    func obtain(force: Bool) throws {
        let store = try context.store()
        let host = try host()
        let letsEncrypt = LetsEncrypt(context: context)
        guard let email = try letsEncrypt.value(nil, "email") else {
            throw CommandError("Cannot request a certificate without an e-mail address: run dokku letsencrypt:set --global email <e-mail>", kind: .invalid)
        }
        let output = context.output
        if !force, exists, try store.property(.global, Self.namespace, "host") == host, let left = try timeToRenewal(), left >= 0 {
            output.step("Certificate for \(host) is still valid, skipping certificate request")
            return
        }
        output.section("Getting letsencrypt certificate for \(host)")
        let issued: IssuedCertificate
        do {
            issued = try letsEncrypt.issue(app: nil, domains: [host], email: email, challenge: "http-01")
        } catch {
            throw CommandError("Failed to get a certificate for \(host): \((error as? ACMEError)?.description ?? "\(error)")")
        }
        try install(certificate: Array(issued.chainPEM.utf8), key: Array(issued.keyPEM.utf8))
        try store.setProperty(.global, Self.namespace, "host", host)
        try store.setProperty(.global, Self.namespace, "expiry", String(Int(issued.notAfter.timeIntervalSince1970)))
        output.step("API certificate installed: https://\(host)/")
    }

    /// Seconds until it is due for renewal (the global grace period before its end); nil
    /// when `api:letsencrypt` got none.
    func timeToRenewal(now: Int = Int(Date().timeIntervalSince1970)) throws -> Int? {
        guard let expiry = try context.store().property(.global, Self.namespace, "expiry").flatMap({ Int($0) }) else { return nil }
        return expiry - (try LetsEncrypt(context: context).gracePeriod(nil)) - now
    }

    /// Takes it away, and what `api:letsencrypt` knew of it.
    func remove() throws {
        try FileManager.default.removeItem(atPath: directory)
        for key in ["host", "expiry"] { try context.store().setProperty(.global, Self.namespace, key, nil) }
        try RouteSync(context).updateAll()
    }
}

/// `api:letsencrypt [--force]`: a Let's Encrypt certificate for the API's host name,
/// renewed by `letsencrypt:auto-renew` (the timer) with the apps'.
struct APILetsencrypt: Command {
    static let configuration = CommandConfiguration(commandName: "api:letsencrypt", abstract: "Get a Let's Encrypt certificate for the API's host name (renewed with the apps')")
    static let access = Access.serverRoot
    static let usage = "[--force]"
    static let takesApp = false
    @Flag var force = false

    func run(in context: Context) throws {
        try requireRootAtConsole(context, for: "api")
        try APICertificate(context: context).obtain(force: force)
    }
}

/// `api:certs:add [CRT KEY]`: the API host's certificate and key, from files or, as
/// `certs:add` takes them, a tar of server.crt and server.key on stdin.
struct APICertsAdd: Command {
    static let configuration = CommandConfiguration(commandName: "api:certs:add", abstract: "Add a certificate for the API's host name (files, or a tarball on stdin)")
    static let access = Access.serverRoot
    static let usage = "[CRT KEY]"
    static let takesApp = false
    @Argument var certificate: String?
    @Argument var key: String?

    func run(in context: Context) throws {
        try requireRootAtConsole(context, for: "api")
        let (crt, keyBytes) = try CertsAdd.read(certificate, key, in: context)
        let api = APICertificate(context: context)
        try api.install(certificate: crt, key: keyBytes)
        // Files from root replace what Let's Encrypt gave: auto-renew leaves them alone.
        for key in ["host", "expiry"] { try context.store().setProperty(.global, APICertificate.namespace, key, nil) }
        let host = try RouteBuilder(context).apiHost(try context.store())
        context.output.step("API certificate installed\(host.map { ": https://\($0)/" } ?? "; set a global domain or DOKKULITE_API_HOST for the API's host name")")
    }
}

/// `api:certs:remove`: back to plain HTTP for the API host.
struct APICertsRemove: Command {
    static let configuration = CommandConfiguration(commandName: "api:certs:remove", abstract: "Remove the API host's certificate")
    static let access = Access.serverRoot
    static let usage = ""
    static let takesApp = false

    func run(in context: Context) throws {
        try requireRootAtConsole(context, for: "api")
        let api = APICertificate(context: context)
        guard api.exists else { throw CommandError("The API has no certificate", kind: .notFound) }
        try api.remove()
        context.output.step("API certificate removed")
    }
}
