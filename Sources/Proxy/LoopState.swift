#if canImport(Glibc)
internal import Glibc
#endif
internal import NIOConcurrencyHelpers
internal import NIOCore

/// What the server shares across event loops: the route table (swapped whole) and the
/// configuration.
final class ProxyShared: Sendable {
    let routes: NIOLockedValueBox<RouteTable>
    let configuration: ProxyServer.Configuration

    init(routes: RouteTable, configuration: ProxyServer.Configuration) {
        self.routes = NIOLockedValueBox(routes)
        self.configuration = configuration
    }
}

/// State that belongs to one event loop: its upstream pool, request ids, and buffered
/// access log lines. Only ever touched from that loop (channels of the loop and tasks
/// scheduled on it), which is what makes the unchecked Sendable sound.
final class LoopState: @unchecked Sendable {
    let pool: UpstreamPool
    private let idPrefix: [UInt8]
    private var counter: UInt64 = 0
    /// Access log lines not yet written: one line per request on stdout (the journal keeps
    /// it under systemd), written in batches off the request path.
    var log = ByteBuffer()

    private let upstreamIdleTimeout: TimeAmount

    init(eventLoop: any EventLoop, configuration: ProxyServer.Configuration) {
        upstreamIdleTimeout = configuration.upstreamIdleTimeout
        pool = UpstreamPool(eventLoop: eventLoop, connectTimeout: configuration.connectTimeout, maxIdle: configuration.maxIdlePerUpstream)
        idPrefix = Array((String(UInt64.random(in: 0...UInt64.max), radix: 16) + "-").utf8)
    }

    /// The number of this loop's next request, for its id.
    func nextRequestNumber() -> UInt64 {
        counter &+= 1
        return counter
    }

    /// A request id unique to this process: the loop's random prefix and the request's number.
    func appendRequestID(_ number: UInt64, to out: inout HeadWriter) {
        out.append(idPrefix)
        out.append(hex: number)
    }

    /// Milliseconds since the epoch, for `X-Request-Start: t=…`, as nginx's `t=${msec}`.
    static func millisecondsSinceEpoch() -> Int {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return now.tv_sec * 1000 + now.tv_nsec / 1_000_000
    }

    /// Client connections of this loop, whose deadlines the sweep checks.
    private var handlers: [ObjectIdentifier: HTTPProxyHandler] = [:]

    func track(_ handler: HTTPProxyHandler) {
        handlers[ObjectIdentifier(handler)] = handler
    }

    func untrack(_ handler: HTTPProxyHandler) {
        handlers.removeValue(forKey: ObjectIdentifier(handler))
    }

    /// Enforces every tracked connection's deadlines and ages out idle upstream connections
    /// (run once a second on the loop).
    func sweep() {
        let now = NIODeadline.now()
        for handler in Array(handlers.values) { handler.checkDeadlines(now) }
        pool.closeIdle(before: now - upstreamIdleTimeout, now: now)
    }

    /// Writes the buffered access log lines; called when the buffer is large and by a timer.
    func flushLog() {
        guard log.readableBytes > 0 else { return }
        log.withUnsafeReadableBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Glibc.write(1, bytes.baseAddress! + offset, bytes.count - offset)
                if written <= 0 { return }
                offset += written
            }
        }
        log.clear()
    }
}
