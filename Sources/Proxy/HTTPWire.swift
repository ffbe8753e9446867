#if canImport(Glibc)
internal import Glibc
#endif
internal import NIOCore

/// HTTP/1.1 on the wire, as the proxy needs it: heads are found and checked in the bytes
/// they arrived in, and described by offsets rather than copied into strings, so a request
/// can be forwarded with a few memory copies. Bodies are never parsed beyond their framing.
///
/// The checks are those of RFC 9112 that keep a proxy safe: tokens where tokens belong,
/// no control characters in values, no obsolete line folding, and one framing per message.
enum HTTPWire {
    /// The largest head accepted (request line or status line plus headers).
    static let maxHeadBytes = 64 * 1024

    enum ParseError: Error, Equatable {
        /// Not HTTP/1.x, or a character where it may not be.
        case malformed(String)
        /// The head grew past `maxHeadBytes` without ending.
        case tooLarge
    }

    /// One header line, by offsets into its head's bytes.
    struct Field {
        var kind: HeaderName
        var name: Range<Int>
        /// Without surrounding whitespace.
        var value: Range<Int>
    }

    /// How a message's body is delimited.
    enum Framing: Equatable {
        case none
        case length(Int)
        case chunked
        /// A response that runs until the upstream closes.
        case untilClose
    }

    /// A parsed request head. `bytes` holds exactly the head; the ranges index into it.
    struct RequestHead {
        var bytes: ByteBuffer
        var method: Range<Int>
        var target: Range<Int>
        var minorVersion: Int
        var fields: [Field]
        /// An absolute-form target's authority (`GET http://b.test/x`): the request's host,
        /// over any Host header (RFC 9112 §3.2.2). `target` is then its origin-form part.
        var authority: Range<Int>? = nil
        /// The origin-form part of an absolute-form target lacks its leading `/`
        /// (`http://b.test` or `http://b.test?q`): one is written before it.
        var targetNeedsSlash = false

        var isHEAD: Bool { methodIs("HEAD") }
        var isGETOrHEAD: Bool { methodIs("GET") || methodIs("HEAD") }

        /// Whether the target starts with `prefix` (compared in place, no copy).
        func targetHasPrefix(_ prefix: StaticString) -> Bool {
            guard !targetNeedsSlash, target.count >= prefix.utf8CodeUnitCount else { return false }
            return bytes.withUnsafeReadableBytes { bytes in
                memcmp(bytes.baseAddress! + target.lowerBound, prefix.utf8Start, prefix.utf8CodeUnitCount) == 0
            }
        }
        /// A method that may be sent again (RFC 9110 §9.2.2).
        var isIdempotent: Bool {
            methodIs("GET") || methodIs("HEAD") || methodIs("PUT") || methodIs("DELETE") || methodIs("OPTIONS") || methodIs("TRACE")
        }

        func methodIs(_ name: StaticString) -> Bool {
            guard method.count == name.utf8CodeUnitCount else { return false }
            return bytes.withUnsafeReadableBytes { bytes in
                memcmp(bytes.baseAddress! + method.lowerBound, name.utf8Start, method.count) == 0
            }
        }
        /// The target in origin form, as forwarded.
        var targetString: String { (targetNeedsSlash ? "/" : "") + (bytes.getString(at: target.lowerBound, length: target.count) ?? "") }

        func string(_ range: Range<Int>) -> String {
            bytes.getString(at: range.lowerBound, length: range.count) ?? ""
        }
    }

    /// A parsed response head.
    struct ResponseHead {
        var bytes: ByteBuffer
        var status: Int
        /// The status code and reason phrase as sent, e.g. `200 OK`.
        var statusText: Range<Int>
        var minorVersion: Int
        var fields: [Field]

        func string(_ range: Range<Int>) -> String {
            bytes.getString(at: range.lowerBound, length: range.count) ?? ""
        }
    }

