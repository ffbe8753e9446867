import Builder
import Foundation
import Supervisor

/// Dokku's deployment checks: app.json `healthchecks`, the deprecated `CHECKS` file, or
/// the default check (the process stays up and its port accepts connections), with
/// `checks:disable` / `checks:skip` honoured.
struct HealthChecks {
    let context: Context

    init(_ context: Context) {
        self.context = context
    }

    /// How checks apply to one process type of an app.
    enum Mode: Equatable {
        case run
        /// `checks:skip`: no checks, old instances still retire after the switch.
        case skipped
        /// `checks:disable`: no checks, and old instances stop before new ones start.
        case disabled
    }

    func mode(_ app: AppName, processType: String) throws -> Mode {
        let store = try context.store()
        func listed(_ key: String) throws -> Bool {
            guard let value = try store.property(.app(app), "checks", key) else { return false }
            return value == "_all_" || value.split(separator: ",").contains(Substring(processType))
        }
        if try listed("disabled") { return .disabled }
        if try listed("skipped") { return .skipped }
        return .run
    }

    /// Runs the checks of new instances; throws a one-line reason on the first failure.
    func verify(_ app: AppName, release: Release, instances: [InstanceRecord]) throws {
        let appJSON = (try? AppJSON(parsing: Data(release.appJSON.utf8))) ?? AppJSON()
        let tree = context.settings.paths.slug(app, version: release.version)
        // The tree is the app's: its processes may have replaced CHECKS since the build.
        let legacy = try AppFiles.text("CHECKS", in: tree, limit: AppFiles.smallLimit).map(AppJSON.Healthcheck.parseChecksFile)
        context.output.section("Processing deployment checks")
        if legacy != nil {
            context.output.warn("Deprecated: Usage of the CHECKS file is deprecated in favor of healthchecks in app.json")
            context.output.warn("Please move your healthchecks to app.json.")
        }
        let byType = Dictionary(grouping: instances, by: \.processType)
        let manager = ProcessManager(context)
        var defaultChecked: [InstanceRecord] = []
        for type in byType.keys.sorted() {
            let group = byType[type]!
            let mode = try mode(app, processType: type)
            guard mode == .run else {
                context.output.detail("Zero downtime checks have been skipped (\(type))")
                continue
            }
            var checks = appJSON.healthchecks[type]?.filter { $0.type != "liveness" } ?? []
            if checks.isEmpty, type == "web", let legacy { checks = legacy }
            if checks.isEmpty {
                if type == "web" {
                    context.output.detail("No web healthchecks found in app.json. Simple process checks will be performed.")
                }
                defaultChecked += group
                continue
            }
            for instance in group {
                context.output.detail("Attempting pre-flight checks (\(instance.dyno))")
                for check in checks {
                    try run(check, instance: instance, app: app, release: release)
                    context.output.detail("Healthcheck succeeded name='\(check.name)'")
                }
                context.output.detail("All checks successful (\(instance.dyno))")
            }
        }
        if !defaultChecked.isEmpty {
            let timeout = try setting(app, "wait", default: 60)
            try manager.waitUntilReady(defaultChecked, timeout: .seconds(timeout))
            for instance in defaultChecked { context.output.detail("All checks successful (\(instance.dyno))") }
        }
    }

    /// A `checks:set` value in seconds.
    func setting(_ app: AppName, _ key: String, default value: Double) throws -> Double {
        let store = try context.store()
        let text = try store.computedProperty(app, "checks", key)
        // Values set before they were checked may be anything: bounded here too.
        guard let number = text.flatMap(Double.init), number.isFinite else { return value }
        return min(max(number, 0), 86_400)
    }

