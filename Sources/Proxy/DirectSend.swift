#if canImport(Glibc)
internal import Glibc
#endif
internal import NIOCore

/// A connected socket the proxy writes to itself when it can: one `send` in place of
/// NIO's write path, which costs more instructions than the rest of a small exchange's
/// writing (`bench/proxy-instructions`). Used for sockets the proxy made itself: upstream
/// connections it connected, client connections it accepted.
///
/// Bytes given to NIO may still be queued there; until they are known to be out, nothing
/// may go to the socket directly, or it would overtake them.
final class DirectSend {
    let descriptor: CInt
    private(set) var queued = false
    /// Counts writes through the channel, so a drain knows whether others followed it.
    private var channelWrites = 0

    init(descriptor: CInt) {
        self.descriptor = descriptor
    }

    /// Sends `buffer` at once when nothing is queued in NIO. Returns what is left for the
    /// channel to send (and to meet any error with), or nil when the socket took it all.
    func send(_ buffer: ByteBuffer) -> ByteBuffer? {
        guard !queued else { return buffer }
        let sent = buffer.withUnsafeReadableBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if sent == buffer.readableBytes { return nil }
        // The socket took part or nothing (full, or failed).
        var rest = buffer
        if sent > 0 { rest.moveReaderIndex(forwardBy: sent) }
        return rest
    }

    /// Bytes went to NIO: direct sends wait for them.
    func wroteThroughChannel() {
        queued = true
        channelWrites &+= 1
    }

    /// Once NIO has written everything given to it so far, direct sends may resume.
    func drain(_ channel: any Channel) {
        guard queued else { return }
        let mark = channelWrites
        let drained = channel.eventLoop.makePromise(of: Void.self)
        drained.futureResult.assumeIsolated().whenSuccess {
            if self.channelWrites == mark { self.queued = false }
        }
        channel.writeAndFlush(ByteBuffer(), promise: drained)
    }
}