    /// What a head's headers say about routing, framing and the connection, read in one pass.
    struct Summary {
        var host: Range<Int>?
        var hosts = 0
        var contentLength: Int?
        /// A Content-Length that is not a number, or two that differ.
        var badLength = false
        var transferEncoding = false
        /// The last transfer coding is `chunked`.
        var chunked = false
        var close = false, keepAlive = false, connectionUpgrade = false
        /// `Connection` names other headers, which are then hop-by-hop.
        var namesOthers = false
        var upgrade: Range<Int>?
        /// A usable `X-Request-Id` (not empty, at most 200 bytes).
        var requestID: Range<Int>?
        /// `Expect: 100-continue`.
        var expectsContinue = false

        init(_ fields: [Field], in head: ByteBuffer) {
            head.withUnsafeReadableBytes { bytes in
                for field in fields {
                    let value = UnsafeRawBufferPointer(rebasing: bytes[field.value])
                    switch field.kind {
                    case .host:
                        hosts += 1
                        host = host ?? field.value
                    case .contentLength:
                        let length = HTTPWire.contentLength(value)
                        if length == nil || contentLength != nil && contentLength != length { badLength = true }
                        contentLength = length
                    case .transferEncoding:
                        transferEncoding = true
                        chunked = false
                        HTTPWire.forEachToken(value) { chunked = HTTPWire.equalsLowercase($0, "chunked") }
                    case .connection:
                        HTTPWire.forEachToken(value) { token in
                            if HTTPWire.equalsLowercase(token, "close") {
                                close = true
                            } else if HTTPWire.equalsLowercase(token, "keep-alive") {
                                keepAlive = true
                            } else if HTTPWire.equalsLowercase(token, "upgrade") {
                                connectionUpgrade = true
                            } else {
                                namesOthers = true
                            }
                        }
                    case .upgrade:
                        upgrade = field.value
                    case .xRequestID:
                        if !field.value.isEmpty, field.value.count <= 200 { requestID = field.value }
                    case .expect:
                        expectsContinue = HTTPWire.equalsLowercase(value, "100-continue")
                    default:
                        break
                    }
                }
            }
        }

        /// Whether the connection stays open after this message: HTTP/1.1 unless `close`,
        /// HTTP/1.0 only with `keep-alive`.
        func persists(minorVersion: Int) -> Bool {
            !close && (minorVersion >= 1 || keepAlive)
        }
    }

    // MARK: Finding heads

    /// The length of the head at the start of `bytes` (up to and including its blank
    /// line), nil while it is incomplete. `leading` is how many empty lines precede it,
    /// which a server should ignore before a request line. `from` is where an earlier
    /// look at the same, shorter, bytes stopped, so a head arriving in pieces is scanned once.
    static func headLength(_ bytes: UnsafeRawBufferPointer, from: Int = 0) throws -> (leading: Int, length: Int)? {
        var start = 0
        while start < bytes.count, bytes[start] == cr || bytes[start] == lf { start += 1 }
        guard start < bytes.count else { return nil }
        var index = max(start, from - 3)
        while index < bytes.count {
            guard let found = memchrIndex(bytes, lf, from: index) else { break }
            let next = found + 1
            if next < bytes.count, bytes[next] == lf { return try checked(start, next + 1 - start) }
            if next + 1 < bytes.count, bytes[next] == cr, bytes[next + 1] == lf { return try checked(start, next + 2 - start) }
            if next + 1 >= bytes.count { break }
            index = next
        }
        if bytes.count - start > maxHeadBytes { throw ParseError.tooLarge }
        return nil
    }

    private static func checked(_ leading: Int, _ length: Int) throws -> (leading: Int, length: Int) {
        guard length <= maxHeadBytes else { throw ParseError.tooLarge }
        return (leading, length)
    }

    // MARK: Parsing heads

    /// Parses a request head (exactly the bytes `headLength` delimited).
    static func parseRequest(_ head: ByteBuffer) throws -> RequestHead {
        var fields: [Field] = []
        return try parseRequest(head, reusing: &fields)
    }

