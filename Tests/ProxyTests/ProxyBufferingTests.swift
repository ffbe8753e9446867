import Foundation
import TestSupport
import Testing

@testable import Proxy

/// Request and response buffering: a slow client must not hold the app's only worker,
/// as with gunicorn's sync workers behind nginx.
@Suite struct ProxyBufferingTests {
    /// An app that serves one request at a time (Python's single-threaded HTTPServer):
    /// `POST /echo` answers the body's length and SHA-256, `GET /big?mb=N` sends N MiB of a
    /// counting pattern, `GET /` answers "free", `GET /events` answers as server-sent events
    /// with `X-Accel-Buffering: no`.
    private static let oneWorker = """
        import hashlib, sys
        from http.server import BaseHTTPRequestHandler, HTTPServer
        PATTERN = bytes(range(251)) * 4096
        class H(BaseHTTPRequestHandler):
            # A connection per request, as gunicorn's sync workers answer.
            protocol_version = "HTTP/1.0"
            def log_message(self, *a): pass
            def do_GET(self):
                if self.path.startswith("/big"):
                    size = int(self.path.split("=")[1]) << 20
                    self.send_response(200)
                    self.send_header("Content-Length", str(size))
                    self.end_headers()
                    sent = 0
                    while sent < size:
                        piece = PATTERN[:min(len(PATTERN), size - sent)]
                        self.wfile.write(piece)
                        sent += len(piece)
                    return
                body = b"free"
                self.send_response(200)
                if self.path == "/events":
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("X-Accel-Buffering", "no")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            def do_POST(self):
                length = int(self.headers["Content-Length"])
                digest = hashlib.sha256()
                while length > 0:
                    data = self.rfile.read(min(length, 65536))
                    if not data: break
                    digest.update(data)
                    length -= len(data)
                body = digest.hexdigest().encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
        server = HTTPServer(("127.0.0.1", 0), H)
        print("ready %d" % server.server_address[1], flush=True)
        server.serve_forever()
        """

    /// Runs a slow upload or download through the proxy on one thread and, half a second
    /// in, times a GET on another; prints the GET's seconds, then the slow side's result.
    private func slowClientAndAGet(port: Int, upload: Bool) throws -> (getSeconds: Double, slow: String) {
        let script = """
            import hashlib, socket, threading, time, urllib.request
            PORT = \(port)
            def slow_upload():
                body = bytes(range(256)) * 1024 * 2   # 512 KiB in 3 s
                s = socket.create_connection(("127.0.0.1", PORT)); s.settimeout(30)
                s.sendall(b"POST /echo HTTP/1.1\\r\\nHost: one.test\\r\\nContent-Length: %d\\r\\nConnection: close\\r\\n\\r\\n" % len(body))
                for i in range(0, len(body), 16384):
                    s.sendall(body[i:i + 16384]); time.sleep(3 / 32)
                data = b""
                while True:
                    got = s.recv(65536)
                    if not got: break
                    data += got
                ok = data.split(b"\\r\\n\\r\\n", 1)[1].decode() == hashlib.sha256(body).hexdigest()
                return "upload intact" if ok else "upload corrupted: %r" % data[:200]
            def slow_download():
                s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
                s.connect(("127.0.0.1", PORT)); s.settimeout(30)
                s.sendall(b"GET /big?mb=32 HTTP/1.1\\r\\nHost: one.test\\r\\nConnection: close\\r\\n\\r\\n")
                data = bytearray(); start = time.time()
                while time.time() - start < 3:   # about 1.3 MiB in 3 s, then the rest at full speed
                    data += s.recv(8192); time.sleep(0.02)
                while True:
                    got = s.recv(1 << 20)
                    if not got: break
                    data += got
                body = data.split(b"\\r\\n\\r\\n", 1)[1]
                want = (bytes(range(251)) * 4096 * 33)[:32 << 20]
                return "download intact" if body == want else "download corrupted: %d bytes" % len(body)
            result = {}
            worker = threading.Thread(target=lambda: result.setdefault("slow", \(upload ? "slow_upload" : "slow_download")()))
            worker.start(); time.sleep(0.5)
            start = time.time()
            request = urllib.request.Request("http://127.0.0.1:%d/" % PORT, headers={"Host": "one.test"})
            answer = urllib.request.urlopen(request, timeout=30).read().decode()
            print("%.3f %s" % (time.time() - start, answer))
            worker.join(); print(result["slow"])
            """
        let run = try Shell.run("/usr/bin/python3", ["-c", script])
        let lines = run.stdout.split(separator: "\n")
        guard run.status == 0, lines.count == 2, let seconds = Double(lines[0].split(separator: " ")[0]) else {
            throw HarnessError("client script failed: \(run)")
        }
        #expect(lines[0].hasSuffix(" free"))
        return (seconds, String(lines[1]))
    }

