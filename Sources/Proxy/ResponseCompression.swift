internal import CBrotli
internal import CZstd
internal import CompressNIO
internal import NIOCore

/// Compression for responses, as Dokku's nginx template has gzip on: text, CSS,
/// JavaScript, JSON, XML, SVG and fonts, when the client accepts it and the body is at
/// least 1,100 bytes (or of unknown length). Never for a body the app encoded itself,
/// never for a HEAD, a range or a status other than 200, 403 or 404 (as nginx's gzip
/// filter), and never to HTTP/1.0 clients (gzip_http_version 1.1). The compressed body is
/// sent chunked.
///
/// Besides gzip, zstd (RFC 8878) and brotli (RFC 7932) when the client names them: the
/// client's weights choose, and among equal weights zstd, then brotli, then gzip (the
/// order Caddy's `encode` prefers; both beat gzip for text and zstd costs the least CPU).
final class ResponseCompression {
    static let minimumLength = 1100

    /// A content coding the proxy can produce.
    enum Coding: UInt8 {
        case gzip, brotli, zstd

        /// Its `Content-Encoding` token.
        var token: StaticString {
            switch self {
            case .gzip: "gzip"
            case .brotli: "br"
            case .zstd: "zstd"
            }
        }
    }

    /// How much of what was given must come out now.
    enum Flush {
        /// None: the encoder may hold bytes back for a better ratio.
        case none
        /// All of it, the stream staying open: a streamed response should not wait.
        case sync
        /// All of it, and the stream's end.
        case finish
    }

    struct Failed: Error {}

    private enum Encoder {
        case gzip(ZlibCompressor)
        case brotli(OpaquePointer)
        case zstd(OpaquePointer)
    }

    /// A count of the zstd and brotli encoders alive on one event loop.
    final class Budget {
        fileprivate(set) var heavy = 0
        init() {}
        var full: Bool { heavy >= ResponseCompression.heavyEncodersPerLoop }
    }

    let coding: Coding
    private let encoder: Encoder
    private let budget: Budget?
    /// Where the encoder writes; each time it fills, its bytes go out as one chunk.
    private var window: ByteBuffer

    /// Brotli's quality and window: 4 and 2^19 bytes compress text well at a cost an
    /// on-the-fly proxy can pay (ngx_brotli's window is the same 512 KiB).
    private static let brotliQuality: UInt32 = 4, brotliWindowBits: UInt32 = 19
    /// zstd's level 3 (its default), with a window browsers accept (RFC 9659: at most 8 MiB).
    private static let zstdLevel: Int32 = 3, zstdWindowLog: Int32 = 20

