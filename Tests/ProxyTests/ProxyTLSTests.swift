import Foundation
import TestSupport
import Testing

@testable import Proxy

/// HTTPS: the certificate chosen by SNI, requests routed by Host behind it, and plain HTTP
/// redirected once an app has a certificate.
@Suite struct ProxyTLSTests {
    /// A self-signed certificate for `name` (also its only subjectAltName), in `directory`.
    private func certificate(_ name: String, file: String, in directory: String) throws -> TLSCertificates.Entry {
        let crt = "\(directory)/\(file).crt", key = "\(directory)/\(file).key"
        let made = try Shell.which("openssl", [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt, "-days", "2",
            "-subj", "/CN=\(name)", "-addext", "subjectAltName=DNS:\(name)",
        ])
        guard made.status == 0 else { throw HarnessError("openssl failed: \(made.stderr)") }
        return TLSCertificates.Entry(hosts: [name], certificatePath: crt, keyPath: key)
    }

    @Test func certificatesBySNIAndRedirectToHTTPS() async throws {
        let directory = NSTemporaryDirectory() + "dokkulite-tls-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let one = try certificate("one.test", file: "one", in: directory)
        let two = try certificate("*.two.test", file: "two", in: directory)
        let backendOne = try Backend("one"), backendTwo = try Backend("two")

        let configuration = ProxyServer.Configuration(
            listeners: [.init(host: "127.0.0.1", port: 0, kind: .http), .init(host: "127.0.0.1", port: 0, kind: .https)], accessLog: false, threads: 2)
        let server = try ProxyServer(configuration: configuration, routes: RouteTable(), certificates: [one, two])
        let ports = try await server.start()
        defer { Task { await server.stop() } }
        let (http, https) = (ports[0], ports[1])
        server.update(RouteTable(domains: [
            ("one.test", .init(name: "one", upstreams: [backendOne.upstream], redirectToHTTPS: true, httpsPort: https, strictTransportSecurity: "max-age=15724800; includeSubdomains")),
            ("*.two.test", .init(name: "two", upstreams: [backendTwo.upstream])),
        ]))

        func get(_ host: String, ca: String, path: String = "/") throws -> ProcessResult {
            try Shell.which("curl", ["-sS", "--max-time", "10", "--cacert", ca, "--resolve", "\(host):\(https):127.0.0.1", "https://\(host):\(https)\(path)"])
        }
        // curl verifies each certificate against itself as the only CA: a wrong choice fails.
        #expect(try get("one.test", ca: one.certificatePath).stdout == "one")
        #expect(try get("a.two.test", ca: two.certificatePath).stdout == "two")
        let wrong = try get("a.two.test", ca: one.certificatePath)
        #expect(wrong.status != 0, "the *.two.test certificate does not verify as one.test's")
        let headers = try #require(try JSONSerialization.jsonObject(with: Data(try get("one.test", ca: one.certificatePath, path: "/headers").stdout.utf8)) as? [String: String])
        #expect(headers["x-forwarded-proto"] == "https")
        #expect(headers["x-forwarded-port"] == String(https))
        // HSTS as Dokku's template sends it, over HTTPS only, and only for the app that has it.
        let secured = try Shell.which("curl", ["-sS", "-D", "-", "-o", "/dev/null", "--cacert", one.certificatePath, "--resolve", "one.test:\(https):127.0.0.1", "https://one.test:\(https)/"])
        #expect(secured.stdout.contains("\r\nStrict-Transport-Security: max-age=15724800; includeSubdomains\r\n"), "\(secured)")
        let other = try Shell.which("curl", ["-sS", "-D", "-", "-o", "/dev/null", "--cacert", two.certificatePath, "--resolve", "a.two.test:\(https):127.0.0.1", "https://a.two.test:\(https)/"])
        #expect(other.status == 0 && !other.stdout.lowercased().contains("strict-transport-security"), "\(other)")

        // A WebSocket upgrade is spliced through TLS as through plain HTTP.
        let script = """
            import socket, ssl
            context = ssl.create_default_context(cafile="\(one.certificatePath)")
            raw = socket.create_connection(("127.0.0.1", \(https)))
            c = context.wrap_socket(raw, server_hostname="one.test"); c.settimeout(5)
            c.sendall(b"GET /ws HTTP/1.1\\r\\nHost: one.test\\r\\nConnection: Upgrade\\r\\nUpgrade: websocket\\r\\n\\r\\n")
            data = b""
            while b"\\r\\n\\r\\n" not in data: data += c.recv(4096)
            print(data.split(b"\\r\\n")[0].decode())
            for word in [b"over", b"tls"]:
                c.sendall(word)
                print(c.recv(4096).decode())
            """
        let websocket = try Shell.run("/usr/bin/python3", ["-c", script])
        #expect(websocket.stdout == "HTTP/1.1 101 Switching Protocols\nover\ntls\n", "\(websocket)")

        // Plain HTTP to an app with a certificate is sent to HTTPS, path and query kept.
        let redirect = try Shell.which("curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", "-H", "Host: one.test", "http://127.0.0.1:\(http)/a/b?c=d"])
        #expect(redirect.stdout == "301 https://one.test:\(https)/a/b?c=d")
        // An app without one is served over HTTP as before.
        #expect(try curl(http, host: "x.two.test").stdout == "two")

        // A certificate that cannot be loaded (its key half-written, say) is left out; the
        // others stay, and nothing stops the update.
        let broken = TLSCertificates.Entry(hosts: ["three.test"], certificatePath: one.certificatePath, keyPath: directory + "/missing.key")
        server.update(certificates: [broken, two])
        #expect(try get("a.two.test", ca: two.certificatePath).stdout == "two")
        #expect(TLSCertificates([broken, one]).unusable.map(\.entry) == [broken])
    }
}