    private func run(_ check: AppJSON.Healthcheck, instance: InstanceRecord, app: AppName, release: Release) throws {
        let supervisor = try context.supervisor()
        var attributes = ["attempts=\(check.attempts)", "name='\(check.name)'", "timeout=\(Int(check.timeout))", "type='\(check.type)'"]
        if let path = check.path { attributes.append("path='\(path)'") }
        if let uptime = check.uptime { attributes.append("uptime=\(Int(uptime))") }
        context.output.detail("Running healthcheck \(attributes.sorted().joined(separator: " "))")
        if check.initialDelay > 0 { Thread.sleep(forTimeInterval: check.initialDelay) }
        if let uptime = check.uptime {
            Thread.sleep(forTimeInterval: uptime)
            guard let status = try supervisor.status(of: instance.unit), status.isRunning, status.restarts == 0 else {
                throw CommandError("\(app) \(instance.dyno) failed healthcheck name='\(check.name)': the process did not stay up \(Int(uptime))s")
            }
            return
        }
        if check.command == nil, check.port == nil, let port = instance.port {
            // An attempt against a process still starting would only cost a `wait`: the
            // first one goes once the process listens (or the attempts' time is up).
            let budget = min(60, Double(check.attempts) * (check.wait + check.timeout))
            do {
                try supervisor.waitUntilListening(unit: instance.unit, port: port, owner: ProcessManager(context).userID(of: app), timeout: .milliseconds(Int(budget * 1000)))
            } catch SupervisorError.portTaken(_, let port, let uid) {
                throw CommandError("\(app) \(instance.dyno) \(SupervisorError.portTakenReason(port: port, uid: uid))")
            } catch {
                // Not listening yet: the attempts below say so.
            }
        }
        var lastError = "no attempt"
        for attempt in 1...check.attempts {
            if attempt > 1 { Thread.sleep(forTimeInterval: max(check.wait, 0.2)) }
            guard let status = try supervisor.status(of: instance.unit), status.isRunning else {
                throw CommandError("\(app) \(instance.dyno) exited during healthcheck name='\(check.name)'")
            }
            if let command = check.command {
                let code = try ProcessManager(context).runOneOff(app, release: release, command: command.map(ConfigVars.singleQuoted).joined(separator: " "), environment: [:])
                if code == 0 { return }
                lastError = "command exited \(code)"
                continue
            }
            guard let port = check.port ?? instance.port else {
                throw CommandError("\(app) \(instance.dyno): healthcheck name='\(check.name)' needs a port")
            }
            let path = check.path ?? "/"
            let host = check.headers.first { $0.key.lowercased() == "host" }?.value ?? "localhost"
            switch HTTPProbe.get(port: port, path: path, host: host, timeout: check.timeout) {
            case .success(let response):
                guard (200..<400).contains(response.status) else {
                    lastError = "\(path) answered \(response.status)"
                    continue
                }
                if let content = check.content, !response.body.contains(content) {
                    lastError = "\(path) did not contain \"\(content)\""
                    continue
                }
                return
            case .failure(let reason):
                lastError = reason
            }
            context.output.detail("Attempt \(attempt)/\(check.attempts) failed: \(lastError)")
        }
        throw CommandError("\(app) \(instance.dyno) failed healthcheck name='\(check.name)': \(lastError)")
    }
}

/// A minimal HTTP/1.1 GET over loopback for health checks.
enum HTTPProbe {
    struct Response {
        var status: Int
        var body: String
    }

    enum Outcome {
        case success(Response)
        case failure(String)
    }

    static func get(port: Int, path: String, host: String, timeout: Double) -> Outcome {
        // Checked when app.json was read; this request line is root's, whatever reaches it.
        guard (1...65535).contains(port), AppJSON.Healthcheck.isRequestTarget(path), !host.unicodeScalars.contains(where: { $0.value < 0x21 || $0.value == 0x7F }), timeout.isFinite else {
            return .failure("the check's port, path or host cannot go in a request")
        }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return .failure("socket failed") }
        defer { close(fd) }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - floor(timeout)) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return .failure("connection to port \(port) refused") }
        let request = "GET \(path) HTTP/1.1\r\nHost: \(host)\r\nUser-Agent: dokkulite-healthcheck\r\nConnection: close\r\n\r\n"
        guard request.withCString({ send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }) >= 0 else { return .failure("send failed") }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 16384)
        while data.count < 1 << 20 {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n > 0 { data.append(buffer, count: n); continue }
            if n == 0 { break }
            if data.isEmpty { return .failure("no answer within \(timeout)s") }
            break
        }
        let text = String(decoding: data, as: UTF8.self)
        guard let line = text.split(separator: "\r\n", maxSplits: 1).first,
            let status = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
        else { return .failure("not an HTTP response") }
        let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
        return .success(Response(status: status, body: body))
    }
}
