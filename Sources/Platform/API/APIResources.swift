import Builder
import Foundation
import Hummingbird
import NIOCore

// Deploys, and the resources that mirror the remaining commands: ports, checks,
// certificates, letsencrypt and services. As everywhere in the API, a change is the
// command itself, run with validated words; a read comes from the store or from the
// namespace's own report (`NS:report APP --format json`).
extension APIServer {
    /// The archive type `git:from-archive` is given for an upload's Content-Type.
    static let archiveTypes = [
        "application/x-tar": "tar", "application/tar": "tar",
        "application/gzip": "tar.gz", "application/x-gzip": "tar.gz", "application/x-compressed-tar": "tar.gz",
        "application/zip": "zip", "application/x-zip-compressed": "zip",
    ]

    private struct SyncBody: Decodable {
        var repository: String
        var ref: String?
    }

    private struct DeployDone: Encodable {
        var ok: Bool
        var status: Int32
        var release: Int?
        var error: String?
        var kind: CommandError.Kind?
    }

    func addDeploys(to api: RouterGroup<RequestContext>) {
        // A deploy: an archive in the body (`git:from-archive`), or JSON naming a repository
        // (`git:sync --build`). The build's output comes back as server-sent events as it
        // is written, unless the client asks for JSON only, which it gets at the end.
        api.post("apps/:app/deploys") { request, context in
            let app = try self.existingApp(context)
            return try await self.deploy(request, context, app, action: "POST /api/v1/apps/\(app)/deploys")
        }
    }

    /// A deploy from the request (the API's, or the dashboard's upload).
    func deploy(_ request: Request, _ context: RequestContext, _ app: AppName, action: String) async throws -> Response {
        let mediaType = Self.mediaType(request.headers[.contentType])
        let words: [String], target: String
        var input: FileHandle?
        if mediaType == "application/json" {
            let body = try await self.body(request, as: SyncBody.self)
            // The command checks the URL, as it does for an ssh key holder: a token
            // holder names no file on the server.
            guard !body.repository.isEmpty, !body.repository.hasPrefix("-") else { throw APIError(.badRequest, "Invalid git remote: \(body.repository)") }
            if let ref = body.ref, !Self.isGitRef(ref) { throw APIError(.badRequest, "Invalid git ref: \(ref)") }
            words = ["git:sync", "--build", app.rawValue, body.repository] + (body.ref.map { [$0] } ?? [])
            target = "\(app) \(Self.withoutCredentials(body.repository))\(body.ref.map { "#" + $0 } ?? "")"
            _ = try self.fullToken(context, action, target)
        } else if let type = Self.archiveTypes[mediaType] {
            target = "\(app) \(type) archive"
            // The token is checked before a byte of the body is kept.
            let token = try self.fullToken(context, action, target)
            let limit = try ArchiveCheck.limits(app, store: self.store).size
            do {
                input = try await Self.receive(request, limit: limit)
            } catch let error as APIError {
                try self.store.addAPIAudit(APIAuditRecord(at: Date(), actor: token.name, action: action, target: target, status: Int(error.status.code)))
                throw error
            }
            words = ["git:from-archive", "--archive-type", type, app.rawValue, "--"]
        } else {
            throw APIError(.unsupportedMediaType, "A deploy takes an archive (Content-Type application/x-tar, application/gzip or application/zip) or JSON naming a repository")
        }
        let events = try self.runToEnd(context, action, target, words, input: input.map { .file($0) } ?? .none)
        try? input?.close()
        let accept = request.headers[.accept] ?? ""
        if accept.contains("application/json"), !accept.contains("text/event-stream") {
            var outcome = CommandStream.Outcome(), output: [String] = [], kept = 0
            for await event in events {
                outcome.add(event)
                // The output kept for the answer: its first megabyte.
                if case .output(let item) = event, kept < 1 << 20 {
                    output.append(item.line)
                    kept += item.line.utf8.count
                }
            }
            let status = outcome.httpStatus()
            guard status == .ok else { throw APIError(status, outcome.message) }
            struct Done: Encodable { var ok: Bool; var release: Int?; var output: String }
            return try self.json(Done(ok: true, release: try self.store.currentRelease(app), output: output.joined(separator: "\n")))
        }
        return Response(
            status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
            body: .init { writer in
                var outcome = CommandStream.Outcome()
                for await event in events {
                    outcome.add(event)
                    switch event {
                    case .output(let item):
                        try await writer.write(ByteBuffer(string: "event: output\ndata: \(JSON.encode(item))\n\n"))
                    case .exit(let status):
                        let done = status == 0
                            ? DeployDone(ok: true, status: 0, release: try self.store.currentRelease(app))
                            : DeployDone(ok: false, status: status, error: outcome.message, kind: outcome.failure?.kind ?? .failed)
                        try await writer.write(ByteBuffer(string: "event: done\ndata: \(JSON.encode(done))\n\n"))
                    }
                }
                try await writer.finish(nil)
            })
    }

