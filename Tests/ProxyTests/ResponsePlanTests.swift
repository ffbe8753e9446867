import NIOCore
import Testing

@testable import Proxy

/// `ResponsePlan` without sockets: what becomes of a response head, for each kind of
/// request and response the proxy meets.
@Suite struct ResponsePlanTests {
    private func plan(
        _ head: String, isHEAD: Bool = false, minorVersion: Int = 1, keepAlive: Bool = true, accept: String? = nil, heavyFull: Bool = false
    ) throws -> ResponsePlan? {
        let response = try HTTPWire.parseResponse(ByteBuffer(string: head.replacingOccurrences(of: "\n", with: "\r\n") + "\r\n"))
        let accepted = accept.map { value in
            ByteBuffer(string: value).withUnsafeReadableBytes { ResponseCompression.accepted($0) }
        } ?? ResponseCompression.Accepted(preferred: nil, gzip: false)
        let request = ResponsePlan.Request(isHEAD: isHEAD, minorVersion: minorVersion, keepAlive: keepAlive, accepted: accepted)
        return ResponsePlan(response, summary: HTTPWire.Summary(response.fields, in: response.bytes), request: request, heavyEncodersFull: heavyFull)
    }

    @Test func aPlainResponseKeepsBothConnections() throws {
        let p = try #require(try plan("HTTP/1.1 200 OK\nContent-Length: 5\n"))
        #expect(p.framing == .length(5) && p.upstreamReusable && p.keepAlive && p.connection == .none)
        #expect(p.coding == nil && !p.dechunk && !p.keepChunked)
        // The app closing its side ends only the upstream connection.
        let closing = try #require(try plan("HTTP/1.1 200 OK\nContent-Length: 5\nConnection: close\n"))
        #expect(!closing.upstreamReusable && closing.keepAlive && closing.connection == .none)
        // An HTTP/1.0 app closes unless it says otherwise.
        #expect(try plan("HTTP/1.0 200 OK\nContent-Length: 5\n")?.upstreamReusable == false)
    }

    @Test func bodiesEndedByTheAppsCloseEndTheClientsConnection() throws {
        let p = try #require(try plan("HTTP/1.1 200 OK\nContent-Type: image/png\n"))
        #expect(p.framing == .untilClose && !p.upstreamReusable && !p.keepAlive && p.connection == .close)
        // Compressed, the body is chunked anew, so the client's connection stays.
        let text = try #require(try plan("HTTP/1.1 200 OK\nContent-Type: text/plain\n", accept: "gzip"))
        #expect(text.coding == .gzip && text.keepAlive && !text.upstreamReusable)
    }

    @Test func http10ClientsGetDataWithoutChunksAndCloseOrAKeepAlive() throws {
        let chunked = try #require(try plan("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n", minorVersion: 0))
        #expect(chunked.dechunk && !chunked.keepChunked && !chunked.keepAlive && chunked.connection == .close)
        let sized = try #require(try plan("HTTP/1.1 200 OK\nContent-Length: 2\n", minorVersion: 0))
        #expect(sized.keepAlive && sized.connection == .keepAlive)
        // Never compressed for HTTP/1.0 (nginx's gzip_http_version 1.1).
        #expect(try plan("HTTP/1.1 200 OK\nContent-Type: text/html\nContent-Length: 5000\n", minorVersion: 0, accept: "gzip")?.coding == nil)
        // An HTTP/1.1 client gets the app's chunks as they are.
        let kept = try #require(try plan("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n"))
        #expect(kept.keepChunked && !kept.dechunk && kept.keepAlive)
    }

    @Test func compressionFollowsTheTypeTheStatusTheLengthAndTheClient() throws {
        let html = "HTTP/1.1 200 OK\nContent-Type: text/html; charset=utf-8\nContent-Length: 5000\n"
        #expect(try plan(html, accept: "gzip, br, zstd")?.coding == .zstd)
        #expect(try plan(html, accept: "gzip, br")?.coding == .brotli)
        #expect(try plan(html, accept: "gzip")?.coding == .gzip)
        #expect(try plan(html)?.coding == nil, "no Accept-Encoding")
        #expect(try plan(html, isHEAD: true, accept: "gzip")?.coding == nil)
        #expect(try plan("HTTP/1.1 206 Partial Content\nContent-Type: text/html\nContent-Length: 5000\n", accept: "gzip")?.coding == nil)
        #expect(try plan("HTTP/1.1 404 Not Found\nContent-Type: text/html\nContent-Length: 5000\n", accept: "gzip")?.coding == .gzip)
        #expect(try plan("HTTP/1.1 200 OK\nContent-Type: text/html\nContent-Length: 1000\n", accept: "gzip")?.coding == nil, "too small")
        #expect(try plan("HTTP/1.1 200 OK\nContent-Type: image/png\nContent-Length: 5000\n", accept: "gzip")?.coding == nil)
        #expect(try plan("HTTP/1.1 200 OK\nContent-Type: text/html\nContent-Encoding: br\nContent-Length: 5000\n", accept: "gzip")?.coding == nil)
        #expect(try plan("HTTP/1.1 204 No Content\nContent-Type: text/html\n", accept: "gzip")?.coding == nil)
        // A compressed chunked body is taken apart and chunked anew; its length goes.
        let chunked = try #require(try plan("HTTP/1.1 200 OK\nContent-Type: text/css\nTransfer-Encoding: chunked\n", accept: "gzip"))
        #expect(chunked.dechunk && !chunked.keepChunked && chunked.length == nil)
        #expect(try plan(html, accept: "gzip")?.length == 5000)
    }

    @Test func withNoHeavyEncoderFreeZstdAndBrotliGiveWayToGzip() throws {
        let css = "HTTP/1.1 200 OK\nContent-Type: text/css\nContent-Length: 5000\n"
        #expect(try plan(css, accept: "zstd, gzip", heavyFull: true)?.coding == .gzip)
        #expect(try plan(css, accept: "br", heavyFull: true)?.coding == nil)
        #expect(try plan(css, accept: "gzip", heavyFull: true)?.coding == .gzip)
    }

    @Test func anInvalidLengthHasNoPlan() throws {
        #expect(try plan("HTTP/1.1 200 OK\nContent-Length: five\n") == nil)
        #expect(try plan("HTTP/1.1 200 OK\nContent-Length: 5\nContent-Length: 6\n") == nil)
        // HEAD and 304 have no body whatever the length says.
        #expect(try plan("HTTP/1.1 200 OK\nContent-Length: 5000\n", isHEAD: true)?.framing == HTTPWire.Framing.none)
        #expect(try plan("HTTP/1.1 304 Not Modified\nContent-Length: 5000\n")?.framing == HTTPWire.Framing.none)
    }
}
