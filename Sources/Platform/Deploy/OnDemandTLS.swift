import ACME
import ArgumentParser
import Foundation
import Proxy

/// On-demand certificates (Caddy's "on-demand TLS"): a name that reaches an app with
/// `letsencrypt:set APP on-demand true` (a tenant's domain pointing at the server, a name
/// under one of the app's `*.` domains, or any name when the app is its port's catch-all)
/// gets its own certificate the first time a client asks for it, while that client waits,
/// if the allowlist (`on-demand-allow`) or the ask URL (`on-demand-ask`) says yes, at most
/// `on-demand-rate` certificates an hour.
struct OnDemandCertificates {
    let context: Context

    static let namespace = "letsencrypt-on-demand"
    static let defaultRate = 10

    private var store: Store { get throws { try context.store() } }

    /// A name as a certificate can carry it (lowercase DNS name, not an address).
    static func isHostName(_ name: String) -> Bool {
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        return name.utf8.count <= 253 && labels.count >= 2 && labels.allSatisfy { label in
            !label.isEmpty && label.utf8.count <= 63 && label.first != "-" && label.last != "-"
                && label.utf8.allSatisfy { (97...122).contains($0) || (48...57).contains($0) || $0 == 45 }
        } && !labels.last!.utf8.allSatisfy { (48...57).contains($0) }
    }

    /// The app a name reaches, when that app takes on-demand certificates.
    /// Found as the proxy routes: an exact domain of any app first, then a `*.` domain,
    /// then a catch-all; nil unless the app found takes on-demand certificates.
    func app(for name: String) throws -> AppName? {
        let letsEncrypt = LetsEncrypt(context: context)
        var exact: AppName?, wildcard: AppName?, catchAll: AppName?
        for app in try store.apps().map(\.name) {
            let domains = try store.domains(.app(app))
            if domains.contains(name) { exact = exact ?? app }
            if domains.contains(where: { $0.hasPrefix("*.") && name.hasSuffix(String($0.dropFirst())) }) { wildcard = wildcard ?? app }
            if domains.isEmpty { catchAll = catchAll ?? app }
        }
        guard let app = exact ?? wildcard ?? catchAll, try letsEncrypt.value(app, "on-demand") == "true" else { return nil }
        return app
    }

    /// Certificates got on demand for the app: name → expiry.
    func issued(_ app: AppName) throws -> [String: Int] {
        try store.properties(.app(app), Self.namespace).compactMapValues { Int($0) }
    }

    func directory(_ app: AppName) -> String { Certificates(context).directory(app) + "/on-demand" }

    /// Whether the allowlist or the ask URL allows `name` for the app.
    func allowed(_ name: String, app: AppName) throws -> Bool {
        let letsEncrypt = LetsEncrypt(context: context)
        let patterns = (try letsEncrypt.value(app, "on-demand-allow") ?? "").split(separator: " ").map(String.init)
        if patterns.contains(where: { $0 == name || ($0.hasPrefix("*.") && name.hasSuffix(String($0.dropFirst()))) }) { return true }
        guard let ask = try letsEncrypt.value(app, "on-demand-ask") else { return false }
        let answer = LockedBox(false)
        try BlockingTask.run { answer.set(await PermissionCheck.ask(ask, domain: name)) }
        return answer.get()
    }

    /// Gets and installs a certificate for `name`, or says why not.
    func issue(_ name: String) throws {
        guard Self.isHostName(name) else { throw CommandError("\(name) is not a host name a certificate can carry") }
        guard let app = try app(for: name) else { throw CommandError("No app takes on-demand certificates for \(name)") }
        let letsEncrypt = LetsEncrypt(context: context)
        let now = Int(Date().timeIntervalSince1970)
        if let expiry = try issued(app)[name], expiry - (try letsEncrypt.gracePeriod(app)) > now { return }
        // A name refused or failed is not tried again for an hour.
        if let failed = try store.property(.app(app), "letsencrypt-on-demand-failed", name).flatMap({ Int($0) }), now - failed < 3600 {
            throw CommandError("\(name) failed at \(failed); not tried again before an hour has passed")
        }
        // A refusal is not written down: names a client makes up must not grow the store
        // (the proxy remembers refusals for a while, and bounds how often it asks).
        guard try allowed(name, app: app) else {
            throw CommandError("\(name) is not allowed by on-demand-allow or on-demand-ask for \(app)")
        }
        let rate = try letsEncrypt.value(nil, "on-demand-rate").flatMap { Int($0) } ?? Self.defaultRate
        let recent = try store.write { db -> Int in
            let times = (try Store.property(.global, Self.namespace, "issued-at", db) ?? "").split(separator: " ").compactMap { Int($0) }
                .filter { now - $0 < 3600 }
            if times.count < rate {
                try Store.setProperty(.global, Self.namespace, "issued-at", (times + [now]).map(String.init).joined(separator: " "), db)
            }
            return times.count
        }
        guard recent < rate else { throw CommandError("on-demand rate limit: \(rate) certificates in the last hour") }
        guard let email = try letsEncrypt.email(app) else { throw CommandError("Cannot request a certificate without an e-mail address") }
        let issued: IssuedCertificate
        do {
            issued = try letsEncrypt.issue(app: app, domains: [name], email: email, challenge: try letsEncrypt.challenge(app))
        } catch {
            try store.setProperty(.app(app), "letsencrypt-on-demand-failed", name, String(now))
            throw CommandError("\(name): \((error as? ACMEError)?.description ?? "\(error)")")
        }
        let directory = directory(app)
        for path in [context.settings.paths.certs, Certificates(context).directory(app), directory] where mkdir(path, 0o700) != 0 && errno != EEXIST {
            throw CommandError("cannot create \(path): \(String(cString: strerror(errno)))")
        }
        let base = directory + "/\(name)"
        try SecretFile.write(issued.keyPEM, to: base + ".key.new")
        try SecretFile.write(issued.chainPEM, to: base + ".crt.new")
        do {
            try TLSCertificates.check(certificatePath: base + ".crt.new", keyPath: base + ".key.new")
        } catch {
            unlink(base + ".key.new")
            unlink(base + ".crt.new")
            throw CommandError("\(name): the issued certificate cannot be used: \(error)")
        }
        guard rename(base + ".key.new", base + ".key") == 0, rename(base + ".crt.new", base + ".crt") == 0 else {
            throw CommandError("cannot write \(base).crt")
        }
        try store.setProperty(.app(app), Self.namespace, name, String(Int(issued.notAfter.timeIntervalSince1970)))
        try store.setProperty(.app(app), "letsencrypt-on-demand-failed", name, nil)
        try RouteSync(context).update(app)
    }
}

