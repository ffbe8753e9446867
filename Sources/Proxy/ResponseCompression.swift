internal import CompressNIO
internal import NIOCore

/// gzip for responses, as Dokku's nginx template has it on: text, CSS, JavaScript, JSON,
/// XML, SVG and fonts, at level 6, when the client accepts gzip and the body is at least
/// 1,100 bytes (or of unknown length). Never for a body the app encoded itself, never for
/// a HEAD, a range or a status other than 200, 403 or 404 (as nginx's gzip filter), and
/// never to HTTP/1.0 clients (gzip_http_version 1.1). The compressed body is sent chunked.
final class ResponseCompression {
    static let minimumLength = 1100

    private let compressor: ZlibCompressor
    /// Where zlib writes; each time it fills, its bytes go out as one chunk.
    private var window: ByteBuffer

    init?(allocator: ByteBufferAllocator) {
        guard let compressor = try? ZlibCompressor(algorithm: .gzip, configuration: .init(windowSize: 15, compressionLevel: 6, memoryLevel: 8))
        else { return nil }
        self.compressor = compressor
        window = allocator.buffer(capacity: 16 * 1024)
    }

    /// Compresses `piece`; `emit` gets the output as HTTP/1.1 chunks. `.sync` sends all
    /// that was given so far (a streamed response should not wait in zlib); `.finish`
    /// ends the gzip stream and adds the last chunk.
    func compress(_ piece: ByteBuffer, flush: CompressNIOFlush, allocator: ByteBufferAllocator, emit: (ByteBuffer) -> Void) throws {
        var input = piece
        try input.compressStream(with: compressor, window: &window, flush: flush) { output in
            guard output.readableBytes > 0 else { return }
            var chunk = allocator.buffer(capacity: output.readableBytes + 16)
            chunk.writeString(String(output.readableBytes, radix: 16))
            chunk.writeStaticString("\r\n")
            chunk.writeImmutableBuffer(output)
            chunk.writeStaticString("\r\n")
            emit(chunk)
        }
        if flush == .finish { emit(ByteBuffer(staticString: "0\r\n\r\n")) }
    }

    /// Whether an `Accept-Encoding` value accepts gzip (by name or `*`, without `q=0`).
    static func acceptsGzip(_ value: UnsafeRawBufferPointer) -> Bool {
        var accepted = false, refused = false
        HTTPWire.forEachToken(value) { element in
            let semicolon = element.firstIndex(of: UInt8(ascii: ";")) ?? element.count
            var end = semicolon
            while end > 0, element[end - 1] == HTTPWire.space || element[end - 1] == HTTPWire.tab { end -= 1 }
            let coding = UnsafeRawBufferPointer(rebasing: element[0..<end])
            guard HTTPWire.equalsLowercase(coding, "gzip") || HTTPWire.equalsLowercase(coding, "x-gzip") || HTTPWire.equalsLowercase(coding, "*") else { return }
            if Self.weightIsZero(UnsafeRawBufferPointer(rebasing: element[semicolon...])) {
                if !HTTPWire.equalsLowercase(coding, "*") { refused = true }
            } else {
                accepted = true
            }
        }
        return accepted && !refused
    }

    /// `;q=0`, `;q=0.0`, … among the parameters.
    private static func weightIsZero(_ parameters: UnsafeRawBufferPointer) -> Bool {
        let text = String(decoding: parameters, as: UTF8.self).lowercased().filter { $0 != " " && $0 != "\t" }
        for parameter in text.split(separator: ";") where parameter.hasPrefix("q=") {
            return Double(parameter.dropFirst(2)) == 0
        }
        return false
    }

    /// The media types compressed: Dokku's `gzip_types` and nginx's own `text/html`.
    private static let types: Set<String> = [
        "text/html", "text/css", "text/javascript", "text/xml", "text/plain", "text/x-component",
        "application/javascript", "application/x-javascript", "application/json", "application/xml", "application/rss+xml",
        "font/truetype", "application/x-font-ttf", "font/opentype", "application/vnd.ms-fontobject", "image/svg+xml",
    ]

    /// Whether a `Content-Type` value names one of `types` (parameters ignored).
    static func compressible(contentType: UnsafeRawBufferPointer) -> Bool {
        guard contentType.count <= 128 else { return false }
        let end = contentType.firstIndex(of: UInt8(ascii: ";")) ?? contentType.count
        let type = String(decoding: contentType[0..<end], as: UTF8.self).lowercased().filter { $0 != " " && $0 != "\t" }
        return types.contains(type)
    }
}
