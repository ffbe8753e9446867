#if canImport(Glibc)
internal import Glibc
#endif
package import Logging
internal import NIOConcurrencyHelpers
internal import NIOCore
internal import NIOHTTP1
internal import NIOHTTP2
internal import NIOTLS
internal import NIOPosix
package import ServiceLifecycle

/// dokkulite's reverse proxy: listens on the configured ports, routes HTTP by Host to an
/// app's running instances, forwards raw TCP ports, and takes route updates while running
/// without dropping a connection. Runs as a `Service`; graceful shutdown stops accepting
/// and lets open connections finish.
package final class ProxyServer: Service, Sendable {
    private let shared: ProxyShared
    private let group: MultiThreadedEventLoopGroup
    private let loops: [ObjectIdentifier: LoopState]
    private let logger: Logger
    private let listening: NIOLockedValueBox<[(ProxyServer.Listener, Bound)]>
    private let certificates: TLSCertificates

    package init(configuration: Configuration, routes: RouteTable, certificates: [TLSCertificates.Entry] = [], logger: Logger = Logger(label: "dokkulite.proxy")) throws {
        Self.raiseDescriptorLimit()
        let shared = ProxyShared(routes: routes, configuration: configuration)
        self.shared = shared
        self.logger = logger
        group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, configuration.threads))
        var loops: [ObjectIdentifier: LoopState] = [:]
        for loop in group.makeIterator() {
            let state = LoopState(eventLoop: loop, shared: shared)
            loops[ObjectIdentifier(loop as AnyObject)] = state
            let sweepEvery = configuration.sweepInterval
            loop.scheduleRepeatedTask(initialDelay: sweepEvery, delay: sweepEvery) { _ in state.sweep() }
            if configuration.accessLog {
                loop.scheduleRepeatedTask(initialDelay: .milliseconds(250), delay: .milliseconds(250)) { _ in state.flushLog() }
            }
        }
        self.loops = loops
        // After a burst, glibc keeps the freed heap: once the server has been idle for a
        // whole period, give it back to the system (once per idle spell).
        if configuration.idleTrim {
            let trim = IdleTrim(shared: shared)
            group.next().scheduleRepeatedTask(initialDelay: Self.trimPeriod, delay: Self.trimPeriod) { _ in trim.tick() }
        }
        listening = NIOLockedValueBox([])
        self.certificates = TLSCertificates(certificates, acmeChallengeDirectory: configuration.acmeChallengeDirectory)
        Self.warn(about: self.certificates.unusable, logger)
    }

    /// How long the server must see no request before it returns freed memory.
    static let trimPeriod = TimeAmount.seconds(10)

    /// Every client connection and its upstream connection take a descriptor each: lift
    /// the soft limit to the hard one so a thousand clients do not run out.
    static func raiseDescriptorLimit() {
        var limit = rlimit()
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        guard getrlimit(resource, &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        setrlimit(resource, &limit)
    }

    /// Replaces the route table; new requests use it at once, requests in flight finish on
    /// the upstreams they already have.
    package func update(_ routes: RouteTable) {
        shared.update(routes)
    }

    /// Replaces the TLS certificates (chosen by SNI on the next handshake).
    /// One that cannot be loaded is left out with a warning: its app's HTTPS gets the
    /// first usable certificate, and every other app keeps its own.
    /// Turns on-demand TLS on (or off, with nil).
    package func setOnDemand(_ handler: OnDemandTLS?) {
        certificates.setOnDemand(handler)
    }

    package func update(certificates: [TLSCertificates.Entry]) {
        Self.warn(about: self.certificates.replace(certificates), logger)
    }

    private static func warn(about unusable: [(entry: TLSCertificates.Entry, reason: String)], _ logger: Logger) {
        for (entry, reason) in unusable {
            logger.warning("certificate left out", metadata: ["certificate": "\(entry.certificatePath)", "hosts": "\(entry.hosts.joined(separator: " "))", "error": "\(reason)"])
        }
    }

    /// Connection and HTTP/2 stream handlers in memory (see `ProxyShared.handlersAlive`).
    package var handlersAlive: Int {
        shared.handlersAlive.load(ordering: .relaxed)
    }

    /// The instances some event loop has marked down after a refused connection (passive
    /// health), by app name, each with the seconds (rounded up) until it is tried again.
    /// Each loop keeps its own marks, as each nginx worker does; an instance is listed when
    /// any loop has it down, with the latest time.
    package func downInstances() async -> [String: [(upstream: Upstream, seconds: Int)]] {
        // Each loop counts the seconds itself, when it is asked: the answer may reach this
        // task much later on a busy machine, and must not age meanwhile.
        var left: [String: [Upstream: Int]] = [:]
        for loop in group.makeIterator() {
            guard let state = loops[ObjectIdentifier(loop as AnyObject)], let down = try? await loop.submit({ state.downInstances() }).get() else { continue }
            for (app, instances) in down {
                for (upstream, seconds) in instances { left[app, default: [:]][upstream] = max(seconds, left[app]?[upstream] ?? seconds) }
            }
        }
        return left.mapValues { instances in
            instances.map { (upstream: $0.key, seconds: $0.value) }.sorted { ($0.upstream.host, $0.upstream.port) < ($1.upstream.host, $1.upstream.port) }
        }
    }

    /// Every routed app's counts, summed over the event loops, by app name.
    package func traffic() async -> [String: AppTraffic.Counts] {
        var total: [String: AppTraffic.Counts] = [:]
        for loop in group.makeIterator() {
            guard let state = loops[ObjectIdentifier(loop as AnyObject)], let counts = try? await loop.submit({ state.traffic() }).get() else { continue }
            for (app, count) in counts { total[app, default: AppTraffic.Counts()].add(count) }
        }
        return total
    }

    /// The route table in use.
    package var routes: RouteTable {
        shared.routes.withLockedValue { $0 }
    }

    /// Binds every listener (or adopts the inherited sockets) and returns the ports.
    @discardableResult
    package func start() async throws -> [Int] {
        var bound: [(Listener, Bound)] = []
        for listener in shared.configuration.listeners {
            let socket = try await bind(listener)
            bound.append((listener, socket))
            logger.info("listening", metadata: ["address": "\(listener.host):\(socket.port)", "kind": "\(listener.kind)"])
        }
        listening.withLockedValue { $0 = bound }
        return bound.map { $0.1.port }
    }

    /// Binds listeners that are new and closes those no longer wanted; connections already
    /// accepted on a closed listener carry on.
    package func setListeners(_ wanted: [Listener]) async throws {
        let current = listening.withLockedValue { $0 }
        func same(_ a: Listener, _ b: Listener) -> Bool { a.host == b.host && a.port == b.port && a.kind == b.kind }
        var kept: [(Listener, Bound)] = []
        for (listener, socket) in current {
            if wanted.contains(where: { same($0, listener) }) {
                kept.append((listener, socket))
            } else {
                await socket.close()
            }
        }
        for listener in wanted where !kept.contains(where: { same($0.0, listener) }) {
            let socket = try await bind(listener)
            logger.info("listening", metadata: ["address": "\(listener.host):\(socket.port)", "kind": "\(listener.kind)"])
            kept.append((listener, socket))
        }
        listening.withLockedValue { $0 = kept }
    }

    /// The ports actually bound, in listener order.
    package var boundPorts: [Int] {
        listening.withLockedValue { $0.map { $0.1.port } }
    }

    /// Stops listening and closes everything.
    package func stop() async {
        let sockets = listening.withLockedValue { list in
            defer { list = [] }
            return list.map(\.1)
        }
        for socket in sockets { await socket.close() }
        try? await group.shutdownGracefully()
    }

    package func run() async throws {
        if boundPorts.isEmpty { try await start() }
        try? await gracefulShutdown()
        await stop()
    }

    // MARK: Listening

    /// A listening socket: plain HTTP is accepted by the proxy itself (`Acceptor`), HTTPS
    /// and TCP forwards by NIO.
    enum Bound {
        case acceptor(Acceptor)
        case channel(any Channel)

        var port: Int {
            switch self {
            case .acceptor(let acceptor): acceptor.port
            case .channel(let channel): channel.localAddress?.port ?? 0
            }
        }

        func close() async {
            switch self {
            case .acceptor(let acceptor): acceptor.stop()
            case .channel(let channel): try? await channel.close()
            }
        }
    }

    private func bind(_ listener: Listener) async throws -> Bound {
        let shared = self.shared
        let configure: @Sendable (any Channel, LoopState, Int) throws -> Void
        switch listener.kind {
        case .http:
            // Accepted by the proxy itself, so the handler knows the socket (`DirectSend`).
            let group = self.group
            let initialize = Self.initializer(loops, listener)
            let acceptor = try Acceptor(host: listener.host, port: listener.port, inherited: listener.inheritedDescriptor) { socket in
                _ = ClientBootstrap(group: group.next())
                    .channelOption(.maxMessagesPerRead, value: 16)
                    .channelInitializer {
                        initialize($0) { channel, state, port in
                            try Self.configureHTTP(channel, shared: shared, state: state, listener: listener, port: port, descriptor: socket)
                        }
                    }
                    .withConnectedSocket(socket)
            }
            return .acceptor(acceptor)
        case .https:
            let certificates = self.certificates
            configure = { channel, state, port in
                try certificates.configure(channel) { channel in
                    try Self.configureHTTPS(channel, shared: shared, state: state, listener: listener, port: port)
                }
            }
        case .tcp:
            let logger = self.logger
            configure = { channel, state, port in try TCPForwarder.configure(channel, shared: shared, state: state, port: port, logger: logger) }
        }
        let initialize = Self.initializer(loops, listener)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { initialize($0, configure) }
        if let descriptor = listener.inheritedDescriptor {
            return .channel(try await bootstrap.withBoundSocket(descriptor).get())
        }
        return .channel(try await bootstrap.bind(host: listener.host, port: listener.port).get())
    }

    /// A channel initializer for `listener`: runs `configure` with the state of the
    /// channel's event loop and the port the connection came in on.
    private static func initializer(
        _ loops: [ObjectIdentifier: LoopState], _ listener: Listener
    ) -> @Sendable (any Channel, @escaping (any Channel, LoopState, Int) throws -> Void) -> EventLoopFuture<Void> {
        { channel, configure in
            guard let state = loops[ObjectIdentifier(channel.eventLoop as AnyObject)] else {
                return channel.eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel)
            }
            return channel.eventLoop.makeCompletedFuture { try configure(channel, state, channel.localAddress?.port ?? listener.port) }
        }
    }

    static func configureHTTP(_ channel: any Channel, shared: ProxyShared, state: LoopState, listener: Listener, port: Int, descriptor: CInt? = nil) throws {
        try channel.pipeline.syncOperations.addHandler(HTTPProxyHandler(shared: shared, loop: state, listener: listener, listenPort: port, descriptor: descriptor), name: "proxy")
    }

    /// After the TLS handshake: HTTP/2 when the client chose `h2` by ALPN, else HTTP/1.1.
    static func configureHTTPS(_ channel: any Channel, shared: ProxyShared, state: LoopState, listener: Listener, port: Int) throws {
        let negotiation = ApplicationProtocolNegotiationHandler { result, channel in
            channel.eventLoop.makeCompletedFuture {
                if case .negotiated("h2") = result {
                    try configureHTTP2(channel, shared: shared, state: state, listener: listener, port: port)
                } else {
                    try configureHTTP(channel, shared: shared, state: state, listener: listener, port: port)
                }
            }
        }
        try channel.pipeline.syncOperations.addHandler(negotiation)
    }

    /// An HTTP/2 connection: each stream a channel of its own, carrying one request through
    /// an `HTTP2Bridge` to its own `HTTPProxyHandler`.
    static func configureHTTP2(_ channel: any Channel, shared: ProxyShared, state: LoopState, listener: Listener, port: Int) throws {
        var connection = NIOHTTP2Handler.ConnectionConfiguration()
        connection.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: 128),
            HTTP2Setting(parameter: .maxHeaderListSize, value: HTTPWire.maxHeadBytes),
            HTTP2Setting(parameter: .initialWindowSize, value: Self.http2StreamWindow),
        ]
        connection.targetWindowSize = 4 * Self.http2StreamWindow
        var stream = NIOHTTP2Handler.StreamConfiguration()
        stream.targetWindowSize = Self.http2StreamWindow
        stream.outboundBufferSizeHighWatermark = 64 * 1024
        stream.outboundBufferSizeLowWatermark = 32 * 1024
        let idle = HTTP2IdleClose()
        try channel.pipeline.syncOperations.addHandler(FlushCoalescer())
        try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: nil, writeTimeout: nil, allTimeout: shared.configuration.idleTimeout))
        try channel.pipeline.syncOperations.addHandler(idle)
        _ = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
            mode: .server, connectionConfiguration: connection, streamConfiguration: stream, streamDelegate: idle
        ) { stream in
            stream.eventLoop.makeCompletedFuture {
                try stream.pipeline.syncOperations.addHandler(HTTP2Bridge())
                try stream.pipeline.syncOperations.addHandler(HTTPProxyHandler(shared: shared, loop: state, listener: listener, listenPort: port, stream: true))
            }
        }
    }

    /// Each HTTP/2 stream's flow-control window: what a client may send before the app reads.
    static let http2StreamWindow = 256 * 1024
}

