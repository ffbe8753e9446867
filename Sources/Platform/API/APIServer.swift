import Builder
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Supervisor
import Synchronization

/// The HTTP API (`api:serve`): JSON resources that mirror the commands, for scripts and the
/// dashboard. Every request carries a token (`Authorization: Bearer dkl_…`); read-only
/// tokens may only read; every change is written to the audit log with the token's name.
///
/// Changes run the command itself, as a child process of this program with the words
/// validated first, so they do exactly what the command does and fail with its one-line
/// message; reads come from the store.
struct APIServer {
    let settings: Settings
    let store: Store
    /// The program that runs the commands (this one).
    let program: String
    let failures = FailedLogins()
    let sessions = Sessions()

    /// The request context: Hummingbird's, plus the token the request proved.
    struct RequestContext: Hummingbird.RequestContext {
        var coreContext: CoreRequestContextStorage
        var token: APITokenRecord?
        /// The dashboard's session, when the request came with its cookie.
        var session: Sessions.Session?
        /// The peer: the proxy, or a client on this machine.
        let peer: String
        /// Who failed logins are counted against (see `Authentication`).
        var client = "-"
        /// The proxy received the request over HTTPS.
        var forwardedHTTPS = false

        init(source: ApplicationRequestContextSource) {
            coreContext = .init(source: source)
            peer = source.channel.remoteAddress?.ipAddress ?? "-"
        }
    }

    /// Set once the server begins to stop: log streams that follow end then, so the
    /// requests in flight can finish.
    static let stopping = Atomic<Bool>(false)
    /// Commands the API started that have not ended: a stop waits for them (a deploy is
    /// never cut off by a restart of the API).
    static let running = Atomic<Int>(0)
    /// The longest a stop waits for them.
    static let drainSeconds = 900

    /// Sets `stopping` when graceful shutdown begins.
    struct StopWatcher: Service {
        func run() async throws {
            try? await gracefulShutdown()
            APIServer.stopping.store(true, ordering: .relaxed)
        }
    }

