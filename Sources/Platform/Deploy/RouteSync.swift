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
        // No daemon to tell (no socket, or a socket file without a daemon behind it): it
        // reads the store when it starts.
        guard let answer = try ProxyControl(context).ask("reload \(app)") else { return }
        guard !answer.isEmpty else { throw CommandError("the proxy did not confirm the new routes for \(app)") }
        let trimmed = answer.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed == "ok" else { throw CommandError("the proxy could not apply the routes for \(app): \(trimmed)") }
    }
}

/// The proxy daemon's control socket, from the command side: one request line, and the
/// daemon's whole answer.
struct ProxyControl {
    let context: Context

    init(_ context: Context) {
        self.context = context
    }

    /// Sends `request` and returns the answer (empty when the daemon said nothing within
    /// 30 s), or nil when no daemon is listening.
    func ask(_ request: String) throws -> String? {
        let path = context.settings.controlSocket
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
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
        guard connected == 0 else { return nil }
        let line = Array("\(request)\n".utf8)
        _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while answer.count < 1 << 20 {
            let n = read(fd, &buffer, buffer.count)
            guard n > 0 else { break }
            answer += buffer[0..<n]
        }
        return String(decoding: answer, as: UTF8.self)
    }
}