/// Gathers the flushes of an HTTP/2 connection into one per turn of its event loop. Each
/// stream flushes its response as its upstream answers, and each flush would otherwise
/// be its own TLS record and `write`: ten streams answered in one wakeup cost ten system
/// calls. Deferred to the loop's task queue, which runs after the wakeup's reads, they go
/// out together. A close first sends what waits.
final class FlushCoalescer: ChannelOutboundHandler, @unchecked Sendable {
    typealias OutboundIn = Any
    typealias OutboundOut = Any
    /// A flush is scheduled; changed only on the channel's event loop.
    private var scheduled = false

    func flush(context: ChannelHandlerContext) {
        guard !scheduled else { return }
        scheduled = true
        context.eventLoop.assumeIsolated().execute {
            guard self.scheduled else { return }
            self.scheduled = false
            context.flush()
        }
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if scheduled {
            scheduled = false
            context.flush()
        }
        context.close(mode: mode, promise: promise)
    }
}

/// Closes an HTTP/2 connection that has had no stream open and no traffic for the idle
/// timeout (each stream's own deadlines are its `HTTPProxyHandler`'s).
final class HTTP2IdleClose: ChannelInboundHandler, NIOHTTP2StreamDelegate, @unchecked Sendable {
    typealias InboundIn = Any
    /// Streams open on this connection; changed only on its event loop.
    private var open = 0

    func streamCreated(_ id: HTTP2StreamID, channel: any Channel) { open += 1 }
    func streamClosed(_ id: HTTP2StreamID, channel: any Channel) { open -= 1 }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent, open == 0 {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}

/// Returns freed heap memory to the system (`malloc_trim`) when no request came in for a
/// whole period: the proxy's RSS falls back after a load spike instead of staying at its
/// peak. Runs on one event loop only.
final class IdleTrim: @unchecked Sendable {
    private let shared: ProxyShared
    private var seen: UInt64 = 0
    private var trimmed = true

    init(shared: ProxyShared) {
        self.shared = shared
    }

    func tick() {
        let now = shared.activity.load(ordering: .relaxed)
        if now != seen {
            seen = now
            trimmed = false
        } else if !trimmed {
            trimmed = true
            _ = Self.mallocTrim?(0)
        }
    }

    /// glibc's `malloc_trim` (declared in malloc.h, which the Glibc module leaves out).
    private static let mallocTrim: (@convention(c) (Int) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)
    }()
}