    /// Serves until SIGTERM or SIGINT, sampling the metrics history meanwhile: on the
    /// listening `socket` systemd passed, else on `host`:`port`, bound here. Then waits
    /// for the commands it started (up to `drainSeconds`).
    static func serve(_ server: APIServer, socket: CInt?, host: String, port: Int) throws {
        let logger = Logger(label: "dokkulite.api")
        let sampling = Task.detached { await server.sampleMetrics() }
        defer { sampling.cancel() }
        if let socket {
            let group = ServiceGroup(configuration: .init(
                services: [InheritedSocketServer(socket: socket, responder: server.router().buildResponder(), logger: logger), StopWatcher()],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try BlockingTask.run { try await group.run() }
        } else {
            let application = Application(
                router: server.router(), configuration: .init(address: .hostname(host, port: port), serverName: "dokkulite-api"),
                services: [StopWatcher()], logger: logger)
            try BlockingTask.run { try await application.runService() }
        }
        let deadline = Date().addingTimeInterval(TimeInterval(drainSeconds))
        while running.load(ordering: .relaxed) > 0, Date() < deadline {
            Thread.sleep(forTimeInterval: 0.1)
        }
    }

    /// Every `metricsInterval` seconds: a snapshot, its difference from the one before as a
    /// sample per app, 24 hours kept.
    func sampleMetrics() async {
        let interval = settings.metricsInterval
        var history = MetricsHistory()
        let logger = Logger(label: "dokkulite.api")
        while !Task.isCancelled {
            do {
                let snapshot = try MetricsSnapshot.take(context())
                let samples = history.samples(snapshot, at: Int(Date().timeIntervalSince1970), seconds: interval)
                if !samples.isEmpty { try store.addMetricSamples(samples) }
            } catch {
                logger.warning("metrics sample failed", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: .seconds(interval))
        }
    }

    func router() -> Router<RequestContext> {
        let router = Router(context: RequestContext.self)
        router.add(middleware: Authentication(store: store, failures: failures, sessions: sessions))
        Dashboard(server: self, sessions: sessions).add(to: router)
        router.get("metrics") { _, _ in
            let text = try await Task.detached { try MetricsText(context: self.context()).render() }.value
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        let api = router.group("api/v1")
        api.get("apps") { _, _ in try self.json(self.store.snapshot { try self.store.apps().map { try self.summary($0) } }) }
        api.get("apps/:app") { _, context in
            let app = try self.existingApp(context)
            guard let record = try self.store.apps().first(where: { $0.name == app }) else { throw APIError(.notFound, "App \(app) does not exist") }
            return try self.json(self.detail(record))
        }
        api.post("apps") { request, context in
            let body = try await self.body(request, as: CreateApp.self)
            guard let app = AppName(body.name) else { throw APIError(.badRequest, "Invalid app name: \(body.name)") }
            return try await self.change(context, "POST /api/v1/apps", app.rawValue, ["apps:create", app.rawValue], status: .created)
        }
        api.delete("apps/:app") { request, context in
            let app = try self.existingApp(context)
            // As `apps:destroy` asks the name typed again: `?confirm=APP`.
            guard request.uri.queryParameters["confirm"].map(String.init) == app.rawValue else {
                throw APIError(.badRequest, "Destroying \(app) needs ?confirm=\(app)")
            }
            return try await self.change(context, "DELETE /api/v1/apps/\(app)", app.rawValue, ["--force", "apps:destroy", app.rawValue])
        }
        for action in ["restart", "stop", "start", "rebuild"] {
            api.post("apps/:app/\(action)") { _, context in
                let app = try self.existingApp(context)
                return try await self.change(context, "POST /api/v1/apps/\(app)/\(action)", app.rawValue, ["ps:\(action)", app.rawValue])
            }
        }
        api.put("apps/:app/formation") { request, context in
            let app = try self.existingApp(context)
            let formation = try await self.body(request, as: [String: Int].self)
            guard !formation.isEmpty else { throw APIError(.badRequest, "No process types given") }
            var words = ["ps:scale", app.rawValue]
            for (type, count) in formation.sorted(by: { $0.key < $1.key }) {
                guard Procfile.isValidType(type) else { throw APIError(.badRequest, "Invalid process type: \(type)") }
                guard (0...1000).contains(count) else { throw APIError(.badRequest, "Invalid count for \(type): \(count)") }
                words.append("\(type)=\(count)")
            }
            return try await self.change(context, "PUT /api/v1/apps/\(app)/formation", app.rawValue, words)
        }
        api.get("apps/:app/config") { request, context in
            let app = try self.existingApp(context)
            // Values are secrets: masked unless asked for, and only to a full token.
            let reveal = request.uri.queryParameters["reveal"] == "true"
            if reveal, context.token?.readOnly != false { throw APIError(.forbidden, "Revealing config values needs a full token") }
            var values: [String: String] = [:]
            for (key, value) in try self.store.config(.app(app)) { values[key] = reveal ? value : "********" }
            return try self.json(values)
        }
        api.patch("apps/:app/config") { request, context in
            let app = try self.existingApp(context)
            let changes = try await self.body(request, as: [String: String?].self)
            return try await self.changeConfig(context, app, changes, action: "PATCH /api/v1/apps/\(app)/config")
        }
        api.get("apps/:app/domains") { _, context in
            try self.json(try self.store.domains(.app(try self.existingApp(context))))
        }
        api.post("apps/:app/domains") { request, context in
            let app = try self.existingApp(context)
            let domain = try await self.body(request, as: DomainBody.self).domain.lowercased()
            guard Domains.isValid(domain), !domain.hasPrefix("-") else { throw APIError(.badRequest, "\(domain) is invalid. exiting...") }
            return try await self.change(context, "POST /api/v1/apps/\(app)/domains", "\(app) \(domain)", ["domains:add", app.rawValue, domain], status: .created)
        }
        api.delete("apps/:app/domains/:domain") { _, context in
            let app = try self.existingApp(context)
            let domain = try context.parameters.require("domain").lowercased()
            guard Domains.isValid(domain), !domain.hasPrefix("-") else { throw APIError(.badRequest, "\(domain) is invalid. exiting...") }
            guard try self.store.domains(.app(app)).contains(domain) else { throw APIError(.notFound, "\(domain) is not a domain of \(app)") }
            return try await self.change(context, "DELETE /api/v1/apps/\(app)/domains/\(domain)", "\(app) \(domain)", ["domains:remove", app.rawValue, domain])
        }
        api.get("apps/:app/metrics") { request, context in
            let app = try self.existingApp(context)
            let range = request.uri.queryParameters["since"].flatMap { Int($0) } ?? 3600
            guard (1...86_400).contains(range) else { throw APIError(.badRequest, "Invalid since: seconds from 1 to 86400") }
            let samples = try self.store.metricSamples(app, since: Int(Date().timeIntervalSince1970) - range)
            return try self.json(SeriesBody(interval: self.settings.metricsInterval, samples: samples.map(SeriesItem.init)))
        }
        api.get("apps/:app/logs") { request, context in
            let app = try self.existingApp(context)
            let query = request.uri.queryParameters
            // `since`: seconds back, or an RFC 3339 time; with it and no `n`, every line since.
            var since: UInt64?
            if let word = query["since"].map(String.init) {
                if let seconds = UInt64(word), seconds <= 86_400 * 366 {
                    since = UInt64(max(0, Date().timeIntervalSince1970 - Double(seconds)) * 1_000_000)
                } else if let date = ISO8601DateFormatter().date(from: word) {
                    since = UInt64(max(0, date.timeIntervalSince1970) * 1_000_000)
                } else {
                    throw APIError(.badRequest, "Invalid since: seconds back, or a time such as 2026-01-02T03:04:05Z")
                }
            }
            let from = since
            let count = query["n"].map { Int($0) } ?? (since == nil ? 100 : 10_000)
            guard let count, (0...10_000).contains(count) else { throw APIError(.badRequest, "Invalid n: a count from 0 to 10000") }
            let process = query["process"].map(String.init)
            if let process, !Procfile.isValidType(process) { throw APIError(.badRequest, "Invalid process type: \(process)") }
            let follow = query["follow"] == "true"
            let filter = LogFilter(app: app, processType: process)
            let owner = try ProcessManager(self.context()).userID(of: app)
            return Response(
                status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                body: .init { writer in try await Self.streamLogs(filter, owner: owner, count: count, since: from, follow: follow, to: &writer) })
        }
        api.get("apps/:app/releases") { _, context in
            let app = try self.existingApp(context)
            return try self.json(try self.store.releases(app).map {
                ReleaseItem(version: $0.version, status: $0.status.rawValue, description: $0.description, revision: $0.revision, created_at: APIAccess.time($0.createdAt), failure: $0.failure)
            })
        }
        api.post("apps/:app/releases/:version/rollback") { _, context in
            let app = try self.existingApp(context)
            let word = try context.parameters.require("version")
            guard let version = Int(word.hasPrefix("v") ? String(word.dropFirst()) : word), version > 0 else { throw APIError(.badRequest, "Invalid release version: \(word) (expected vN)") }
            return try await self.change(context, "POST /api/v1/apps/\(app)/releases/v\(version)/rollback", "\(app) v\(version)", ["releases:rollback", app.rawValue, "v\(version)"])
        }
        addDeploys(to: api)
        addResources(to: api)
        return router
    }

    private struct DomainBody: Decodable { var domain: String }

    private struct LogEvent: Encodable {
        var time: String
        var process: String
        var message: String
    }

    /// An app's journal lines as server-sent events (`data: {time, process, message}`): the
    /// last `count` (of those from `since` on, in microseconds), then, when following, new ones as they come, until the client goes.
    /// Only lines the app's own user wrote count, as `logs` shows them.
    static func streamLogs(_ filter: LogFilter, owner: UInt32?, count: Int, since: UInt64? = nil, follow: Bool, to writer: inout any ResponseBodyWriter) async throws {
        let journal = try Journal()
        func event(_ entry: Journal.Entry) -> ByteBuffer {
            let item = LogEvent(time: Journal.rfc3339(entry.timestamp), process: filter.dyno(entry.identifier), message: entry.message)
            return ByteBuffer(string: "data: \(JSON.encode(item))\n\n")
        }
        try await writer.write(contentsOf: try filter.recent(count, in: journal, owner: owner).filter { $0.timestamp >= since ?? 0 }.map(event))
        guard follow else { return try await writer.finish(nil) }
        try filter.startFollowing(journal)
        // A comment line now and then finds a client that has gone.
        var quiet = 0
        while !Task.isCancelled, !stopping.load(ordering: .relaxed) {
            let batch = filter.newEntries(journal, owner: owner).map(event)
            if batch.isEmpty {
                quiet += 1
                if quiet >= 30 {
                    quiet = 0
                    try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                }
            } else {
                quiet = 0
                try await writer.write(contentsOf: batch)
            }
            try await Task.sleep(for: .milliseconds(500))
        }
    }

    private struct SeriesBody: Encodable {
        var interval: Int
        var samples: [SeriesItem]
    }

    /// One interval of an app's history, as rates.
    private struct SeriesItem: Encodable {
        var at: Int
        var requests: UInt64
        var requests_per_second: Double
        var client_errors: UInt64
        var server_errors: UInt64
        var p50_ms: Double?
        var p95_ms: Double?
        var cpu_percent: Double
        var memory_bytes: UInt64
        var restarts: Int
        var received_bytes_per_second: Double
        var sent_bytes_per_second: Double

        init(_ sample: MetricSample) {
            let seconds = Double(max(1, sample.seconds))
            at = sample.at
            requests = sample.requests
            requests_per_second = (Double(sample.requests) / seconds * 100).rounded() / 100
            client_errors = sample.clientErrors
            server_errors = sample.serverErrors
            p50_ms = sample.percentileMilliseconds(0.5)
            p95_ms = sample.percentileMilliseconds(0.95)
            cpu_percent = (Double(sample.cpuNanoseconds) / (seconds * 1e9) * 10_000).rounded() / 100
            memory_bytes = sample.memoryBytes
            restarts = sample.restarts
            received_bytes_per_second = (Double(sample.receivedBytes) / seconds * 100).rounded() / 100
            sent_bytes_per_second = (Double(sample.sentBytes) / seconds * 100).rounded() / 100
        }
    }

    private struct ReleaseItem: Encodable {
        var version: Int
        var status: String
        var description: String
        var revision: String?
        var created_at: String
        var failure: String?
    }

    // MARK: Reads

    private struct AppSummary: Encodable {
        var name: String
        var created_at: String
        var locked: Bool
        var deployed: Bool
        var release: Int?
        var urls: [String]
    }

    private struct AppDetail: Encodable {
        var app: AppSummary
        var formation: [String: Int]
        var processes: [Process]
        var domains: [String]

        struct Process: Encodable {
            var name: String
            var state: String
            var port: Int?
        }
    }

    /// A context over the server's store, for code written for commands.
    func context() -> Context {
        Context(settings: settings, output: Output(quiet: true), store: store)
    }

    private func summary(_ record: AppRecord) throws -> AppSummary {
        let release = try store.currentRelease(record.name)
        return AppSummary(
            name: record.name.rawValue, created_at: APIAccess.time(record.createdAt), locked: record.locked, deployed: release != nil,
            release: release, urls: try URLs(context()).all(record.name))
    }

    private func detail(_ record: AppRecord) throws -> AppDetail {
        let processes = try store.instances(record.name).map {
            AppDetail.Process(name: "\($0.processType).\($0.number)", state: $0.state.rawValue, port: $0.port)
        }
        // As `ps:scale` shows it: web 1 and the release's other types 0 unless scaled.
        let context = context()
        let types = (try? ReleaseInfo.processTypes(record.name, context: context)) ?? []
        let formation = Dictionary(uniqueKeysWithValues: try effectiveFormation(record.name, knownTypes: types, context: context).map { ($0.type, $0.quantity) })
        return AppDetail(
            app: try summary(record), formation: formation, processes: processes.sorted { $0.name < $1.name },
            domains: try store.domains(.app(record.name)))
    }

    /// The request's `:app`, which must name an app.
    func existingApp(_ context: RequestContext) throws -> AppName {
        let word = try context.parameters.require("app")
        guard let app = AppName(word) else { throw APIError(.badRequest, "Invalid app name: \(word)") }
        guard try store.appExists(app) else { throw APIError(.notFound, "App \(app) does not exist") }
        return app
    }

    // MARK: Changes

    private struct CreateApp: Decodable {
        var name: String
    }

    /// Runs a command for a change, after checking the token may change things; audits it.
    func change(_ context: RequestContext, _ action: String, _ target: String, _ words: [String], input: Data? = nil, status: HTTPResponse.Status = .ok) async throws -> Response {
        var outcome = CommandStream.Outcome(), output = ""
        for await event in try runToEnd(context, action, target, words, input: input.map { .data($0) } ?? .none, success: status) {
            outcome.add(event)
            if case .output(let item) = event, item.stream == "stdout" { output += item.line + "\n" }
        }
        let answer = outcome.httpStatus(success: status)
        guard answer == status else { throw APIError(answer, outcome.message) }
        struct Done: Encodable { var ok: Bool; var output: String }
        return try json(Done(ok: true, output: output), status: answer)
    }

    /// Sets (a value) and unsets (nil) config vars with one restart: `config:unset
    /// --no-restart`, then `config:import` with the values on its standard input, never on
    /// its command line.
    func changeConfig(_ context: RequestContext, _ app: AppName, _ changes: [String: String?], action: String) async throws -> Response {
        guard !changes.isEmpty else { throw APIError(.badRequest, "No config vars given") }
        for key in changes.keys where !ConfigVars.isValidKey(key) { throw APIError(.badRequest, "Invalid config key: \(key)") }
        let unset = changes.filter { $0.value == nil }.keys.sorted()
        let set = changes.compactMapValues { $0 }
        let target = "\(app) \(changes.keys.sorted().joined(separator: ","))"
        if !unset.isEmpty {
            let words = ["config:unset"] + (set.isEmpty ? [] : ["--no-restart"]) + [app.rawValue] + unset
            let response = try await change(context, action, target, words)
            if set.isEmpty { return response }
        }
        return try await change(context, action, target, ["config:import", "--format", "json", app.rawValue, "-"], input: Data(JSON.encode(set).utf8))
    }

    /// The request's token, which must be a full one; a read-only token's attempt is audited.
    func fullToken(_ context: RequestContext, _ action: String, _ target: String) throws -> APITokenRecord {
        guard let token = context.token else { throw APIError(.unauthorized, "No token") }
        guard !token.readOnly else {
            try store.addAPIAudit(APIAuditRecord(at: Date(), actor: token.name, action: action, target: target, status: 403))
            throw APIError(.forbidden, "Token \(token.name) is read-only")
        }
        return token
    }

    /// The environment commands run in: this server's, which configured it, marked as a
    /// token holder's call, so a command refuses what it refuses an ssh key holder (server
    /// paths as inputs, root-only commands).
    var commandEnvironment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["DOKKULITE_REMOTE_CALLER"] = "api"
        return environment
    }

    // MARK: JSON

    /// The request's JSON body as `type`; `empty` when there is none and that is allowed.
    func body<T: Decodable>(_ request: Request, as type: T.Type, orEmpty empty: T? = nil) async throws -> T {
        var request = request
        let buffer = try await request.collectBody(upTo: 64 * 1024)
        if buffer.readableBytes == 0, let empty { return empty }
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
        } catch {
            throw APIError(.badRequest, "Invalid JSON body")
        }
    }

    func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: JSON.encode(value) + "\n")))
    }
}

