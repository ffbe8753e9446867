import NIOCore
import Testing

@testable import Proxy

/// The proxy's HTTP/1.1 head parser and chunk scanner, on bytes.
@Suite struct HTTPWireTests {
    private func headLength(_ text: String, from: Int = 0) throws -> (leading: Int, length: Int)? {
        let buffer = ByteBuffer(string: text)
        return try buffer.withUnsafeReadableBytes { try HTTPWire.headLength($0, from: from) }
    }

    private func request(_ text: String) throws -> HTTPWire.RequestHead {
        try HTTPWire.parseRequest(ByteBuffer(string: text))
    }

    @Test func fieldValuesAreCheckedEightBytesAtATime() {
        // Every byte value at every position of a value that crosses words, before CR LF:
        // the word-wide scan agrees with the rule byte by byte. Control characters but tab
        // are refused, a bare CR too; an LF ends the line where it stands.
        for value in 0...255 {
            let byte = UInt8(value)
            let allowed = byte >= 0x20 && byte != 0x7F || byte == 0x09
            for position in 0..<19 {
                var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: 19) + [13, 10]
                bytes[position] = byte
                let end = try? bytes.withUnsafeBytes { try HTTPWire.endOfLine($0, from: 0) }
                #expect(end == (byte == 10 ? position : allowed ? 19 : nil), "byte \(value) at \(position)")
            }
        }
        let text = Array("gzip, deflate, br; q=\u{00E9}t\u{00E9}\tend\n".utf8)
        #expect(text.withUnsafeBytes { try? HTTPWire.endOfLine($0, from: 0) } == text.count - 1, "tabs and UTF-8 bytes pass")
        #expect(text.withUnsafeBytes { try? HTTPWire.endOfLine($0, from: text.count - 1) } == text.count - 1)
        #expect(text.dropLast().withUnsafeBytes { try? HTTPWire.endOfLine($0, from: 0) } == nil, "a line needs its end")
    }

    @Test func tokenBytesAreThoseOfRFC9110() {
        let tchar = Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
        for value in 0...255 {
            #expect(HTTPWire.isTokenByte(UInt8(value)) == tchar.contains(UInt8(value)), "byte \(value)")
        }
    }

    @Test func findsTheEndOfAHead() throws {
        let head = "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
        #expect(try headLength(head + "body")?.length == head.utf8.count)
        #expect(try headLength("GET / HTTP/1.1\nHost: a\n\nrest")?.length == 24)
        #expect(try headLength("\r\n\r\n" + head)?.leading == 4, "empty lines before a request line are skipped")
        #expect(try headLength("GET / HTTP/1.1\r\nHost: a\r\n\r") == nil)
        #expect(try headLength("GET / HTTP/1.1\r\nHost: a\r\n") == nil)
        // Resuming where an earlier, shorter look stopped finds the same end.
        #expect(try headLength(head, from: head.utf8.count - 2)?.length == head.utf8.count)
        #expect(throws: HTTPWire.ParseError.tooLarge) { try headLength("GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: HTTPWire.maxHeadBytes)) }
    }

    @Test func parsesRequestHeads() throws {
        let head = try request("POST /a?b=c HTTP/1.0\r\nHost: Example.test\r\nContent-Length:  12 \r\nX-Other: v\r\n\r\n")
        #expect(head.string(head.method) == "POST")
        #expect(head.targetString == "/a?b=c")
        #expect(head.minorVersion == 0)
        #expect(head.fields.map(\.kind) == [.host, .contentLength, .other])
        #expect(head.fields.map { head.string($0.value) } == ["Example.test", "12", "v"])
        #expect(head.fields.map { head.string($0.name) } == ["Host", "Content-Length", "X-Other"])
        #expect(!head.isIdempotent)
        #expect(try request("HEAD / HTTP/1.1\r\n\r\n").isHEAD)
        #expect(try request("DELETE /x HTTP/1.1\r\n\r\n").isIdempotent)
    }

    @Test func rejectsMalformedRequestHeads() {
        for bad in [
            "NOT HTTP AT ALL\r\n\r\n",
            "GET /\r\n\r\n",
            "GET / HTTP/2.0\r\n\r\n",
            "GET  / HTTP/1.1\r\n\r\n",
            "G(T / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nNo colon here\r\n\r\n",
            "GET / HTTP/1.1\r\nSpace : before colon\r\n\r\n",
            "GET / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n",
            "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",
            "GET / HTTP/1.1\r\nX: nul\u{0}\r\n\r\n",
        ] {
            #expect(throws: HTTPWire.ParseError.self, "\(bad.debugDescription)") { try request(bad) }
        }
    }

    @Test func parsesResponseHeads() throws {
        let head = try HTTPWire.parseResponse(ByteBuffer(string: "HTTP/1.1 404 Not Found Here\r\nContent-Length: 3\r\n\r\n"))
        #expect(head.status == 404)
        #expect(head.bytes.getString(at: head.statusText.lowerBound, length: head.statusText.count) == "404 Not Found Here")
        #expect(head.fields.map(\.kind) == [.contentLength])
        #expect(try HTTPWire.parseResponse(ByteBuffer(string: "HTTP/1.0 204\r\n\r\n")).status == 204)
        for bad in ["HTTP/1.1 20 OK\r\n\r\n", "HTTP/1.1 2000 OK\r\n\r\n", "ICY 200 OK\r\n\r\n", "HTTP/1.1 200OK\r\n\r\n"] {
            #expect(throws: HTTPWire.ParseError.self, "\(bad.debugDescription)") { try HTTPWire.parseResponse(ByteBuffer(string: bad)) }
        }
    }

    @Test func readsHeaderValues() {
        func length(_ text: String) -> Int? { ByteBuffer(string: text).withUnsafeReadableBytes { HTTPWire.contentLength($0) } }
        #expect(length("0") == 0)
        #expect(length("1048576") == 1_048_576)
        for bad in ["", "+5", "-1", "5 5", "0x10", "1234567890123456789"] { #expect(length(bad) == nil, "\(bad)") }
        var tokens: [String] = []
        ByteBuffer(string: " keep-alive ,, Upgrade,\tX-Secret ").withUnsafeReadableBytes { bytes in
            HTTPWire.forEachToken(bytes) { tokens.append(String(decoding: $0, as: UTF8.self)) }
        }
        #expect(tokens == ["keep-alive", "Upgrade", "X-Secret"])
        func kind(_ name: String) -> HeaderName { ByteBuffer(string: name).withUnsafeReadableBytes { HeaderName.classify($0) } }
        #expect(kind("HOST") == .host)
        #expect(kind("Transfer-Encoding") == .transferEncoding)
        #expect(kind("x-forwarded-PROTO") == .forwardingHeader)
        #expect(kind("Proxy-Connection") == .hopByHop)
        #expect(kind("Hostname") == .other)
    }

    /// Feeds `text` to a scanner in pieces of `step` bytes; returns the data, how many
    /// bytes belonged to the body, and whether it ended.
    private func scan(_ text: String, step: Int) throws -> (data: String, consumed: Int, done: Bool) {
        let bytes = Array(text.utf8)
        var scanner = ChunkedScanner()
        var data: [UInt8] = []
        var consumed = 0
        while consumed < bytes.count, !scanner.isDone {
            let piece = Array(bytes[consumed..<min(bytes.count, consumed + step)])
            let used = try piece.withUnsafeBytes { raw in
                try scanner.scan(raw) { range in data += raw[range] }
            }
            consumed += used
            if used < piece.count { break }
        }
        #expect(scanner.dataBytes == data.count)
        return (String(decoding: data, as: UTF8.self), consumed, scanner.isDone)
    }

    @Test func followsChunkedBodies() throws {
        let body = "5;name=value\r\nhello\r\nB\r\n, world and\r\n0\r\nX-Trailer: yes\r\n\r\n"
        for step in [1, 2, 7, body.utf8.count] {
            let result = try scan(body + "GET /next", step: step)
            #expect(result.data == "hello, world and", "step \(step)")
            #expect(result.consumed == body.utf8.count, "the next request's bytes are left (step \(step))")
            #expect(result.done)
        }
        #expect(try scan("0\r\n\r\n", step: 3) == ("", 5, true))
        #expect(try scan("3\r\nabc\r\n", step: 4).done == false)
    }

    @Test func rejectsMalformedChunks() {
        for bad in ["zz\r\nabc\r\n", "3\r\nabcd\r\n0\r\n\r\n", "\r\n", "3\nabc\r\n", "FFFFFFFFFFFFFFFFF\r\n", "0\r\nX: y\n\r\n"] {
            #expect(throws: HTTPWire.ParseError.self, "\(bad.debugDescription)") { try scan(bad, step: 1) }
        }
    }

    @Test func writesIntegersWithoutFormatting() {
        var buffer = ByteBuffer()
        buffer.writeHead(bound: 64) { out in
            out.append(decimal: 0)
            out.append(" ")
            out.append(decimal: 1_764_325_000_123)
            out.append(" ")
            out.append(hex: UInt64.max)
        }
        #expect(String(buffer: buffer) == "0 1764325000123 ffffffffffffffff")
    }

    @Test func keptStorageLetsGoOfWhatGrewLarge() throws {
        var kept = KeptStorage()
        // Small heads: the storage stays for the next exchange.
        _ = try HTTPWire.parseRequest(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: a\r\n\r\n"), reusing: &kept.requestFields)
        kept.upstreamHead.writeString("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        let (fields, head) = (kept.requestFields.capacity, kept.upstreamHead.capacity)
        kept.trim()
        #expect(kept.requestFields.capacity == fields && kept.upstreamHead.capacity == head)

        // A large head and many fields: given back.
        let many = (0..<200).map { "X-\($0): \(String(repeating: "v", count: 100))\r\n" }.joined()
        _ = try HTTPWire.parseRequest(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: a\r\n" + many + "\r\n"), reusing: &kept.requestFields)
        kept.staged.writeString(many)
        #expect(kept.requestFields.capacity > KeptStorage.fieldsLimit && kept.staged.capacity > KeptStorage.bufferLimit)
        kept.trim()
        #expect(kept.requestFields.capacity <= KeptStorage.fieldsLimit)
        #expect(kept.staged.capacity <= KeptStorage.bufferLimit)
        #expect(kept.upstreamHead.capacity == head, "what stayed small is kept")
    }
}
