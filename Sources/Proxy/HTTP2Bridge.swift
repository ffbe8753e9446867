internal import NIOCore
internal import NIOHPACK
internal import NIOHTTP2

/// One HTTP/2 stream presented to `HTTPProxyHandler` as an HTTP/1.1 connection that carries
/// one request: the stream's HEADERS, DATA and trailers become a request head and body on
/// the wire, and the HTTP/1.1 response the handler writes becomes HEADERS, DATA and
/// trailers again. Routing, pools, retries, buffering, timeouts and the access log are
/// the handler's, the same for both protocols; each stream has its own handler, its own
/// upstream connection from the loop's pool, and its own flow control (the stream
/// channel's writability and `autoRead`), so a slow stream holds back only itself.
final class HTTP2Bridge: ChannelDuplexHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = HTTP2Frame.FramePayload

    // MARK: Request: HTTP/2 frames to HTTP/1.1 bytes

    private enum RequestState {
        case head
        /// The head waits to see whether a body follows (kept at most until the read ends).
        case headHeld(ByteBuffer)
        case body(chunked: Bool)
        case done
    }

    private var request = RequestState.head
    private var isHEAD = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .headers(let headers):
            requestHeaders(context, headers.headers, endStream: headers.endStream)
        case .data(let data):
            guard case .byteBuffer(let bytes) = data.data else { return }
            requestData(context, bytes, endStream: data.endStream)
        default:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if case .headHeld(let head) = request {
            // The body has not started in this read (a client may wait, e.g. for 100
            // Continue): the head goes on now, with the body chunked.
            request = .body(chunked: true)
            context.fireChannelRead(wrapInboundOut(Self.chunkedHead(head)))
        }
        context.fireChannelReadComplete()
    }

    private func requestHeaders(_ context: ChannelHandlerContext, _ headers: HPACKHeaders, endStream: Bool) {
        switch request {
        case .head:
            guard let (head, method) = Self.requestHead(headers, allocator: context.channel.allocator) else {
                context.close(promise: nil)
                return
            }
            isHEAD = method == "HEAD"
            if endStream {
                request = .done
                context.fireChannelRead(wrapInboundOut(Self.endHead(head)))
            } else if headers.first(name: "content-length") != nil {
                request = .body(chunked: false)
                context.fireChannelRead(wrapInboundOut(Self.endHead(head)))
            } else {
                request = .headHeld(head)
            }
        case .headHeld(let head):
            // Trailers straight after the head: an empty chunked body with them.
            request = .done
            var out = Self.chunkedHead(head)
            Self.writeTrailers(headers, into: &out)
            context.fireChannelRead(wrapInboundOut(out))
        case .body(let chunked):
            request = .done
            var out = context.channel.allocator.buffer(capacity: 256)
            if chunked { Self.writeTrailers(headers, into: &out) }
            if out.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(out)) }
        case .done:
            break
        }
    }

    private func requestData(_ context: ChannelHandlerContext, _ bytes: ByteBuffer, endStream: Bool) {
        switch request {
        case .head, .done:
            break
        case .headHeld(let head):
            if endStream, bytes.readableBytes == 0 {
                // HEADERS then an empty DATA that ends the stream: no body after all.
                request = .done
                context.fireChannelRead(wrapInboundOut(Self.endHead(head)))
                return
            }
            request = .body(chunked: true)
            context.fireChannelRead(wrapInboundOut(Self.chunkedHead(head)))
            requestData(context, bytes, endStream: endStream)
        case .body(let chunked):
            if endStream { request = .done }
            guard chunked else {
                if bytes.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(bytes)) }
                return
            }
            var out = context.channel.allocator.buffer(capacity: bytes.readableBytes + 32)
            if bytes.readableBytes > 0 {
                out.writeString(String(bytes.readableBytes, radix: 16))
                out.writeStaticString("\r\n")
                out.writeImmutableBuffer(bytes)
                out.writeStaticString("\r\n")
            }
            if endStream { out.writeStaticString("0\r\n\r\n") }
            if out.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(out)) }
        }
    }

    /// The request line and headers, without the blank line that ends them, and the
    /// method; nil when the pseudo-headers are missing.
    static func requestHead(_ headers: HPACKHeaders, allocator: ByteBufferAllocator) -> (ByteBuffer, method: String)? {
        guard let method = headers.first(name: ":method"), !method.isEmpty else { return nil }
        let authority = headers.first(name: ":authority")
        // CONNECT has no path (the handler refuses it); any other request needs one.
        let target = method == "CONNECT" ? (authority ?? "") : headers.first(name: ":path") ?? ""
        guard !target.isEmpty else { return nil }
        var out = allocator.buffer(capacity: 512)
        out.writeString(method)
        out.writeStaticString(" ")
        out.writeString(target)
        out.writeStaticString(" HTTP/1.1\r\n")
        var cookies: [String] = []
        var hasHost = false
        for (name, value, _) in headers {
            if name.utf8.first == UInt8(ascii: ":") { continue }
            if name == "cookie" {
                // HTTP/2 may split cookies into fields; HTTP/1.1 wants one (RFC 9113 §8.2.3).
                cookies.append(value)
                continue
            }
            if name == "host" { hasHost = true }
            // `te: trailers` is the only TE HTTP/2 allows, and it means nothing hop to hop here.
            if name == "te" { continue }
            out.writeString(name)
            out.writeStaticString(": ")
            out.writeString(value)
            out.writeStaticString("\r\n")
        }
        if !hasHost, let authority {
            out.writeStaticString("Host: ")
            out.writeString(authority)
            out.writeStaticString("\r\n")
        }
        if !cookies.isEmpty {
            out.writeStaticString("Cookie: ")
            out.writeString(cookies.joined(separator: "; "))
            out.writeStaticString("\r\n")
        }
        // HPACK allows bytes HTTP/1.1 does not; NIOHTTP2 refuses CR, LF and NUL, and
        // `HTTPWire`'s parser turns any other misfit into a 400.
        return (out, method)
    }

    private static func endHead(_ head: ByteBuffer) -> ByteBuffer {
        var head = head
        head.writeStaticString("\r\n")
        return head
    }

    private static func chunkedHead(_ head: ByteBuffer) -> ByteBuffer {
        var head = head
        head.writeStaticString("Transfer-Encoding: chunked\r\n\r\n")
        return head
    }

    /// The last chunk with the trailer fields.
    private static func writeTrailers(_ headers: HPACKHeaders, into out: inout ByteBuffer) {
        out.writeStaticString("0\r\n")
        for (name, value, _) in headers where name.utf8.first != UInt8(ascii: ":") {
            out.writeString(name)
            out.writeStaticString(": ")
            out.writeString(value)
            out.writeStaticString("\r\n")
        }
        out.writeStaticString("\r\n")
    }

    // MARK: Response: HTTP/1.1 bytes to HTTP/2 frames

    private enum ResponseState {
        case head
        case body(HTTPWire.Framing)
        case done
    }

    private var response = ResponseState.head
    private var responseBytes = ByteBuffer()
    private var responseHeadScanned = 0
    private var chunks = ChunkedScanner()
    private var trailerBytes: [UInt8] = []
    private var fields: [HTTPWire.Field] = []
    /// The write that ended the stream, while it is in flight: a close waits for it.
    private var ended: EventLoopFuture<Void>?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let bytes = unwrapOutboundIn(data)
        if responseBytes.readableBytes == 0 {
            responseBytes = bytes
        } else {
            responseBytes.writeImmutableBuffer(bytes)
        }
        // Each frame is written as the next is made; the last takes the caller's promise.
        var held: HTTP2Frame.FramePayload?
        do {
            try translate { frame in
                if let previous = held { context.write(wrapOutboundOut(previous), promise: nil) }
                held = frame
            }
        } catch {
            promise?.fail(error)
            context.close(promise: nil)
            return
        }
        if responseBytes.readableBytes == 0 { responseBytes = ByteBuffer() }
        guard let last = held else {
            promise?.succeed(())
            return
        }
        let written = promise ?? context.eventLoop.makePromise()
        context.write(wrapOutboundOut(last), promise: written)
        if case .done = response, ended == nil { ended = written.futureResult }
    }

    /// Turns as much of the response bytes as are complete into frames.
    private func translate(_ emit: (HTTP2Frame.FramePayload) -> Void) throws {
        while responseBytes.readableBytes > 0 {
            switch response {
            case .head:
                let found = try responseBytes.withUnsafeReadableBytes { try HTTPWire.headLength($0, from: responseHeadScanned) }
                guard let (leading, length) = found else {
                    responseHeadScanned = responseBytes.readableBytes
                    return
                }
                responseHeadScanned = 0
                responseBytes.moveReaderIndex(forwardBy: leading)
                let head = try HTTPWire.parseResponse(responseBytes.readSlice(length: length)!, reusing: &fields)
                let (headers, framing) = Self.responseHeaders(head, isHEAD: isHEAD)
                if head.status < 200 {
                    // An interim response (100, 103): the final one follows.
                    emit(.headers(.init(headers: headers)))
                    continue
                }
                emit(.headers(.init(headers: headers, endStream: framing == .none)))
                response = framing == .none ? .done : .body(framing)
            case .body(.length(let remaining)):
                let count = min(remaining, responseBytes.readableBytes)
                let piece = responseBytes.readSlice(length: count)!
                response = count == remaining ? .done : .body(.length(remaining - count))
                emit(.data(.init(data: .byteBuffer(piece), endStream: count == remaining)))
            case .body(.chunked):
                var pieces: [ByteBuffer] = []
                let base = responseBytes
                var trailer = trailerBytes
                let consumed = try responseBytes.withUnsafeReadableBytes { bytes in
                    try chunks.scan(bytes, data: { range in
                        pieces.append(base.getSlice(at: base.readerIndex + range.lowerBound, length: range.count)!)
                    }, trailer: { trailer.append($0) })
                }
                trailerBytes = trailer
                responseBytes.moveReaderIndex(forwardBy: consumed)
                for piece in pieces { emit(.data(.init(data: .byteBuffer(piece)))) }
                if chunks.isDone {
                    response = .done
                    let trailers = try Self.trailers(trailerBytes)
                    if trailers.isEmpty {
                        emit(.data(.init(data: .byteBuffer(ByteBuffer()), endStream: true)))
                    } else {
                        emit(.headers(.init(headers: trailers, endStream: true)))
                    }
                }
            case .body(.untilClose):
                emit(.data(.init(data: .byteBuffer(responseBytes))))
                responseBytes = ByteBuffer()
            case .body(.none):
                response = .done
            case .done:
                // Anything past the response (there should be nothing) is not sent.
                responseBytes.clear()
            }
        }
    }

    /// The response's headers for HTTP/2 (lowercase names, no connection-specific fields)
    /// and how its body is framed in the HTTP/1.1 bytes.
    static func responseHeaders(_ head: HTTPWire.ResponseHead, isHEAD: Bool) -> (HPACKHeaders, HTTPWire.Framing) {
        var headers = HPACKHeaders()
        headers.reserveCapacity(head.fields.count + 1)
        headers.add(name: ":status", value: String(head.status))
        for field in head.fields {
            switch field.kind {
            case .connection, .hopByHop, .upgrade, .transferEncoding:
                continue
            default:
                headers.add(name: head.string(field.name).lowercased(), value: head.string(field.value))
            }
        }
        // The handler has already refused a response with an invalid length.
        let framing = HTTPWire.responseFraming(status: head.status, requestIsHEAD: isHEAD, HTTPWire.Summary(head.fields, in: head.bytes)) ?? .untilClose
        return (headers, framing)
    }

    /// Trailer fields from the trailer section's bytes, read by the same field parser as
    /// heads; connection-specific ones are left out, as from a head.
    static func trailers(_ bytes: [UInt8]) throws -> HPACKHeaders {
        var headers = HPACKHeaders()
        for field in try HTTPWire.parseFields(bytes) {
            switch field.kind {
            case .connection, .hopByHop, .upgrade, .transferEncoding: continue
            default:
                headers.add(
                    name: String(decoding: bytes[field.name], as: UTF8.self).lowercased(), value: String(decoding: bytes[field.value], as: UTF8.self))
            }
        }
        return headers
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        // The stream is closed whole (HTTP/2 has no half-close the handler could use).
        if case .body(.untilClose) = response {
            // The response ran until the upstream closed: this is its end.
            response = .done
            let written = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(wrapOutboundOut(.data(.init(data: .byteBuffer(ByteBuffer()), endStream: true))), promise: written)
            ended = written.futureResult
        }
        if let ended {
            // Closing now would reset a stream whose last frames still wait for the peer's
            // flow-control window.
            ended.hop(to: context.eventLoop).assumeIsolated().whenComplete { _ in context.close(mode: .all, promise: promise) }
            return
        }
        context.close(mode: .all, promise: promise)
    }
}
