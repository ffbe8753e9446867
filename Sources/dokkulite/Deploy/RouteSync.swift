import Foundation

/// Tells the proxy daemon to re-read the routes after an app's web instances, domains or
/// ports change, and waits until it has applied them. Without a running daemon there is
/// nothing to tell: it reads the store when it starts.
struct RouteSync {
    let context: Context

    init(_ context: Context) {
        self.context = context
    }

    /// Asks the running proxy to apply the current routes; returns once it has.
    func update(_ app: AppName) throws {
        try reload(app.rawValue)
    }

    /// The same, after a change that concerns every app (a global setting).
    func updateAll() throws {
        try reload("--global")
    }

    private func reload(_ app: String) throws {
        let path = context.settings.controlSocket
        guard FileManager.default.fileExists(atPath: path) else { return }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: Array(path.utf8.prefix(raw.count - 1)) + [0])
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        // A socket file without a daemon behind it: the daemon reads the store at start.
        guard connected == 0 else { return }
        let request = Array("reload \(app)\n".utf8)
        _ = request.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = read(fd, &buffer, buffer.count)
        guard n > 0 else { throw CommandError("the proxy did not confirm the new routes for \(app)") }
        let answer = String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard answer == "ok" else { throw CommandError("the proxy could not apply the routes for \(app): \(answer)") }
    }
}
