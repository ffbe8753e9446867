/// What can go wrong talking to an ACME server, worded for the person at the terminal.
package enum ACMEError: Error, CustomStringConvertible, Sendable {
    /// The server answered with a problem document (RFC 8555 §6.7).
    case problem(type: String, detail: String, status: Int)
    /// The server could not be reached, or its answer could not be read.
    case unreachable(url: String, reason: String)
    /// The server answered something this client cannot use.
    case unexpected(String)
    /// A challenge was refused: the server's reason for the domain.
    case challengeFailed(domain: String, detail: String)
    /// An order or authorization did not settle in time.
    case timedOut(String)
    /// A key could not be read or used.
    case badKey(String)

    package var description: String {
        switch self {
        case .problem(let type, let detail, let status):
            let short = type.replacingOccurrences(of: "urn:ietf:params:acme:error:", with: "")
            return "the ACME server refused (\(status) \(short)): \(detail)"
        case .unreachable(let url, let reason): return "cannot reach the ACME server at \(url): \(reason)"
        case .unexpected(let text): return "unexpected answer from the ACME server: \(text)"
        case .challengeFailed(let domain, let detail): return "validation of \(domain) failed: \(detail)"
        case .timedOut(let what): return "\(what) did not complete in time"
        case .badKey(let text): return text
        }
    }

    /// The server said the nonce was stale: send again with a fresh one.
    var isBadNonce: Bool {
        if case .problem(let type, _, _) = self { return type == "urn:ietf:params:acme:error:badNonce" }
        return false
    }
}