    /// Parses a request head, its fields in `fields`' storage when nothing else holds it
    /// (a connection keeps one array for its requests: one allocation fewer per request).
    static func parseRequest(_ head: ByteBuffer, reusing fields: inout [Field]) throws -> RequestHead {
        try head.withUnsafeReadableBytes { bytes in
            var lines = LineReader(bytes: bytes)
            guard let line = try lines.next() else { throw ParseError.malformed("empty request") }
            // method SP request-target SP HTTP-version
            guard let firstSpace = index(of: space, in: bytes, line) else { throw ParseError.malformed("no request target") }
            let method = line.lowerBound..<firstSpace
            guard !method.isEmpty, method.allSatisfy({ isTokenByte(bytes[$0]) }) else { throw ParseError.malformed("bad method") }
            guard let secondSpace = index(of: space, in: bytes, firstSpace + 1..<line.upperBound) else { throw ParseError.malformed("no HTTP version") }
            let target = firstSpace + 1..<secondSpace
            guard !target.isEmpty, target.allSatisfy({ bytes[$0] > space && bytes[$0] != 0x7F }) else { throw ParseError.malformed("bad request target") }
            let minor = try version(bytes, secondSpace + 1..<line.upperBound)
            try readFields(bytes, from: lines.position, into: &fields)
            var request = RequestHead(bytes: head, method: method, target: target, minorVersion: minor, fields: fields)
            if bytes[target.lowerBound] != slash, let (authority, rest) = try absoluteForm(bytes, target) {
                request.authority = authority
                request.target = rest
                request.targetNeedsSlash = rest.isEmpty || bytes[rest.lowerBound] != slash
            }
            return request
        }
    }

    /// An `http://` or `https://` target's authority and the rest of it (path and query);
    /// nil for any other form (`*`, an authority-form CONNECT target). An authority with
    /// userinfo or nothing in it is refused.
    private static func absoluteForm(_ bytes: UnsafeRawBufferPointer, _ target: Range<Int>) throws -> (Range<Int>, Range<Int>)? {
        var start = target.lowerBound
        for letter in "http".utf8 {
            guard start < target.upperBound, bytes[start] | 0x20 == letter else { return nil }
            start += 1
        }
        if start < target.upperBound, bytes[start] | 0x20 == UInt8(ascii: "s") { start += 1 }
        for letter in "://".utf8 {
            guard start < target.upperBound, bytes[start] == letter else { return nil }
            start += 1
        }
        var end = start
        while end < target.upperBound, ![slash, UInt8(ascii: "?"), UInt8(ascii: "#")].contains(bytes[end]) {
            guard bytes[end] != UInt8(ascii: "@") else { throw ParseError.malformed("userinfo in the request target") }
            end += 1
        }
        guard end > start else { throw ParseError.malformed("no host in the request target") }
        return (start..<end, end..<target.upperBound)
    }

    /// Parses a response head.
    static func parseResponse(_ head: ByteBuffer) throws -> ResponseHead {
        var fields: [Field] = []
        return try parseResponse(head, reusing: &fields)
    }

    /// Parses a response head, its fields in `fields`' storage (see `parseRequest`).
    static func parseResponse(_ head: ByteBuffer, reusing fields: inout [Field]) throws -> ResponseHead {
        try head.withUnsafeReadableBytes { bytes in
            var lines = LineReader(bytes: bytes)
            guard let line = try lines.next(), line.count >= 12 else { throw ParseError.malformed("short status line") }
            // HTTP-version SP 3DIGIT [SP reason-phrase]
            let minor = try version(bytes, line.lowerBound..<line.lowerBound + 8)
            let code = line.lowerBound + 9..<line.lowerBound + 12
            guard bytes[line.lowerBound + 8] == space, code.allSatisfy({ isDigit(bytes[$0]) }) else { throw ParseError.malformed("bad status line") }
            guard line.count == 12 || bytes[line.lowerBound + 12] == space else { throw ParseError.malformed("bad status line") }
            let status = code.reduce(0) { $0 * 10 + Int(bytes[$1] - zero) }
            guard (100...999).contains(status) else { throw ParseError.malformed("bad status code") }
            let statusText = code.lowerBound..<line.upperBound
            guard statusText.allSatisfy({ bytes[$0] >= space && bytes[$0] != 0x7F || bytes[$0] == tab }) else { throw ParseError.malformed("bad reason phrase") }
            try readFields(bytes, from: lines.position, into: &fields)
            return ResponseHead(bytes: head, status: status, statusText: statusText, minorVersion: minor, fields: fields)
        }
    }

