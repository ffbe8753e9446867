internal import NIOHTTP1

/// What the proxy makes of a request head before routing it: how its body is delimited,
/// whether the client's connection may stay open, whether the request could be sent again
/// to another instance, and whether it is refused outright. A value, tested without
/// sockets (`RequestPlanTests`), that `HTTPProxyHandler` carries out; with `ResponsePlan`,
/// the exchange logic taking the shape issue 21 asks for.
struct RequestPlan {
    /// Why a request is answered by the proxy and its connection closed.
    enum Refusal: Equatable {
        /// Both framings, lengths that differ or do not parse, or a last coding other
        /// than chunked: the ways to smuggle one request inside another.
        case conflictingFraming
        case manyHosts
        /// HTTP/1.1 requires one (RFC 9112 §3.2), as nginx does; HTTP/1.0 may go without.
        case noHost
        /// A tunnel is a forward proxy's job; an app behind a reverse proxy never asked for one.
        case connect

        var status: HTTPResponseStatus {
            self == .connect ? .methodNotAllowed : .badRequest
        }

        var detail: String {
            switch self {
            case .conflictingFraming: "Conflicting or invalid Content-Length and Transfer-Encoding headers."
            case .manyHosts: "The request has more than one Host header."
            case .noHost: "An HTTP/1.1 request needs a Host header."
            case .connect: "CONNECT is not allowed here."
            }
        }
    }

    var framing: HTTPWire.Framing
    var keepAlive: Bool
    /// Safe to send to another instance if the first refuses: idempotent and bodiless
    /// (a body is buffered whole before connecting, which makes others safe once they
    /// have not reached an instance; see `HTTPProxyHandler`).
    var retryable: Bool
    var refusal: Refusal?

    @inline(__always)
    init(_ head: HTTPWire.RequestHead, summary: HTTPWire.Summary) {
        framing = summary.chunked ? .chunked : (summary.contentLength ?? 0) > 0 ? .length(summary.contentLength!) : .none
        keepAlive = summary.persists(minorVersion: head.minorVersion)
        retryable = framing == .none && head.isIdempotent
        refusal =
            if summary.transferEncoding && (summary.contentLength != nil || !summary.chunked) || summary.badLength { .conflictingFraming }
            else if summary.hosts > 1 { .manyHosts }
            else if summary.hosts == 0, head.minorVersion >= 1, head.authority == nil { .noHost }
            else if head.methodIs("CONNECT") { .connect }
            else { nil }
    }
}
