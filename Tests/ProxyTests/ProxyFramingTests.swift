import Foundation
import TestSupport
import Testing

@testable import Proxy

/// How messages are delimited through the proxy: chunked bodies both ways, responses
/// without a body or without a length, HTTP/1.0 clients, pipelining and interim responses.
@Suite struct ProxyFramingTests {
    private func proxy(_ name: String) async throws -> (Backend, ProxyServer, Int) {
        let backend = try Backend(name)
        let (server, port) = try await startProxy(RouteTable(domains: [("\(name).test", .init(name: name, upstreams: [backend.upstream], maxBodyBytes: 64 * 1024))]))
        return (backend, server, port)
    }

    /// gzip as Dokku's nginx template does it: text over 1,100 bytes for clients that ask,
    /// never twice, never for other types, small bodies, HEAD, HTTP/1.0 or `q=0`.
    @Test func textIsGzippedForClientsThatAcceptIt() async throws {
        let (backend, server, port) = try await proxy("g")
        defer { Task { await server.stop() }; backend.stop() }
        func get(_ path: String, _ extra: [String] = []) throws -> (head: String, body: Data) {
            let directory = NSTemporaryDirectory() + "gzip-\(UUID().uuidString)"
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let result = try curl(port, host: "g.test", path: path, extra: ["-D", directory + ".head", "-o", directory + ".body"] + extra)
            defer { try? FileManager.default.removeItem(atPath: directory + ".head"); try? FileManager.default.removeItem(atPath: directory + ".body") }
            #expect(result.status == 0, "\(result)")
            let head = (try? String(contentsOfFile: directory + ".head", encoding: .utf8)) ?? ""
            return (head.lowercased(), FileManager.default.contents(atPath: directory + ".body") ?? Data())
        }
        func gunzip(_ data: Data) throws -> String {
            let result = try Shell.run("/usr/bin/python3", ["-c", "import gzip,sys; sys.stdout.write(gzip.decompress(sys.stdin.buffer.read()).decode())"], environment: nil, bytes: data)
            #expect(result.status == 0, "\(result)")
            return result.stdout
        }
        let text = String(repeating: "All work and no play makes Jack a dull boy. ", count: 200)
        let gzip = ["-H", "Accept-Encoding: gzip, deflate"]

        let compressed = try get("/text?n=5000", gzip)
        #expect(compressed.head.contains("content-encoding: gzip\r\n"), "\(compressed.head)")
        #expect(compressed.head.contains("vary: accept-encoding\r\n"))
        #expect(!compressed.head.contains("content-length"))
        #expect(compressed.body.count < 500, "\(compressed.body.count) bytes")
        #expect(try gunzip(compressed.body) == String(text.prefix(5000)))
        // Chunked from the app: compressed too, the whole body.
        let chunked = try get("/text?n=20000&chunked=1", gzip)
        #expect(chunked.head.contains("content-encoding: gzip"), "\(chunked.head)")
        #expect(try gunzip(chunked.body).count == 20000)
        // A strong ETag becomes weak; JSON is compressed; keep-alive continues after it.
        let tagged = try get("/text?n=3000&etag=v1&type=application/json;%20charset=utf-8", gzip)
        #expect(tagged.head.contains("etag: w/\"v1\""), "\(tagged.head)")
        #expect(tagged.head.contains("content-encoding: gzip"))
        let twice = try curl(port, host: "g.test", path: "/text?n=4000", extra: ["--compressed", "-w", " %{num_connects}", "http://127.0.0.1:\(port)/text?n=4000"])
        #expect(twice.stdout == String(text.prefix(4000)) + " 1" + String(text.prefix(4000)) + " 0", "\(twice)")

        // Not compressed: no Accept-Encoding, q=0, too small, another type, already encoded,
        // HEAD, HTTP/1.0.
        for (path, extra) in [
            ("/text?n=5000", []), ("/text?n=5000", ["-H", "Accept-Encoding: gzip;q=0, br;q=0, zstd;q=0, identity"]), ("/text?n=1000", gzip),
            ("/text?n=5000&type=image/png", gzip), ("/text?n=5000&enc=br", gzip), ("/text?n=5000", gzip + ["-I"]),
            ("/text?n=5000", gzip + ["--http1.0"]),
        ] {
            let plain = try get(path, extra)
            #expect(!plain.head.contains("content-encoding: gzip"), "\(path) \(extra): \(plain.head)")
        }
        let already = try get("/text?n=5000&enc=br", gzip + ["-H", "Accept-Encoding: br, zstd"])
        #expect(already.head.contains("content-encoding: br\r\n") && already.body.count == 5000, "the app's own encoding passes untouched")
    }

