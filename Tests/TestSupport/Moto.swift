public import Foundation

/// An S3 server on loopback for the backup tests: moto's server (`scripts/deps` installs it
/// into `/opt/dokkulite-test/moto`; `DOKKULITE_MOTO` names another `moto_server`). It takes
/// any credentials; the signatures themselves are checked against AWS's examples in
/// `S3Tests`. Ends with this value (by PID).
public final class Moto: @unchecked Sendable {
    public let endpoint: String
    private let process: Process

    public static var path: String {
        ProcessInfo.processInfo.environment["DOKKULITE_MOTO"].flatMap { $0.isEmpty ? nil : $0 } ?? "/opt/dokkulite-test/moto/bin/moto_server"
    }

    public static var available: Bool { FileManager.default.isExecutableFile(atPath: path) }

    public init() throws {
        let port = try freePort()
        endpoint = "http://127.0.0.1:\(port)"
        process = Process()
        process.executableURL = URL(fileURLWithPath: Self.path)
        process.arguments = ["-H", "127.0.0.1", "-p", String(port)]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        guard eventually(timeout: .seconds(30), { canConnect(port) }) else {
            stop()
            throw TestFailure("moto_server did not come up on port \(port)")
        }
    }

    /// `curl -X METHOD ENDPOINT/PATH` (moto needs no signature): status and body.
    public func request(_ method: String, _ path: String) throws -> (status: Int, body: Data) {
        let out = NSTemporaryDirectory() + "moto-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let result = try Shell.which("curl", ["-sS", "-X", method, "-o", out, "-w", "%{http_code}", endpoint + path])
        return (Int(result.stdout) ?? 0, (try? Data(contentsOf: URL(fileURLWithPath: out))) ?? Data())
    }

    /// An object's bytes, read with boto3 (in moto's virtualenv): an independent client.
    public func object(bucket: String, key: String) throws -> Data {
        let python = (Self.path as NSString).deletingLastPathComponent + "/python3"
        let script = """
            import boto3, sys
            s3 = boto3.client("s3", endpoint_url=sys.argv[1], aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
            sys.stdout.buffer.write(s3.get_object(Bucket=sys.argv[2], Key=sys.argv[3])["Body"].read().hex().encode())
            """
        let result = try Shell.run(python, ["-c", script, endpoint, bucket, key])
        guard result.status == 0 else { throw TestFailure("boto3 get_object failed: \(result)") }
        var bytes: [UInt8] = []
        var text = Substring(result.stdout)
        while text.count >= 2, let byte = UInt8(text.prefix(2), radix: 16) {
            bytes.append(byte)
            text = text.dropFirst(2)
        }
        return Data(bytes)
    }

    public func stop() {
        if process.isRunning {
            // Its development server keeps running on SIGTERM; it holds no state worth keeping.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    deinit { stop() }
}