    /// Parses header lines alone, ended by a blank line: a chunked body's trailer section.
    static func parseFields(_ bytes: [UInt8]) throws -> [Field] {
        var fields: [Field] = []
        try bytes.withUnsafeBytes { try readFields($0, from: 0, into: &fields) }
        return fields
    }

    /// How a response's body is delimited (RFC 9112 §6.3, in order); nil when its
    /// Content-Length is invalid.
    static func responseFraming(status: Int, requestIsHEAD: Bool, _ summary: Summary) -> Framing? {
        if requestIsHEAD || status == 204 || status == 304 || status < 200 { return Framing.none }
        if summary.transferEncoding { return summary.chunked ? .chunked : .untilClose }
        if summary.badLength { return nil }
        if let length = summary.contentLength { return length > 0 ? .length(length) : Framing.none }
        return .untilClose
    }

    /// `HTTP/1.x` → x.
    private static func version(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) throws -> Int {
        guard range.count == 8 else { throw ParseError.malformed("bad HTTP version") }
        let b = range.lowerBound
        guard bytes[b] == 0x48, bytes[b + 1] == 0x54, bytes[b + 2] == 0x54, bytes[b + 3] == 0x50, bytes[b + 4] == 0x2F,
              bytes[b + 5] == 0x31, bytes[b + 6] == 0x2E, isDigit(bytes[b + 7])
        else { throw ParseError.malformed("bad HTTP version") }
        return Int(bytes[b + 7] - zero)
    }

    /// Reads the header lines from `start` to the blank line that ends the head, each
    /// checked as it is found: token bytes up to the colon, then the value up to the line's
    /// end (`endOfLine`), one pass over each byte.
    private static func readFields(_ bytes: UnsafeRawBufferPointer, from start: Int, into fields: inout [Field]) throws {
        fields.removeAll(keepingCapacity: true)
        fields.reserveCapacity(12)
        let count = bytes.count
        var position = start
        while position < count {
            let first = bytes[position]
            if first == lf { return }
            if first == cr {
                guard position + 1 < count, bytes[position + 1] == lf else { throw ParseError.malformed("bare carriage return") }
                return
            }
            guard first != space, first != tab else { throw ParseError.malformed("obsolete line folding") }
            var colon = position
            while colon < count, isTokenByte(bytes[colon]) { colon += 1 }
            guard colon > position, colon < count, bytes[colon] == Self.colon else {
                let lineEnded = colon == count || bytes[colon] == cr || bytes[colon] == lf
                throw ParseError.malformed(lineEnded ? "header without a colon" : "bad header name")
            }
            var valueStart = colon + 1
            while valueStart < count, bytes[valueStart] == space || bytes[valueStart] == tab { valueStart += 1 }
            let lineEnd = try endOfLine(bytes, from: valueStart)
            var valueEnd = lineEnd
            while valueEnd > valueStart, bytes[valueEnd - 1] == space || bytes[valueEnd - 1] == tab { valueEnd -= 1 }
            let name = position..<colon
            fields.append(Field(kind: HeaderName.classify(UnsafeRawBufferPointer(rebasing: bytes[name])), name: name, value: valueStart..<valueEnd))
            position = lineEnd + (bytes[lineEnd] == cr ? 2 : 1)
        }
    }