    @Test func brotliAndZstdGoToClientsThatAskForThem() async throws {
        let (backend, server, port) = try await proxy("z")
        defer { Task { await server.stop() }; backend.stop() }
        let text = String(repeating: "All work and no play makes Jack a dull boy. ", count: 2000)
        /// The coding the proxy chose for `accept`, the body's size on the wire, and the body
        /// as curl's own brotli and zstd decoders make it.
        func fetch(_ path: String, accept: String) throws -> (coding: String, wire: Int, body: String) {
            let head = NSTemporaryDirectory() + "coding-\(UUID().uuidString)"
            defer { try? FileManager.default.removeItem(atPath: head) }
            let decoded = try curl(port, host: "z.test", path: path, extra: ["--compressed", "-H", "Accept-Encoding: \(accept)", "-D", head, "-w", "\n%{size_download}"])
            #expect(decoded.status == 0, "\(decoded)")
            let headText = ((try? String(contentsOfFile: head, encoding: .utf8)) ?? "").lowercased()
            let coding = headText.split(separator: "\r\n").first { $0.hasPrefix("content-encoding: ") }.map { String($0.dropFirst(18)) } ?? "identity"
            let body = decoded.stdout.split(separator: "\n", omittingEmptySubsequences: false)
            return (coding, Int(body.last ?? "") ?? -1, body.dropLast().joined(separator: "\n"))
        }
        for (accept, expected) in [
            ("br", "br"), ("zstd", "zstd"), ("gzip, deflate, br, zstd", "zstd"), ("gzip, deflate, br", "br"),
            ("zstd;q=0.5, br;q=0.8, gzip", "gzip"), ("gzip;q=0.2, br;q=0.9, zstd;q=0.4", "br"), ("*", "gzip"), ("zstd;q=0, *", "gzip"),
            ("br;q=0, zstd;q=0, gzip;q=0", "identity"), ("compress, identity", "identity"),
        ] {
            for path in ["/text?n=60000", "/text?n=60000&chunked=1"] {
                let got = try fetch(path, accept: accept)
                #expect(got.coding == expected, "\(accept) \(path)")
                #expect(got.body == String(text.prefix(60000)), "\(accept) \(path): \(got.body.count) bytes")
                if expected != "identity" { #expect(got.wire < 2000, "\(accept) \(path): \(got.wire) bytes on the wire") }
            }
        }
        // A streamed body goes out as it comes, not held in the encoder: the first piece of
        // a slow chunked response arrives before the app has sent the rest.
        for coding in ["br", "zstd", "gzip"] {
            let script = """
                import subprocess, sys, urllib.request
                curl = subprocess.Popen(["curl", "-sN", "--compressed", "-H", "Accept-Encoding: \(coding)", "-H", "Host: z.test",
                                         "http://127.0.0.1:\(port)/drip"], stdout=subprocess.PIPE)
                first = curl.stdout.readline()
                release = urllib.request.Request("http://127.0.0.1:\(port)/release", headers={"Host": "z.test"})
                urllib.request.urlopen(release, timeout=10).read()
                rest = curl.stdout.read()
                curl.wait(10)
                sys.stdout.write((first + rest).decode())
                """
            let streamed = try Shell.run("/usr/bin/python3", ["-c", script], environment: nil)
            #expect(streamed.stdout == "first\nreleased\n", "\(coding): \(streamed)")
        }
    }

    /// zstd and brotli encoders are large: past 16 at once on a loop, responses get gzip
    /// (or nothing, for a client that refuses gzip) until one ends.
    @Test func pastSixteenHeavyEncodersAResponseGetsGzip() async throws {
        let backend = try Backend("h")
        let (server, port) = try await startProxy(RouteTable(domains: [("h.test", .init(name: "h", upstreams: [backend.upstream]))])) { $0.threads = 1 }
        defer { Task { await server.stop() }; backend.stop() }
        let script = """
            import subprocess, sys, urllib.request
            def curl(*args):
                return ["curl", "-sN", "--compressed", "-H", "Host: h.test"] + list(args)
            # Sixteen streamed responses, each holding a zstd encoder until released.
            held = [subprocess.Popen(curl("-H", "Accept-Encoding: zstd", "http://127.0.0.1:\(port)/drip"), stdout=subprocess.PIPE) for _ in range(16)]
            for process in held:
                process.stdout.readline()
            def coding(accept):
                head = subprocess.run(curl("-H", "Accept-Encoding: " + accept, "-o", "/dev/null", "-D", "-", "http://127.0.0.1:\(port)/text?n=60000&chunked=1"),
                                      capture_output=True, timeout=10).stdout.decode().lower()
                return next((line.split(":", 1)[1].strip() for line in head.split("\\r\\n") if line.startswith("content-encoding:")), "identity")
            busy = [coding("zstd, gzip"), coding("br;q=1, gzip;q=0.5"), coding("zstd")]
            release = urllib.request.Request("http://127.0.0.1:\(port)/release", headers={"Host": "h.test"})
            urllib.request.urlopen(release, timeout=10).read()
            for process in held:
                process.stdout.read()
                process.wait(10)
            print(" ".join(busy + [coding("zstd, gzip")]))
            """
        let result = try Shell.run("/usr/bin/python3", ["-c", script], environment: nil)
        #expect(result.stdout == "gzip gzip identity zstd\n", "\(result)")
    }

    @Test func chunkedBodiesPassBothWays() async throws {
        let (backend, server, port) = try await proxy("c")
        defer { Task { await server.stop() }; backend.stop() }
        // A chunked request body reaches the app whole.
        let upload = try curl(port, host: "c.test", path: "/echo", extra: ["-H", "Transfer-Encoding: chunked", "--data-binary", String(repeating: "y", count: 5000)])
        #expect(upload.stdout == "received 5000")
        // An HTTP/1.1 client gets the chunks as the app sent them, trailer included.
        let raw = rawExchange(port: port, "GET /chunked HTTP/1.1\r\nHost: c.test\r\nConnection: close\r\n\r\n")
        #expect(raw.hasPrefix("HTTP/1.1 200"), "\(raw)")
        #expect(raw.lowercased().contains("transfer-encoding: chunked"))
        #expect(raw.hasSuffix("3\r\none\r\n3\r\ntwo\r\n5\r\nthree\r\n0\r\nX-Checksum: 11\r\n\r\n"), "\(raw)")
        #expect(try curl(port, host: "c.test", path: "/chunked").stdout == "onetwothree")
        // An HTTP/1.0 client cannot take chunks: it gets the data, ended by the close.
        let old = rawExchange(port: port, "GET /chunked HTTP/1.0\r\nHost: c.test\r\n\r\n")
        #expect(old.hasPrefix("HTTP/1.1 200"), "\(old)")
        #expect(!old.lowercased().contains("transfer-encoding"), "\(old)")
        #expect(old.lowercased().contains("connection: close"))
        #expect(old.hasSuffix("\r\n\r\nonetwothree"), "\(old)")
        // A chunked body over the app's limit is refused as it streams.
        let tooLarge = try curl(port, host: "c.test", path: "/echo", extra: ["-H", "Transfer-Encoding: chunked", "--data-binary", String(repeating: "z", count: 70 * 1024), "-o", "/dev/null", "-w", "%{http_code}"])
        #expect(tooLarge.stdout == "413")
        // A malformed chunk is a bad request.
        let malformed = rawExchange(port: port, "POST /echo HTTP/1.1\r\nHost: c.test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n")
        #expect(malformed.hasPrefix("HTTP/1.1 400"), "\(malformed)")
    }

    @Test func aBrokenChunkedUploadDoesNotLeaveItsConnectionToTheNextRequest() async throws {
        let backend = try Backend("b")
        // One event loop: the next request would be offered the same pooled connection.
        let (server, port) = try await startProxy(RouteTable(domains: [("b.test", .init(name: "b", upstreams: [backend.upstream]))])) { $0.threads = 1 }
        defer { Task { await server.stop() }; backend.stop() }
        // A pooled connection first, so the broken upload gets it at once.
        #expect(try curl(port, host: "b.test").stdout == "b")
        // The app gets the head and the start of a chunk, then the chunk's end is malformed.
        let broken = rawExchange(port: port, "POST /echo HTTP/1.1\r\nHost: b.test\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdefXX")
        #expect(broken.hasPrefix("HTTP/1.1 400"), "\(broken)")
        // An upload that cannot be resent must reach an app connection in a clean state.
        let next = try curl(port, host: "b.test", path: "/echo", extra: ["--data-binary", "hello"])
        #expect(next.stdout == "received 5", "\(next)")
    }

    @Test func aRefusedUploadStillLetsTheClientReadTheAnswer() async throws {
        let (backend, server, port) = try await proxy("l")
        defer { Task { await server.stop() }; backend.stop() }
        // The client goes on uploading after the 413: closing outright would reset the
        // connection and could destroy the answer before the client reads it.
        let script = """
            import socket, time
            c = socket.create_connection(("127.0.0.1", \(port))); c.settimeout(10)
            c.sendall(b"POST /echo HTTP/1.1\\r\\nHost: l.test\\r\\nContent-Length: 10000000\\r\\n\\r\\n" + b"x" * 200000)
            time.sleep(0.5)
            try:
                for _ in range(5): c.sendall(b"y" * 65536)
            except OSError as error:
                print("send failed:", error.__class__.__name__)
            data = b""
            try:
                while chunk := c.recv(65536): data += chunk
            except OSError as error:
                print("receive failed:", error.__class__.__name__)
            print(data.split(b"\\r\\n")[0].decode())
            """
        let result = try Shell.run("/usr/bin/python3", ["-c", script])
        #expect(result.stdout == "HTTP/1.1 413 Payload Too Large\n", "\(result)")
    }

    @Test func aBodyWaitingForItsUpstreamConnectionIsHeldBack() throws {
        // An upstream whose accept queue is full: connecting to it hangs until the timeout.
        let stuck = try Backend(name: "stuck", script: """
            import socket, time
            hold = socket.socket(); hold.bind(("127.0.0.1", 0)); hold.listen(0)
            filler = socket.create_connection(hold.getsockname())
            print("ready %d" % hold.getsockname()[1], flush=True)
            time.sleep(120)
            """)
        let proxy = try ProxyProcess(routes: ["stuck.test=\(stuck.upstream)"])
        // The client streams a chunked upload as fast as it can for two seconds.
        let script = """
            import socket, time
            c = socket.create_connection(("127.0.0.1", \(proxy.port)))
            c.sendall(b"POST / HTTP/1.1\\r\\nHost: stuck.test\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n")
            c.setblocking(False)
            chunk = memoryview(b"100000\\r\\n" + b"x" * 0x100000 + b"\\r\\n")
            sent, position, deadline = 0, 0, time.time() + 2
            while time.time() < deadline:
                try:
                    n = c.send(chunk[position:])
                    sent += n
                    position = (position + n) % len(chunk)
                except BlockingIOError:
                    time.sleep(0.005)
            print(sent // (1024 * 1024))
            """
        let result = try Shell.run("/usr/bin/python3", ["-c", script])
        let megabytes = try #require(Int(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(result)")
        // A little is pending plus the sockets' buffers; unbounded, it would be gigabytes.
        #expect(megabytes < 64, "the proxy kept reading \(megabytes) MiB with nowhere to send it")
    }

    @Test func responsesWithoutBodiesOrLengthsAndPipelinedRequests() async throws {
        let (backend, server, port) = try await proxy("f")
        defer { Task { await server.stop() }; backend.stop() }
        // HEAD and 204 have no body, so the next pipelined request's answer follows at once.
        let pipelined = rawExchange(port: port, "HEAD / HTTP/1.1\r\nHost: f.test\r\n\r\nGET /empty HTTP/1.1\r\nHost: f.test\r\n\r\nGET / HTTP/1.1\r\nHost: f.test\r\nConnection: close\r\n\r\n")
        let statuses = pipelined.components(separatedBy: "\r\n").filter { $0.hasPrefix("HTTP/1.1 ") }
        #expect(statuses == ["HTTP/1.1 200 OK", "HTTP/1.1 204 No Content", "HTTP/1.1 200 OK"], "\(pipelined)")
        #expect(pipelined.hasSuffix("\r\n\r\nf"), "\(pipelined)")
        // A body in the middle of a pipeline goes up at once, not when the client next writes.
        let withBody = rawExchange(port: port, "GET / HTTP/1.1\r\nHost: f.test\r\n\r\nPOST /echo HTTP/1.1\r\nHost: f.test\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: f.test\r\nConnection: close\r\n\r\n")
        #expect(withBody.components(separatedBy: "HTTP/1.1 200 OK").count == 4, "\(withBody)")
        #expect(withBody.contains("received 5"))
        // A response without a length ends when the app closes; the client is told to close.
        let untilClose = rawExchange(port: port, "GET /close HTTP/1.1\r\nHost: f.test\r\n\r\n")
        #expect(untilClose.hasPrefix("HTTP/1.1 200"), "\(untilClose)")
        #expect(untilClose.lowercased().contains("connection: close"))
        #expect(untilClose.hasSuffix("\r\n\r\nuntil-close"), "\(untilClose)")
        // An HTTP/1.0 client that asks for keep-alive keeps its connection.
        let kept = rawExchange(port: port, "GET / HTTP/1.0\r\nHost: f.test\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\nHost: f.test\r\n\r\n")
        #expect(kept.components(separatedBy: "HTTP/1.1 200 OK").count == 3, "\(kept)")
        #expect(kept.lowercased().contains("connection: keep-alive"))
    }

    /// RFC gaps nginx and Caddy do not have: a Date on every response, `Trailer` passed with
    /// the chunked body it announces, 414 for a request line too long, no CONNECT tunnels.
    @Test func dateTrailerLongURIsAndConnect() async throws {
        let bare = try Backend(name: "bare", script: """
            import socket, threading
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", 0)); s.listen(16)
            print("ready %d" % s.getsockname()[1], flush=True)
            def serve(c):
                data = b""
                while b"\\r\\n\\r\\n" not in data:
                    more = c.recv(65536)
                    if not more: return
                    data += more
                if data.startswith(b"GET /trailer"):
                    c.sendall(b"HTTP/1.1 200 OK\\r\\nTransfer-Encoding: chunked\\r\\nTrailer: X-Sum\\r\\nConnection: close\\r\\n\\r\\n2\\r\\nok\\r\\n0\\r\\nX-Sum: 1\\r\\n\\r\\n")
                elif data.startswith(b"GET /dated"):
                    c.sendall(b"HTTP/1.1 200 OK\\r\\nDate: Sun, 06 Nov 1994 08:49:37 GMT\\r\\nContent-Length: 2\\r\\nConnection: close\\r\\n\\r\\nok")
                else:
                    c.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\nConnection: close\\r\\n\\r\\nok")
                c.close()
            while True:
                c, _ = s.accept()
                threading.Thread(target=serve, args=(c,), daemon=True).start()
            """)
        let (server, port) = try await startProxy(RouteTable(domains: [("bare.test", .init(name: "bare", upstreams: [bare.upstream]))]))
        defer { Task { await server.stop() }; bare.stop() }
        // An app that sends no Date gets one, in RFC 9110's format; an app's own is kept, once.
        let plain = rawExchange(port: port, "GET / HTTP/1.1\r\nHost: bare.test\r\nConnection: close\r\n\r\n")
        #expect(plain.contains(/\r\nDate: (Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT\r\n/), "\(plain)")
        let dated = rawExchange(port: port, "GET /dated HTTP/1.1\r\nHost: bare.test\r\nConnection: close\r\n\r\n")
        #expect(dated.components(separatedBy: "\r\nDate: ").count == 2 && dated.contains("Date: Sun, 06 Nov 1994 08:49:37 GMT"), "\(dated)")
        let notFound = rawExchange(port: port, "GET / HTTP/1.1\r\nHost: nobody.test\r\nConnection: close\r\n\r\n")
        #expect(notFound.hasPrefix("HTTP/1.1 404") && notFound.contains("\r\nDate: "), "the proxy's own answers too: \(notFound)")
        // Trailer is end to end: it reaches the client with its trailer field.
        let trailer = rawExchange(port: port, "GET /trailer HTTP/1.1\r\nHost: bare.test\r\nConnection: close\r\n\r\n")
        #expect(trailer.contains("\r\nTrailer: X-Sum\r\n") && trailer.contains("\r\n0\r\nX-Sum: 1\r\n"), "\(trailer)")
        // A 64 KiB URL is a URI too long; 64 KiB of header fields are fields too large.
        let longURI = rawExchange(port: port, "GET /" + String(repeating: "a", count: 70_000) + " HTTP/1.1\r\nHost: bare.test\r\n\r\n")
        #expect(longURI.hasPrefix("HTTP/1.1 414"), "\(longURI.prefix(200))")
        let longField = rawExchange(port: port, "GET / HTTP/1.1\r\nHost: bare.test\r\nX-Big: " + String(repeating: "b", count: 70_000) + "\r\n\r\n")
        #expect(longField.hasPrefix("HTTP/1.1 431"), "\(longField.prefix(200))")
        // CONNECT is not forwarded to the app.
        let connect = rawExchange(port: port, "CONNECT bare.test:443 HTTP/1.1\r\nHost: bare.test\r\n\r\n")
        #expect(connect.hasPrefix("HTTP/1.1 405"), "\(connect)")
    }

    @Test func interimResponsesReachTheClient() async throws {
        let (backend, server, port) = try await proxy("e")
        defer { Task { await server.stop() }; backend.stop() }
        // As curl does with large uploads: the body goes only after 100 Continue, which the
        // proxy sends itself (as nginx does) rather than pass Expect to the app; had it
        // passed it, this backend's own 100 would come where the 200 is expected.
        let script = """
            import socket
            c = socket.create_connection(("127.0.0.1", \(port))); c.settimeout(5)
            c.sendall(b"POST /echo HTTP/1.1\\r\\nHost: e.test\\r\\nContent-Length: 5\\r\\nExpect: 100-continue\\r\\n\\r\\n")
            data = b""
            while b"\\r\\n\\r\\n" not in data: data += c.recv(4096)
            print(data.split(b"\\r\\n")[0].decode())
            c.sendall(b"hello")
            data = b""
            while not data.endswith(b"received 5"): data += c.recv(4096)
            print(data.split(b"\\r\\n")[0].decode())
            """
        let result = try Shell.run("/usr/bin/python3", ["-c", script])
        #expect(result.stdout == "HTTP/1.1 100 Continue\nHTTP/1.1 200 OK\n", "\(result)")
        // An app's own interim response reaches an HTTP/1.1 client before the final one.
        let hinted = rawExchange(port: port, "GET /hints HTTP/1.1\r\nHost: e.test\r\nConnection: close\r\n\r\n")
        #expect(hinted.hasPrefix("HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\n"), "\(hinted)")
        #expect(hinted.hasSuffix("hinted"))
        let hintedOld = rawExchange(port: port, "GET /hints HTTP/1.0\r\nHost: e.test\r\n\r\n")
        #expect(hintedOld.hasPrefix("HTTP/1.1 200 OK\r\n"), "an HTTP/1.0 client gets no interim response: \(hintedOld)")
        // Answered by the proxy before the body came: the client will not send it, so the
        // connection closes rather than wait for it.
        let started = ContinuousClock.now
        let refused = rawExchange(port: port, "POST / HTTP/1.1\r\nHost: nobody.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n", timeout: 8)
        #expect(refused.hasPrefix("HTTP/1.1 404"), "\(refused)")
        #expect(refused.lowercased().contains("connection: close"))
        #expect(ContinuousClock.now - started < .seconds(4))
    }

    @Test func badUpstreamsAndAmbiguousRequestsAreRefused() async throws {
        let (backend, server, port) = try await proxy("b")
        defer { Task { await server.stop() }; backend.stop() }
        let garbage = try curl(port, host: "b.test", path: "/garbage", extra: ["-w", "\n%{http_code}"])
        #expect(garbage.stdout.hasSuffix("\n502"), "\(garbage.stdout)")
        #expect(garbage.stdout.contains("could not be parsed"))
        let twoHosts = rawExchange(port: port, "GET / HTTP/1.1\r\nHost: b.test\r\nHost: other.test\r\n\r\n")
        #expect(twoHosts.hasPrefix("HTTP/1.1 400"), "\(twoHosts)")
        let noHost = rawExchange(port: port, "GET / HTTP/1.1\r\n\r\n")
        #expect(noHost.hasPrefix("HTTP/1.1 400"), "\(noHost)")
        let oldNoHost = rawExchange(port: port, "GET / HTTP/1.0\r\n\r\n")
        #expect(oldNoHost.hasPrefix("HTTP/1.1 404"), "HTTP/1.0 may omit Host: \(oldNoHost)")
        let folded = rawExchange(port: port, "GET / HTTP/1.1\r\nHost: b.test\r\nX-A: one\r\n two\r\n\r\n")
        #expect(folded.hasPrefix("HTTP/1.1 400"), "\(folded)")
        let unknownCoding = rawExchange(port: port, "POST /echo HTTP/1.1\r\nHost: b.test\r\nTransfer-Encoding: gzip\r\n\r\nabc")
        #expect(unknownCoding.hasPrefix("HTTP/1.1 400"), "\(unknownCoding)")
        // The proxy still serves after all of that.
        #expect(try curl(port, host: "b.test").stdout == "b")
    }
}
