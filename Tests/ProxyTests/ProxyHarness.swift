import Foundation
import TestSupport

@testable import Proxy

/// A Python test upstream (Fixtures/backend.py, or a script that prints `ready PORT` the
/// same way) on a free port.
final class Backend: @unchecked Sendable {
    let process: Process
    let port: Int
    let name: String

    convenience init(_ name: String) throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/backend.py").path
        try self.init(name: name, arguments: [script, "0", name])
    }

    /// An upstream written inline for one test.
    convenience init(name: String, script: String) throws {
        try self.init(name: name, arguments: ["-c", script])
    }

    private init(name: String, arguments: [String]) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let line = pipe.fileHandleForReading.readLine() ?? ""
        guard line.hasPrefix("ready "), let port = Int(line.dropFirst(6)) else {
            kill(process.processIdentifier, SIGKILL)
            throw HarnessError("backend did not start: \(line)")
        }
        self.port = port
        self.name = name
    }

    var upstream: Upstream { Upstream(port: port) }

    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    deinit { stop() }
}

/// An upstream that refuses connections: a port held bound without listening, so no
/// other test's listener can take it while the test runs (a stopped backend's port can be
/// taken, and then the proxy waits on a stranger).
final class RefusingPort {
    private let descriptor: CInt
    let port: Int

    init() throws {
        (descriptor, port) = try boundLoopbackSocket()
    }

    var upstream: Upstream { Upstream(port: port) }

    deinit { close(descriptor) }
}

extension FileHandle {
    /// One line from a child's output, without its newline; nil at the end.
    func readLine() -> String? {
        var bytes: [UInt8] = []
        while true {
            let chunk = readData(ofLength: 1)
            guard let byte = chunk.first else { return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self) }
            if byte == 10 { return String(decoding: bytes, as: UTF8.self) }
            bytes.append(byte)
        }
    }
}

struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// `dokkulite proxy:serve` as a process of its own, on a free loopback port.
final class ProxyProcess {
    let process = Process()
    let port: Int

    /// `routes` as `--route` takes them; stdout goes to the file `stdout` when given.
    init(routes: [String], extra: [String] = [], stdout: String? = nil) throws {
        port = try freePort()
        process.executableURL = URL(fileURLWithPath: Binaries.dokkulite)
        process.arguments = ["proxy:serve", "--listen", "127.0.0.1:\(port)"] + routes.flatMap { ["--route", $0] } + extra
        if let stdout {
            _ = FileManager.default.createFile(atPath: stdout, contents: nil)
            process.standardOutput = FileHandle(forWritingAtPath: stdout)
        } else {
            process.standardOutput = FileHandle.nullDevice
        }
        process.standardError = FileHandle.nullDevice
        try process.run()
        let port = port
        guard eventually({ rawExchange(port: port, "GET / HTTP/1.1\r\nHost: -\r\nConnection: close\r\n\r\n").hasPrefix("HTTP/1.1") }) else {
            stop()
            throw HarnessError("dokkulite proxy:serve did not answer on port \(port)")
        }
    }

    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    deinit { stop() }
}

/// A proxy on a free loopback port with the given routes.
func startProxy(_ routes: RouteTable, configure: (inout ProxyServer.Configuration) -> Void = { _ in }) async throws -> (ProxyServer, Int) {
    var configuration = ProxyServer.Configuration(listeners: [.init(host: "127.0.0.1", port: 0, kind: .http)], accessLog: false, threads: 2)
    configure(&configuration)
    let server = try ProxyServer(configuration: configuration, routes: routes)
    let ports = try await server.start()
    return (server, ports[0])
}

/// A raw HTTP exchange over one TCP connection: sends `request`, reads until the peer
/// closes or `timeout` passes.
func rawExchange(port: Int, _ request: String, timeout: Double = 5) -> String {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1_000_000))
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let ok = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    guard ok == 0 else { return "" }
    _ = request.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
    var data = [UInt8]()
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = recv(fd, &buffer, buffer.count, 0)
        if n <= 0 { break }
        data += buffer[0..<n]
    }
    return String(decoding: data, as: UTF8.self)
}

/// curl through the proxy.
func curl(_ port: Int, host: String, path: String = "/", extra: [String] = []) throws -> ProcessResult {
    try Shell.which("curl", ["-sS", "--max-time", "20", "-H", "Host: \(host)"] + extra + ["http://127.0.0.1:\(port)\(path)"])
}