/// A JSON error: `{"error": "one line"}` with a status.
struct APIError: Error, HTTPResponseError {
    let status: HTTPResponse.Status
    let message: String

    init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }

    private struct Body: Encodable { var error: String }

    func response(from request: Request, context: some Hummingbird.RequestContext) throws -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: JSON.encode(Body(error: message)) + "\n")))
    }
}

/// Checks every request's credentials: an `Authorization: Bearer` token (the API), or the
/// dashboard's session cookie; refuses a client that keeps guessing. Without either, the
/// API answers 401 and the dashboard's pages send the browser to `/login`.
struct Authentication: RouterMiddleware {
    typealias Context = APIServer.RequestContext
    let store: Store
    let failures: FailedLogins
    let sessions: Sessions

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.client = clientAddress(request, context)
        context.forwardedHTTPS = request.headers.first(where: { $0.name.canonicalName == "x-forwarded-proto" })?.value == "https"
        guard failures.allowed(context.client) else { throw APIError(.tooManyRequests, "Too many failed logins; try again in a minute") }
        let path = request.uri.path
        if path == "/login" { return try await next(request, context) }
        let api = path.hasPrefix("/api/") || path == "/metrics"
        if let header = request.headers[.authorization] {
            guard header.hasPrefix("Bearer ") else {
                failures.record(context.client)
                throw APIError(.unauthorized, "A token is required: Authorization: Bearer TOKEN")
            }
            let secret = String(header.dropFirst("Bearer ".count)).trimmingCharacters(in: .whitespaces)
            guard secret.hasPrefix(APITokens.prefix), let token = try store.useAPIToken(hash: APITokens.hash(secret)) else {
                failures.record(context.client)
                throw APIError(.unauthorized, "Invalid token")
            }
            context.token = token
            do {
                return try await next(request, context)
            } catch let error as HTTPError where api && error.status == .notFound {
                // A path no route has (the router's own 404): a JSON error as every other.
                throw APIError(.notFound, "No such resource: \(request.method) \(path)")
            }
        }
        // The session holds the token's hash: a revoked token ends its sessions too.
        if !api, let id = request.cookies[Sessions.cookie]?.value, let session = sessions.session(id), let token = try store.useAPIToken(hash: session.tokenHash) {
            context.token = token
            context.session = session
            return try await next(request, context)
        }
        if api {
            failures.record(context.client)
            throw APIError(.unauthorized, "A token is required: Authorization: Bearer TOKEN")
        }
        return Response(status: .seeOther, headers: [.location: "/login"])
    }

    /// The client: the peer, or, from the proxy on loopback, the address it forwarded.
    private func clientAddress(_ request: Request, _ context: Context) -> String {
        guard context.peer == "127.0.0.1" || context.peer == "::1" else { return context.peer }
        guard let forwarded = request.headers.first(where: { $0.name.canonicalName == "x-forwarded-for" })?.value else { return context.peer }
        return forwarded.split(separator: ",").last.map { String($0).trimmingCharacters(in: .whitespaces) } ?? context.peer
    }
}

/// Failed logins per client over the last minute; past ten, the client is refused until
/// the oldest of them is a minute old.
final class FailedLogins: Sendable {
    static let limit = 10
    static let window: TimeInterval = 60
    /// At most this many clients are remembered at once.
    static let clients = 10_000
    private let failures = Mutex<[String: [Date]]>([:])

    func allowed(_ client: String) -> Bool {
        let since = Date().addingTimeInterval(-Self.window)
        return failures.withLock { ($0[client]?.filter { $0 > since }.count ?? 0) < Self.limit }
    }

    func record(_ client: String) {
        let now = Date()
        let since = now.addingTimeInterval(-Self.window)
        failures.withLock { failures in
            if failures[client] == nil, failures.count >= Self.clients {
                failures = failures.filter { $0.value.contains { $0 > since } }
                guard failures.count < Self.clients else { return }
            }
            failures[client] = (failures[client, default: []].filter { $0 > since } + [now]).suffix(Self.limit)
        }
    }
}
