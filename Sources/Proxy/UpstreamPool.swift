#if canImport(Glibc)
internal import Glibc
#endif
internal import NIOCore
internal import NIOPosix

/// A keep-alive connection to one upstream process, owned by one event loop.
final class UpstreamConnection {
    let channel: any Channel
    let upstream: Upstream
    let handler: UpstreamHandler
    /// Where the connection waits between exchanges: its upstream's list in the loop's pool.
    let idleList: IdleConnections
    /// False once the upstream said `Connection: close` or an exchange broke off midway.
    var reusable = true
    /// The channel has gone (set on `channelInactive`); cheaper to read than asking NIO
    /// whether the channel is active, which the pool did twice per request.
    var closed = false
    /// Reading was turned off because the client reads slower than the upstream sends.
    private var paused = false
    /// When the connection last went back to the pool, or a little after: see `release`.
    var idleSince = NIODeadline.uptimeNanoseconds(0)
    /// The socket, when the pool connected it itself (see `UpstreamPool.connect`): a request
    /// head is then sent with one `send`, without NIO's write path.
    let direct: DirectSend?

    init(channel: any Channel, upstream: Upstream, handler: UpstreamHandler, idleList: IdleConnections, descriptor: CInt? = nil) {
        self.channel = channel
        self.upstream = upstream
        self.handler = handler
        self.idleList = idleList
        direct = descriptor.map(DirectSend.init)
    }

    /// Sends bytes after all sent before, and flushes.
    func writeAndFlush(_ buffer: ByteBuffer) {
        var rest: ByteBuffer? = buffer
        if let direct, !closed { rest = direct.send(buffer) }
        if let rest { handler.throughChannel(rest, flush: true) }
    }

    /// Sends bytes after all sent before, without flushing.
    func write(_ buffer: ByteBuffer) {
        handler.throughChannel(buffer, flush: false)
    }

    func flush() {
        handler.flush()
    }

    /// Once NIO has written everything given to it so far, direct sends may resume.
    fileprivate func drain() {
        guard !closed else { return }
        direct?.drain(channel)
    }

    /// Turns reading from the upstream on or off. The channel option is touched only on a
    /// change: setting it goes through dynamic casts in NIO, too slow for every request.
    func setReading(_ on: Bool) {
        guard paused == on else { return }
        paused = !on
        try? channel.syncOptions?.setOption(.autoRead, value: on)
    }
}

/// The idle connections to one upstream on one event loop, oldest first. A class: the
/// loop's routes and each connection hold it, so taking and returning a connection needs
/// no lookup.
final class IdleConnections {
    fileprivate(set) var connections: [UpstreamConnection] = []
    /// The upstream left the route table: connections coming back are closed, not kept.
    fileprivate(set) var retired = false
}

/// Idle upstream connections of one event loop, per upstream. Everything here runs on
/// that loop, so no locks: each loop keeps its own pool.
final class UpstreamPool {
    private let eventLoop: any EventLoop
    private let connectTimeout: TimeAmount
    private let maxIdle: Int
    private var idle: [Upstream: IdleConnections] = [:]
    /// When the next sweep is due, for `idleSince`: good to a sweep interval, without
    /// reading the clock on every request.
    private var nextSweep: NIODeadline
    private let sweepInterval: TimeAmount

    init(eventLoop: any EventLoop, configuration: ProxyServer.Configuration) {
        self.eventLoop = eventLoop
        connectTimeout = configuration.connectTimeout
        maxIdle = configuration.maxIdlePerUpstream
        sweepInterval = configuration.sweepInterval
        nextSweep = .now() + sweepInterval
    }

    /// The list of `upstream`'s idle connections, made on first use and kept while the
    /// pool lives, so route updates that keep an upstream keep its connections.
    func list(for upstream: Upstream) -> IdleConnections {
        if let list = idle[upstream] { return list }
        let list = IdleConnections()
        idle[upstream] = list
        return list
    }

    /// Forgets the lists of upstreams no longer routed to, so the pool does not grow with
    /// every deploy's new ports, and closes their idle connections. A connection still out
    /// with a request is closed when it comes back.
    func retire(keeping routed: Set<Upstream>) {
        var closing: [UpstreamConnection] = []
        for (upstream, list) in idle where !routed.contains(upstream) {
            list.retired = true
            closing += list.connections
            list.connections.removeAll()
            idle[upstream] = nil
        }
        // Closed after the loop: a close reports back through `remove`.
        for connection in closing { connection.channel.close(promise: nil) }
    }

    /// An idle pooled connection from `list`, if there is one: the newest, so the surplus
    /// of a burst ages out.
    func takeIdle(_ list: IdleConnections) -> UpstreamConnection? {
        while let connection = list.connections.popLast() {
            if !connection.closed { return connection }
        }
        return nil
    }

    /// Returns a connection after a complete exchange; extra or broken ones are closed.
    func release(_ connection: UpstreamConnection) {
        connection.handler.exchange = nil
        // A slow client may have paused reading from this upstream; the next exchange must
        // start with reads on.
        connection.setReading(true)
        let list = connection.idleList
        guard connection.reusable, !connection.closed, !list.retired, list.connections.count < maxIdle else {
            connection.channel.close(promise: nil)
            return
        }
        // The next sweep's time is at or after now: a connection is never closed before it
        // has been idle for the whole timeout, at most a sweep interval after.
        connection.idleSince = nextSweep
        connection.drain()
        list.connections.append(connection)
    }

