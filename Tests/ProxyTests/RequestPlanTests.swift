import NIOCore
import Testing

@testable import Proxy

/// `RequestPlan` without sockets: framing, keep-alive, retries and refusals for the request
/// heads the proxy meets, smuggling attempts among them.
@Suite struct RequestPlanTests {
    private func plan(_ head: String) throws -> RequestPlan {
        let request = try HTTPWire.parseRequest(ByteBuffer(string: head.replacingOccurrences(of: "\n", with: "\r\n") + "\r\n"))
        return RequestPlan(request, summary: HTTPWire.Summary(request.fields, in: request.bytes))
    }

    @Test func framingFollowsTheLengthOrTheChunks() throws {
        #expect(try plan("GET / HTTP/1.1\nHost: a\n").framing == HTTPWire.Framing.none)
        #expect(try plan("POST / HTTP/1.1\nHost: a\nContent-Length: 0\n").framing == HTTPWire.Framing.none)
        #expect(try plan("POST / HTTP/1.1\nHost: a\nContent-Length: 12\n").framing == .length(12))
        #expect(try plan("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n").framing == .chunked)
        #expect(try plan("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: gzip, chunked\n").refusal == nil)
    }

    @Test func smugglingAttemptsAreRefused() throws {
        for head in [
            "POST / HTTP/1.1\nHost: a\nContent-Length: 5\nTransfer-Encoding: chunked\n",
            "POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked, gzip\n",
            "POST / HTTP/1.1\nHost: a\nTransfer-Encoding: identity\n",
            "POST / HTTP/1.1\nHost: a\nContent-Length: 5\nContent-Length: 6\n",
            "POST / HTTP/1.1\nHost: a\nContent-Length: +5\n",
            "POST / HTTP/1.1\nHost: a\nContent-Length: 5, 6\n",
        ] {
            let refused = try plan(head)
            #expect(refused.refusal == .conflictingFraming, "\(head)")
            #expect(refused.refusal?.status == .badRequest)
        }
        // The same length twice is one length.
        #expect(try plan("POST / HTTP/1.1\nHost: a\nContent-Length: 5\nContent-Length: 5\n").refusal == nil)
    }

    @Test func hostsAndMethodsTheProxyRefuses() throws {
        #expect(try plan("GET / HTTP/1.1\nHost: a\nHost: b\n").refusal == .manyHosts)
        #expect(try plan("GET / HTTP/1.1\n").refusal == .noHost)
        #expect(try plan("GET / HTTP/1.0\n").refusal == nil, "HTTP/1.0 may go without")
        #expect(try plan("GET http://a.test/ HTTP/1.1\n").refusal == nil, "the absolute form names the host")
        let tunnel = try plan("CONNECT a.test:443 HTTP/1.1\nHost: a.test:443\n")
        #expect(tunnel.refusal == .connect && tunnel.refusal?.status == .methodNotAllowed)
    }

    @Test func keepAliveAndRetriesFollowTheVersionTheMethodAndTheBody() throws {
        #expect(try plan("GET / HTTP/1.1\nHost: a\n").keepAlive)
        #expect(try !plan("GET / HTTP/1.1\nHost: a\nConnection: close\n").keepAlive)
        #expect(try !plan("GET / HTTP/1.0\n").keepAlive)
        #expect(try plan("GET / HTTP/1.0\nConnection: keep-alive\n").keepAlive)
        #expect(try plan("GET / HTTP/1.1\nHost: a\n").retryable)
        #expect(try plan("DELETE /x HTTP/1.1\nHost: a\n").retryable)
        #expect(try !plan("POST / HTTP/1.1\nHost: a\n").retryable)
        #expect(try !plan("PUT / HTTP/1.1\nHost: a\nContent-Length: 3\n").retryable, "a body not yet read whole")
    }
}
