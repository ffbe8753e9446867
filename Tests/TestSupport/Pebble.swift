import Foundation

/// Let's Encrypt's own test ACME server (Debian's `pebble`) on loopback, with
/// `pebble-challtestsrv` as its DNS, which answers 127.0.0.1 for every name unless told
/// otherwise. Pebble validates HTTP-01 on `httpPort` and TLS-ALPN-01 on `tlsPort` of the
/// address a name resolves to: the ports of the proxy under test. Both processes end with
/// this value (by PID).
public final class Pebble: @unchecked Sendable {
    /// The ACME directory URL.
    public let directory: String
    /// The CA file that makes pebble's own HTTPS listener trusted (for the ACME client).
    public let apiCAFile: String
    private let managementPort: Int
    private let challengeManagementPort: Int
    private let work: String
    private var processes: [Process] = []

    /// Whether pebble is installed (scripts/deps installs it for the tests).
    public static var available: Bool {
        FileManager.default.isExecutableFile(atPath: "/usr/bin/pebble") && FileManager.default.isExecutableFile(atPath: "/usr/bin/pebble-challtestsrv")
    }

    public init(httpPort: Int, tlsPort: Int) throws {
        work = NSTemporaryDirectory() + "pebble-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        // Pebble's API is HTTPS only: a certificate for 127.0.0.1 of a throwaway CA.
        apiCAFile = work + "/api-ca.pem"
        let openssl = try Shell.which("openssl", [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", "/CN=pebble test API", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", work + "/api-key.pem", "-out", apiCAFile,
        ])
        guard openssl.status == 0 else { throw TestFailure("openssl could not make pebble's certificate: \(openssl)") }
        let apiPort = try freePort(), dnsPort = try freeUDPPort()
        managementPort = try freePort()
        challengeManagementPort = try freePort()
        directory = "https://127.0.0.1:\(apiPort)/dir"
        let config = """
            {"pebble": {"listenAddress": "127.0.0.1:\(apiPort)", "managementListenAddress": "127.0.0.1:\(managementPort)",
            "certificate": "\(work)/api-ca.pem", "privateKey": "\(work)/api-key.pem",
            "httpPort": \(httpPort), "tlsPort": \(tlsPort), "ocspResponderURL": "", "externalAccountBindingRequired": false}}
            """
        try config.write(toFile: work + "/pebble.json", atomically: true, encoding: .utf8)
        try start("/usr/bin/pebble-challtestsrv", [
            "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "", "-dns01", "127.0.0.1:\(dnsPort)", "-http01", "", "-https01", "",
            "-tlsalpn01", "", "-management", "127.0.0.1:\(challengeManagementPort)",
        ], environment: [:])
        guard eventually(timeout: .seconds(20), { canConnect(challengeManagementPort) }) else {
            throw TestFailure("pebble-challtestsrv did not come up")
        }
        // Validate at once, never reuse an authorization (each order is validated), and
        // keep the nonce rejections (5 %) pebble makes by default: the client must retry them.
        try start("/usr/bin/pebble", ["-config", work + "/pebble.json", "-dnsserver", "127.0.0.1:\(dnsPort)"], environment: ["PEBBLE_VA_NOSLEEP": "1", "PEBBLE_AUTHZREUSE": "0"])
        guard eventually(timeout: .seconds(20), { canConnect(apiPort) && canConnect(self.managementPort) }) else {
            throw TestFailure("pebble did not come up")
        }
    }

    deinit {
        for process in processes where process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: work)
    }

    private func start(_ path: String, _ arguments: [String], environment: [String: String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let logPath = work + "/" + (path as NSString).lastPathComponent + ".log"
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = FileHandle(forWritingAtPath: logPath)
        process.standardOutput = log ?? FileHandle.nullDevice
        process.standardError = log ?? FileHandle.nullDevice
        try process.run()
        processes.append(process)
    }

    /// What pebble printed (for failure messages).
    public var log: String {
        (try? String(contentsOfFile: work + "/pebble.log", encoding: .utf8)) ?? ""
    }

    /// The root pebble signs certificates under (made anew at each start), as a PEM file.
    public func rootFile() throws -> String {
        let path = work + "/root.pem"
        let result = try Shell.which("curl", ["-sSk", "--max-time", "10", "-o", path, "https://127.0.0.1:\(managementPort)/roots/0"])
        guard result.status == 0 else { throw TestFailure("cannot fetch pebble's root: \(result)") }
        return path
    }

    /// Makes the fake DNS give `host` the default answer (127.0.0.1) again.
    public func forget(_ host: String) throws {
        let result = try Shell.which("curl", ["-sS", "--max-time", "10", "-X", "POST", "-d", "{\"host\":\"\(host)\"}", "http://127.0.0.1:\(challengeManagementPort)/clear-a"])
        guard result.status == 0 else { throw TestFailure("challtestsrv refused: \(result)") }
    }

    /// Makes the fake DNS answer `address` for `host` (the default answer is 127.0.0.1).
    public func resolve(_ host: String, to address: String) throws {
        let body = "{\"host\":\"\(host)\",\"addresses\":[\"\(address)\"]}"
        let result = try Shell.which("curl", ["-sS", "--max-time", "10", "-X", "POST", "-d", body, "http://127.0.0.1:\(challengeManagementPort)/add-a"])
        guard result.status == 0 else { throw TestFailure("challtestsrv refused: \(result)") }
    }
}

/// A UDP port nothing is bound to right now (for the fake DNS).
public func freeUDPPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw TestFailure("no free UDP port") }
    return Int(UInt16(bigEndian: address.sin_port))
}