    /// Starts a change's command and returns its events. The command runs to its end and
    /// is audited then, whether or not the client is still there to see it.
    func runToEnd(_ context: RequestContext, _ action: String, _ target: String, _ words: [String], input: CommandStream.Input, success: HTTPResponse.Status = .ok) throws -> AsyncStream<CommandStream.Event> {
        let token = try fullToken(context, action, target)
        let events = try CommandStream.start(program, words, environment: commandEnvironment, input: input)
        Self.running.add(1, ordering: .relaxed)
        // A client that reads slower than the build writes gets the newest lines (the
        // outcome, last, among them); memory stays bounded.
        let (relay, forward) = AsyncStream.makeStream(of: CommandStream.Event.self, bufferingPolicy: .bufferingNewest(20_000))
        let store = store
        Task.detached {
            var outcome = CommandStream.Outcome()
            for await event in events {
                outcome.add(event)
                if case .exit = event {
                    try? store.addAPIAudit(APIAuditRecord(at: Date(), actor: token.name, action: action, target: target, status: Int(outcome.httpStatus(success: success).code)))
                }
                forward.yield(event)
            }
            forward.finish()
            Self.running.subtract(1, ordering: .relaxed)
        }
        return relay
    }

    /// A request body kept in a file only root can read, unlinked once open: the command's
    /// standard input. Refused past `limit` bytes.
    static func receive(_ request: Request, limit: Int) async throws -> FileHandle {
        var template = Array((NSTemporaryDirectory() + "/dokkulite-upload-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw APIError(.internalServerError, "cannot create an upload directory: \(String(cString: strerror(errno)))") }
        let directory = String(cString: made), path = directory + "/archive"
        defer {
            unlink(path)
            rmdir(directory)
        }
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else { throw APIError(.internalServerError, "cannot create \(path): \(String(cString: strerror(errno)))") }
        let file = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        var size = 0
        for try await buffer in request.body {
            size += buffer.readableBytes
            guard size <= limit else { throw APIError(.contentTooLarge, "Archive exceeds maximum allowed size of \(limit) bytes") }
            try file.write(contentsOf: Data(buffer.readableBytesView))
        }
        try file.close()
        guard size > 0 else { throw APIError(.badRequest, "No archive data received") }
        let reader = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard reader >= 0 else { throw APIError(.internalServerError, "cannot open \(path): \(String(cString: strerror(errno)))") }
        return FileHandle(fileDescriptor: reader, closeOnDealloc: true)
    }

    /// `application/x-tar` of `application/x-tar; charset=…`, lowercased.
    static func mediaType(_ header: String?) -> String {
        (header ?? "").split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
    }

    /// A branch, tag or commit as `git:sync` takes it: letters, digits, `.`, `_`, `/` and
    /// `-`, not starting with `-`, no `..`.
    static func isGitRef(_ ref: String) -> Bool {
        guard (1...255).contains(ref.utf8.count), let first = ref.utf8.first, first != UInt8(ascii: "-"), !ref.contains("..") else { return false }
        return ref.utf8.allSatisfy { (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0) || $0 == 46 || $0 == 95 || $0 == 47 || $0 == 45 }
    }

    /// A URL with its user and password (a token, often) taken out, for the audit log.
    static func withoutCredentials(_ url: String) -> String {
        guard let scheme = url.range(of: "://") else { return url }
        let rest = url[scheme.upperBound...]
        let host = rest.prefix { $0 != "/" }
        guard let at = host.lastIndex(of: "@") else { return url }
        return String(url[..<scheme.upperBound]) + "***@" + String(rest[rest.index(after: at)...])
    }

    // MARK: Ports, checks, certificates, letsencrypt, services

    private struct PortItem: Encodable {
        var scheme: String
        var host_port: Int
        var container_port: Int
    }

    private struct ChecksBody: Decodable { var process_types: [String]? }
    private struct ServiceBody: Decodable { var kind: String; var name: String }
    private struct LinkBody: Decodable { var app: String }

    private struct ServiceItem: Encodable {
        var kind: String
        var name: String
        var version: String
        var status: String
        var exposed_port: Int?
        var links: [String]
    }

    func addResources(to api: RouterGroup<RequestContext>) {
        // Ports: the effective maps, as `ports:list` shows them.
        api.get("apps/:app/ports") { _, context in
            let app = try self.existingApp(context)
            return try self.json(try PortPlan.effective(app, context: self.context()).map {
                PortItem(scheme: $0.scheme.rawValue, host_port: $0.hostPort, container_port: $0.containerPort)
            })
        }
        for (method, verb) in [(HTTPRequest.Method.put, "set"), (.post, "add"), (.delete, "remove")] {
            api.on("apps/:app/ports", method: method) { request, context in
                let app = try self.existingApp(context)
                let maps = try await self.body(request, as: [String].self)
                guard !maps.isEmpty else { throw APIError(.badRequest, "No port maps given") }
                for map in maps where PortMap(map) == nil { throw APIError(.badRequest, "Invalid port mapping: \(map)") }
                return try await self.change(context, "\(method) /api/v1/apps/\(app)/ports", "\(app) \(maps.joined(separator: " "))", ["ports:\(verb)", app.rawValue] + maps)
            }
        }
        // Checks, certificates and letsencrypt: the namespace's report.
        for namespace in ["checks", "certs", "letsencrypt"] {
            api.get("apps/:app/\(namespace)") { _, context in
                let app = try self.existingApp(context)
                return try await self.report(namespace, app)
            }
        }
        for action in ["enable", "disable", "skip"] {
            api.post("apps/:app/checks/\(action)") { request, context in
                let app = try self.existingApp(context)
                let types = try await self.body(request, as: ChecksBody.self, orEmpty: ChecksBody()).process_types ?? []
                for type in types where !Procfile.isValidType(type) { throw APIError(.badRequest, "Invalid process type: \(type)") }
                let words = ["checks:\(action)", app.rawValue] + (types.isEmpty ? [] : [types.joined(separator: ",")])
                return try await self.change(context, "POST /api/v1/apps/\(app)/checks/\(action)", "\(app) \(types.joined(separator: ","))", words)
            }
        }
        // A certificate and key as `certs:add` takes them on its input: a tar of server.crt
        // and server.key.
        api.put("apps/:app/certs") { request, context in
            let app = try self.existingApp(context)
            guard Self.archiveTypes[Self.mediaType(request.headers[.contentType])] == "tar" else {
                throw APIError(.unsupportedMediaType, "A certificate comes as a tar of server.crt and server.key (Content-Type application/x-tar)")
            }
            var request = request
            let tarball = try await request.collectBody(upTo: CertsAdd.sizeLimit)
            let verb = try Certificates(self.context()).exists(app) ? "certs:update" : "certs:add"
            return try await self.change(context, "PUT /api/v1/apps/\(app)/certs", app.rawValue, [verb, app.rawValue], input: Data(tarball.readableBytesView))
        }
        api.delete("apps/:app/certs") { _, context in
            let app = try self.existingApp(context)
            return try await self.change(context, "DELETE /api/v1/apps/\(app)/certs", app.rawValue, ["certs:remove", app.rawValue])
        }
        api.post("apps/:app/letsencrypt") { _, context in
            let app = try self.existingApp(context)
            return try await self.change(context, "POST /api/v1/apps/\(app)/letsencrypt", app.rawValue, ["letsencrypt:enable", app.rawValue])
        }
        api.delete("apps/:app/letsencrypt") { _, context in
            let app = try self.existingApp(context)
            return try await self.change(context, "DELETE /api/v1/apps/\(app)/letsencrypt", app.rawValue, ["letsencrypt:disable", app.rawValue])
        }

        // Services (postgres, redis): every one with the apps it is linked to.
        api.get("services") { _, _ in try self.json(try self.services(self.store.services())) }
        api.get("apps/:app/services") { _, context in
            let app = try self.existingApp(context)
            let linked = Set(try self.store.serviceLinks(app: app).map { "\($0.kind.rawValue)/\($0.name)" })
            return try self.json(try self.services(self.store.services().filter { linked.contains("\($0.kind.rawValue)/\($0.name)") }))
        }
        api.post("services") { request, context in
            let body = try await self.body(request, as: ServiceBody.self)
            let (kind, name) = try Self.service(body.kind, body.name)
            return try await self.change(context, "POST /api/v1/services", "\(kind.rawValue) \(name)", ["\(kind.rawValue):create", name.rawValue], status: .created)
        }
        api.delete("services/:kind/:name") { request, context in
            let (kind, name) = try self.existingService(context)
            guard request.uri.queryParameters["confirm"].map(String.init) == name.rawValue else {
                throw APIError(.badRequest, "Destroying \(name) needs ?confirm=\(name)")
            }
            return try await self.change(context, "DELETE /api/v1/services/\(kind.rawValue)/\(name)", "\(kind.rawValue) \(name)", ["\(kind.rawValue):destroy", name.rawValue, "--force"])
        }
        api.post("services/:kind/:name/links") { request, context in
            let (kind, name) = try self.existingService(context)
            let word = try await self.body(request, as: LinkBody.self).app
            guard let app = AppName(word) else { throw APIError(.badRequest, "Invalid app name: \(word)") }
            return try await self.change(context, "POST /api/v1/services/\(kind.rawValue)/\(name)/links", "\(kind.rawValue) \(name) \(app)", ["\(kind.rawValue):link", name.rawValue, app.rawValue], status: .created)
        }
        api.delete("services/:kind/:name/links/:app") { _, context in
            let (kind, name) = try self.existingService(context)
            let app = try self.existingApp(context)
            return try await self.change(context, "DELETE /api/v1/services/\(kind.rawValue)/\(name)/links/\(app)", "\(kind.rawValue) \(name) \(app)", ["\(kind.rawValue):unlink", name.rawValue, app.rawValue])
        }
    }

    /// `NS:report APP --format json`, as the command prints it.
    /// A read: no token check past the request's own, no audit.
    private func report(_ namespace: String, _ app: AppName) async throws -> Response {
        var outcome = CommandStream.Outcome(), json = ""
        for await event in try CommandStream.start(program, ["\(namespace):report", app.rawValue, "--format", "json"], environment: commandEnvironment, input: .none) {
            outcome.add(event)
            if case .output(let item) = event, item.type == "data" { json += item.text + "\n" }
        }
        let status = outcome.httpStatus()
        guard status == .ok else { throw APIError(status, outcome.message) }
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: json)))
    }

    private func services(_ records: [ServiceRecord]) throws -> [ServiceItem] {
        try records.map { record in
            ServiceItem(
                kind: record.kind.rawValue, name: record.name.rawValue, version: record.version, status: record.stopped ? "stopped" : "running",
                exposed_port: record.exposedPort, links: try store.serviceLinks(record.kind, record.name).map(\.app.rawValue).sorted())
        }
    }

    /// A service kind and name from a request: a kind this server has, a name as the
    /// plugins take it, starting with a letter or digit.
    private static func service(_ kind: String, _ name: String) throws -> (ServiceKind, ServiceName) {
        guard let serviceKind = ServiceKind(rawValue: kind) else { throw APIError(.badRequest, "Invalid service kind: \(kind) (postgres or redis)") }
        guard let serviceName = ServiceName(name), name.first?.isLetter == true || name.first?.isNumber == true else {
            throw APIError(.badRequest, "Please specify a valid name for the service")
        }
        return (serviceKind, serviceName)
    }

    private func existingService(_ context: RequestContext) throws -> (ServiceKind, ServiceName) {
        let (kind, name) = try Self.service(try context.parameters.require("kind"), try context.parameters.require("name"))
        guard try store.service(kind, name) != nil else { throw APIError(.notFound, "\(kind.title) service \(name) does not exist") }
        return (kind, name)
    }
}