    /// Where the line holding `start` ends: the index of its CR LF or LF. On the way, a
    /// field value may hold no control character but tab (RFC 9110 §5.5), so the first
    /// other one must be that line end. Eight bytes at a time: a word with no byte below
    /// 0x20 and none equal to 0x7F passes whole; one with any is looked at byte by byte.
    static func endOfLine(_ bytes: UnsafeRawBufferPointer, from start: Int) throws -> Int {
        guard let base = bytes.baseAddress, start < bytes.count else { throw ParseError.malformed("header line without an end") }
        let count = bytes.count
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        var index = start
        while true {
            if index + 8 <= count {
                let word = (base + index).loadUnaligned(as: UInt64.self)
                let below = (word &- 0x20 &* ones) & ~word & highs
                let deleted = word ^ (0x7F &* ones)
                let flagged = below | ((deleted &- ones) & ~deleted & highs)
                if flagged == 0 {
                    index += 8
                    continue
                }
                // The lowest flagged byte is exact (a borrow only reaches the bytes above
                // a hit): no need to look at the bytes before it one by one.
                index += flagged.trailingZeroBitCount / 8
            }
            let stop = min(index + 8, count)
            guard index < stop else { throw ParseError.malformed("header line without an end") }
            while index < stop {
                let byte = bytes[index]
                if byte < space && byte != tab || byte == 0x7F {
                    if byte == lf || byte == cr && index + 1 < count && bytes[index + 1] == lf { return index }
                    throw ParseError.malformed("control character in a header value")
                }
                index += 1
            }
        }
    }

    /// Lines of a head, without their CRLF or LF. A bare CR is rejected.
    private struct LineReader {
        let bytes: UnsafeRawBufferPointer
        var position = 0

        mutating func next() throws -> Range<Int>? {
            guard position < bytes.count, let lineFeed = memchrIndex(bytes, lf, from: position) else { return nil }
            var end = lineFeed
            if end > position, bytes[end - 1] == cr { end -= 1 }
            let line = position..<end
            position = lineFeed + 1
            return line
        }
    }

    // MARK: Header values

    /// A Content-Length value: digits only.
    static func contentLength(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard !bytes.isEmpty, bytes.count <= 18 else { return nil }
        var value = 0
        for byte in bytes {
            guard isDigit(byte) else { return nil }
            value = value * 10 + Int(byte - zero)
        }
        return value
    }

    /// Calls `body` with each comma-separated token, trimmed, as raw bytes.
    static func forEachToken(_ bytes: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Void) {
        var start = 0
        while start <= bytes.count {
            var end = start
            while end < bytes.count, bytes[end] != comma { end += 1 }
            var a = start, b = end
            while a < b, bytes[a] == space || bytes[a] == tab { a += 1 }
            while b > a, bytes[b - 1] == space || bytes[b - 1] == tab { b -= 1 }
            if b > a { body(UnsafeRawBufferPointer(rebasing: bytes[a..<b])) }
            start = end + 1
        }
    }

