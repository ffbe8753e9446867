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

    init(channel: any Channel, upstream: Upstream, handler: UpstreamHandler, idleList: IdleConnections) {
        self.channel = channel
        self.upstream = upstream
        self.handler = handler
        self.idleList = idleList
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
    func connect(_ upstream: Upstream, list: IdleConnections) -> EventLoopFuture<UpstreamConnection> {
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                // Bytes only: the client's handler reads and writes HTTP/1.1 itself.
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(UpstreamHandler(), name: "upstream")
                }
            }
        return bootstrap.connect(host: upstream.host, port: upstream.port).flatMapThrowing { channel in
            let handler = try channel.pipeline.syncOperations.handler(type: UpstreamHandler.self)
            let connection = UpstreamConnection(channel: channel, upstream: upstream, handler: handler, idleList: list)
            handler.connection = connection
            handler.pool = self
            return connection
        }
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

    func write(_ buffer: ByteBuffer) {
        context?.write(wrapOutboundOut(buffer), promise: nil)
    }

    func flush() {
        context?.flush()
    }

    func writeAndFlush(_ buffer: ByteBuffer) {
        context?.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
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
