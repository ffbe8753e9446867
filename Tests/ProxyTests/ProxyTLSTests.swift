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
        let secured = try Shell.which("curl", ["-sS", "--http1.1", "-D", "-", "-o", "/dev/null", "--cacert", one.certificatePath, "--resolve", "one.test:\(https):127.0.0.1", "https://one.test:\(https)/"])
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

    /// h2c by prior knowledge on a plain listener, only when asked for; HTTP/1.1 on the
    /// same listener carries on.
    @Test func h2cByPriorKnowledgeWhenAsked() async throws {
        let backend = try Backend("one")
        let routes = RouteTable(domains: [("one.test", .init(name: "one", upstreams: [backend.upstream]))])
        let (server, port) = try await startProxy(routes) { $0.h2cPriorKnowledge = true }
        defer { Task { await server.stop() } }
        let h2c = try Shell.which("curl", ["-sS", "-v", "--http2-prior-knowledge", "--max-time", "10", "-H", "Host: one.test", "-d", "abc", "http://127.0.0.1:\(port)/echo"])
        #expect(h2c.stdout == "received 3" && h2c.stderr.contains("< HTTP/2 200"), "\(h2c)")
        #expect(try curl(port, host: "one.test").stdout == "one")
        let (plainServer, plainPort) = try await startProxy(routes)
        defer { Task { await plainServer.stop() } }
        let refused = try Shell.which("curl", ["-sS", "--http2-prior-knowledge", "--max-time", "10", "-H", "Host: one.test", "http://127.0.0.1:\(plainPort)/"])
        #expect(refused.status != 0 || refused.stdout != "one", "h2c is off unless asked for: \(refused)")
    }

    /// HTTP/2 by ALPN: requests and bodies both ways, trailers, interim and bodiless
    /// responses, flow control over a large body, and streams that do not wait for each other.
    @Test func http2ByALPN() async throws {
        let directory = NSTemporaryDirectory() + "dokkulite-h2-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let one = try certificate("one.test", file: "one", in: directory)
        let backend = try Backend("one")
        let configuration = ProxyServer.Configuration(listeners: [.init(host: "127.0.0.1", port: 0, kind: .https)], accessLog: false, threads: 2)
        let server = try ProxyServer(configuration: configuration, routes: RouteTable(domains: [("one.test", .init(name: "one", upstreams: [backend.upstream]))]), certificates: [one])
        let https = try await server.start()[0]
        defer { Task { await server.stop() } }
        let base = "https://one.test:\(https)"
        func curl(_ arguments: [String], input: String? = nil) throws -> ProcessResult {
            try Shell.which("curl", ["-sS", "--max-time", "20", "--http2", "--cacert", one.certificatePath, "--resolve", "one.test:\(https):127.0.0.1"] + arguments, input: input)
        }

        let plain = try curl(["-v", base + "/"])
        #expect(plain.stdout == "one", "\(plain)")
        #expect(plain.stderr.contains("ALPN: server accepted h2"), "\(plain.stderr)")
        #expect(plain.stderr.contains("< HTTP/2 200"), "\(plain.stderr)")
        // A client that offers only HTTP/1.1 still gets it.
        let old = try curl(["--http1.1", "-v", base + "/"])
        #expect(old.stdout == "one" && old.stderr.contains("< HTTP/1.1 200"), "\(old.stderr)")

        // The app sees an HTTP/1.1 request with Host, one Cookie line and the forwarding headers.
        let seen = try curl(["-H", "Cookie: a=1", "-H", "Cookie: b=2", base + "/headers"])
        let headers = try #require(try JSONSerialization.jsonObject(with: Data(seen.stdout.utf8)) as? [String: String], "\(seen)")
        #expect(headers["host"] == "one.test:\(https)")
        #expect(headers["cookie"] == "a=1; b=2")
        #expect(headers["x-forwarded-proto"] == "https")

        // Bodies: with a length, and streamed without one (sent on as chunks).
        let megabyte = String(repeating: "x", count: 1 << 20)
        #expect(try curl(["--data-binary", "@-", base + "/echo"], input: megabyte).stdout == "received 1048576")
        #expect(try curl(["-T", "-", "-X", "POST", base + "/echo"], input: megabyte).stdout == "received 1048576")
        // Eight MiB down through 256 KiB stream windows.
        #expect(try curl(["-o", "/dev/null", "-w", "%{size_download}", base + "/big?mb=8"]).stdout == "8388608")

        // A chunked response's trailer becomes an HTTP/2 trailer; an interim 103 and the
        // final answer both arrive; HEAD keeps its Content-Length; a body ended by the
        // upstream's close ends the stream.
        let chunked = try curl(["-D", "-", base + "/chunked"])
        // (curl writes the trailer where it arrives: after the body.)
        #expect(chunked.stdout.hasSuffix("\r\n\r\nonetwothreex-checksum: 11\r\n"), "\(chunked)")
        let hinted = try curl(["-D", "-", base + "/hints"])
        #expect(hinted.stdout.contains("HTTP/2 103") && hinted.stdout.hasSuffix("hinted"), "\(hinted)")
        let head = try curl(["-I", base + "/"])
        #expect(head.stdout.contains("content-length: 3"), "\(head)")
        #expect(try curl([base + "/close"]).stdout == "until-close")
        // Compression over HTTP/2 as over HTTP/1.1 (curl offers zstd, which is chosen first).
        let zipped = try curl(["--compressed", "-D", "/dev/stderr", base + "/text?n=5000"])
        #expect(zipped.stderr.contains("content-encoding: zstd") && zipped.stdout.count == 5000 && zipped.stdout.hasPrefix("All work"), "\(zipped.stderr)")
        let empty = try curl(["-o", "/dev/null", "-w", "%{http_code}", base + "/empty"])
        #expect(empty.stdout == "204" && empty.status == 0, "\(empty)")

        // One connection, three streams: the slow one does not hold the others back.
        let parallel = try curl([
            "--parallel", "-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null",
            "-w", "%{url_effective} %{num_connects} %{time_total}\\n", base + "/slow?s=2", base + "/", base + "/headers",
        ])
        let rows = parallel.stdout.split(separator: "\n").map { $0.split(separator: " ") }
        #expect(rows.count == 3, "\(parallel)")
        #expect(rows.map { $0[1] }.filter { $0 == "1" }.count == 1, "one connection for the three: \(parallel)")
        for row in rows where !row[0].contains("slow") {
            #expect(Double(row[2])! < 1.5, "a fast stream waited for the slow one: \(parallel)")
        }
        #expect(rows.contains { $0[0].contains("slow") && Double($0[2])! >= 2 }, "\(parallel)")

        // Many streams on few connections.
        let load = try Shell.which("h2load", ["-n", "400", "-c", "4", "-m", "10", "https://127.0.0.1:\(https)/", "-H", ":authority: one.test"])
        #expect(load.stdout.contains("400 succeeded, 0 failed, 0 errored"), "\(load.stdout)")
        // With every connection closed, no stream's or connection's handler is left in
        // memory (each once kept itself alive through its context: 3.4 KB a request).
        let gone = ContinuousClock.now + .seconds(10)
        while server.handlersAlive > 0, ContinuousClock.now < gone { try await Task.sleep(for: .milliseconds(50)) }
        #expect(server.handlersAlive == 0, "\(server.handlersAlive) handlers outlived their connections")
    }
}