    /// `equalsLowercase` for a header name, eight bytes at a time: the parser admits only
    /// token characters in names, and among those setting bit 0x20 changes letters alone
    /// (the literals' `-` and digits have it set already), so one OR lowercases a word.
    static func equalsLowercaseName(_ bytes: UnsafeRawBufferPointer, _ lower: StaticString) -> Bool {
        let count = bytes.count
        guard count == lower.utf8CodeUnitCount else { return false }
        let target = UnsafeRawPointer(lower.utf8Start)
        var index = 0
        while index + 8 <= count {
            let word = bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self) | 0x2020_2020_2020_2020
            guard word == target.loadUnaligned(fromByteOffset: index, as: UInt64.self) else { return false }
            index += 8
        }
        while index < count {
            guard bytes[index] | 0x20 == target.load(fromByteOffset: index, as: UInt8.self) else { return false }
            index += 1
        }
        return true
    }

    /// ASCII case-insensitive comparison with a lowercase literal.
    static func equalsLowercase(_ bytes: UnsafeRawBufferPointer, _ lower: StaticString) -> Bool {
        guard bytes.count == lower.utf8CodeUnitCount else { return false }
        let target = lower.utf8Start
        for index in 0..<bytes.count {
            var byte = bytes[index]
            if byte >= 65 && byte <= 90 { byte |= 0x20 }
            if byte != target[index] { return false }
        }
        return true
    }

    // MARK: Bytes

    static let cr: UInt8 = 13, lf: UInt8 = 10, space: UInt8 = 32, tab: UInt8 = 9, colon: UInt8 = 58, comma: UInt8 = 44, zero: UInt8 = 48, slash: UInt8 = 47

    static func isDigit(_ byte: UInt8) -> Bool { byte >= 48 && byte <= 57 }

    /// RFC 9110 `tchar`. Bit n of the two constants is set when byte n (or 64 + n) is one:
    /// no table in memory, whose global would cost a `swift_once` check per byte.
    static func isTokenByte(_ byte: UInt8) -> Bool {
        let bits: UInt64 = byte < 64 ? 0x03FF_6CFA_0000_0000 : 0x57FF_FFFF_C7FF_FFFE
        return byte < 128 && (bits >> UInt64(byte & 63)) & 1 == 1
    }

    private static func index(of byte: UInt8, in bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int? {
        var index = range.lowerBound
        while index < range.upperBound {
            if bytes[index] == byte { return index }
            index += 1
        }
        return nil
    }

    static func memchrIndex(_ bytes: UnsafeRawBufferPointer, _ byte: UInt8, from start: Int) -> Int? {
        guard start < bytes.count, let base = bytes.baseAddress else { return nil }
        guard let found = memchr(base + start, Int32(byte), bytes.count - start) else { return nil }
        return UnsafeRawPointer(found) - base
    }
}

/// Follows a chunked body through the bytes that carry it, without copying them, to find
/// where it ends and where its data lies (RFC 9112 §7.1). Chunk extensions and trailer
/// fields are passed over; a size line or chunk ending that is not well-formed is an error.
struct ChunkedScanner {
    private enum State {
        case size(digits: Int)
        case sizeEnd
        case extensionBytes
        case sizeLineFeed
        case data
        case dataCarriageReturn
        case dataLineFeed
        case trailerLineStart
        case trailerLine
        case trailerLineFeed
        case finalLineFeed
        case done
    }

    private var state = State.size(digits: 0)
    private var size = 0
    private var remaining = 0
    /// Data bytes seen so far.
    private(set) var dataBytes = 0
    var isDone: Bool { if case .done = state { true } else { false } }

