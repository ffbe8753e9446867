import ArgumentParser
import Foundation
import Logging
import Proxy
import ServiceLifecycle

/// `proxy:serve`: the proxy with a static route table, for benchmarks and debugging.
struct ProxyServe: Command {
    static let configuration = CommandConfiguration(commandName: "proxy:serve", abstract: "Run the proxy in the foreground with a static route table")
    static let access = Access.serverRoot
    static let usage = "--listen HOST:PORT [--listen-tls HOST:PORT --certificate CRT --key KEY] --route HOST=UPSTREAM[,UPSTREAM...]..."
    static let takesApp = false

    @Option(help: "Address to listen on (HOST:PORT); repeatable") var listen: [String] = []
    @Option(name: .customLong("listen-tls"), help: "Address to listen on with TLS (HOST:PORT); repeatable") var listenTLS: [String] = []
    @Option(help: "PEM certificate (chain) for the TLS listeners") var certificate: String?
    @Option(help: "PEM key for the TLS listeners") var key: String?
    @Option(help: "HOST=ADDR:PORT[,ADDR:PORT...]; repeatable") var route: [String] = []
    @Flag(name: .customLong("access-log")) var accessLog = false
    @Option var threads: Int?

    func run(in context: Context) throws {
        guard !listen.isEmpty || !listenTLS.isEmpty else { throw CommandError("At least one --listen HOST:PORT is required") }
        var listeners: [ProxyServer.Listener] = []
        for (address, kind) in listen.map({ ($0, ProxyServer.Listener.Kind.http) }) + listenTLS.map({ ($0, .https) }) {
            guard let upstream = Upstream(address) else { throw CommandError("Invalid --listen address: \(address) (expected HOST:PORT)") }
            listeners.append(.init(host: upstream.host, port: upstream.port, kind: kind))
        }
        if !listenTLS.isEmpty, certificate == nil || key == nil { throw CommandError("--listen-tls needs --certificate and --key") }
        var domains: [(domain: String, app: RouteTable.App)] = []
        for entry in route {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty else { throw CommandError("Invalid --route: \(entry) (expected HOST=ADDR:PORT[,ADDR:PORT])") }
            let upstreams = try parts[1].split(separator: ",").map { text in
                guard let upstream = Upstream(String(text)) else { throw CommandError("Invalid upstream in --route \(entry): \(text)") }
                return upstream
            }
            domains.append((parts[0], RouteTable.App(name: parts[0], upstreams: upstreams)))
        }
        var configuration = ProxyServer.Configuration(listeners: listeners, accessLog: accessLog)
        configuration.idleTrim = ProcessInfo.processInfo.environment["DOKKULITE_PROXY_IDLE_TRIM"] != "0"
        configuration.h2cPriorKnowledge = ProcessInfo.processInfo.environment["DOKKULITE_PROXY_H2C"] == "1"
        if let threads { configuration.threads = max(1, threads) }
        let certificates = listenTLS.isEmpty ? [] : [TLSCertificates.Entry(hosts: domains.map(\.domain), certificatePath: certificate!, keyPath: key!)]
        if let first = certificates.first { try TLSCertificates.check(certificatePath: first.certificatePath, keyPath: first.keyPath) }
        let server = try ProxyServer(configuration: configuration, routes: RouteTable(domains: domains), certificates: certificates)
        try BlockingTask.run {
            try await server.start()
            let group = ServiceGroup(configuration: .init(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: Logger(label: "dokkulite.proxy")))
            try await group.run()
        }
    }
}

/// Runs async work from a synchronous command and waits for it.
enum BlockingTask {
    static func run(_ body: @escaping @Sendable () async throws -> Void) throws {
        try value(body)
    }

    /// Runs `body` on a task and waits for its value.
    static func value<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
        let semaphore = DispatchSemaphore(value: 0)
        let result = LockedBox<Result<T, any Error>?>(nil)
        Task {
            do { result.set(.success(try await body())) } catch { result.set(.failure(error)) }
            semaphore.signal()
        }
        semaphore.wait()
        return try result.get()!.get()
    }
}

/// A value guarded by a lock.
final class LockedBox<T>: @unchecked Sendable {
    private var value: T
    private let lock = NSLock()

    init(_ value: T) { self.value = value }

    func get() -> T { lock.withLock { value } }
    func set(_ newValue: T) { lock.withLock { value = newValue } }
}