    @Test func aSlowUploaderDoesNotHoldTheAppsOnlyWorker() async throws {
        let backend = try Backend(name: "one", script: Self.oneWorker)
        let (server, port) = try await startProxy(RouteTable(domains: [("one.test", .init(name: "one", upstreams: [backend.upstream]))]))
        defer { Task { await server.stop() }; backend.stop() }
        let (seconds, slow) = try slowClientAndAGet(port: port, upload: true)
        #expect(slow == "upload intact")
        #expect(seconds < 1.5, "a GET waited \(seconds) s behind a slow upload")
    }

    /// Bodies past the 16 MiB a request spool holds whole go on as a stream, intact; a
    /// spilled request and response of 40 MiB each arrive byte for byte.
    @Test func largeBodiesPassIntactThroughTheSpools() async throws {
        let backend = try Backend(name: "one", script: Self.oneWorker)
        let (server, port) = try await startProxy(RouteTable(domains: [("one.test", .init(name: "one", upstreams: [backend.upstream]))]))
        defer { Task { await server.stop() }; backend.stop() }
        let script = """
            import hashlib, http.client
            body = bytes(range(256)) * (160 * 1024)
            c = http.client.HTTPConnection("127.0.0.1", \(port), timeout=60)
            c.request("POST", "/echo", body=body, headers={"Host": "one.test"})
            print(c.getresponse().read().decode() == hashlib.sha256(body).hexdigest())
            c = http.client.HTTPConnection("127.0.0.1", \(port), timeout=60)
            c.request("GET", "/big?mb=40", headers={"Host": "one.test"})
            print(c.getresponse().read() == (bytes(range(251)) * 4096 * 42)[:40 << 20])
            """
        let result = try Shell.run("/usr/bin/python3", ["-c", script])
        #expect(result.stdout == "True\nTrue\n", "\(result)")
    }

    @Test func aSlowDownloaderDoesNotHoldTheAppsOnlyWorker() async throws {
        let backend = try Backend(name: "one", script: Self.oneWorker)
        let (server, port) = try await startProxy(RouteTable(domains: [("one.test", .init(name: "one", upstreams: [backend.upstream]))]))
        defer { Task { await server.stop() }; backend.stop() }
        let (seconds, slow) = try slowClientAndAGet(port: port, upload: false)
        #expect(slow == "download intact")
        #expect(seconds < 1.5, "a GET waited \(seconds) s behind a slow download")
    }

    /// With buffering off (`nginx:set APP proxy-buffering off`) the app is read only as fast
    /// as the client reads: the same download holds the worker. Server-sent events and
    /// `X-Accel-Buffering: no` pass unbuffered, and that header stays with the proxy.
    @Test func bufferingOffLeavesTheAppPacedByTheClient() async throws {
        let backend = try Backend(name: "one", script: Self.oneWorker)
        let (server, port) = try await startProxy(RouteTable(domains: [("one.test", .init(name: "one", upstreams: [backend.upstream], responseBuffering: false))]))
        defer { Task { await server.stop() }; backend.stop() }
        let (seconds, slow) = try slowClientAndAGet(port: port, upload: false)
        #expect(slow == "download intact")
        #expect(seconds >= 1.5, "the GET did not wait (\(seconds) s): was the response buffered anyway?")

        let events = try curl(port, host: "one.test", path: "/events", extra: ["-D", "-"])
        #expect(events.stdout.contains("text/event-stream") && events.stdout.hasSuffix("free"), "\(events)")
        #expect(!events.stdout.lowercased().contains("x-accel-buffering"), "\(events)")
    }
}