    /// Consumes bytes up to the end of the body; returns how many were part of it. `data`
    /// receives the ranges of chunk data among them, `trailer` each byte of the trailer
    /// section (its lines and the final CRLF).
    mutating func scan(_ bytes: UnsafeRawBufferPointer, data: (Range<Int>) -> Void = { _ in }, trailer: ((UInt8) -> Void)? = nil) throws -> Int {
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if let trailer {
                switch state {
                case .trailerLineStart, .trailerLine, .trailerLineFeed, .finalLineFeed: trailer(byte)
                default: break
                }
            }
            switch state {
            case .size(let digits):
                if let value = Self.hexValue(byte) {
                    guard digits < 15 else { throw HTTPWire.ParseError.malformed("chunk size too large") }
                    size = size * 16 + value
                    state = .size(digits: digits + 1)
                } else {
                    guard digits > 0 else { throw HTTPWire.ParseError.malformed("bad chunk size") }
                    state = .sizeEnd
                    continue
                }
            case .sizeEnd:
                switch byte {
                case HTTPWire.space, HTTPWire.tab: break
                case UInt8(ascii: ";"): state = .extensionBytes
                case HTTPWire.cr: state = .sizeLineFeed
                default: throw HTTPWire.ParseError.malformed("bad chunk size line")
                }
            case .extensionBytes:
                if byte == HTTPWire.cr { state = .sizeLineFeed } else if byte < HTTPWire.space && byte != HTTPWire.tab || byte == 0x7F {
                    throw HTTPWire.ParseError.malformed("control character in a chunk extension")
                }
            case .sizeLineFeed:
                guard byte == HTTPWire.lf else { throw HTTPWire.ParseError.malformed("bad chunk size line") }
                if size == 0 {
                    state = .trailerLineStart
                } else {
                    remaining = size
                    state = .data
                }
                size = 0
            case .data:
                let take = min(remaining, bytes.count - index)
                data(index..<index + take)
                dataBytes += take
                remaining -= take
                index += take
                if remaining == 0 { state = .dataCarriageReturn }
                continue
            case .dataCarriageReturn:
                guard byte == HTTPWire.cr else { throw HTTPWire.ParseError.malformed("chunk data longer than its size") }
                state = .dataLineFeed
            case .dataLineFeed:
                guard byte == HTTPWire.lf else { throw HTTPWire.ParseError.malformed("chunk data longer than its size") }
                state = .size(digits: 0)
            case .trailerLineStart:
                state = byte == HTTPWire.cr ? .finalLineFeed : .trailerLine
                if byte == HTTPWire.lf { throw HTTPWire.ParseError.malformed("bare line feed in trailers") }
            case .trailerLine:
                if byte == HTTPWire.cr { state = .trailerLineFeed } else if byte == HTTPWire.lf { throw HTTPWire.ParseError.malformed("bare line feed in trailers") }
            case .trailerLineFeed:
                guard byte == HTTPWire.lf else { throw HTTPWire.ParseError.malformed("bad trailer line") }
                state = .trailerLineStart
            case .finalLineFeed:
                guard byte == HTTPWire.lf else { throw HTTPWire.ParseError.malformed("bad end of chunked body") }
                state = .done
                return index + 1
            case .done:
                return index
            }
            index += 1
        }
        return index
    }

    private static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case 48...57: Int(byte - 48)
        case 65...70: Int(byte - 55)
        case 97...102: Int(byte - 87)
        default: nil
        }
    }
}

/// Builds a message head straight in a buffer's memory: one reservation and plain copies,
/// where a ByteBuffer write per piece costs bookkeeping each time: writing the request and
/// response heads this way took the proxy from 43,024 to 37,998 instructions per request
/// (`bench/proxy-instructions`). The caller reserves an upper bound of what it writes; a
/// write past it is a bug and traps.
struct HeadWriter {
    private let base: UnsafeMutableRawPointer
    private let capacity: Int
    private(set) var count = 0

    init(_ memory: UnsafeMutableRawBufferPointer) {
        base = memory.baseAddress!
        capacity = memory.count
    }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return }
        precondition(count + bytes.count <= capacity, "head larger than its reservation")
        (base + count).copyMemory(from: source, byteCount: bytes.count)
        count += bytes.count
    }

    mutating func append(_ text: StaticString) {
        append(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// A String's bytes. Named apart from `append(_: StaticString)`: an unlabelled String
    /// overload would take every literal, at the cost of a copy each.
    mutating func append(string text: String) {
        var text = text
        text.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }

    /// A non-negative integer in decimal.
    mutating func append(decimal value: UInt64) {
        append(value, radix: 10)
    }

    /// A non-negative integer in lowercase hexadecimal.
    mutating func append(hex value: UInt64) {
        append(value, radix: 16)
    }

    /// Inlined into the two above, so the divisions are by a constant (a multiplication).
    @inline(__always)
    private mutating func append(_ value: UInt64, radix: UInt64) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        var length = 0
        var rest = value
        withUnsafeMutableBytes(of: &digits) { storage in
            repeat {
                let digit = UInt8(truncatingIfNeeded: rest % radix)
                storage[23 - length] = digit < 10 ? 48 + digit : 87 + digit
                rest /= radix
                length += 1
            } while rest > 0
            append(UnsafeRawBufferPointer(rebasing: storage[(24 - length)...]))
        }
    }
}

extension ByteBuffer {
    /// Writes a head built by `body` into at most `bound` bytes of this buffer.
    mutating func writeHead(bound: Int, _ body: (inout HeadWriter) -> Void) {
        writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { memory in
            var writer = HeadWriter(memory)
            body(&writer)
            return writer.count
        }
    }
}

