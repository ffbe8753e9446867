import Foundation

/// The proxy daemon of a sandbox, on a free loopback port standing in for port 80.
public final class DaemonProcess: @unchecked Sendable {
    public let port: Int
    private let process: Process

    /// Where the proxy's HTTPS listener (port 443 of the port maps) is, when asked for.
    public let httpsPort: Int?

    /// `ports` fixes the HTTP and HTTPS ports (for a server, such as an ACME test server,
    /// configured before the proxy starts); else free ones are picked.
    public init(_ sandbox: Sandbox, https: Bool = false, ports: (http: Int, https: Int)? = nil) throws {
        port = try ports?.http ?? freePort()
        httpsPort = try ports.map { $0.https } ?? (https ? freePort() : nil)
        sandbox.environment["DOKKULITE_PROXY_PORTS"] = "80=\(port)" + (httpsPort.map { ",443=\($0)" } ?? "")
        sandbox.environment["DOKKULITE_PROXY_HOST"] = "127.0.0.1"
        process = Process()
        process.executableURL = URL(fileURLWithPath: Binaries.dokkulite)
        process.arguments = ["proxy:daemon"]
        process.environment = sandbox.environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let port = self.port
        let socket = sandbox.root + "/proxy.sock"
        guard eventually(timeout: .seconds(20), { FileManager.default.fileExists(atPath: socket) && canConnect(port) }) else {
            stop()
            throw TestFailure("the proxy daemon did not come up on port \(port)")
        }
    }

    public func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            process.waitUntilExit()
        }
    }

    deinit { stop() }

    /// GET through the proxy with a Host header; nil when the request failed.
    public func get(_ host: String, path: String = "/") -> (status: Int, body: String)? {
        guard let result = try? Shell.which("curl", ["-sS", "--max-time", "10", "-H", "Host: \(host)", "-w", "\n%{http_code}", "http://127.0.0.1:\(port)\(path)"]),
            result.status == 0, let split = result.stdout.lastIndex(of: "\n"), let status = Int(result.stdout[result.stdout.index(after: split)...])
        else { return nil }
        return (status, String(result.stdout[..<split]))
    }
}

/// A git working copy of an app, pushed to a sandbox through `dokkulite git-receive-pack`,
/// as the ssh entry would run it.
public final class AppSource: @unchecked Sendable {
    public let directory: String
    private let sandbox: Sandbox

    /// A new repository with `files` committed on `branch`.
    public init(_ sandbox: Sandbox, files: [String: String], branch: String = "main") throws {
        self.sandbox = sandbox
        directory = NSTemporaryDirectory() + "dokkulite-src-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try git("init", "-q", "-b", branch)
        try commit(files, message: "initial")
    }

    /// Copies an example app from `examples/NAME` into a new repository.
    public convenience init(_ sandbox: Sandbox, example: String) throws {
        let root = Binaries.packageRoot + "/examples/" + example
        var files: [String: String] = [:]
        for path in FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? [] {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: root + "/" + path, isDirectory: &isDirectory), !isDirectory.boolValue {
                files[path] = try String(contentsOfFile: root + "/" + path, encoding: .utf8)
            }
        }
        try self.init(sandbox, files: files)
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    /// Writes files and commits them.
    public func commit(_ files: [String: String], message: String) throws {
        for (path, content) in files {
            let full = directory + "/" + path
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try content.write(toFile: full, atomically: true, encoding: .utf8)
            if path.hasPrefix("bin/") || path.hasSuffix(".sh") { chmod(full, 0o755) }
        }
        try git("add", "-A")
        try git("-c", "user.email=test@dokkulite.invalid", "-c", "user.name=test", "commit", "-q", "--allow-empty", "-m", message)
    }

    /// `git push` to the app; the push's output (the build) and status.
    @discardableResult
    public func push(_ app: String, branch: String = "main", to remoteBranch: String? = nil) throws -> ProcessResult {
        let refspec = remoteBranch.map { "\(branch):\($0)" } ?? branch
        return try Shell.which("git", ["push", "--receive-pack=\(Binaries.dokkulite) git-receive-pack", app, refspec], environment: sandbox.environment, directory: directory)
    }

    @discardableResult
    private func git(_ arguments: String...) throws -> ProcessResult {
        let result = try Shell.which("git", arguments, directory: directory)
        guard result.status == 0 else { throw TestFailure("git \(arguments.joined(separator: " ")) failed: \(result)") }
        return result
    }
}

public struct TestFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A port nothing listens on right now.
public func freePort() throws -> Int {
    let (fd, port) = try boundLoopbackSocket()
    close(fd)
    return port
}

/// A TCP socket bound to a free loopback port and not listening: while it is open, a
/// connect to the port is refused and nothing else can take the port.
public func boundLoopbackSocket() throws -> (descriptor: CInt, port: Int) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { ptr -> Bool in
            bind(fd, ptr, length) == 0 && getsockname(fd, ptr, &length) == 0
        }
    }
    guard bound else {
        close(fd)
        throw TestFailure("no free port")
    }
    return (fd, Int(UInt16(bigEndian: address.sin_port)))
}

/// True when something accepts connections on 127.0.0.1:`port`.
public func canConnect(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
}
