#if canImport(Glibc)
internal import Glibc
#endif
internal import NIOCore

/// Accepts plain-HTTP connections on a thread of its own and hands each socket to the
/// caller, which gives it to an event loop. NIO's own accept keeps the socket to itself;
/// accepted here, the proxy knows it and can answer with one `send` (`DirectSend`).
///
/// The thread waits in `poll` on the listening socket and on a pipe that `stop` writes to,
/// so stopping never touches the listening socket itself: one handed over by systemd stays
/// listening for the next proxy process.
package final class Acceptor: @unchecked Sendable {
    /// The listening socket (non-blocking: another process may accept the same connection).
    private let listening: CInt
    /// Handed over by systemd: left open at `stop`, for a listener wanted again later.
    private let inherited: Bool
    private let wake: (read: CInt, write: CInt)
    private let accepted: @Sendable (CInt) -> Void
    private var thread = pthread_t()
    /// The bound port, read back from the socket (the listener may have asked for 0).
    let port: Int

    /// Listens on `host`:`port`, or on `inherited` (a socket handed over by systemd).
    init(host: String, port: Int, inherited: CInt?, accepted: @escaping @Sendable (CInt) -> Void) throws {
        let socket = try inherited ?? Self.listen(host: host, port: port)
        Self.setFlags(socket)
        var ends: [CInt] = [0, 0]
        guard pipe(&ends) == 0 else {
            if inherited == nil { close(socket) }
            throw IOError(errnoCode: errno, reason: "pipe2")
        }
        for end in ends { Self.setFlags(end) }
        listening = socket
        self.inherited = inherited != nil
        wake = (ends[0], ends[1])
        self.accepted = accepted
        self.port = Self.localPort(socket) ?? port
        let started = pthread_create(&thread, nil, { argument in
            let acceptor = Unmanaged<Acceptor>.fromOpaque(argument!).takeRetainedValue()
            acceptor.run()
            return nil
        }, Unmanaged.passRetained(self).toOpaque())
        guard started == 0 else {
            close(wake.read)
            close(wake.write)
            if inherited == nil { close(socket) }
            throw IOError(errnoCode: started, reason: "pthread_create")
        }
    }

    /// Stops accepting and closes the listening socket unless systemd handed it over;
    /// returns once the thread has ended, so no connection is handed over after it.
    func stop() {
        var byte: UInt8 = 1
        _ = Glibc.write(wake.write, &byte, 1)
        pthread_join(thread, nil)
        close(wake.read)
        close(wake.write)
        if !inherited { close(listening) }
    }

    private func run() {
        var watched = [pollfd(fd: listening, events: Int16(POLLIN), revents: 0), pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0)]
        while true {
            let ready = poll(&watched, 2, -1)
            if ready < 0 && errno != EINTR { return }
            if watched[1].revents != 0 { return }
            // Everything queued, not one connection per wake-up: a thousand clients that
            // connect at once take a few rounds, not a thousand.
            while true {
                let socket = accept(listening, nil, nil)
                if socket >= 0 {
                    Self.setFlags(socket)
                    var on: CInt = 1
                    setsockopt(socket, CInt(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<CInt>.size))
                    accepted(socket)
                    continue
                }
                switch errno {
                case EINTR, ECONNABORTED, EPROTO:
                    continue
                case EAGAIN:
                    break
                default:
                    // Out of descriptors or memory: the connection waits in the backlog
                    // while this thread pauses, rather than spinning on the same error.
                    usleep(10_000)
                }
                break
            }
        }
    }

    /// Non-blocking and closed on exec (`accept4` and `pipe2` are not in Swift's Glibc).
    private static func setFlags(_ descriptor: CInt) {
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
        _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
    }

    private static func listen(host: String, port: Int) throws -> CInt {
        let address = try SocketAddress.makeAddressResolvingHost(host, port: port)
        let socket = Glibc.socket(CInt(address.protocol.rawValue), Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard socket >= 0 else { throw IOError(errnoCode: errno, reason: "socket") }
        var on: CInt = 1
        setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<CInt>.size))
        let bound: CInt
        switch address {
        case .v4(let v4):
            var raw = v4.address
            bound = withUnsafePointer(to: &raw) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        case .v6(let v6):
            var raw = v6.address
            bound = withUnsafePointer(to: &raw) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        case .unixDomainSocket:
            close(socket)
            throw IOError(errnoCode: EAFNOSUPPORT, reason: "bind \(host)")
        }
        guard bound == 0, Glibc.listen(socket, 4096) == 0 else {
            let error = errno
            close(socket)
            throw IOError(errnoCode: error, reason: "bind \(host):\(port)")
        }
        return socket
    }

    /// The local port of an IPv4 or IPv6 socket.
    package static func localPort(_ socket: CInt) -> Int? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let got = withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) } }
        guard got == 0 else { return nil }
        switch CInt(storage.ss_family) {
        case AF_INET: return withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) } }
        case AF_INET6: return withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) } }
        default: return nil
        }
    }
}
