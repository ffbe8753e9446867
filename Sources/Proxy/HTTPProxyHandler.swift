internal import Logging
internal import NIOCore
internal import NIOHTTP1

/// The client side of a proxied HTTP/1.1 connection: routes each request by Host, sends
/// it to an upstream from the event loop's pool, streams bodies both ways with
/// backpressure, and answers errors with clear pages. One exchange at a time: requests a
/// client pipelines behind the current one wait in a short queue (reading stops while it
/// is full). Doing this here rather than with NIO's pipelining handler keeps the socket's
/// read interest steady, which saved two `epoll_ctl` calls per request.
///
/// Timeouts are deadlines checked by the event loop's once-a-second sweep rather than
/// timers scheduled and cancelled per request, which profiling showed to be costly.
final class HTTPProxyHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let shared: ProxyShared
    private let loop: LoopState
    private let listener: ProxyServer.Listener
    private let listenPort: Int
    private let listenPortText: String
    private let proto: String
    private var context: ChannelHandlerContext!
    private var clientAddress = ""
    private var exchange: Exchange?
    private var closing = false
    /// Parts of pipelined requests that arrived while an exchange was in progress.
    private var queued: CircularBuffer<HTTPServerRequestPart> = []
    private static let maxQueued = 64
    private var pausedForQueue = false
    /// The connection is closed unless a request head arrives by then.
    private var waitDeadline: NIODeadline?

    /// One request and its response. A class: the handler updates it in place many times
    /// per request.
    private final class Exchange {
        let head: HTTPRequestHead
        let app: RouteTable.App?
        let host: String
        let started: NIODeadline
        var keepAlive: Bool
        var requestID: String
        /// The head as sent upstream.
        var upstreamHead: HTTPRequestHead?
        /// Request parts not yet sent (while connecting).
        var pending: [HTTPClientRequestPart] = []
        var requestDone = false
        var responseStarted = false
        var responseDone = false
        /// Answered by the proxy itself (error page, redirect); the body is drained.
        var local = false
        var upstream: UpstreamConnection?
        var upstreamAddress: Upstream?
        var tried: [Upstream] = []
        /// Safe to send again: an idempotent method whose body is not streaming.
        var retryable: Bool
        var bodyBytes = 0
        var status = 0
        var responseBytes = 0
        /// 504 unless the response head arrives by then.
        var responseDeadline: NIODeadline?
        var upgrading = false
        /// Completes when the response's last part is written.
        var responseWritten: EventLoopFuture<Void>?

        init(head: HTTPRequestHead, app: RouteTable.App?, host: String, keepAlive: Bool, requestID: String, retryable: Bool) {
            self.head = head
            self.app = app
            self.host = host
            self.started = .now()
            self.keepAlive = keepAlive
            self.requestID = requestID
            self.retryable = retryable
        }
    }

    init(shared: ProxyShared, loop: LoopState, listener: ProxyServer.Listener, listenPort: Int) {
        self.shared = shared
        self.loop = loop
        self.listener = listener
        self.listenPort = listenPort
        listenPortText = String(listenPort)
        proto = listener.kind == .https ? "https" : "http"
    }

    // MARK: Client events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        loop.track(self)
        if context.channel.isActive { connectionStarted(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        loop.untrack(self)
    }

    func channelActive(context: ChannelHandlerContext) {
        connectionStarted(context)
        context.fireChannelActive()
    }

    private func connectionStarted(_ context: ChannelHandlerContext) {
        clientAddress = context.channel.remoteAddress?.ipAddress ?? ""
        waitDeadline = .now() + shared.configuration.headerTimeout
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if !queued.isEmpty || (exchange?.requestDone == true) {
            // A pipelined request behind one still being answered.
            queued.append(part)
            if queued.count >= Self.maxQueued, !pausedForQueue {
                pausedForQueue = true
                try? context.channel.syncOptions?.setOption(.autoRead, value: false)
            }
            return
        }
        process(part)
    }

    private func process(_ part: HTTPServerRequestPart) {
        switch part {
        case .head(let head):
            begin(head)
        case .body(let buffer):
            requestBody(buffer)
        case .end(let trailers):
            requestEnd(trailers)
        }
    }

    /// Starts the pipelined requests that waited for the previous exchange to finish.
    private func drainQueue() {
        while exchange == nil || exchange?.requestDone == false, let part = queued.popFirst() {
            process(part)
            if !context.channel.isActive { return }
        }
        if pausedForQueue, queued.count < Self.maxQueued {
            pausedForQueue = false
            try? context.channel.syncOptions?.setOption(.autoRead, value: true)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        exchange?.upstream?.channel.flush()
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        // The client reads slower than the upstream sends: stop reading the upstream.
        if let upstream = exchange?.upstream {
            try? upstream.channel.syncOptions?.setOption(.autoRead, value: context.channel.isWritable)
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        waitDeadline = nil
        if let exchange {
            // The client left mid-exchange: the upstream connection cannot be reused.
            if let upstream = exchange.upstream {
                upstream.reusable = false
                upstream.channel.close(promise: nil)
            }
            if !exchange.responseDone { log(exchange, status: 499) }
            self.exchange = nil
        }
        loop.untrack(self)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let parserError = error as? HTTPParserError, exchange?.responseStarted != true {
            let status: HTTPResponseStatus = parserError == .headerOverflow ? .requestHeaderFieldsTooLarge : .badRequest
            respondAndClose(status, ErrorPages.page(status, detail: status == .badRequest ? "The request could not be parsed." : "The request headers are too large."))
            return
        }
        context.close(promise: nil)
    }

    /// Called by the loop's sweep: enforces the header, idle and response deadlines.
    func checkDeadlines(_ now: NIODeadline) {
        if let deadline = waitDeadline, deadline <= now, exchange == nil {
            waitDeadline = nil
            context.close(promise: nil)
        }
        if let exchange, let deadline = exchange.responseDeadline, deadline <= now, !exchange.responseStarted {
            exchange.responseDeadline = nil
            exchange.upstream.map { $0.reusable = false; $0.channel.close(promise: nil) }
            exchange.upstream = nil
            respondLocally(.gatewayTimeout, ErrorPages.page(.gatewayTimeout, detail: "The app \(exchange.app?.name ?? "") did not answer in time."))
        }
    }

    // MARK: Request

    private func begin(_ head: HTTPRequestHead) {
        waitDeadline = nil
        // One pass over the headers: what routing needs, and the upstream's copy without
        // hop-by-hop headers.
        var host: String?
        var contentLengths: [String] = []
        var chunked = false
        var connectionUpgrade = false
        var upgrade: String?
        var forwardedFor: String?
        var requestID: String?
        var connectionTokens: [String] = []
        var dropped: [String] = []
        for (name, value) in head.headers {
            switch HeaderName.classify(name) {
            case .host:
                host = host ?? value
            case .contentLength:
                contentLengths.append(value)
            case .transferEncoding:
                chunked = true
                dropped.append(name)
            case .connection:
                dropped.append(name)
                for token in value.split(separator: ",") {
                    let token = HeaderName.trim(token)
                    if token == "upgrade" { connectionUpgrade = true } else if token != "keep-alive" && token != "close" { connectionTokens.append(token) }
                }
            case .upgrade:
                upgrade = value
                dropped.append(name)
            case .xForwardedFor:
                forwardedFor = forwardedFor.map { "\($0), \(value)" } ?? value
                dropped.append(name)
            case .xRequestID:
                requestID = value
                dropped.append(name)
            case .forwardingHeader, .hopByHop:
                dropped.append(name)
            case .other:
                break
            }
        }
        // The client's headers are kept as they are (already validated by the decoder);
        // only the few the proxy must not forward, or sets itself, are taken out.
        var forward = head.headers
        for name in dropped + connectionTokens { forward.remove(name: name) }

        let app = Self.lookup(shared, host: host, port: listenPort)
        let method = head.method
        let hasBody = chunked || contentLengths.contains { $0 != "0" }
        let exchange = Exchange(
            head: head, app: app, host: host ?? "", keepAlive: head.isKeepAlive,
            requestID: requestID.flatMap { $0.isEmpty || $0.utf8.count > 200 ? nil : $0 } ?? loop.nextRequestID(),
            retryable: !hasBody && (method == .GET || method == .HEAD || method == .OPTIONS || method == .TRACE || method == .DELETE || method == .PUT))
        self.exchange = exchange

        // Request smuggling guards: both framings, or conflicting lengths.
        if chunked && !contentLengths.isEmpty || contentLengths.count > 1 && Set(contentLengths).count > 1 {
            respondAndClose(.badRequest, ErrorPages.page(.badRequest, detail: "Conflicting Content-Length and Transfer-Encoding headers."))
            return
        }
        guard let app else {
            respondLocally(.notFound, ErrorPages.page(.notFound, detail: host.map { "No app is configured for \(RouteTable.normalize($0))." } ?? "The request has no Host header."))
            return
        }
        if app.redirectToHTTPS, listener.kind == .http {
            let name = RouteTable.normalize(host ?? "")
            let port = app.httpsPort == 443 ? "" : ":\(app.httpsPort)"
            respondLocally(.movedPermanently, ErrorPages.page(.movedPermanently, detail: "Moved to HTTPS."), extra: [("Location", "https://\(name)\(port)\(head.uri)")])
            return
        }
        if let limit = app.maxBodyBytes, let length = contentLengths.first.flatMap({ Int($0) }), length > limit {
            respondAndClose(.payloadTooLarge, ErrorPages.page(.payloadTooLarge, detail: "The request body is larger than \(app.name) accepts."))
            return
        }
        guard !app.upstreams.isEmpty else {
            respondLocally(.badGateway, ErrorPages.page(.badGateway, detail: "The app \(app.name) has no running web processes."))
            return
        }
        if connectionUpgrade, let upgrade {
            exchange.upgrading = true
            forward.add(name: "Connection", value: "upgrade")
            forward.add(name: "Upgrade", value: upgrade)
        }
        forward.add(name: "X-Forwarded-For", value: forwardedFor.map { "\($0), \(clientAddress)" } ?? clientAddress)
        forward.add(name: "X-Forwarded-Proto", value: proto)
        forward.add(name: "X-Forwarded-Port", value: listenPortText)
        forward.add(name: "X-Request-Start", value: loop.requestStart())
        forward.add(name: "X-Request-Id", value: exchange.requestID)
        if chunked { forward.add(name: "Transfer-Encoding", value: "chunked") }
        let upstreamHead = HTTPRequestHead(version: .http1_1, method: head.method, uri: head.uri, headers: forward)
        exchange.upstreamHead = upstreamHead
        exchange.pending.append(.head(upstreamHead))
        connectUpstream()
    }

    private static func lookup(_ shared: ProxyShared, host: String?, port: Int) -> RouteTable.App? {
        shared.routes.withLockedValue { $0.app(forHost: host, port: port) }
    }

    private func requestBody(_ buffer: ByteBuffer) {
        guard let exchange else { return }
        exchange.bodyBytes += buffer.readableBytes
        if exchange.local { return }
        if let limit = exchange.app?.maxBodyBytes, exchange.bodyBytes > limit {
            if !exchange.responseStarted {
                exchange.upstream.map { $0.reusable = false; $0.channel.close(promise: nil) }
                exchange.upstream = nil
                respondAndClose(.payloadTooLarge, ErrorPages.page(.payloadTooLarge, detail: "The request body is larger than \(exchange.app?.name ?? "the app") accepts."))
            } else {
                context.close(promise: nil)
            }
            return
        }
        exchange.retryable = false
        if let upstream = exchange.upstream {
            upstream.channel.write(HTTPClientRequestPart.body(.byteBuffer(buffer)), promise: nil)
        } else {
            exchange.pending.append(.body(.byteBuffer(buffer)))
        }
    }

    private func requestEnd(_ trailers: HTTPHeaders?) {
        guard let exchange else { return }
        exchange.requestDone = true
        if exchange.local {
            finishIfComplete()
            return
        }
        if let upstream = exchange.upstream {
            upstream.channel.writeAndFlush(HTTPClientRequestPart.end(trailers), promise: nil)
            armResponseDeadline(exchange)
        } else {
            exchange.pending.append(.end(trailers))
        }
        finishIfComplete()
    }

    // MARK: Upstream

    private func connectUpstream() {
        guard let exchange, let app = exchange.app, let target = loop.pool.pick(app, excluding: exchange.tried) else {
            failUpstream("The app \(self.exchange?.app?.name ?? "") did not accept the connection.")
            return
        }
        exchange.tried.append(target)
        exchange.upstreamAddress = target
        if let idle = loop.pool.takeIdle(target) {
            attach(idle, reused: true)
            return
        }
        loop.pool.connect(target).assumeIsolated().whenComplete { result in
            switch result {
            case .success(let connection):
                self.attach(connection, reused: false)
            case .failure:
                // Refused or timed out: another instance, when the request may be resent.
                if let exchange = self.exchange, exchange.retryable, exchange.tried.count < app.upstreams.count {
                    self.connectUpstream()
                } else {
                    self.failUpstream("The app \(app.name) is not answering.")
                }
            }
        }
    }

    private func attach(_ connection: UpstreamConnection, reused: Bool) {
        guard let exchange = self.exchange, context.channel.isActive else {
            loop.pool.release(connection)
            return
        }
        connection.handler.exchange = self
        exchange.upstream = connection
        // A fresh connection that breaks is the instance's fault; a reused one may just
        // have been closed by the upstream's keep-alive timeout, so it may be retried.
        if !reused { exchange.tried = exchange.tried.filter { $0 != connection.upstream } + [connection.upstream] }
        for part in exchange.pending {
            connection.channel.write(part, promise: nil)
        }
        exchange.pending.removeAll()
        connection.channel.flush()
        if !context.channel.isWritable {
            try? connection.channel.syncOptions?.setOption(.autoRead, value: false)
        }
        if exchange.requestDone { armResponseDeadline(exchange) }
    }

    func upstreamRead(_ part: HTTPClientResponsePart) {
        guard let exchange else { return }
        switch part {
        case .head(let head):
            if head.status.code < 200 && head.status != .switchingProtocols { return }
            exchange.responseDeadline = nil
            exchange.responseStarted = true
            exchange.status = Int(head.status.code)
            var keepAlive = head.version.minor >= 1
            var dropped: [String] = []
            for (name, value) in head.headers {
                switch HeaderName.classify(name) {
                case .connection:
                    dropped.append(name)
                    for token in value.split(separator: ",") {
                        let token = HeaderName.trim(token)
                        if token == "close" { keepAlive = false } else if token == "keep-alive" { keepAlive = true } else if token != "upgrade" { dropped.append(token) }
                    }
                case .transferEncoding, .hopByHop, .upgrade:
                    dropped.append(name)
                default:
                    continue
                }
            }
            var headers = head.headers
            for name in dropped { headers.remove(name: name) }
            if !keepAlive { exchange.upstream?.reusable = false }
            if head.status == .switchingProtocols, exchange.upgrading {
                upgrade(head)
                return
            }
            if !exchange.keepAlive { headers.add(name: "Connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: exchange.head.version, status: head.status, headers: headers))), promise: nil)
        case .body(let buffer):
            exchange.responseBytes += buffer.readableBytes
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        case .end(let trailers):
            exchange.responseDone = true
            if !exchange.requestDone { exchange.upstream?.reusable = false }
            exchange.responseWritten = context.write(wrapOutboundOut(.end(trailers)))
            finishIfComplete()
        }
    }

    func upstreamReadComplete() {
        context.flush()
    }

    func upstreamWritabilityChanged(_ writable: Bool) {
        // The upstream reads the request body slower than the client sends it.
        try? context.channel.syncOptions?.setOption(.autoRead, value: writable)
    }

    func upstreamClosed() {
        guard let exchange, !exchange.responseDone else { return }
        exchange.upstream = nil
        if exchange.responseStarted {
            // Mid-response: this client's response is broken; close it, nothing else.
            context.close(promise: nil)
            return
        }
        if exchange.retryable, let head = exchange.upstreamHead {
            // A pooled connection the upstream had closed, or a process that died before
            // answering: send the request once more, on another instance when there is one.
            exchange.pending = [.head(head)]
            if exchange.requestDone { exchange.pending.append(.end(nil)) }
            exchange.retryable = false
            exchange.responseDeadline = nil
            if exchange.tried.count >= (exchange.app?.upstreams.count ?? 0) { exchange.tried.removeAll() }
            connectUpstream()
            return
        }
        failUpstream("The app \(exchange.app?.name ?? "") closed the connection before answering.")
    }

    private func failUpstream(_ detail: String) {
        guard let exchange, !exchange.responseStarted else {
            context.close(promise: nil)
            return
        }
        exchange.upstream.map { $0.reusable = false; $0.channel.close(promise: nil) }
        exchange.upstream = nil
        if exchange.requestDone {
            respondLocally(.badGateway, ErrorPages.page(.badGateway, detail: detail))
        } else {
            respondAndClose(.badGateway, ErrorPages.page(.badGateway, detail: detail))
        }
    }

    private func armResponseDeadline(_ exchange: Exchange) {
        guard !exchange.responseStarted, exchange.responseDeadline == nil else { return }
        exchange.responseDeadline = .now() + shared.configuration.responseTimeout
    }

    // MARK: Completion

    private func finishIfComplete() {
        guard let exchange, exchange.requestDone, exchange.responseDone else { return }
        if let upstream = exchange.upstream { loop.pool.release(upstream) }
        log(exchange, status: exchange.status)
        self.exchange = nil
        if exchange.keepAlive && !closing {
            // The pool took the upstream connection: its read-complete will not reach us.
            context.flush()
            waitDeadline = .now() + shared.configuration.idleTimeout
            if !queued.isEmpty { drainQueue() }
        } else {
            context.flush()
            let channel = context.channel
            if let written = exchange.responseWritten {
                written.whenComplete { _ in channel.close(promise: nil) }
            } else {
                channel.close(promise: nil)
            }
        }
    }

    /// Answers from the proxy itself and keeps the connection if the request allows.
    private func respondLocally(_ status: HTTPResponseStatus, _ body: String, extra: [(String, String)] = []) {
        guard let exchange else { return }
        exchange.local = true
        exchange.responseStarted = true
        exchange.status = Int(status.code)
        var headers = HTTPHeaders([("Content-Type", "text/html; charset=utf-8"), ("Content-Length", String(body.utf8.count))])
        headers.add(contentsOf: extra)
        headers.add(name: "X-Request-Id", value: exchange.requestID)
        if !exchange.keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: exchange.head.version, status: status, headers: headers))), promise: nil)
        if exchange.head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        }
        exchange.responseBytes = body.utf8.count
        exchange.responseDone = true
        exchange.pending.removeAll()
        exchange.responseWritten = context.write(wrapOutboundOut(.end(nil)))
        context.flush()
        finishIfComplete()
    }

    /// Answers and closes: the request cannot be drained safely.
    private func respondAndClose(_ status: HTTPResponseStatus, _ body: String) {
        closing = true
        if exchange == nil {
            exchange = Exchange(head: HTTPRequestHead(version: .http1_1, method: .GET, uri: "/"), app: nil, host: "", keepAlive: false, requestID: loop.nextRequestID(), retryable: false)
        }
        exchange!.keepAlive = false
        exchange!.requestDone = true
        respondLocally(status, body)
    }

    // MARK: Upgrade

    /// A 101 from the upstream: both sides become raw byte streams spliced together.
    private func upgrade(_ head: HTTPResponseHead) {
        guard let exchange, let upstream = exchange.upstream else { return }
        upstream.reusable = false
        upstream.handler.exchange = nil
        var headers = HTTPHeaders()
        for (name, value) in head.headers where HeaderName.classify(name) != .transferEncoding {
            headers.add(name: name, value: value)
        }
        let response = HTTPResponseHead(version: head.version, status: head.status, headers: headers)
        let client = context.channel
        log(exchange, status: 101)
        self.exchange = nil
        waitDeadline = nil
        loop.untrack(self)
        let eventLoop = context.eventLoop
        context.writeAndFlush(wrapOutboundOut(.head(response))).assumeIsolated().whenComplete { _ in
            // On the next tick: the write may complete inside the decoders' loops, which
            // must finish (their paused parsers hold the bytes after the upgrade) first.
            eventLoop.assumeIsolated().execute { self.splice(client: client, upstream: upstream) }
        }
    }

    private func splice(client: any Channel, upstream: UpstreamConnection) {
        let (clientGlue, upstreamGlue) = GlueHandler.matchedPair()
        do {
            // Both glues go in before either decoder leaves: a decoder hands the bytes it
            // holds to the next handler as it is removed.
            let upstreamPipeline = upstream.channel.pipeline.syncOperations
            upstreamPipeline.removeHandler(upstream.handler, promise: nil)
            upstreamPipeline.removeHandler(name: "encoder", promise: nil)
            try upstreamPipeline.addHandler(upstreamGlue)
            let clientPipeline = client.pipeline.syncOperations
            clientPipeline.removeHandler(name: "encoder", promise: nil)
            clientPipeline.removeHandler(self, promise: nil)
            try clientPipeline.addHandler(clientGlue)
            upstreamPipeline.removeHandler(name: "decoder", promise: nil)
            clientPipeline.removeHandler(name: "decoder", promise: nil)
            // Bytes the decoders handed over were written without a read-complete to flush them.
            client.flush()
            upstream.channel.flush()
            try? client.syncOptions?.setOption(.autoRead, value: true)
            try? upstream.channel.syncOptions?.setOption(.autoRead, value: true)
            // A read requested while only one glue was in place was held back; ask again.
            client.read()
            upstream.channel.read()
        } catch {
            client.close(promise: nil)
            upstream.channel.close(promise: nil)
        }
    }

    // MARK: Logging

    private func log(_ exchange: Exchange, status: Int) {
        guard shared.configuration.accessLog else { return }
        let elapsed = Double((NIODeadline.now() - exchange.started).nanoseconds) / 1_000_000
        shared.accessLog.write(
            loop: loop,
            app: exchange.app?.name ?? "-", host: exchange.host, method: exchange.head.method.rawValue, uri: exchange.head.uri,
            status: status, bytes: exchange.responseBytes, milliseconds: elapsed,
            upstream: exchange.upstreamAddress?.description ?? "-", requestID: exchange.requestID, client: clientAddress)
    }
}