    /// `length` is the body's length when the app gave one: zstd then sizes its tables
    /// to it (a 5 KB page takes 150 KB instead of 2.6 MB) and brotli takes it as a hint.
    init?(_ coding: Coding, length: Int?, allocator: ByteBufferAllocator, budget: Budget? = nil) {
        switch coding {
        case .gzip:
            guard let compressor = try? ZlibCompressor(algorithm: .gzip, configuration: .init(windowSize: 15, compressionLevel: 6, memoryLevel: 8))
            else { return nil }
            encoder = .gzip(compressor)
        case .brotli:
            guard let state = BrotliEncoderCreateInstance(nil, nil, nil) else { return nil }
            BrotliEncoderSetParameter(state, BROTLI_PARAM_QUALITY, Self.brotliQuality)
            BrotliEncoderSetParameter(state, BROTLI_PARAM_LGWIN, Self.brotliWindowBits)
            BrotliEncoderSetParameter(state, BROTLI_PARAM_MODE, BROTLI_MODE_TEXT.rawValue)
            if let length { BrotliEncoderSetParameter(state, BROTLI_PARAM_SIZE_HINT, UInt32(clamping: length)) }
            encoder = .brotli(state)
        case .zstd:
            guard let context = ZSTD_createCCtx() else { return nil }
            guard ZSTD_isError(ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, Self.zstdLevel)) == 0,
                ZSTD_isError(ZSTD_CCtx_setParameter(context, ZSTD_c_windowLog, Self.zstdWindowLog)) == 0,
                ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(context, length.map { UInt64($0) } ?? ZSTD_CONTENTSIZE_UNKNOWN)) == 0
            else {
                ZSTD_freeCCtx(context)
                return nil
            }
            encoder = .zstd(context)
        }
        self.coding = coding
        window = allocator.buffer(capacity: 16 * 1024)
        self.budget = coding == .gzip ? nil : budget
        self.budget?.heavy += 1
    }

    deinit {
        budget?.heavy -= 1
        switch encoder {
        case .gzip: break
        case .brotli(let state): BrotliEncoderDestroyInstance(state)
        case .zstd(let context): ZSTD_freeCCtx(context)
        }
    }

    /// Compresses `piece`; `emit` gets the output as HTTP/1.1 chunks, and after `.finish`
    /// the last chunk.
    func compress(_ piece: ByteBuffer, flush: Flush, allocator: ByteBufferAllocator, emit: (ByteBuffer) -> Void) throws {
        func chunk(_ output: UnsafeRawBufferPointer) {
            guard output.count > 0 else { return }
            var chunk = allocator.buffer(capacity: output.count + 16)
            chunk.writeString(String(output.count, radix: 16))
            chunk.writeStaticString("\r\n")
            chunk.writeBytes(output)
            chunk.writeStaticString("\r\n")
            emit(chunk)
        }
        switch encoder {
        case .gzip(let compressor):
            var input = piece
            let zlibFlush: CompressNIOFlush = switch flush {
            case .none: .no
            case .sync: .sync
            case .finish: .finish
            }
            try input.compressStream(with: compressor, window: &window, flush: zlibFlush) { output in
                output.withUnsafeReadableBytes { chunk($0) }
            }
        case .brotli(let state):
            try piece.withUnsafeReadableBytes { input in try brotli(state, input, flush, chunk) }
        case .zstd(let context):
            try piece.withUnsafeReadableBytes { input in try zstd(context, input, flush, chunk) }
        }
        if flush == .finish { emit(ByteBuffer(staticString: "0\r\n\r\n")) }
    }

    private func brotli(_ state: OpaquePointer, _ input: UnsafeRawBufferPointer, _ flush: Flush, _ chunk: (UnsafeRawBufferPointer) -> Void) throws {
        let operation = switch flush {
        case .none: BROTLI_OPERATION_PROCESS
        case .sync: BROTLI_OPERATION_FLUSH
        case .finish: BROTLI_OPERATION_FINISH
        }
        var availableIn = input.count
        var nextIn = input.baseAddress?.assumingMemoryBound(to: UInt8.self)
        let empty: UInt8 = 0
        try withUnsafePointer(to: empty) { emptyPointer in
            if nextIn == nil { nextIn = emptyPointer }
            try window.withUnsafeMutableWritableBytes { out in
                let capacity = out.count
                repeat {
                    var availableOut = capacity
                    var nextOut: UnsafeMutablePointer<UInt8>? = out.baseAddress!.assumingMemoryBound(to: UInt8.self)
                    guard BrotliEncoderCompressStream(state, operation, &availableIn, &nextIn, &availableOut, &nextOut, nil) == BROTLI_TRUE
                    else { throw Failed() }
                    chunk(UnsafeRawBufferPointer(rebasing: out[0..<(capacity - availableOut)]))
                } while availableIn > 0 || BrotliEncoderHasMoreOutput(state) == BROTLI_TRUE
                    || (flush == .finish && BrotliEncoderIsFinished(state) != BROTLI_TRUE)
            }
        }
    }

    private func zstd(_ context: OpaquePointer, _ input: UnsafeRawBufferPointer, _ flush: Flush, _ chunk: (UnsafeRawBufferPointer) -> Void) throws {
        let directive = switch flush {
        case .none: ZSTD_e_continue
        case .sync: ZSTD_e_flush
        case .finish: ZSTD_e_end
        }
        var inBuffer = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        try window.withUnsafeMutableWritableBytes { out in
            while true {
                var outBuffer = ZSTD_outBuffer(dst: out.baseAddress, size: out.count, pos: 0)
                let remaining = ZSTD_compressStream2(context, &outBuffer, &inBuffer, directive)
                guard ZSTD_isError(remaining) == 0 else { throw Failed() }
                chunk(UnsafeRawBufferPointer(rebasing: out[0..<outBuffer.pos]))
                // Done once the input is taken and, when flushing, nothing is left inside.
                if inBuffer.pos == inBuffer.size && (directive == ZSTD_e_continue || remaining == 0) { break }
            }
        }
    }

    /// What a client accepts: its preferred coding and whether it takes gzip (the fallback
    /// when the preferred one is zstd or brotli and the loop has no encoder to spare).
    struct Accepted {
        var preferred: Coding?
        var gzip: Bool
    }

    /// Encoders of zstd and brotli hold 1 to 2.6 MB each while their response lasts
    /// (gzip's, as nginx's, about 300 KB): an event loop runs at most this many at once,
    /// and past them a response gets gzip, so many slow streamed responses cannot make the
    /// proxy hold gigabytes.
    static let heavyEncodersPerLoop = 16

    /// What an `Accept-Encoding` value accepts: the coding with the highest weight (an
    /// unnamed coding takes `*`'s), ties going to zstd, then brotli, then gzip; no preferred
    /// coding when the client accepts none of them.
    static func accepted(_ value: UnsafeRawBufferPointer) -> Accepted {
        // Weights in thousandths; -1 where the coding is not named.
        var gzip = -1, brotli = -1, zstd = -1, any = -1
        HTTPWire.forEachToken(value) { element in
            let semicolon = element.firstIndex(of: UInt8(ascii: ";")) ?? element.count
            var end = semicolon
            while end > 0, element[end - 1] == HTTPWire.space || element[end - 1] == HTTPWire.tab { end -= 1 }
            let coding = UnsafeRawBufferPointer(rebasing: element[0..<end])
            // Codings the proxy cannot make (`deflate`, `identity`, …) are passed over
            // before their parameters are read; most values have none to read.
            func weight() -> Int { semicolon == element.count ? 1000 : Self.weight(UnsafeRawBufferPointer(rebasing: element[semicolon...])) }
            if HTTPWire.equalsLowercase(coding, "gzip") || HTTPWire.equalsLowercase(coding, "x-gzip") {
                gzip = max(gzip, weight())
            } else if HTTPWire.equalsLowercase(coding, "br") {
                brotli = max(brotli, weight())
            } else if HTTPWire.equalsLowercase(coding, "zstd") {
                zstd = max(zstd, weight())
            } else if HTTPWire.equalsLowercase(coding, "*") {
                any = max(any, weight())
            }
        }
        // `*` stands for gzip only: a client that lists no coding by name is most likely
        // old, and gzip is the one every HTTP/1.1 client knows.
        if gzip < 0 { gzip = any }
        var best: Coding?, bestWeight = 0
        for (coding, weight) in [(Coding.zstd, zstd), (.brotli, brotli), (.gzip, gzip)] where weight > bestWeight {
            best = coding
            bestWeight = weight
        }
        return Accepted(preferred: best, gzip: gzip > 0)
    }

    /// The weight in a coding's parameters, in thousandths: 1000 without `q=`, 0 for an
    /// unreadable one (as if refused).
    private static func weight(_ parameters: UnsafeRawBufferPointer) -> Int {
        let text = String(decoding: parameters, as: UTF8.self).lowercased().filter { $0 != " " && $0 != "\t" }
        for parameter in text.split(separator: ";") where parameter.hasPrefix("q=") {
            guard let q = Double(parameter.dropFirst(2)), q >= 0, q <= 1 else { return 0 }
            return Int((q * 1000).rounded())
        }
        return 1000
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