/// Header names the proxy treats specially, recognised in one pass without allocating.
enum HeaderName: Equatable {
    case host, contentLength, transferEncoding, connection, upgrade, xRequestID
    /// `Date`: the proxy adds one to a response without.
    case date
    /// `Strict-Transport-Security`: an app's own is kept, else the proxy's is added.
    case strictTransportSecurity
    /// `Expect`: the proxy answers `100-continue` itself, as nginx does.
    case expect
    /// What gzip (`ResponseCompression`) looks at.
    case acceptEncoding, contentEncoding, contentType, etag
    /// `X-Accel-Buffering`: an app's `no` turns response buffering off; never sent on.
    case xAccelBuffering
    /// Set by the proxy; a client's value is replaced.
    case forwardingHeader
    /// Never forwarded.
    case hopByHop
    case other

    /// A client's header of this kind goes on to the app as it is (`Host` and
    /// `Content-Length` are decided per request).
    var forwardedAsIs: Bool {
        switch self {
        case .other, .date, .strictTransportSecurity, .acceptEncoding, .contentEncoding, .contentType, .etag, .xAccelBuffering: true
        case .host, .contentLength, .transferEncoding, .connection, .upgrade, .xRequestID, .expect, .forwardingHeader, .hopByHop: false
        }
    }

    static func classify(_ name: UnsafeRawBufferPointer) -> HeaderName {
        let equal = HTTPWire.equalsLowercaseName
        switch name.count {
        case 4 where equal(name, "host"): return .host
        case 4 where equal(name, "date"): return .date
        case 4 where equal(name, "etag"): return .etag
        case 12 where equal(name, "content-type"): return .contentType
        case 15 where equal(name, "accept-encoding"): return .acceptEncoding
        case 16 where equal(name, "content-encoding"): return .contentEncoding
        case 17 where equal(name, "x-accel-buffering"): return .xAccelBuffering
        case 25 where equal(name, "strict-transport-security"): return .strictTransportSecurity
        case 6 where equal(name, "expect"): return .expect
        case 14 where equal(name, "content-length"): return .contentLength
        case 17 where equal(name, "transfer-encoding"): return .transferEncoding
        case 10 where equal(name, "connection"): return .connection
        case 10 where equal(name, "keep-alive"): return .hopByHop
        case 7 where equal(name, "upgrade"): return .upgrade
        case 15 where equal(name, "x-forwarded-for"): return .forwardingHeader
        case 12 where equal(name, "x-request-id"): return .xRequestID
        case 17 where equal(name, "x-forwarded-proto"): return .forwardingHeader
        case 16 where equal(name, "x-forwarded-port"): return .forwardingHeader
        // What says where the request came from or was addressed is the proxy's to say,
        // never the client's (frameworks trust these for the scheme, host and client).
        case 16 where equal(name, "x-forwarded-host"): return .forwardingHeader
        case 9 where equal(name, "forwarded"): return .forwardingHeader
        case 15 where equal(name, "x-forwarded-ssl"): return .forwardingHeader
        case 18 where equal(name, "x-forwarded-scheme"): return .forwardingHeader
        case 18 where equal(name, "x-forwarded-server"): return .forwardingHeader
        case 18 where equal(name, "x-forwarded-prefix"): return .forwardingHeader
        case 15 where equal(name, "x-request-start"): return .forwardingHeader
        case 9 where equal(name, "x-real-ip"): return .forwardingHeader
        case 2 where equal(name, "te"): return .hopByHop
        // `Trailer` is end to end (RFC 9110 §6.6.2): it goes with the chunked body it announces.
        case 16 where equal(name, "proxy-connection"): return .hopByHop
        case 18 where equal(name, "proxy-authenticate"): return .hopByHop
        case 19 where equal(name, "proxy-authorization"): return .hopByHop
        default: return .other
        }
    }
}
