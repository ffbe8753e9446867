internal import NIOCore

/// What the proxy does with an app's final response head (status 200 and up, not a 101 it
/// is upgrading), decided from the request, the head and the encoders free on the loop
/// alone: a value, tested without sockets (`ResponsePlanTests`), that `HTTPProxyHandler`
/// carries out. The first piece of the exchange logic given this shape (issue 21).
struct ResponsePlan {
    /// What of the request the plan depends on.
    struct Request {
        var isHEAD: Bool
        /// HTTP/1.x: 0 or 1.
        var minorVersion: Int
        /// The client's connection may stay open after this exchange (so far).
        var keepAlive: Bool
        /// The codings its `Accept-Encoding` allows.
        var accepted: ResponseCompression.Accepted
    }

    /// The `Connection` field the client gets.
    enum ConnectionField: Equatable {
        case none
        /// The connection ends with this response.
        case close
        /// An HTTP/1.0 client keeps its connection only when told.
        case keepAlive

        var line: StaticString? {
            switch self {
            case .none: nil
            case .close: "Connection: close\r\n"
            case .keepAlive: "Connection: keep-alive\r\n"
            }
        }
    }

    /// How the app's body is delimited.
    var framing: HTTPWire.Framing
    /// The app's connection can take another request after this one.
    var upstreamReusable: Bool
    /// The coding the body is compressed with; nil: it passes as the app sent it.
    var coding: ResponseCompression.Coding?
    /// The app's chunks are taken apart: for an HTTP/1.0 client (which cannot take chunks,
    /// so the end is the close) or to compress the data in them.
    var dechunk: Bool
    /// The app's `Transfer-Encoding: chunked` goes on to the client as it is.
    var keepChunked: Bool
    /// The client's connection stays open after this response.
    var keepAlive: Bool
    var connection: ConnectionField

    /// The body's length, when the app gave one.
    var length: Int? {
        if case .length(let length) = framing { return length }
        return nil
    }

    /// The plan for `head`; nil when its `Content-Length` is invalid (the app's response
    /// cannot be delimited: a 502). `compress: false` leaves compression out (when an
    /// encoder could not be made).
    @inline(__always)
    init?(_ head: HTTPWire.ResponseHead, summary: HTTPWire.Summary, request: Request, heavyEncodersFull: Bool, compress: Bool = true) {
        guard let framing = HTTPWire.responseFraming(status: head.status, requestIsHEAD: request.isHEAD, summary) else { return nil }
        self.framing = framing
        upstreamReusable = summary.persists(minorVersion: head.minorVersion) && framing != .untilClose

        coding = nil
        if compress, var wanted = request.accepted.preferred, framing != .none, request.minorVersion >= 1, Self.compressible(head, framing: framing) {
            // zstd and brotli encoders are large: past the loop's share, gzip (or nothing).
            if wanted != .gzip, heavyEncodersFull, request.accepted.gzip { wanted = .gzip }
            if wanted == .gzip || !heavyEncodersFull { coding = wanted }
        }
        let compressing = coding != nil
        dechunk = framing == .chunked && (request.minorVersion == 0 || compressing)
        keepChunked = summary.transferEncoding && summary.chunked && request.minorVersion >= 1 && !compressing
        // A body that ends at the app's close, or data taken out of its chunks for an
        // HTTP/1.0 client, ends the client's connection too; a compressed body is chunked anew.
        keepAlive = request.keepAlive && !(framing == .untilClose && !compressing) && !(dechunk && !compressing)
        connection = !keepAlive ? .close : request.minorVersion == 0 ? .keepAlive : .none
    }

    /// Whether the response may be compressed at all: status 200, 403 or 404 (as nginx's
    /// gzip filter; never a 206 range), a compressible type, no coding of the app's own,
    /// and a body of unknown length or at least `ResponseCompression.minimumLength`.
    static func compressible(_ head: HTTPWire.ResponseHead, framing: HTTPWire.Framing) -> Bool {
        guard head.status == 200 || head.status == 403 || head.status == 404 else { return false }
        if case .length(let length) = framing, length < ResponseCompression.minimumLength { return false }
        var typed = false
        var encoded = false
        head.bytes.withUnsafeReadableBytes { bytes in
            for field in head.fields {
                switch field.kind {
                case .contentType: typed = ResponseCompression.compressible(contentType: UnsafeRawBufferPointer(rebasing: bytes[field.value]))
                case .contentEncoding: encoded = encoded || !HTTPWire.equalsLowercase(UnsafeRawBufferPointer(rebasing: bytes[field.value]), "identity")
                default: break
                }
            }
        }
        return typed && !encoded
    }
}