struct LetsencryptOnDemand: Command {
    static let configuration = CommandConfiguration(
        commandName: "letsencrypt:on-demand", abstract: "Get a certificate for a name on demand (run by the proxy)", shouldDisplay: false)
    static let usage = "<name>"
    static let takesApp = false
    static let access = Access.serverRoot
    @Argument var name: String?

    func run(in context: Context) throws {
        try OnDemandCertificates(context: context).issue((name ?? "").lowercased())
    }
}

/// The proxy daemon's side: which names may be asked about at all (cheap, from the route
/// plan: no subprocess for a scanner's random name), one issuance per name at a time, and
/// a minute's memory of a refusal.
final class OnDemandIssuer: @unchecked Sendable {
    struct Policy: Sendable, Equatable {
        var names: Set<String> = []
        var suffixes: [String] = []
        var catchAll = false

        var isEmpty: Bool { names.isEmpty && suffixes.isEmpty && !catchAll }

        func covers(_ name: String) -> Bool {
            OnDemandCertificates.isHostName(name) && (catchAll || names.contains(name) || suffixes.contains { name.hasSuffix($0) })
        }
    }

    private let lock = NSLock()
    private var policy = Policy()
    private var pending: [String: Task<Bool, Never>] = [:]
    private var refused: [String: Date] = [:]
    private var asked: [Date] = []
    private let settings: Settings

    /// At most this many names asked about at once, and this many a minute: a client
    /// naming random hosts under an app's `*.` domain costs the server little.
    static let concurrent = 4
    static let perMinute = 30

    init(settings: Settings) {
        self.settings = settings
    }

    func update(_ policy: Policy) {
        lock.withLock { self.policy = policy }
    }

    var handler: OnDemandTLS { OnDemandTLS { [self] name in await issue(name) } }

    func issue(_ name: String) async -> Bool {
        let task: Task<Bool, Never>? = lock.withLock {
            guard policy.covers(name) else { return nil }
            let now = Date()
            if let until = refused[name], until > now { return nil }
            if let running = pending[name] { return running }
            asked.removeAll { now.timeIntervalSince($0) > 60 }
            refused = refused.filter { $0.value > now }
            guard pending.count < Self.concurrent, asked.count < Self.perMinute else { return nil }
            asked.append(now)
            let timeout = settings.acmeTimeout + 15
            let task = Task { await Self.run(name, timeout: timeout) }
            pending[name] = task
            return task
        }
        guard let task else { return false }
        let ok = await task.value
        lock.withLock {
            // Only this task's entry: a later one for the same name may be running.
            if pending[name] == task { pending[name] = nil }
            if !ok { refused[name] = Date().addingTimeInterval(60) }
        }
        return ok
    }

    /// `dokkulite letsencrypt:on-demand NAME`, as root like the daemon, bounded in time;
    /// waited for without holding a thread (the daemon's reload, which the command asks
    /// for, runs meanwhile).
    private static func run(_ name: String, timeout: Double) async -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = ["--quiet", "letsencrypt:on-demand", "--", name]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.standardError
        return await withCheckedContinuation { continuation in
            process.terminationHandler = { process in continuation.resume(returning: process.terminationStatus == 0) }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(returning: false)
                return
            }
            let pid = process.processIdentifier
            DispatchQueue.global().asyncAfter(deadline: .now() + timeout) {
                if process.isRunning { kill(pid, SIGKILL) }
            }
        }
    }
}