    /// Closes the connections idle since before `deadline`. The oldest are at the front of
    /// each list.
    func closeIdle(before deadline: NIODeadline, now: NIODeadline) {
        nextSweep = now + sweepInterval
        var expired: [UpstreamConnection] = []
        for list in idle.values {
            let stale = list.connections.prefix { $0.idleSince < deadline }
            guard !stale.isEmpty else { continue }
            expired += stale
            list.connections.removeFirst(stale.count)
        }
        // Closed after the loop: a close reports back through `remove`.
        for connection in expired { connection.channel.close(promise: nil) }
    }

    /// Forgets a connection that closed while idle.
    func remove(_ connection: UpstreamConnection) {
        connection.idleList.connections.removeAll { $0 === connection }
    }

    /// A new connection to `upstream`, which goes back to `list` after each exchange.
    ///
    /// To a loopback address the pool connects the socket itself and hands it to NIO, so it
    /// knows the descriptor (`UpstreamConnection.direct`). A loopback connect completes,
    /// or is refused, within the call or by the time `poll` looks: then nothing waits. If it
    /// has not, NIO connects a socket of its own instead. `timeout` overrides the pool's
    /// connect timeout (an app's `nginx:set APP proxy-connect-timeout`).
    func connect(_ upstream: Upstream, list: IdleConnections, timeout: TimeAmount? = nil) -> EventLoopFuture<UpstreamConnection> {
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(timeout ?? connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                // Bytes only: the client's handler reads and writes HTTP/1.1 itself.
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(UpstreamHandler(), name: "upstream")
                }
            }
        let descriptor: CInt?
        switch Self.connectLoopback(upstream) {
        case .connected(let socket): descriptor = socket
        case .failed(let error):
            // Reported on a later turn of the loop, as NIO reports a failed connect: the
            // caller is still inside the request head it is forwarding.
            let failed = eventLoop.makePromise(of: UpstreamConnection.self)
            eventLoop.execute { failed.fail(error) }
            return failed.futureResult
        case .notLoopback, .pending: descriptor = nil
        }
        let connected = descriptor.map { bootstrap.withConnectedSocket($0) } ?? bootstrap.connect(host: upstream.host, port: upstream.port)
        return connected.assumeIsolated().flatMapThrowing { channel in
            let handler = try channel.pipeline.syncOperations.handler(type: UpstreamHandler.self)
            let connection = UpstreamConnection(channel: channel, upstream: upstream, handler: handler, idleList: list, descriptor: descriptor)
            handler.connection = connection
            handler.pool = self
            return connection
        }.nonisolated()
    }
}

extension UpstreamPool {
    enum LoopbackConnect {
        case connected(CInt)
        case failed(any Error)
        /// Not an IPv4 loopback address: NIO connects.
        case notLoopback
        /// Still connecting: the socket is closed and NIO connects.
        case pending
    }

    static func connectLoopback(_ upstream: Upstream) -> LoopbackConnect {
        var address = sockaddr_in()
        guard inet_pton(AF_INET, upstream.host, &address.sin_addr) == 1, UInt32(bigEndian: address.sin_addr.s_addr) >> 24 == 127 else { return .notLoopback }
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(truncatingIfNeeded: upstream.port).bigEndian)
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard socket >= 0 else { return .notLoopback }
        let started = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if started != 0 && errno != EINPROGRESS {
            let error = errno
            close(socket)
            return .failed(IOError(errnoCode: error, reason: "connect"))
        }
        var ready = pollfd(fd: socket, events: Int16(POLLOUT), revents: 0)
        guard started == 0 || poll(&ready, 1, 0) == 1 else {
            close(socket)
            return .pending
        }
        var error: CInt = 0
        var length = socklen_t(MemoryLayout<CInt>.size)
        getsockopt(socket, SOL_SOCKET, SO_ERROR, &error, &length)
        guard error == 0 else {
            close(socket)
            return .failed(IOError(errnoCode: error, reason: "connect"))
        }
        return .connected(socket)
    }
}

/// Hands an upstream's bytes to the client-side handler using the connection, and writes
/// that handler's bytes to the upstream.
final class UpstreamHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The client-side handler whose request this connection carries; nil while idle.
    /// These references are strong and dropped when the channel goes: a weak reference
    /// would give each object a side table and slow every retain and release of it.
    var exchange: HTTPProxyHandler?
    var connection: UpstreamConnection?
    var pool: UpstreamPool?
    private var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    /// Writes through NIO's channel (see `UpstreamConnection.writeAndFlush`).
    func throughChannel(_ buffer: ByteBuffer, flush: Bool) {
        guard let context else { return }
        connection?.direct?.wroteThroughChannel()
        if flush {
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        } else {
            context.write(wrapOutboundOut(buffer), promise: nil)
        }
    }

    func flush() {
        context?.flush()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let exchange else {
            // An idle connection has nothing to say; one that does is out of step.
            connection?.reusable = false
            context.close(promise: nil)
            return
        }
        exchange.upstreamRead(unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        exchange?.upstreamReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        exchange?.upstreamWritabilityChanged(context.channel.isWritable)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let connection {
            connection.reusable = false
            connection.closed = true
            pool?.remove(connection)
        }
        let exchange = self.exchange
        self.exchange = nil
        self.connection = nil
        exchange?.upstreamClosed()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        exchange = nil
        connection = nil
        self.context = nil
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        connection?.reusable = false
        context.close(promise: nil)
    }
}
