import ArgumentParser
import Foundation
import Logging
import Proxy
import ServiceLifecycle

/// `proxy:daemon`: the proxy as systemd runs it. Serves the routes recorded in the store,
/// re-reads them when a deploy or a settings change asks on the control socket, and binds
/// or closes listeners as port maps change, all without a restart.
struct ProxyDaemonCommand: Command {
    static let configuration = CommandConfiguration(commandName: "proxy:daemon", abstract: "Run the proxy daemon (started by systemd)", shouldDisplay: false)
    static let access = Access.serverRoot
    static let usage = ""
    static let takesApp = false
    @Flag(name: .customLong("no-access-log")) var noAccessLog = false

    func run(in context: Context) throws {
        let logger = Logger(label: "dokkulite.proxy")
        let plan = try RouteBuilder(context).plan()
        let inherited = SocketActivation.listeners()
        let listeners = plan.listeners.map { listener -> ProxyServer.Listener in
            var listener = listener
            listener.inheritedDescriptor = inherited[listener.port]
            return listener
        }
        var configuration = ProxyServer.Configuration(listeners: listeners, accessLog: !noAccessLog, acmeChallengeDirectory: context.settings.paths.acmeChallenges)
        configuration.h2cPriorKnowledge = ProcessInfo.processInfo.environment["DOKKULITE_PROXY_H2C"] == "1"
        let server = try ProxyServer(configuration: configuration, routes: plan.routes, certificates: plan.certificates, logger: logger)
        let settings = context.settings
        let onDemand = OnDemandIssuer(settings: settings)
        onDemand.update(plan.onDemand)
        // Off unless some app takes on-demand certificates: other handshakes never wait.
        server.setOnDemand(plan.onDemand.isEmpty ? nil : onDemand.handler)
        try BlockingTask.run {
            try await server.start()
            let control = ControlSocket(path: settings.controlSocket, logger: logger, health: {
                await server.downInstances().sorted { $0.key < $1.key }.flatMap { app, instances in
                    instances.map { "\(app) \($0.upstream) \($0.seconds)\n" }
                }.joined()
            }, traffic: {
                await server.traffic().sorted { $0.key < $1.key }.map { app, counts in
                    TrafficLine(app: app, counts: counts).text + "\n"
                }.joined()
            }) {
                // Each request re-reads the whole table: the store is the one source of truth.
                let reader = Context(settings: settings, output: Output(quiet: true))
                let plan = try RouteBuilder(reader).plan()
                server.update(certificates: plan.certificates)
                server.update(plan.routes)
                onDemand.update(plan.onDemand)
                server.setOnDemand(plan.onDemand.isEmpty ? nil : onDemand.handler)
                try await server.setListeners(plan.listeners.map { listener in
                    var listener = listener
                    listener.inheritedDescriptor = inherited[listener.port]
                    return listener
                })
            }
            try control.start()
            let group = ServiceGroup(configuration: .init(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await group.run()
            control.stop()
        }
    }
}

/// Sockets handed over by systemd socket activation (`LISTEN_FDS`), by local port.
enum SocketActivation {
    static func listeners(environment: [String: String] = ProcessInfo.processInfo.environment) -> [Int: CInt] {
        guard let pid = environment["LISTEN_PID"].flatMap({ Int32($0) }), pid == getpid(),
            let count = environment["LISTEN_FDS"].flatMap({ Int32($0) }), count > 0
        else { return [:] }
        var result: [Int: CInt] = [:]
        for fd in 3..<(3 + count) {
            guard let port = Acceptor.localPort(fd) else { continue }
            result[port] = fd
        }
        return result
    }
}

/// The daemon's control socket (root's alone). A client writes one line:
/// - `reload`: the daemon re-reads the routes and answers `ok` once the new table is in
///   use (or `error: …`);
/// - `health`: a line `APP HOST:PORT SECONDS` for each instance passive health has marked
///   down, and the seconds until it is tried again;
/// - `traffic`: a `TrafficLine` per routed app: its requests since the proxy started.
final class ControlSocket: @unchecked Sendable {
    private let path: String
    private let logger: Logger
    private let reload: @Sendable () async throws -> Void
    private let health: @Sendable () async -> String
    private let traffic: @Sendable () async -> String
    private var fd: CInt = -1

    init(
        path: String, logger: Logger, health: @escaping @Sendable () async -> String, traffic: @escaping @Sendable () async -> String,
        reload: @escaping @Sendable () async throws -> Void
    ) {
        self.path = path
        self.logger = logger
        self.health = health
        self.traffic = traffic
        self.reload = reload
    }

    func start() throws {
        unlink(path)
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw CommandError("cannot create the control socket") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(path.utf8.prefix(raw.count - 1))
            raw.copyBytes(from: bytes + [0])
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(fd, 64) == 0 else { throw CommandError("cannot listen on \(path): \(String(cString: strerror(errno)))") }
        chmod(path, 0o600)
        let listener = fd
        Thread.detachNewThread { [self] in
            while true {
                let client = accept(listener, nil, nil)
                if client < 0 {
                    if errno == EINTR { continue }
                    return
                }
                handle(client)
            }
        }
    }

    func stop() {
        if fd >= 0 { shutdown(fd, Int32(SHUT_RDWR)); close(fd) }
        unlink(path)
    }

    private func handle(_ client: CInt) {
        defer { close(client) }
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = read(client, &buffer, buffer.count)
        guard n > 0 else { return }
        let request = String(decoding: buffer[0..<n], as: UTF8.self)
        let result = LockedBox<String>("ok\n")
        let semaphore = DispatchSemaphore(value: 0)
        let reload = self.reload, logger = self.logger
        // A report is what its closure answers; a reload answers `ok` or its error.
        let reports = ["health": health, "traffic": traffic]
        if let report = reports.first(where: { request.hasPrefix($0.key) })?.value {
            Task {
                result.set(await report())
                semaphore.signal()
            }
        } else if request.hasPrefix("reload") {
            Task {
                do {
                    try await reload()
                } catch {
                    logger.error("reload failed", metadata: ["error": "\(error)"])
                    result.set("error: \(error)\n")
                }
                semaphore.signal()
            }
        } else {
            return
        }
        semaphore.wait()
        let answer = Array(result.get().utf8)
        _ = answer.withUnsafeBytes { write(client, $0.baseAddress, $0.count) }
    }
}

/// One app's requests as the control socket's `traffic` answer carries them:
/// `APP 1XX 2XX 3XX 4XX 5XX MICROSECONDS D0 D1 … D11` (the counts per duration bucket of
/// `AppTraffic.bounds`, the last over the largest).
struct TrafficLine: Equatable {
    var app: String
    var counts: AppTraffic.Counts

    var text: String {
        ([app] + counts.byClass.map(String.init) + [String(counts.microseconds)] + counts.byDuration.map(String.init)).joined(separator: " ")
    }

    init(app: String, counts: AppTraffic.Counts) {
        self.app = app
        self.counts = counts
    }

    init?(_ line: Substring) {
        let words = line.split(separator: " ")
        guard words.count == 1 + 5 + 1 + AppTraffic.bounds.count + 1 else { return nil }
        let numbers = words.dropFirst().compactMap { UInt64($0) }
        guard numbers.count == words.count - 1 else { return nil }
        app = String(words[0])
        counts = AppTraffic.Counts()
        counts.byClass = Array(numbers[0..<5])
        counts.microseconds = numbers[5]
        counts.byDuration = Array(numbers[6...])
    }
}
