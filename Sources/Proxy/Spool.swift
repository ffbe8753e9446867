#if canImport(Glibc)
internal import Glibc
#endif
internal import NIOCore

/// Bytes held for a side slower than the other, in order: in memory up to `memoryLimit`,
/// then in an unnamed temporary file (`O_TMPFILE`, 0600, gone with its descriptor), as
/// nginx spills `proxy_buffering` and `proxy_request_buffering` to temp files. What waits
/// in a spool costs the app nothing: a slow client neither holds an app worker while it
/// uploads nor while it downloads.
///
/// File reads and writes are plain blocking calls on the event loop, as nginx's are: they
/// go to the page cache.
final class Spool {
    /// Bytes waiting.
    private(set) var count = 0
    private var memory: ByteBuffer
    private var file: CInt = -1
    private var readOffset: Int64 = 0
    private var writeOffset: Int64 = 0
    private let memoryLimit: Int
    private let directory: String

    init(memoryLimit: Int, directory: String, allocator: ByteBufferAllocator) {
        self.memoryLimit = memoryLimit
        self.directory = directory
        memory = allocator.buffer(capacity: 0)
    }

    deinit {
        if file >= 0 { close(file) }
    }

    var isEmpty: Bool { count == 0 }
    /// Whether the bytes have gone to a file.
    var spilled: Bool { file >= 0 }

    /// Adds bytes behind those waiting.
    func append(_ buffer: ByteBuffer) throws {
        guard buffer.readableBytes > 0 else { return }
        count += buffer.readableBytes
        if file < 0, memory.readableBytes + buffer.readableBytes <= memoryLimit {
            memory.writeImmutableBuffer(buffer)
            return
        }
        if file < 0 {
            file = try Self.temporaryFile(in: directory)
            try writeToFile(memory)
            memory = ByteBuffer()
        }
        try writeToFile(buffer)
    }

    /// Takes up to `limit` of the oldest bytes; nil when none wait.
    func take(upTo limit: Int, allocator: ByteBufferAllocator) throws -> ByteBuffer? {
        guard count > 0 else { return nil }
        if file < 0 {
            let piece = memory.readSlice(length: min(limit, memory.readableBytes))!
            count -= piece.readableBytes
            if memory.readableBytes == 0 { memory.clear() }
            return piece
        }
        let wanted = min(limit, Int(writeOffset - readOffset))
        var piece = allocator.buffer(capacity: wanted)
        let read = try piece.writeWithUnsafeMutableBytes(minimumWritableBytes: wanted) { bytes in
            while true {
                let got = pread(file, bytes.baseAddress, wanted, off_t(readOffset))
                if got >= 0 { return got }
                if errno != EINTR { throw IOError(errnoCode: errno, reason: "pread") }
            }
        }
        guard read > 0 else { throw IOError(errnoCode: EIO, reason: "spool file shorter than written") }
        readOffset += Int64(read)
        count -= read
        if readOffset == writeOffset {
            // All sent: the file starts over, and gives its blocks back.
            readOffset = 0
            writeOffset = 0
            _ = ftruncate(file, 0)
        }
        return piece
    }

    private func writeToFile(_ buffer: ByteBuffer) throws {
        try buffer.withUnsafeReadableBytes { bytes in
            var done = 0
            while done < bytes.count {
                let wrote = pwrite(file, bytes.baseAddress! + done, bytes.count - done, off_t(writeOffset))
                if wrote < 0 {
                    if errno == EINTR { continue }
                    throw IOError(errnoCode: errno, reason: "pwrite")
                }
                done += wrote
                writeOffset += Int64(wrote)
            }
        }
    }

    /// `O_TMPFILE | O_DIRECTORY` (not exported by Swift's Glibc module).
    private static let temporaryFlag: CInt = 0o20_200_000

    /// A file with no name in `directory`, readable and writable by this process only.
    /// Where the file system cannot make one, a named file made exclusively and unlinked
    /// at once.
    static func temporaryFile(in directory: String) throws -> CInt {
        let made = open(directory, temporaryFlag | O_RDWR | O_CLOEXEC, 0o600)
        if made >= 0 { return made }
        var template = Array("\(directory)/dokkulite-spool-XXXXXX".utf8CString)
        let named = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard named >= 0 else { throw IOError(errnoCode: errno, reason: "temporary file in \(directory)") }
        _ = fcntl(named, F_SETFD, FD_CLOEXEC)
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        return named
    }
}
