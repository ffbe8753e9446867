import Foundation
import Testing
import TestSupport

@testable import Proxy

/// The per-app settings Dokku users give nginx for patience and header names
/// (`nginx:set APP keepalive-timeout`, `client-body-timeout`, `send-timeout`,
/// `proxy-send-timeout`, `underscore-in-headers`), applied by the proxy. The timeouts
/// count time without progress, as nginx's do, and are checked by the once-a-second sweep:
/// each test sets a few hundred milliseconds and allows a few seconds.
@Suite struct ProxyTimeoutTests {
    /// A Python client against the proxy; what it prints.
    private func client(_ script: String) throws -> String {
        let result = try Shell.run("/usr/bin/python3", ["-c", script], environment: nil)
        #expect(result.status == 0, "\(result)")
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Sends `request` (a Python bytes expression) and reads until the proxy closes; the
    /// status line it answered and the seconds from the end of the request to the close.
    private func answerAndWait(port: Int, _ request: String) throws -> (status: String, seconds: Double) {
        let printed = try client("""
            import socket, time
            c = socket.create_connection(("127.0.0.1", \(port))); c.settimeout(10)
            c.sendall(\(request))
            start = time.monotonic()
            data = b""
            while True:
                piece = c.recv(65536)
                if not piece: break
                data += piece
            print("%.1f" % (time.monotonic() - start), data.split(b"\\r\\n")[0].decode())
            """)
        let (seconds, status) = (printed.prefix { $0 != " " }, printed.drop { $0 != " " }.dropFirst())
        return (String(status), Double(seconds) ?? 99)
    }

    @Test func headerNamesWithUnderscoresReachOnlyAnAppThatTakesThem() async throws {
        let plain = try Backend("u"), taking = try Backend("o")
        var open = RouteTable.App(name: "o", upstreams: [taking.upstream])
        open.underscoresInHeaders = true
        let (server, port) = try await startProxy(RouteTable(domains: [("u.test", .init(name: "u", upstreams: [plain.upstream])), ("o.test", open)]))
        defer { Task { await server.stop() } }
        let headers = ["-H", "X_Forwarded_For: 6.6.6.6", "-H", "My_Header: one", "-H", "My-Header: two"]
        // A CGI-style server would read `X_Forwarded_For` as the proxy's `X-Forwarded-For`.
        let left = try curl(port, host: "u.test", path: "/headers", extra: headers).stdout
        #expect(!left.contains("6.6.6.6") && !left.contains("\"one\""), "\(left)")
        #expect(left.contains("\"my-header\": \"two\""), "\(left)")
        let kept = try curl(port, host: "o.test", path: "/headers", extra: headers).stdout
        #expect(kept.contains("\"my_header\": \"one\"") && kept.contains("\"my-header\": \"two\""), "\(kept)")
        withExtendedLifetime((plain, taking)) {}
    }

    @Test func aKeptAliveConnectionClosesAfterTheAppsKeepaliveTimeout() async throws {
        let backend = try Backend("k")
        var app = RouteTable.App(name: "k", upstreams: [backend.upstream])
        app.keepaliveTimeoutMilliseconds = 300
        let (server, port) = try await startProxy(RouteTable(domains: [("k.test", app)]))
        defer { Task { await server.stop() } }
        // The server's own idle timeout is 75 s: the client's 10 s timeout would end this.
        let waited = try client("""
            import socket, time
            c = socket.create_connection(("127.0.0.1", \(port))); c.settimeout(10)
            c.sendall(b"GET / HTTP/1.1\\r\\nHost: k.test\\r\\n\\r\\n")
            data = b""
            while not data.endswith(b"\\r\\n\\r\\nk"):
                data += c.recv(4096)
            start = time.monotonic()
            rest = c.recv(4096)
            print(repr(rest), "%.1f" % (time.monotonic() - start))
            """)
        let parts = waited.split(separator: " ")
        #expect(parts.first == "b''", "closed by the proxy: \(waited)")
        #expect((Double(parts.last ?? "") ?? 99) < 4, "\(waited)")
        withExtendedLifetime(backend) {}
    }

    @Test func aHeadThatDoesNotArriveInTheServerWideTimeoutEndsTheConnection() async throws {
        let backend = try Backend("h")
        var table = RouteTable(domains: [("h.test", .init(name: "h", upstreams: [backend.upstream]))])
        table.headerTimeoutMilliseconds = 300
        let (server, port) = try await startProxy(table)
        defer { Task { await server.stop() } }
        // The server's own limit is 30 s: the client's 10 s timeout would end this.
        let waited = try answerAndWait(port: port, #"b"GET / HTTP/1.1\r\nHost: h.te""#)
        #expect(waited.status.isEmpty && waited.seconds < 4, "closed without an answer: \(waited)")
        withExtendedLifetime(backend) {}
    }

    @Test func aBodyThatStopsArrivingGetsA408ButASlowOneGoesThrough() async throws {
        let backend = try Backend("b")
        var app = RouteTable.App(name: "b", upstreams: [backend.upstream])
        app.clientBodyTimeoutMilliseconds = 300
        // The dripping client gets a longer limit: a busy machine may hold it back a while.
        var patient = RouteTable.App(name: "p", upstreams: [backend.upstream])
        patient.clientBodyTimeoutMilliseconds = 2000
        let (server, port) = try await startProxy(RouteTable(domains: [("b.test", app), ("p.test", patient)]))
        defer { Task { await server.stop() } }
        let stalled = try answerAndWait(port: port, #"b"POST /echo HTTP/1.1\r\nHost: b.test\r\nContent-Length: 100\r\n\r\n" + b"x" * 10"#)
        #expect(stalled.status.hasPrefix("HTTP/1.1 408 ") && stalled.seconds < 5, "\(stalled)")
        // Ten bytes every quarter second: slower than the limit in total, never stalled for it.
        let dripped = try client("""
            import socket, time
            c = socket.create_connection(("127.0.0.1", \(port))); c.settimeout(10)
            c.sendall(b"POST /echo HTTP/1.1\\r\\nHost: p.test\\r\\nContent-Length: 100\\r\\nConnection: close\\r\\n\\r\\n")
            for _ in range(10):
                time.sleep(0.25)
                c.sendall(b"y" * 10)
            data = b""
            while True:
                piece = c.recv(65536)
                if not piece: break
                data += piece
            print(data.split(b"\\r\\n")[0].decode(), data.split(b"\\r\\n\\r\\n", 1)[-1].decode())
            """)
        #expect(dripped.hasPrefix("HTTP/1.1 200 ") && dripped.hasSuffix("received 100"), "\(dripped)")
        withExtendedLifetime(backend) {}
    }

    @Test func aClientThatTakesNothingIsClosedAfterTheSendTimeout() async throws {
        let backend = try Backend("s")
        var app = RouteTable.App(name: "s", upstreams: [backend.upstream])
        app.sendTimeoutMilliseconds = 300
        let (server, port) = try await startProxy(RouteTable(domains: [("s.test", app)]))
        defer { Task { await server.stop() } }
        // 64 MiB would wait in the proxy's spool for as long as the client liked; after the
        // timeout the client finds only what the kernels held, then the end.
        let read = try client("""
            import socket, time
            c = socket.socket(); c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            c.connect(("127.0.0.1", \(port))); c.settimeout(10)
            c.sendall(b"GET /big?mb=64 HTTP/1.1\\r\\nHost: s.test\\r\\n\\r\\n")
            time.sleep(2.5)
            total = 0
            try:
                while True:
                    piece = c.recv(1 << 20)
                    if not piece: break
                    total += len(piece)
            except ConnectionResetError:
                pass
            except TimeoutError:
                print("timeout after", total)
            print(total)
            """)
        #expect((Int(read) ?? Int.max) < 16 << 20, "\(read) bytes")
        withExtendedLifetime(backend) {}
    }

    @Test func anAppThatTakesNoneOfTheBodyGetsTheRequestEndedWithA504() async throws {
        // Accepts connections and never reads them.
        let deaf = try Backend(name: "deaf", script: """
            import socket
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.bind(("127.0.0.1", 0)); s.listen(8)
            print("ready", s.getsockname()[1], flush=True)
            held = []
            while True:
                held.append(s.accept()[0])
            """)
        var app = RouteTable.App(name: "d", upstreams: [deaf.upstream])
        app.upstreamSendTimeoutMilliseconds = 300
        let (server, port) = try await startProxy(RouteTable(domains: [("d.test", app)]))
        defer { Task { await server.stop() }; deaf.stop() }
        let answer = try answerAndWait(port: port, #"b"POST / HTTP/1.1\r\nHost: d.test\r\nContent-Length: 8388608\r\n\r\n" + b"z" * 8388608"#)
        #expect(answer.status.hasPrefix("HTTP/1.1 504 ") && answer.seconds < 5, "\(answer)")
    }

    @Test func aRefusedBodyIsDrainedForTheAppsLingeringTimeoutAfterEachArrival() async throws {
        let backend = try Backend("l")
        var quiet = RouteTable.App(name: "q", upstreams: [backend.upstream], maxBodyBytes: 1000)
        quiet.lingeringTimeoutMilliseconds = 300
        var trickling = RouteTable.App(name: "t", upstreams: [backend.upstream], maxBodyBytes: 1000)
        trickling.lingeringTimeoutMilliseconds = 2000
        let (server, port) = try await startProxy(RouteTable(domains: [("q.test", quiet), ("t.test", trickling)]))
        defer { Task { await server.stop() } }
        // After the 413 the proxy closes for writing and drops what still arrives. Whether it
        // has closed for good shows in what the client's next bytes meet: a reset. The quiet
        // client sends nothing for 2.5 s, past its 300 ms (the default is 5 s); the other
        // sends every 0.3 s for 3.2 s, past its 2 s in total but never that long apart.
        let states = try client("""
            import socket, time
            def linger(host, trickle):
                c = socket.create_connection(("127.0.0.1", \(port))); c.settimeout(10)
                c.sendall(b"POST / HTTP/1.1\\r\\nHost: " + host + b"\\r\\nContent-Length: 10000000\\r\\n\\r\\n" + b"x" * 1000)
                data = b""
                while True:
                    piece = c.recv(65536)
                    if not piece: break
                    data += piece
                status = data.split(b"\\r\\n")[0].split()[1].decode()
                try:
                    end = time.monotonic() + (3.2 if trickle else 2.5)
                    while time.monotonic() < end:
                        time.sleep(0.3)
                        if trickle: c.sendall(b"y" * 10)
                    for _ in range(3):
                        c.sendall(b"z")
                        time.sleep(0.3)
                    return status + " open"
                except OSError:
                    return status + " closed"
            print(linger(b"q.test", False), linger(b"t.test", True))
            """)
        #expect(states == "413 closed 413 open", "\(states)")
        withExtendedLifetime(backend) {}
    }
}
