internal import Beneath
internal import Glibc
internal import NIOCore
internal import NIOHTTP1

/// The client side of a proxied HTTP/1.1 connection: routes each request by Host, sends
/// it to an upstream from the event loop's pool, streams bodies both ways with
/// backpressure, and answers errors with clear pages.
///
/// It works on the bytes themselves (`HTTPWire`) rather than through NIO's HTTP codec:
/// heads are checked in place and forwarded as rewritten copies, bodies pass through as
/// slices of the buffers they arrived in, and only their framing is followed. Profiling
/// showed the codec, decoding every header into strings and encoding them again on both
/// sides, to cost more than everything else the proxy does.
///
/// One exchange at a time: the bytes of requests a client pipelines behind the current one
/// wait in the input buffer (reading stops while it is large). Timeouts are deadlines
/// checked by the event loop's once-a-second sweep rather than timers scheduled and
/// cancelled per request, which profiling also showed to be costly.
final class HTTPProxyHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let shared: ProxyShared
    private let loop: LoopState
    private let listener: ProxyServer.Listener
    private let listenPort: Int
    /// `X-Forwarded-Proto` and `X-Forwarded-Port` lines, the same for every request.
    private let forwardingLines: [UInt8]
    private var context: ChannelHandlerContext!
    /// The client's socket, when the proxy accepted it itself (`Acceptor`): a response that
    /// is complete when written goes out with one `send`.
    private let direct: DirectSend?
    /// The client's IP address, as bytes for `X-Forwarded-For` and the access log.
    private var clientAddress: [UInt8] = []
    private var exchange: Exchange?
    private var closing = false
    /// Until `channelInactive`: the client's channel, without asking NIO each request.
    private var clientOpen = true
    /// The client's channel takes more writes (as of its last writability change).
    private var clientWritable = true
    /// Bytes read from the client and not yet used: the rest of a head, a body, or
    /// requests pipelined behind the current one.
    private var inbound = HTTPProxyHandler.noBytes
    /// How much of `inbound` was already searched for the end of a head.
    private var headScanned = 0
    private var processing = false
    /// Within a read of the client's socket: its read-complete flushes the upstream.
    private var inClientRead = false
    /// Bytes were written to the upstream since its last flush.
    private var upstreamUnflushed = false
    /// Buffers and field arrays kept from one exchange to the next (see `KeptStorage`).
    private var kept = KeptStorage()
    /// The response's head and pieces of body are gathered in `kept.staged` and written as one.
    private var staging = false
    private static let stageLimit = 8 * 1024
    private var allocator = ByteBufferAllocator()
    private var pausedForPipelining = false
    /// Reading stopped while a body waits for its upstream connection to open.
    private var pausedForConnect = false
    private static let maxPendingBytes = 256 * 1024
    private static let maxPipelinedBytes = 64 * 1024
    /// The connection is closed unless a request head arrives by then.
    private var waitDeadline: NIODeadline?
    /// The timeouts that count time without progress, as nginx's do (sampled by the sweep):
    /// a request body that stops arriving (`client-body-timeout`), a client that stops
    /// taking its response (`send-timeout`), an app that stops taking a request body
    /// (`proxy-send-timeout`).
    private var bodyWatch = ProgressWatch(), sendWatch = ProgressWatch(), upstreamSendWatch = ProgressWatch()
    /// Counted each time the client or the upstream takes more (writable again, or the
    /// client's unsent bytes shrank), for the watches.
    private var clientProgress = 0, upstreamProgress = 0
    private var clientUnsent = 0
    private let stream: Bool
    /// The route of the last request: its app's timeouts still hold while its response
    /// drains and while the connection waits for the next request.
    private var lastRoute: AppRoute?
    /// How long a kept-alive connection may wait for its next request: the last app's
    /// `keepalive-timeout`, else the server's.
    private var keepaliveTimeout: TimeAmount {
        lastRoute?.app.keepaliveTimeoutMilliseconds.map { .milliseconds($0) } ?? shared.configuration.idleTimeout
    }
    /// After a 101: the upstream connection this one is spliced to, byte for byte.
    private var spliced: UpstreamConnection?
    /// The client may still be sending what the proxy will not read (a refused body): after
    /// the response, the connection closes for writing only and drops what arrives until
    /// the client closes or this deadline passes. Closing outright with unread bytes makes
    /// the kernel send a reset, which can destroy the response before the client reads it
    /// (nginx's lingering close does the same). Each arrival moves the deadline on by the
    /// app's `lingering-timeout`, up to `lingerEnd`.
    private var lingering = false
    private var lingerDeadline: NIODeadline?
    private var lingerEnd: NIODeadline?
    private static let lingerTimeout = TimeAmount.seconds(5)
    private static let lingerTime = TimeAmount.seconds(30)
    private var lingerTimeout: TimeAmount {
        lastRoute?.app.lingeringTimeoutMilliseconds.map { .milliseconds($0) } ?? Self.lingerTimeout
    }
    /// Response bytes waiting for a slow client, past what NIO holds (response buffering);
    /// they go out as the client takes them, after the exchange and its upstream are done.
    private var clientSpool: Spool?
    /// Within `pumpRequestSpool` or `drainClientSpool` (see there).
    private var pumping = false
    private var draining = false
    /// Written to the client since it last stopped taking more.
    private var blockedBytes = 0
    /// What waits for the client spool to drain (closing the connection).
    private var afterDrain: (() -> Void)?
    /// Bodies are held in memory up to this much, then in a file (`Spool`).
    private static let spoolMemory = 64 * 1024
    /// What NIO may hold for a slow client before the rest goes to the spool.
    private static let clientMemory = 256 * 1024
    /// A response spool this large stops reading the app until the client catches up
    /// (nginx's proxy_max_temp_file_size, 1 GiB).
    private static let clientSpoolLimit = 1 << 30
    private static let spoolPiece = 64 * 1024

    /// One request and its response. A class: the handler updates it in place many times
    /// per request.
    private final class Exchange {
        let head: HTTPWire.RequestHead
        let route: AppRoute?
        /// The Host header's value in `head`.
        let host: Range<Int>?
        var hostName: String? { host.map { head.string($0) } }
        let started: NIODeadline
        var keepAlive: Bool
        /// The client's own `X-Request-Id`, or nil for the generated `requestNumber`.
        let givenRequestID: Range<Int>?
        let requestNumber: UInt64
        var requestFraming: HTTPWire.Framing = .none
        var requestChunks = ChunkedScanner()
        /// The head as sent upstream, kept while the request may be sent again.
        var upstreamHead: ByteBuffer?
        /// Request bytes not yet sent (while connecting).
        var pending: ByteBuffer?
        var requestDone = false
        var responseStarted = false
        var responseDone = false
        /// Answered by the proxy itself (error page, redirect); the body is drained.
        var local = false
        var upstream: UpstreamConnection?
        var upstreamAddress: Upstream?
        /// Instances tried before `upstreamAddress`; empty unless a request was retried.
        var tried: [Upstream] = []
        /// Safe to send again: an idempotent method whose body is not streaming.
        var retryable: Bool
        var bodyBytes = 0
        var status = 0
        var responseBytes = 0
        /// 504 unless the response head arrives by then.
        var responseDeadline: NIODeadline?
        var upgrading = false
        /// Response bytes read from the upstream and not yet used.
        var upstreamInbound = HTTPProxyHandler.noBytes
        var responseHeadScanned = 0
        var responseFraming: HTTPWire.Framing = .none
        var responseChunks = ChunkedScanner()
        /// A chunked response to an HTTP/1.0 client: sent as plain data, ended by closing;
        /// or one being compressed.
        var dechunk = false
        /// The codings the client's `Accept-Encoding` allows, of those the proxy can make.
        var accepted = ResponseCompression.Accepted(preferred: nil, gzip: false)
        /// The response is being compressed.
        var compression: ResponseCompression?
        /// The body is being read whole before the app is connected (request buffering).
        var spoolingRequest = false
        /// The body read so far, then the whole body until it has gone to the app.
        var requestSpool: Spool?
        /// The response may be held for a slow client (response buffering).
        var bufferResponse = false

        init(head: HTTPWire.RequestHead, route: AppRoute?, host: Range<Int>?, keepAlive: Bool, givenRequestID: Range<Int>?, requestNumber: UInt64, retryable: Bool) {
            self.head = head
            self.route = route
            self.host = host
            self.started = .now()
            self.keepAlive = keepAlive
            self.givenRequestID = givenRequestID
            self.requestNumber = requestNumber
            self.retryable = retryable
        }
    }

    /// `stream`: the channel is one HTTP/2 stream's, which has no socket of its own (and
    /// stops the process when asked for an option it lacks).
    init(shared: ProxyShared, loop: LoopState, listener: ProxyServer.Listener, listenPort: Int, descriptor: CInt? = nil, stream: Bool = false) {
        self.stream = stream
        self.shared = shared
        direct = descriptor.map(DirectSend.init)
        self.loop = loop
        self.listener = listener
        self.listenPort = listenPort
        let proto = listener.kind == .https ? "https" : "http"
        forwardingLines = Array("X-Forwarded-Proto: \(proto)\r\nX-Forwarded-Port: \(listenPort)\r\n".utf8)
        shared.handlersAlive.add(1, ordering: .relaxed)
    }

    deinit {
        shared.handlersAlive.subtract(1, ordering: .relaxed)
    }

    // MARK: Client events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        allocator = context.channel.allocator
        loop.track(self)
        if context.channel.isActive { connectionStarted(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        loop.untrack(self)
        // Nothing may call in after this: upstream connections let go of this handler...
        releaseUpstreams()
        // ...and the context goes, or it and this handler would keep each other (and the
        // channel, its pipeline and buffers) alive for good: a few kilobytes for every
        // connection and every HTTP/2 stream the proxy ever served.
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        connectionStarted(context)
        context.fireChannelActive()
    }

    private func connectionStarted(_ context: ChannelHandlerContext) {
        clientAddress = Array(Self.plainAddress(context.channel.remoteAddress?.ipAddress ?? "").utf8)
        waitDeadline = .now() + loop.headerTimeout()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        inClientRead = true
        if closing {
            if let deadline = lingerDeadline, let end = lingerEnd { lingerDeadline = min(max(deadline, .now() + lingerTimeout), end) }
            return
        }
        if let spliced {
            sendUpstream(spliced, buffer)
            return
        }
        if inbound.readableBytes == 0 {
            inbound = buffer
        } else {
            inbound.writeImmutableBuffer(buffer)
        }
        processInbound()
    }

    /// Uses the client's bytes: heads start exchanges, bodies go upstream, and requests
    /// pipelined behind an unfinished exchange wait.
    private func processInbound() {
        guard !processing else { return }
        processing = true
        defer { processing = false }
        // `break`, not `return`: what was written upstream is flushed at the end.
        reading: while inbound.readableBytes > 0, !closing, spliced == nil {
            if let exchange {
                if exchange.requestDone {
                    if inbound.readableBytes >= Self.maxPipelinedBytes, !pausedForPipelining {
                        pausedForPipelining = true
                        try? context.channel.syncOptions?.setOption(.autoRead, value: false)
                    }
                    break reading
                }
                requestBody(exchange)
            } else {
                guard let head = readHead() else { break reading }
                begin(head)
            }
        }
        if pausedForPipelining, exchange == nil || inbound.readableBytes < Self.maxPipelinedBytes {
            pausedForPipelining = false
            try? context.channel.syncOptions?.setOption(.autoRead, value: true)
        }
        if inbound.readableBytes == 0 { inbound = Self.noBytes }
        if !inClientRead { flushUpstream() }
    }

    /// What a client speaking HTTP/2 by prior knowledge (h2c) sends first (RFC 9113 §3.4).
    private static let http2Preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    /// h2c by prior knowledge on a plain listener: this handler leaves the connection to an
    /// HTTP/2 pipeline (one exchange per stream, as over TLS), and the bytes read so far go
    /// to it.
    private func switchToHTTP2() {
        let channel = context.channel
        let bytes = inbound
        inbound = Self.noBytes
        closing = true
        do {
            // Leaves at once (the default removal): the bytes below must not reach it.
            channel.pipeline.syncOperations.removeHandler(context: context).assumeIsolated().whenFailure { _ in channel.close(promise: nil) }
            try ProxyServer.configureHTTP2(channel, shared: shared, state: loop, listener: listener, port: listenPort)
            channel.pipeline.fireChannelRead(NIOAny(bytes))
            channel.pipeline.fireChannelReadComplete()
        } catch {
            channel.close(promise: nil)
        }
    }

    /// Holding no storage: once `inbound` is used up, NIO may reuse the buffer it read into.
    private static let noBytes = ByteBuffer()

    /// Reading resumes once the body held back for a connection has somewhere to go (or
    /// was dropped for a local answer).
    private func resumeAfterConnect() {
        guard pausedForConnect else { return }
        pausedForConnect = false
        try? context.channel.syncOptions?.setOption(.autoRead, value: true)
    }

    private func sendUpstream(_ upstream: UpstreamConnection, _ piece: ByteBuffer) {
        upstream.write(piece)
        upstreamUnflushed = true
    }

    private func flushUpstream() {
        guard upstreamUnflushed else { return }
        upstreamUnflushed = false
        (exchange?.upstream ?? spliced)?.flush()
    }

    private func readHead() -> HTTPWire.RequestHead? {
        if inbound.readableBytes >= Self.http2Preface.count, shared.configuration.h2cPriorKnowledge, listener.kind == .http,
            inbound.readableBytesView.starts(with: Self.http2Preface)
        {
            switchToHTTP2()
            return nil
        }
        do {
            let found = try inbound.withUnsafeReadableBytes { try HTTPWire.headLength($0, from: headScanned) }
            guard let (leading, length) = found else {
                headScanned = inbound.readableBytes
                return nil
            }
            headScanned = 0
            inbound.moveReaderIndex(forwardBy: leading)
            return try HTTPWire.parseRequest(inbound.readSlice(length: length)!, reusing: &kept.requestFields)
        } catch HTTPWire.ParseError.tooLarge {
            // A request line that alone fills the limit is a URI too long (RFC 9110 §15.5.15),
            // as nginx answers it; otherwise the header fields are.
            let lineEnds = inbound.withUnsafeReadableBytes { $0.prefix(HTTPWire.maxHeadBytes).contains(HTTPWire.lf) }
            if lineEnds {
                respondAndClose(.requestHeaderFieldsTooLarge, "The request headers are too large.")
            } else {
                respondAndClose(.uriTooLong, "The request URI is too long.")
            }
        } catch {
            respondAndClose(.badRequest, "The request could not be parsed.")
        }
        return nil
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        inClientRead = false
        flushUpstream()
        // Not passed on: this handler is the pipeline's last, and the tail does nothing with it.
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        clientWritable = context.channel.isWritable
        if clientWritable {
            clientProgress &+= 1
            blockedBytes = 0
            drainClientSpool()
        }
        if let spliced {
            // The client reads slower than the upstream sends: stop reading the upstream.
            spliced.setReading(clientWritable)
        } else if let exchange, let upstream = exchange.upstream {
            // Unless the response is buffered: then the app is read at its own pace, into
            // the spool, up to its limit.
            upstream.setReading(clientWritable || exchange.bufferResponse && (clientSpool?.count ?? 0) < Self.clientSpoolLimit)
        }
        context.fireChannelWritabilityChanged()
    }

    /// Writes what the client spool holds, as far as the client takes it.
    private func drainClientSpool() {
        guard !draining, let spool = clientSpool else { return }
        draining = true
        defer { draining = false }
        direct?.wroteThroughChannel()
        do {
            repeat {
                while context.channel.isWritable, let piece = try spool.take(upTo: Self.spoolPiece, allocator: allocator) {
                    context.write(wrapOutboundOut(piece), promise: nil)
                }
                context.flush()
            } while context.channel.isWritable && !spool.isEmpty && clientOpen
        } catch {
            clientSpool = nil
            context.close(promise: nil)
            return
        }
        guard spool.isEmpty, clientSpool === spool else { return }
        clientSpool = nil
        if exchange == nil, !closing { waitDeadline = .now() + keepaliveTimeout }
        if let after = afterDrain {
            afterDrain = nil
            after()
        }
    }

    /// Holds response bytes for a client that is not taking them (response buffering).
    private func spoolForClient(_ buffer: ByteBuffer) {
        if clientSpool == nil {
            clientSpool = Spool(memoryLimit: Self.spoolMemory, directory: shared.configuration.spoolDirectory, allocator: allocator)
        }
        do {
            try clientSpool!.append(buffer)
        } catch {
            clientSpool = nil
            closing = true
            context.close(promise: nil)
            return
        }
        if clientSpool!.count >= Self.clientSpoolLimit { exchange?.upstream?.setReading(false) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        clientOpen = false
        waitDeadline = nil
        releaseUpstreams()
        loop.untrack(self)
        context.fireChannelInactive()
    }

    /// Closes the upstream connection of a splice or of an unfinished exchange (it cannot
    /// be reused) and detaches it, so none of its events reach this handler again; an
    /// exchange left unanswered is logged as 499.
    private func releaseUpstreams() {
        if let spliced {
            spliced.handler.exchange = nil
            spliced.channel.close(promise: nil)
            self.spliced = nil
        }
        if let exchange {
            drop(exchange.upstream)
            exchange.upstream = nil
            if !exchange.responseDone { log(exchange, status: 499) }
            self.exchange = nil
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    /// Called by the loop's sweep: enforces the header, idle and response deadlines.
    func checkDeadlines(_ now: NIODeadline) {
        if let deadline = lingerDeadline, deadline <= now {
            lingerDeadline = nil
            context.close(promise: nil)
        }
        if let deadline = waitDeadline, deadline <= now, exchange == nil, clientSpool == nil {
            waitDeadline = nil
            context.close(promise: nil)
        }
        if let exchange, let deadline = exchange.responseDeadline, deadline <= now, !exchange.responseStarted {
            exchange.responseDeadline = nil
            drop(exchange.upstream)
            exchange.upstream = nil
            respondLocally(.gatewayTimeout, "The app \(exchange.route?.app.name ?? "") did not answer in time.")
        }
        checkProgress(now)
    }

    /// The timeouts without progress (see `bodyWatch`). Each watch runs only while its
    /// side owes the next step: the body only while the proxy is reading it, the client
    /// only while bytes wait for it, the app only while it is not taking the body.
    private func checkProgress(_ now: NIODeadline) {
        guard let context, spliced == nil, !closing || clientSpool != nil else { return }
        let app = (exchange?.route ?? lastRoute)?.app
        func limit(_ milliseconds: Int64?, _ fallback: TimeAmount) -> TimeAmount { milliseconds.map { .milliseconds($0) } ?? fallback }

        if let exchange, !exchange.requestDone, exchange.requestFraming != .none, !pausedForConnect,
            (try? context.channel.syncOptions?.getOption(.autoRead)) ?? true
        {
            if bodyWatch.stalled(exchange.bodyBytes, now, limit(app?.clientBodyTimeoutMilliseconds, shared.configuration.clientBodyTimeout)) {
                drop(exchange.upstream)
                exchange.upstream = nil
                respondAndClose(.requestTimeout, "The request body did not arrive in time.")
                return
            }
        } else {
            bodyWatch.reset()
        }

        // A stream's own buffer is not known: its writability and the spool stand for it.
        let buffered = stream ? (clientWritable ? 0 : 1) : (try? context.channel.syncOptions?.getOption(.bufferedWritableBytes)) ?? 0
        let unsent = buffered + (clientSpool?.count ?? 0)
        if unsent < clientUnsent { clientProgress &+= 1 }
        clientUnsent = unsent
        if unsent > 0 {
            if sendWatch.stalled(clientProgress, now, limit(app?.sendTimeoutMilliseconds, shared.configuration.sendTimeout)) {
                // The client took nothing for that long: nginx's send_timeout closes it.
                closing = true
                clientSpool = nil
                context.close(promise: nil)
                return
            }
        } else {
            sendWatch.reset()
        }

        if let exchange, let upstream = exchange.upstream, !upstream.channel.isWritable {
            if upstreamSendWatch.stalled(upstreamProgress, now, limit(app?.upstreamSendTimeoutMilliseconds, shared.configuration.upstreamSendTimeout)) {
                drop(upstream)
                exchange.upstream = nil
                if exchange.responseStarted {
                    closing = true
                    context.close(promise: nil)
                } else {
                    respondAndClose(.gatewayTimeout, "The app \(app?.name ?? "") did not take the request in time.")
                }
            }
        } else {
            upstreamSendWatch.reset()
        }
    }

    // MARK: Request

    private func begin(_ head: HTTPWire.RequestHead) {
        waitDeadline = nil
        let summary = HTTPWire.Summary(head.fields, in: head.bytes)
        // An absolute-form target names the host itself, over the Host header.
        let host = head.authority ?? summary.host
        let route = head.bytes.withUnsafeReadableBytes { bytes in
            loop.app(forHost: host.map { UnsafeRawBufferPointer(rebasing: bytes[$0]) }, port: listenPort)
        }
        let plan = RequestPlan(head, summary: summary)
        let framing = plan.framing
        let exchange = Exchange(
            head: head, route: route, host: host, keepAlive: plan.keepAlive,
            givenRequestID: summary.requestID, requestNumber: loop.nextRequestNumber(), retryable: plan.retryable)
        exchange.requestFraming = framing
        self.exchange = exchange
        if let refusal = plan.refusal {
            respondAndClose(refusal.status, refusal.detail)
            return
        }
        if let answer = acmeAnswer(head) {
            respondLocally(.ok, answer, plain: true)
        } else if let route {
            forward(exchange, to: route, summary: summary)
        } else {
            respondLocally(.notFound, exchange.hostName.map { "No app is configured for \(RouteTable.normalize($0))." } ?? "The request has no Host header.")
        }
        if framing == .none, self.exchange === exchange { requestEnd() }
    }

    static let acmeChallengePrefix: StaticString = "/.well-known/acme-challenge/"

    /// The key authorization for an ACME HTTP-01 challenge the certificate client has
    /// pending (RFC 8555 §8.3), or nil: read from its file by the token, a base64url word.
    private func acmeAnswer(_ head: HTTPWire.RequestHead) -> String? {
        // One byte compare for every other request, before anything else is looked at.
        guard head.targetHasPrefix(Self.acmeChallengePrefix), head.isGETOrHEAD, let directory = shared.configuration.acmeChallengeDirectory
        else { return nil }
        let token = head.targetString.dropFirst(Self.acmeChallengePrefix.utf8CodeUnitCount)
        guard !token.isEmpty, token.utf8.count <= 256,
            token.utf8.allSatisfy({ (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0) || $0 == 45 || $0 == 95 })
        else { return nil }
        guard let bytes = try? Beneath.read(String(token), in: directory, limit: 1024, links: .refused) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// An IPv4 peer of a dual-stack listener as IPv4 (`::ffff:192.0.2.1` → `192.0.2.1`),
    /// as apps compare it.
    static func plainAddress(_ address: String) -> String {
        if address.hasPrefix("::ffff:"), address.contains(".") { return String(address.dropFirst(7)) }
        return address
    }

    /// Sends the request on to one of the app's instances, or answers for it.
    private func forward(_ exchange: Exchange, to route: AppRoute, summary: HTTPWire.Summary) {
        let head = exchange.head
        let upgrade = summary.connectionUpgrade ? summary.upgrade : nil
        if route.app.redirectToHTTPS, listener.kind == .http {
            let name = RouteTable.normalize(exchange.hostName ?? "")
            let port = route.app.httpsPort == 443 ? "" : ":\(route.app.httpsPort)"
            respondLocally(.movedPermanently, "Moved to HTTPS.", extra: [("Location", "https://\(name)\(port)\(head.targetString)")])
            return
        }
        if let limit = route.app.maxBodyBytes, case .length(let length) = exchange.requestFraming, length > limit {
            respondAndClose(.payloadTooLarge, "The request body is larger than \(route.app.name) accepts.")
            return
        }
        guard !route.app.upstreams.isEmpty else {
            respondLocally(.badGateway, "The app \(route.app.name) has no running web processes.")
            return
        }
        exchange.upgrading = upgrade != nil
        if summary.expectsContinue, head.minorVersion >= 1, exchange.requestFraming != .none {
            // As nginx: the body is asked for here, not left to the app, since many app
            // servers ignore `Expect` and the client would wait a second before sending.
            write(ByteBuffer(staticString: "HTTP/1.1 100 Continue\r\n\r\n"), flush: true)
        }
        // An upper bound of what is written below: the client's head at most twice (its
        // lines, the X-Forwarded-For values again, the Upgrade value), two bytes more per
        // field, and the proxy's own lines (a given request id is at most 200 bytes).
        let bound = 3 * head.bytes.readableBytes + 4 * head.fields.count + clientAddress.count + forwardingLines.count + 512
            + (route.app.forwarded?.literalBytes ?? 0)
        // Clearing keeps the storage when the socket is done with it (nothing else holds it).
        kept.upstreamHead.clear(minimumCapacity: bound)
        let underscores = route.app.underscoresInHeaders
        head.bytes.withUnsafeReadableBytes { bytes in
            kept.upstreamHead.writeHead(bound: bound) { out in
                out.append(UnsafeRawBufferPointer(rebasing: bytes[head.method]))
                out.append(head.targetNeedsSlash ? " /" : " ")
                out.append(UnsafeRawBufferPointer(rebasing: bytes[head.target]))
                out.append(" HTTP/1.1\r\n")
                if let authority = head.authority {
                    // Forwarded in origin form, with the target's host as Host.
                    out.append("Host: ")
                    out.append(UnsafeRawBufferPointer(rebasing: bytes[authority]))
                    out.append("\r\n")
                }
                // The client's headers are kept as they are; only those the proxy must not
                // forward, or sets itself, are left out.
                for field in head.fields where field.kind.forwardedAsIs || (field.kind == .host && head.authority == nil) || field.kind == .contentLength {
                    if field.kind == .acceptEncoding {
                        exchange.accepted = ResponseCompression.accepted(UnsafeRawBufferPointer(rebasing: bytes[field.value]))
                    }
                    if summary.namesOthers, Self.namedByConnection(field, head.fields, bytes) { continue }
                    // A name with `_` is left out unless the app takes them (see `underscoresInHeaders`).
                    if field.kind == .other, !underscores, memchr(bytes.baseAddress! + field.name.lowerBound, 0x5F, field.name.count) != nil { continue }
                    out.append(UnsafeRawBufferPointer(rebasing: bytes[field.name.lowerBound..<field.value.upperBound]))
                    out.append("\r\n")
                }
                if let upgrade {
                    out.append("Connection: upgrade\r\nUpgrade: ")
                    out.append(UnsafeRawBufferPointer(rebasing: bytes[upgrade]))
                    out.append("\r\n")
                }
                if let forwarded = route.app.forwarded {
                    appendForwarded(forwarded, head, bytes, to: &out)
                } else {
                    // The peer alone, as Dokku's nginx sets it ($remote_addr): a client's own
                    // X-Forwarded-For is not passed on, so apps can trust the value.
                    out.append("X-Forwarded-For: ")
                    out.append(clientAddress)
                    out.append("\r\n")
                    out.append(forwardingLines)
                }
                out.append("X-Request-Start: t=")
                out.append(decimal: UInt64(LoopState.millisecondsSinceEpoch()))
                out.append("\r\nX-Request-Id: ")
                appendRequestID(exchange, to: &out)
                out.append(summary.chunked ? "\r\nTransfer-Encoding: chunked\r\n\r\n" : "\r\n\r\n")
            }
        }
        if exchange.retryable { exchange.upstreamHead = kept.upstreamHead }
        exchange.pending = kept.upstreamHead
        if exchange.requestFraming != .none, upgrade == nil {
            // Request buffering, always on (nginx's `proxy_request_buffering`): the app is
            // connected once the whole body is here (`requestEnd`), so a slow uploader
            // holds no app worker.
            exchange.spoolingRequest = true
            return
        }
        connectUpstream()
    }


    /// The forwarding headers as an app's `x-forwarded-*-value` settings have them.
    private func appendForwarded(_ forwarded: RouteTable.App.Forwarded, _ head: HTTPWire.RequestHead, _ bytes: UnsafeRawBufferPointer, to out: inout HeadWriter) {
        /// The client's values of a header, comma-joined, or false when it sent none.
        func client(_ name: StaticString) -> Bool {
            var found = false
            for field in head.fields where field.kind == .forwardingHeader && HTTPWire.equalsLowercase(UnsafeRawBufferPointer(rebasing: bytes[field.name]), name) {
                if found { out.append(", ") }
                out.append(UnsafeRawBufferPointer(rebasing: bytes[field.value]))
                found = true
            }
            return found
        }
        func literal(_ value: String) {
            var value = value
            value.withUTF8 { out.append(UnsafeRawBufferPointer($0)) }
        }
        let proto: StaticString = listener.kind == .https ? "https" : "http"
        out.append("X-Forwarded-For: ")
        switch forwarded.forValue {
        case .own: out.append(clientAddress)
        case .client: if !client("x-forwarded-for") { out.append(clientAddress) }
        case .appendPeer:
            if client("x-forwarded-for") { out.append(", ") }
            out.append(clientAddress)
        case .literal(let value): literal(value)
        }
        out.append("\r\nX-Forwarded-Proto: ")
        switch forwarded.proto {
        case .client, .appendPeer: if !client("x-forwarded-proto") { out.append(proto) }
        case .own: out.append(proto)
        case .literal(let value): literal(value)
        }
        out.append("\r\nX-Forwarded-Port: ")
        switch forwarded.port {
        case .client, .appendPeer: if !client("x-forwarded-port") { out.append(decimal: UInt64(listenPort)) }
        case .own: out.append(decimal: UInt64(listenPort))
        case .literal(let value): literal(value)
        }
        out.append("\r\n")
        if let ssl = forwarded.ssl {
            out.append("X-Forwarded-Ssl: ")
            literal(ssl)
            out.append("\r\n")
        }
    }

    /// Whether a header is one the client's `Connection` header names as hop-by-hop.
    private static func namedByConnection(_ field: HTTPWire.Field, _ fields: [HTTPWire.Field], _ bytes: UnsafeRawBufferPointer) -> Bool {
        let name = UnsafeRawBufferPointer(rebasing: bytes[field.name])
        var named = false
        for connection in fields where connection.kind == .connection {
            HTTPWire.forEachToken(UnsafeRawBufferPointer(rebasing: bytes[connection.value])) { token in
                if !named, token.count == name.count, zip(token, name).allSatisfy({ $0 | 0x20 == $1 | 0x20 }) { named = true }
            }
        }
        return named
    }

    /// Passes the body bytes at hand to the upstream, following the request's framing.
    private func requestBody(_ exchange: Exchange) {
        var piece: ByteBuffer
        var dataBytes: Int
        var ended = false
        switch exchange.requestFraming {
        case .length(let remaining):
            dataBytes = min(remaining, inbound.readableBytes)
            piece = inbound.readSlice(length: dataBytes)!
            exchange.requestFraming = .length(remaining - dataBytes)
            ended = remaining == dataBytes
        case .chunked:
            var scanner = exchange.requestChunks
            let before = scanner.dataBytes
            do {
                let consumed = try inbound.withUnsafeReadableBytes { try scanner.scan($0) }
                piece = inbound.readSlice(length: consumed)!
            } catch {
                // The app has part of this body: its connection must not carry another request.
                drop(exchange.upstream)
                exchange.upstream = nil
                respondAndClose(.badRequest, "The request's chunked body is malformed.")
                return
            }
            exchange.requestChunks = scanner
            dataBytes = scanner.dataBytes - before
            ended = scanner.isDone
        case .none, .untilClose:
            requestEnd()
            return
        }
        exchange.bodyBytes += dataBytes
        if !exchange.local {
            if let limit = exchange.route?.app.maxBodyBytes, exchange.bodyBytes > limit {
                drop(exchange.upstream)
                exchange.upstream = nil
                respondAndClose(.payloadTooLarge, "The request body is larger than \(exchange.route?.app.name ?? "the app") accepts.")
                return
            }
            exchange.retryable = false
            exchange.upstreamHead = nil
            if exchange.spoolingRequest || exchange.requestSpool != nil {
                spoolRequest(exchange, piece)
                if self.exchange !== exchange || exchange.local { return }
            } else if let upstream = exchange.upstream {
                sendUpstream(upstream, piece)
            } else {
                if exchange.pending == nil {
                    exchange.pending = piece
                } else {
                    exchange.pending!.writeImmutableBuffer(piece)
                }
                if exchange.pending!.readableBytes > Self.maxPendingBytes, !pausedForConnect {
                    pausedForConnect = true
                    try? context.channel.syncOptions?.setOption(.autoRead, value: false)
                }
            }
        }
        if ended { requestEnd() }
    }

    private func requestEnd() {
        guard let exchange else { return }
        exchange.requestDone = true
        if exchange.local {
            finishIfComplete()
            return
        }
        if exchange.spoolingRequest {
            // The whole body is here: only now is an app connection taken.
            exchange.spoolingRequest = false
            connectUpstream()
            return
        }
        if exchange.upstream != nil { armResponseDeadline(exchange) }
        finishIfComplete()
    }

    /// Holds a piece of the request body until the body is complete.
    private func spoolRequest(_ exchange: Exchange, _ piece: ByteBuffer) {
        if exchange.requestSpool == nil {
            exchange.requestSpool = Spool(memoryLimit: Self.spoolMemory, directory: shared.configuration.spoolDirectory, allocator: allocator)
        }
        let spool = exchange.requestSpool!
        do {
            try spool.append(piece)
        } catch {
            exchange.requestSpool = nil
            respondAndClose(.internalServerError, "The request body could not be buffered.")
            return
        }
        let limit = min(exchange.route?.app.maxBodyBytes ?? Self.requestSpoolLimit, 1 << 30)
        if spool.count > limit, exchange.spoolingRequest {
            // Too large to hold whole: the app gets what is here now, then the rest as it
            // comes (as without buffering), with the spool as the queue between. (The
            // connection may open, and take the queue, before this returns.)
            exchange.spoolingRequest = false
            connectUpstream()
        } else if !exchange.spoolingRequest {
            pumpRequestSpool(exchange)
        }
        if let queue = exchange.requestSpool, queue.count > limit, !pausedForConnect {
            // The app reads slower than the client sends: the client waits.
            pausedForConnect = true
            try? context.channel.syncOptions?.setOption(.autoRead, value: false)
        }
    }

    /// A request body larger than this (and than the app's own limit) is not held whole.
    private static let requestSpoolLimit = 16 << 20

    /// Sends the spooled request body to the app as fast as its connection takes it.
    private func pumpRequestSpool(_ exchange: Exchange) {
        // A flush can make the connection writable again at once, and NIO says so from
        // inside it: that call finds `pumping` set, and this loop goes round once more.
        guard !pumping, let spool = exchange.requestSpool, let upstream = exchange.upstream else { return }
        pumping = true
        defer { pumping = false }
        do {
            repeat {
                while upstream.channel.isWritable, let piece = try spool.take(upTo: Self.spoolPiece, allocator: allocator) {
                    upstream.write(piece)
                }
                upstream.flush()
            } while upstream.channel.isWritable && !spool.isEmpty && exchange.upstream === upstream
        } catch {
            exchange.requestSpool = nil
            drop(upstream)
            exchange.upstream = nil
            failUpstream("The request body could not be read back from its buffer.")
            return
        }
        if spool.isEmpty, exchange.requestSpool === spool { exchange.requestSpool = nil }
        // A client held back while the queue was full may send again.
        if spool.count < Self.spoolMemory { resumeAfterConnect() }
    }

    // MARK: Upstream

    private func connectUpstream() {
        guard let exchange, let route = exchange.route else {
            failUpstream("The request has no app to go to.")
            return
        }
        if let previous = exchange.upstreamAddress { exchange.tried.append(previous) }
        guard let index = route.pick(excluding: exchange.tried) else {
            failUpstream("The app \(route.app.name) did not accept the connection.")
            return
        }
        let target = route.app.upstreams[index]
        exchange.upstreamAddress = target
        if let idle = loop.pool.takeIdle(route.idle[index]) {
            attach(idle)
            return
        }
        loop.pool.connect(target, list: route.idle[index], timeout: route.app.connectTimeoutMilliseconds.map { .milliseconds($0) }).assumeIsolated().whenComplete { result in
            switch result {
            case .success(let connection):
                route.markUp(index)
                self.attach(connection)
            case .failure(let error):
                route.markDown(index)
                self.logError(self.exchange, status: nil, upstream: target, "connecting to the instance failed (\(error))")
                // Refused or timed out before a byte was sent: the head and any body read so
                // far wait in `pending`, so any request, a POST too, goes to another instance.
                if let exchange = self.exchange, exchange.upstream == nil, exchange.pending != nil || exchange.requestFraming == .none,
                    exchange.tried.count + 1 < route.app.upstreams.count
                {
                    self.connectUpstream()
                } else {
                    self.failUpstream("The app \(route.app.name) is not answering.")
                }
            }
        }
    }

    private func attach(_ connection: UpstreamConnection) {
        guard let exchange = self.exchange, !exchange.local, clientOpen else {
            loop.pool.release(connection)
            return
        }
        connection.handler.exchange = self
        exchange.upstream = connection
        if let pending = exchange.pending {
            exchange.pending = nil
            if exchange.requestFraming == .none {
                // The whole request: nothing follows it to wait for.
                connection.writeAndFlush(pending)
            } else {
                sendUpstream(connection, pending)
            }
        }
        if exchange.requestSpool != nil {
            upstreamUnflushed = false
            pumpRequestSpool(exchange)
        }
        if !inClientRead { flushUpstream() }
        resumeAfterConnect()
        if !clientWritable, exchange.route?.app.responseBuffering != true {
            connection.setReading(false)
        }
        if exchange.requestDone { armResponseDeadline(exchange) }
    }

    /// Bytes from the upstream: the response head, then its body, as far as they go.
    func upstreamRead(_ buffer: ByteBuffer) {
        if spliced != nil {
            write(buffer)
            return
        }
        guard let exchange else { return }
        if exchange.upstreamInbound.readableBytes == 0 {
            exchange.upstreamInbound = buffer
        } else {
            exchange.upstreamInbound.writeImmutableBuffer(buffer)
        }
        defer { writeStaged() }
        while exchange.upstreamInbound.readableBytes > 0, self.exchange === exchange, !exchange.responseDone {
            if exchange.responseStarted {
                responseBody(exchange)
            } else if !responseHead(exchange) {
                return
            }
        }
        if exchange.responseDone, exchange.upstreamInbound.readableBytes > 0 {
            // More than the response: the connection is out of step; do not reuse it.
            exchange.upstream?.reusable = false
        }
    }

    /// Reads a response head; false while it is incomplete or after the exchange ended.
    private func responseHead(_ exchange: Exchange) -> Bool {
        let head: HTTPWire.ResponseHead
        do {
            let found = try exchange.upstreamInbound.withUnsafeReadableBytes { try HTTPWire.headLength($0, from: exchange.responseHeadScanned) }
            guard let (leading, length) = found else {
                exchange.responseHeadScanned = exchange.upstreamInbound.readableBytes
                return false
            }
            exchange.responseHeadScanned = 0
            exchange.upstreamInbound.moveReaderIndex(forwardBy: leading)
            head = try HTTPWire.parseResponse(exchange.upstreamInbound.readSlice(length: length)!, reusing: &kept.responseFields)
        } catch {
            exchange.retryable = false
            failUpstream("The app \(exchange.route?.app.name ?? "") sent a response that could not be parsed.")
            return false
        }
        if head.status == 101, exchange.upgrading {
            upgrade(exchange, head)
            return false
        }
        if head.status < 200 {
            // Interim responses (100 Continue, 103 Early Hints) reach HTTP/1.1 clients.
            if exchange.head.minorVersion >= 1, head.status != 101 {
                var out = allocator.buffer(capacity: 2 * head.bytes.readableBytes + 64)
                writeResponseHead(head, into: &out, keepChunked: false)
                write(out)
            }
            return true
        }
        exchange.responseDeadline = nil
        exchange.responseStarted = true
        exchange.status = head.status

        let summary = HTTPWire.Summary(head.fields, in: head.bytes)
        let request = ResponsePlan.Request(isHEAD: exchange.head.isHEAD, minorVersion: exchange.head.minorVersion, keepAlive: exchange.keepAlive, accepted: exchange.accepted)
        guard var plan = ResponsePlan(head, summary: summary, request: request, heavyEncodersFull: loop.encoders.full) else {
            exchange.retryable = false
            exchange.responseStarted = false
            failUpstream("The app \(exchange.route?.app.name ?? "") sent an invalid Content-Length.")
            return false
        }
        if let coding = plan.coding {
            exchange.compression = ResponseCompression(coding, length: plan.length, allocator: allocator, budget: loop.encoders)
            // No encoder to be had: the body passes as it came.
            if exchange.compression == nil { plan = ResponsePlan(head, summary: summary, request: request, heavyEncodersFull: false, compress: false)! }
        }
        let framing = plan.framing
        exchange.responseFraming = framing
        if !plan.upstreamReusable { exchange.upstream?.reusable = false }
        exchange.dechunk = plan.dechunk
        exchange.keepAlive = plan.keepAlive

        kept.staged.clear(minimumCapacity: 2 * head.bytes.readableBytes + 2 * head.fields.count + 64)
        staging = true
        let unbuffered = writeResponseHead(
            head, into: &kept.staged, keepChunked: plan.keepChunked, connection: plan.connection.line,
            date: loop.dateField(), strictTransportSecurity: listener.kind == .https ? exchange.route?.app.strictTransportSecurity : nil, compressing: exchange.compression?.coding)
        exchange.bufferResponse = !unbuffered && exchange.route?.app.responseBuffering == true
        if framing == .none { responseEnd(exchange) }
        return true
    }

    /// The status line and the headers worth passing on: hop-by-hop ones are left out.
    /// `date` (a whole `Date: …\r\n` field) is added when the app sent none: an origin
    /// server with a clock must send one (RFC 9110 §6.6.1), and nginx adds it too.
    /// `strictTransportSecurity` (a value) is added as that header when the app sent none:
    /// Dokku's template adds it to HTTPS responses. Returns whether the response asks to
    /// go to the client unbuffered: server-sent events and `X-Accel-Buffering: no` (which
    /// stays with the proxy), as nginx has it.
    @discardableResult
    private func writeResponseHead(
        _ head: HTTPWire.ResponseHead, into out: inout ByteBuffer, keepChunked: Bool, connection: StaticString? = nil, date: [UInt8]? = nil,
        strictTransportSecurity: String? = nil, compressing coding: ResponseCompression.Coding? = nil
    ) -> Bool {
        let compressing = coding != nil
        var unbuffered = false
        // The status line and fields are no longer than in the upstream's head, save two
        // bytes per line for a CRLF where it had a bare LF; an ETag may gain `W/`.
        let bound = 2 * head.bytes.readableBytes + 2 * head.fields.count + 64 + (date?.count ?? 0) + (strictTransportSecurity.map { $0.utf8.count + 32 } ?? 0)
            + (compressing ? 96 : 0)
        head.bytes.withUnsafeReadableBytes { bytes in
            out.writeHead(bound: bound) { out in
                out.append("HTTP/1.1 ")
                out.append(UnsafeRawBufferPointer(rebasing: bytes[head.statusText]))
                out.append("\r\n")
                var dated = false, secured = false
                for field in head.fields {
                    switch field.kind {
                    case .connection, .hopByHop, .upgrade:
                        continue
                    case .xAccelBuffering:
                        if HTTPWire.equalsLowercase(UnsafeRawBufferPointer(rebasing: bytes[field.value]), "no") { unbuffered = true }
                        continue
                    case .transferEncoding where !keepChunked:
                        continue
                    case .contentLength where compressing:
                        continue
                    case .etag where compressing && bytes[field.value.lowerBound] == UInt8(ascii: "\""):
                        // The compressed body is not the same bytes: its tag is weak (as nginx's).
                        out.append(UnsafeRawBufferPointer(rebasing: bytes[field.name.lowerBound..<field.value.lowerBound]))
                        out.append("W/")
                        out.append(UnsafeRawBufferPointer(rebasing: bytes[field.value]))
                        out.append("\r\n")
                    default:
                        if field.kind == .date { dated = true }
                        if field.kind == .strictTransportSecurity { secured = true }
                        if field.kind == .contentType, field.value.count >= 17,
                            HTTPWire.equalsLowercase(UnsafeRawBufferPointer(rebasing: bytes[field.value.lowerBound..<field.value.lowerBound + 17]), "text/event-stream")
                        {
                            unbuffered = true
                        }
                        out.append(UnsafeRawBufferPointer(rebasing: bytes[field.name.lowerBound..<field.value.upperBound]))
                        out.append("\r\n")
                    }
                }
                if !dated, let date { date.withUnsafeBytes { out.append($0) } }
                if !secured, let strictTransportSecurity {
                    out.append("Strict-Transport-Security: ")
                    var value = strictTransportSecurity
                    value.withUTF8 { out.append(UnsafeRawBufferPointer($0)) }
                    out.append("\r\n")
                }
                if let coding {
                    out.append("Content-Encoding: ")
                    out.append(coding.token)
                    out.append("\r\nVary: Accept-Encoding\r\nTransfer-Encoding: chunked\r\n")
                }
                if let connection { out.append(connection) }
                out.append("\r\n")
            }
        }
        return unbuffered
    }

    /// Passes the response body bytes at hand to the client, following its framing.
    private func responseBody(_ exchange: Exchange) {
        switch exchange.responseFraming {
        case .length(let remaining):
            let count = min(remaining, exchange.upstreamInbound.readableBytes)
            sendResponse(exchange, exchange.upstreamInbound.readSlice(length: count)!)
            exchange.responseFraming = .length(remaining - count)
            if remaining == count { responseEnd(exchange) }
        case .chunked:
            var scanner = exchange.responseChunks
            let consumed: Int
            do {
                if exchange.dechunk {
                    let base = exchange.upstreamInbound
                    consumed = try exchange.upstreamInbound.withUnsafeReadableBytes { bytes in
                        try scanner.scan(bytes) { range in
                            self.sendResponse(exchange, base.getSlice(at: base.readerIndex + range.lowerBound, length: range.count)!)
                        }
                    }
                    exchange.upstreamInbound.moveReaderIndex(forwardBy: consumed)
                } else {
                    consumed = try exchange.upstreamInbound.withUnsafeReadableBytes { try scanner.scan($0) }
                    sendResponse(exchange, exchange.upstreamInbound.readSlice(length: consumed)!)
                }
            } catch {
                // Mid-response: this client's response is broken; close it, nothing else.
                drop(exchange.upstream)
                exchange.upstream = nil
                context.close(promise: nil)
                return
            }
            exchange.responseChunks = scanner
            if scanner.isDone { responseEnd(exchange) }
        case .untilClose:
            sendResponse(exchange, exchange.upstreamInbound.readSlice(length: exchange.upstreamInbound.readableBytes)!)
        case .none:
            responseEnd(exchange)
        }
    }

    private func sendResponse(_ exchange: Exchange, _ piece: ByteBuffer) {
        if let compression = exchange.compression {
            compress(exchange, compression, piece, flush: .none)
            return
        }
        sendBytes(exchange, piece)
    }

    /// Passes body bytes through the encoder; what comes out goes to the client as chunks.
    private func compress(_ exchange: Exchange, _ compression: ResponseCompression, _ piece: ByteBuffer, flush: ResponseCompression.Flush) {
        do {
            try compression.compress(piece, flush: flush, allocator: allocator) { sendBytes(exchange, $0) }
        } catch {
            // zlib failed mid-body: this client's response is broken; close it, nothing else.
            exchange.compression = nil
            drop(exchange.upstream)
            exchange.upstream = nil
            closing = true
            context.close(promise: nil)
        }
    }

    private func sendBytes(_ exchange: Exchange, _ piece: ByteBuffer) {
        exchange.responseBytes += piece.readableBytes
        if staging, piece.readableBytes <= Self.stageLimit {
            kept.staged.writeImmutableBuffer(piece)
            return
        }
        writeStaged()
        write(piece)
    }

    /// A small response is copied behind its head: one buffer, one write.
    /// Writes what is staged; `flushing` flushes too, in the same pass when something was.
    private func writeStaged(flushing: Bool = false) {
        if staging {
            staging = false
            if flushing {
                sendNow(kept.staged)
            } else {
                write(kept.staged)
            }
        } else if flushing {
            context.flush()
        }
    }

    /// Writes to the client through NIO, behind everything written before; into the
    /// client spool while it holds bytes, or once NIO holds enough for a slow client.
    private func write(_ buffer: ByteBuffer, flush: Bool = false) {
        if clientSpool != nil {
            spoolForClient(buffer)
            return
        }
        if !clientWritable, exchange?.bufferResponse == true {
            blockedBytes += buffer.readableBytes
            if blockedBytes > Self.clientMemory {
                spoolForClient(buffer)
                return
            }
        }
        direct?.wroteThroughChannel()
        if flush {
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        } else {
            context.write(wrapOutboundOut(buffer), promise: nil)
        }
    }

    /// Writes and flushes; with one `send` when the socket is the proxy's own and NIO has
    /// nothing of this connection queued.
    private func sendNow(_ buffer: ByteBuffer) {
        guard let direct, clientOpen, clientSpool == nil else { return write(buffer, flush: true) }
        if let rest = direct.send(buffer) { write(rest, flush: true) }
    }

    private func responseEnd(_ exchange: Exchange) {
        if let compression = exchange.compression {
            compress(exchange, compression, Self.noBytes, flush: .finish)
            exchange.compression = nil
        }
        exchange.responseDone = true
        if !exchange.requestDone {
            exchange.upstream?.reusable = false
            if bodyMayNeverArrive(exchange) { stopReading(exchange) }
        }
        finishIfComplete()
    }

    /// A response is complete while the request's body is not all here: a client waiting
    /// for `100 Continue` will never send it. Waiting would hold the connection without a
    /// deadline, so the answer goes out and the connection closes instead.
    private func bodyMayNeverArrive(_ exchange: Exchange) -> Bool {
        switch exchange.requestFraming {
        case _ where exchange.requestDone: false
        case .none, .untilClose: false
        case .length(let remaining): inbound.readableBytes < remaining
        case .chunked: true
        }
    }

    private func stopReading(_ exchange: Exchange) {
        exchange.keepAlive = false
        exchange.requestDone = true
        closing = true
        lingering = true
    }

    func upstreamReadComplete() {
        if let exchange, let compression = exchange.compression, !exchange.responseDone, exchange.responseFraming == .chunked || exchange.responseFraming == .untilClose {
            // A streamed body: what came so far goes out rather than waiting in zlib.
            compress(exchange, compression, Self.noBytes, flush: .sync)
            writeStaged()
        }
        context.flush()
    }

    func upstreamWritabilityChanged(_ writable: Bool) {
        if writable { upstreamProgress &+= 1 }
        if let exchange, exchange.requestSpool != nil {
            if writable { pumpRequestSpool(exchange) }
            return
        }
        // The upstream reads the request body slower than the client sends it.
        try? context.channel.syncOptions?.setOption(.autoRead, value: writable)
    }

    func upstreamClosed() {
        if spliced != nil {
            context.close(promise: nil)
            return
        }
        guard let exchange, !exchange.responseDone else { return }
        if exchange.responseStarted, exchange.responseFraming == .untilClose {
            // A response without a length ends when the upstream closes.
            exchange.upstream = nil
            responseEnd(exchange)
            return
        }
        exchange.upstream = nil
        if exchange.responseStarted {
            // Mid-response: this client's response is broken; close it, nothing else.
            context.close(promise: nil)
            return
        }
        if exchange.retryable, let head = exchange.upstreamHead {
            // A pooled connection the upstream had closed, or a process that died before
            // answering: send the request once more, on another instance when there is one.
            exchange.pending = head
            exchange.retryable = false
            exchange.responseDeadline = nil
            exchange.upstreamInbound.clear()
            exchange.responseHeadScanned = 0
            if exchange.tried.count + 1 >= (exchange.route?.app.upstreams.count ?? 0) {
                // Every instance was tried: any of them may take the second attempt.
                exchange.tried.removeAll()
                exchange.upstreamAddress = nil
            }
            connectUpstream()
            return
        }
        failUpstream("The app \(exchange.route?.app.name ?? "") closed the connection before answering.")
    }

    private func failUpstream(_ detail: String) {
        guard let exchange, !exchange.responseStarted else {
            if let exchange { logError(exchange, status: nil, upstream: exchange.upstreamAddress, "the app closed the connection before the end of its response") }
            context.close(promise: nil)
            return
        }
        drop(exchange.upstream)
        exchange.upstream = nil
        if exchange.requestDone {
            respondLocally(.badGateway, detail)
        } else {
            respondAndClose(.badGateway, detail)
        }
    }

    /// Closes an upstream connection the exchange gives up on. Detached first: its closing
    /// must not come back to this handler as the upstream's failure.
    private func drop(_ upstream: UpstreamConnection?) {
        guard let upstream else { return }
        upstream.handler.exchange = nil
        upstream.reusable = false
        upstream.channel.close(promise: nil)
    }

    private func armResponseDeadline(_ exchange: Exchange) {
        guard !exchange.responseStarted, exchange.responseDeadline == nil else { return }
        exchange.responseDeadline = .now() + (exchange.route?.app.responseTimeoutMilliseconds.map { .milliseconds($0) } ?? shared.configuration.responseTimeout)
    }

    // MARK: Completion

    private func finishIfComplete() {
        guard let exchange, exchange.requestDone, exchange.responseDone else { return }
        if let upstream = exchange.upstream { loop.pool.release(upstream) }
        log(exchange, status: exchange.status)
        self.exchange = nil
        lastRoute = exchange.route
        if exchange.keepAlive && !closing {
            // The pool took the upstream connection: its read-complete will not reach us.
            writeStaged(flushing: true)
            direct?.drain(context.channel)
            kept.trim()
            waitDeadline = .now() + keepaliveTimeout
            if inbound.readableBytes > 0 || pausedForPipelining { processInbound() }
        } else {
            writeStaged()
            closing = true
            let channel = context.channel
            let linger = lingering
            if linger {
                let now = NIODeadline.now()
                lingerDeadline = now + lingerTimeout
                lingerEnd = now + Self.lingerTime
            }
            let context = self.context!
            let closeWhenWritten = { [direct] in
                direct?.wroteThroughChannel()
                context.writeAndFlush(NIOAny(Self.noBytes)).assumeIsolated().whenComplete { _ in
                    guard linger else { return channel.close(promise: nil) }
                    let halfClosed = channel.eventLoop.makePromise(of: Void.self)
                    halfClosed.futureResult.whenFailure { _ in channel.close(promise: nil) }
                    channel.close(mode: .output, promise: halfClosed)
                }
            }
            if clientSpool != nil {
                // The rest of the response waits in the spool: the close goes behind it.
                afterDrain = closeWhenWritten
            } else {
                closeWhenWritten()
            }
        }
    }

    /// Answers from the proxy itself and keeps the connection if the request allows.
    private func respondLocally(_ status: HTTPResponseStatus, _ detail: String, extra: [(String, String)] = [], plain: Bool = false) {
        guard let exchange else { return }
        let body = plain ? detail : ErrorPages.page(status, detail: detail)
        exchange.local = true
        exchange.responseStarted = true
        exchange.status = Int(status.code)
        if status.code >= 500 { logError(exchange, status: Int(status.code), upstream: exchange.upstreamAddress, detail) }
        exchange.pending = nil
        resumeAfterConnect()
        if bodyMayNeverArrive(exchange) { stopReading(exchange) }
        var out = context.channel.allocator.buffer(capacity: 512 + body.utf8.count)
        out.writeString("HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\nContent-Type: \(plain ? "text/plain" : "text/html; charset=utf-8")\r\nContent-Length: \(body.utf8.count)\r\n")
        for (name, value) in extra { out.writeString("\(name): \(value)\r\n") }
        out.writeBytes(loop.dateField())
        out.writeStaticString("X-Request-Id: ")
        out.writeHead(bound: 256) { appendRequestID(exchange, to: &$0) }
        out.writeStaticString(exchange.keepAlive ? "\r\n\r\n" : "\r\nConnection: close\r\n\r\n")
        if !exchange.head.isHEAD { out.writeString(body) }
        exchange.responseBytes = body.utf8.count
        exchange.responseDone = true
        write(out, flush: true)
        finishIfComplete()
    }

    /// Answers and closes: the request cannot be drained safely.
    private func respondAndClose(_ status: HTTPResponseStatus, _ detail: String) {
        if let exchange, exchange.responseStarted {
            closing = true
            context.close(promise: nil)
            return
        }
        closing = true
        lingering = true
        if exchange == nil {
            let head = HTTPWire.RequestHead(bytes: ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n"), method: 0..<3, target: 4..<5, minorVersion: 1, fields: [])
            exchange = Exchange(head: head, route: nil, host: nil, keepAlive: false, givenRequestID: nil, requestNumber: loop.nextRequestNumber(), retryable: false)
        }
        exchange!.keepAlive = false
        exchange!.requestDone = true
        respondLocally(status, detail)
    }

    private func appendRequestID(_ exchange: Exchange, to out: inout HeadWriter) {
        if let given = exchange.givenRequestID {
            exchange.head.bytes.withUnsafeReadableBytes { bytes in out.append(UnsafeRawBufferPointer(rebasing: bytes[given])) }
        } else {
            loop.appendRequestID(exchange.requestNumber, to: &out)
        }
    }

    // MARK: Upgrade

    /// A 101 from the upstream: both sides become raw byte streams spliced together.
    private func upgrade(_ exchange: Exchange, _ head: HTTPWire.ResponseHead) {
        guard let upstream = exchange.upstream else { return }
        upstream.reusable = false
        exchange.status = 101
        exchange.responseStarted = true
        var out = context.channel.allocator.buffer(capacity: head.bytes.readableBytes)
        head.bytes.withUnsafeReadableBytes { bytes in
            out.writeStaticString("HTTP/1.1 ")
            out.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[head.statusText]))
            out.writeStaticString("\r\n")
            for field in head.fields where field.kind != .transferEncoding {
                out.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[field.name.lowerBound..<field.value.upperBound]))
                out.writeStaticString("\r\n")
            }
            out.writeStaticString("\r\n")
        }
        write(out)
        // Whatever either side sent past the heads belongs to the new protocol.
        if exchange.upstreamInbound.readableBytes > 0 { write(exchange.upstreamInbound) }
        context.flush()
        if inbound.readableBytes > 0 {
            upstream.write(inbound)
            upstream.flush()
            inbound.clear()
        }
        log(exchange, status: 101)
        self.exchange = nil
        spliced = upstream
        waitDeadline = nil
        loop.untrack(self)
    }

    // MARK: Logging

    /// A field cut to `limit` bytes for a log line. journald splits a line longer than its
    /// `LineMax` (48 KiB by default) into entries, and a client's 60 KB target would start
    /// one with words of its choosing: an `app=OTHER …` line in another app's access log.
    @inline(__always)
    private static func logged(_ range: Range<Int>, at limit: Int) -> Range<Int> {
        range.count > limit ? range.lowerBound..<(range.lowerBound + limit) : range
    }
    /// The most of a client's target, Host and method a log line carries.
    private static let loggedTarget = 16 * 1024, loggedHost = 1024, loggedMethod = 64

    /// `error app=… status=… upstream=… client=… request_id=… method=… uri=… message="…"`:
    /// what nginx writes to an app's error log (`nginx:error-logs`). Rare, so formatted as a
    /// string; the access lines' buffer carries it.
    private func logError(_ exchange: Exchange?, status: Int?, upstream: Upstream?, _ message: String) {
        guard shared.configuration.accessLog, let exchange, let app = exchange.route?.app, app.errorLog else { return }
        let head = exchange.head
        var line = "error app=\(app.name) status=\(status.map(String.init) ?? "-") upstream=\(upstream?.description ?? "-")"
        line += " client=\(String(decoding: clientAddress, as: UTF8.self)) request_id="
        var id = ByteBuffer()
        id.writeHead(bound: 256) { appendRequestID(exchange, to: &$0) }
        line += String(buffer: id)
        head.bytes.withUnsafeReadableBytes { bytes in
            line += " method=" + String(decoding: UnsafeRawBufferPointer(rebasing: bytes[Self.logged(head.method, at: Self.loggedMethod)]), as: UTF8.self)
            line += (head.targetNeedsSlash ? " uri=/" : " uri=") + String(decoding: UnsafeRawBufferPointer(rebasing: bytes[Self.logged(head.target, at: Self.loggedTarget)]), as: UTF8.self)
        }
        line += " message=\"\(message)\"\n"
        loop.log.writeString(line)
    }

    /// Counts the request for `/metrics`, then writes its access line:
    /// `app=… host=… method=… uri=… status=… bytes=… duration_ms=… upstream=… client=…
    /// request_id=…`, written as bytes into the loop's buffer rather than formatted as
    /// strings (`bench/proxy-cpu` compares the proxy with and without it).
    private func log(_ exchange: Exchange, status: Int) {
        let nanoseconds = max(0, (NIODeadline.now() - exchange.started).nanoseconds)
        exchange.route?.traffic.record(status: status, microseconds: UInt64(nanoseconds / 1000))
        guard shared.configuration.accessLog, exchange.route?.app.accessLog != false else { return }
        let tenths = UInt64((nanoseconds + 50_000) / 100_000)
        let head = exchange.head
        let app = exchange.route?.app.name ?? "-"
        let host = exchange.host.flatMap { $0.isEmpty ? nil : Self.logged($0, at: Self.loggedHost) }
        let target = Self.logged(head.target, at: Self.loggedTarget)
        let upstream = exchange.upstreamAddress
        // The method and target are part of the head; numbers take at most 20 digits each,
        // a request id at most 200 bytes, the labels about 80.
        let bound = head.bytes.readableBytes + app.utf8.count + (upstream?.host.utf8.count ?? 0) + clientAddress.count + 400
        head.bytes.withUnsafeReadableBytes { bytes in
            loop.log.writeHead(bound: bound) { out in
                out.append("app=")
                out.append(string: app)
                out.append(" host=")
                if let host {
                    out.append(UnsafeRawBufferPointer(rebasing: bytes[host]))
                } else {
                    out.append("-")
                }
                out.append(" method=")
                out.append(UnsafeRawBufferPointer(rebasing: bytes[Self.logged(head.method, at: Self.loggedMethod)]))
                out.append(head.targetNeedsSlash ? " uri=/" : " uri=")
                out.append(UnsafeRawBufferPointer(rebasing: bytes[target]))
                out.append(" status=")
                out.append(decimal: UInt64(status))
                out.append(" bytes=")
                out.append(decimal: UInt64(exchange.responseBytes))
                out.append(" duration_ms=")
                out.append(decimal: tenths / 10)
                out.append(".")
                out.append(decimal: tenths % 10)
                out.append(" upstream=")
                if let upstream {
                    out.append(string: upstream.host)
                    out.append(":")
                    out.append(decimal: UInt64(upstream.port))
                } else {
                    out.append("-")
                }
                out.append(" client=")
                out.append(clientAddress)
                out.append(" request_id=")
                appendRequestID(exchange, to: &out)
                out.append("\n")
            }
        }
        if loop.log.readableBytes > 32 * 1024 { loop.flushLog() }
    }
}