/// Header names the proxy treats specially, recognised in one pass without allocating.
enum HeaderName: Equatable {
    case host, contentLength, transferEncoding, connection, upgrade, xForwardedFor, xRequestID
    /// Set by the proxy; a client's value is replaced.
    case forwardingHeader
    /// Never forwarded.
    case hopByHop
    case other

    static func classify(_ name: String) -> HeaderName {
        var name = name
        return name.withUTF8 { bytes -> HeaderName in
            switch bytes.count {
            case 4 where equal(bytes, "host"): return .host
            case 14 where equal(bytes, "content-length"): return .contentLength
            case 17 where equal(bytes, "transfer-encoding"): return .transferEncoding
            case 10 where equal(bytes, "connection"): return .connection
            case 10 where equal(bytes, "keep-alive"): return .hopByHop
            case 7 where equal(bytes, "upgrade"): return .upgrade
            case 15 where equal(bytes, "x-forwarded-for"): return .xForwardedFor
            case 12 where equal(bytes, "x-request-id"): return .xRequestID
            case 17 where equal(bytes, "x-forwarded-proto"): return .forwardingHeader
            case 16 where equal(bytes, "x-forwarded-port"): return .forwardingHeader
            case 15 where equal(bytes, "x-request-start"): return .forwardingHeader
            case 9 where equal(bytes, "x-real-ip"): return .forwardingHeader
            case 2 where equal(bytes, "te"): return .hopByHop
            case 7 where equal(bytes, "trailer"): return .hopByHop
            case 16 where equal(bytes, "proxy-connection"): return .hopByHop
            case 18 where equal(bytes, "proxy-authenticate"): return .hopByHop
            case 19 where equal(bytes, "proxy-authorization"): return .hopByHop
            default: return .other
            }
        }
    }

    /// A Connection token, trimmed and lowercased.
    static func trim(_ token: Substring) -> String {
        var token = token
        while let first = token.first, first == " " || first == "\t" { token.removeFirst() }
        while let last = token.last, last == " " || last == "\t" { token.removeLast() }
        return token.lowercased()
    }

    /// ASCII case-insensitive comparison with a lowercase literal of the same length.
    private static func equal(_ bytes: UnsafeBufferPointer<UInt8>, _ lower: StaticString) -> Bool {
        let target = UnsafeBufferPointer(start: lower.utf8Start, count: lower.utf8CodeUnitCount)
        for index in 0..<bytes.count {
            var byte = bytes[index]
            if byte >= 65 && byte <= 90 { byte |= 0x20 }
            if byte != target[index] { return false }
        }
        return true
    }
}
