import Foundation
import TestSupport
import Testing

@testable import Proxy

/// The proxy against real upstream processes over loopback.
@Suite struct ProxyServerTests {
    @Test func routesByHostWithClearErrorPages() async throws {
        let one = try Backend("one"), two = try Backend("two")
        let routes = RouteTable(domains: [
            ("one.test", .init(name: "one", upstreams: [one.upstream])),
            ("*.two.test", .init(name: "two", upstreams: [two.upstream])),
            ("idle.test", .init(name: "idle", upstreams: [])),
        ])
        let (server, port) = try await startProxy(routes)
        defer { Task { await server.stop() } }
        #expect(try curl(port, host: "one.test").stdout == "one")
        #expect(try curl(port, host: "ONE.test:80").stdout == "one")
        #expect(try curl(port, host: "a.two.test").stdout == "two")
        let unknown = try curl(port, host: "nobody.test", extra: ["-w", "\n%{http_code}"])
        #expect(unknown.stdout.hasSuffix("\n404"))
        #expect(unknown.stdout.contains("No app is configured for nobody.test"))
        let idle = try curl(port, host: "idle.test", extra: ["-w", "\n%{http_code}"])
        #expect(idle.stdout.hasSuffix("\n502"))
        #expect(idle.stdout.contains("The app idle has no running web processes"))
    }

    @Test func balancesAndReusesUpstreamConnections() async throws {
        let a = try Backend("a"), b = try Backend("b")
        let (server, port) = try await startProxy(RouteTable(domains: [("lb.test", .init(name: "lb", upstreams: [a.upstream, b.upstream]))]))
        defer { Task { await server.stop() } }
        var seen: [String: Int] = [:]
        // One client connection, many requests: keep-alive on both sides.
        let result = try Shell.which("curl", ["-sS", "-H", "Host: lb.test"] + Array(repeating: "http://127.0.0.1:\(port)/", count: 20).flatMap { [$0, "-w", "\n"] })
        for line in result.stdout.split(separator: "\n") { seen[String(line), default: 0] += 1 }
        #expect(seen == ["a": 10, "b": 10])
        let connectionsA = try #require(Int(try Shell.which("curl", ["-sS", "http://127.0.0.1:\(a.port)/connections"]).stdout))
        #expect(connectionsA <= 3, "upstream connections are pooled, not one per request (\(connectionsA))")
    }

    @Test func roundRobinCarriesOnAcrossRouteUpdates() async throws {
        let a = try Backend("a"), b = try Backend("b")
        let app = RouteTable.App(name: "rr", upstreams: [a.upstream, b.upstream])
        // One event loop: each loop keeps its own turn.
        let (server, port) = try await startProxy(RouteTable(domains: [("rr.test", app)])) { $0.threads = 1 }
        defer { Task { await server.stop() } }
        var seen: [String] = []
        for round in 0..<4 {
            seen.append(try curl(port, host: "rr.test").stdout)
            // Another app's deploy changes the table between requests.
            server.update(RouteTable(domains: [("rr.test", app), ("other.test", .init(name: "other", upstreams: [Upstream(port: 1000 + round)]))]))
        }
        #expect(seen == ["a", "b", "a", "b"])
    }

    @Test func idleUpstreamConnectionsAgeOut() async throws {
        let backend = try Backend("idle")
        let (server, port) = try await startProxy(RouteTable(domains: [("idle.test", .init(name: "idle", upstreams: [backend.upstream]))])) {
            $0.upstreamIdleTimeout = .seconds(1)
        }
        defer { Task { await server.stop() } }
        func open() throws -> String { try Shell.which("curl", ["-sS", "http://127.0.0.1:\(backend.port)/open"]).stdout }
        #expect(try curl(port, host: "idle.test").stdout == "idle")
        #expect(try open() == "2", "the proxy's pooled connection, and this one")
        #expect(try eventually { try open() == "1" }, "the pooled connection is closed once idle past the timeout")
        #expect(try curl(port, host: "idle.test").stdout == "idle", "and a new one is opened when needed")
    }

    @Test func writesAnAccessLogLinePerRequest() throws {
        let backend = try Backend("logged")
        let log = NSTemporaryDirectory() + "dokkulite-access-\(UUID().uuidString).log"
        defer { try? FileManager.default.removeItem(atPath: log) }
        let proxy = try ProxyProcess(routes: ["logged.test=\(backend.upstream)"], extra: ["--access-log"], stdout: log)
        #expect(try curl(proxy.port, host: "logged.test", path: "/a?b=c", extra: ["-H", "X-Request-Id: given-1"]).stdout == "logged")
        #expect(try curl(proxy.port, host: "Nobody.test:80", extra: ["-o", "/dev/null"]).status == 0)
        func lines() -> [String] { ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }
        // Written in batches off the request path, within a quarter of a second, each event
        // loop its own batch (so not necessarily in request order). The third line is the
        // harness's readiness probe.
        #expect(eventually { lines().count == 3 }, "\(lines())")
        let found = lines()
        let served = try #require(found.first { $0.contains("request_id=given-1") })
        let pattern = #"^app=logged\.test host=logged\.test method=GET uri=/a\?b=c status=200 bytes=6 duration_ms=\d+\.\d upstream=127\.0\.0\.1:\#(backend.port) client=127\.0\.0\.1 request_id=given-1$"#
        #expect(served.range(of: pattern, options: .regularExpression) != nil, "\(served)")
        let unknown = try #require(found.first { $0.contains("host=Nobody.test:80") })
        #expect(unknown.hasPrefix("app=- host=Nobody.test:80 method=GET uri=/ status=404 "), "\(unknown)")
        #expect(unknown.contains(" upstream=- "))
        #expect(unknown.range(of: #" request_id=[0-9a-f]+-[0-9a-f]+$"#, options: .regularExpression) != nil, "a generated id: \(unknown)")
    }

    @Test func writesErrorLinesAndCutsLongFieldsShortOfAJournalSplit() throws {
        let backend = try Backend("long")
        let dead = try freePort()
        let log = NSTemporaryDirectory() + "dokkulite-error-\(UUID().uuidString).log"
        defer { try? FileManager.default.removeItem(atPath: log) }
        let proxy = try ProxyProcess(routes: ["long.test=\(backend.upstream)", "dead.test=127.0.0.1:\(dead)"], extra: ["--access-log"], stdout: log)
        #expect(try curl(proxy.port, host: "dead.test", path: "/x", extra: ["-o", "/dev/null", "-w", "%{http_code}", "-H", "X-Request-Id: gone-1"]).stdout == "502")
        // A 60 KB target: journald (LineMax 48 KiB) would split its line, and the second
        // entry would begin with words the client chose.
        let target = "/" + String(repeating: "a", count: 60_000)
        _ = try curl(proxy.port, host: "long.test", path: target, extra: ["-o", "/dev/null"])
        func lines() -> [String] { ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }
        #expect(eventually { lines().filter { $0.contains("request_id=gone-1") }.count == 3 && lines().contains { $0.hasPrefix("app=long.test ") } }, "\(lines().map { $0.prefix(200) })")
        let found = lines()
        let connect = try #require(found.first { $0.hasPrefix("error ") && $0.contains("request_id=gone-1") && $0.contains("status=-") })
        #expect(connect.hasPrefix("error app=dead.test status=- upstream=127.0.0.1:\(dead) client=127.0.0.1 request_id=gone-1 method=GET uri=/x message=\"connecting to the instance failed ("), "\(connect)")
        let answered = try #require(found.first { $0.hasPrefix("error ") && $0.contains("status=502") })
        #expect(answered.hasPrefix("error app=dead.test status=502 upstream=127.0.0.1:\(dead) ") && answered.hasSuffix(" message=\"The app dead.test is not answering.\""), "\(answered)")
        let long = try #require(found.first { $0.hasPrefix("app=long.test ") })
        let cut = long.contains(" uri=/" + String(repeating: "a", count: 16383) + " status="), length = long.utf8.count
        #expect(cut && length < 20_000, "the target cut to 16 KiB: a line of \(length) bytes")
    }

    @Test func setsForwardingHeadersAndDropsHopByHop() async throws {
        let backend = try Backend("h")
        let (server, port) = try await startProxy(RouteTable(domains: [("h.test", .init(name: "h", upstreams: [backend.upstream]))]))
        defer { Task { await server.stop() } }
        let spoofed = [
            "-H", "X-Forwarded-For: 10.0.0.1", "-H", "X-Forwarded-Proto: https", "-H", "X-Forwarded-Host: bank.test", "-H", "Forwarded: for=10.0.0.1;proto=https",
            "-H", "X-Forwarded-Ssl: on", "-H", "X-Forwarded-Scheme: https", "-H", "X-Real-IP: 10.0.0.1",
        ]
        let result = try curl(port, host: "h.test", path: "/headers", extra: spoofed + ["-H", "Connection: keep-alive, X-Secret", "-H", "X-Secret: hop", "-H", "Keep-Alive: timeout=5", "-H", "X-Request-Id: given-id"])
        let headers = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: String])
        #expect(headers["host"] == "h.test")
        // As Dokku's nginx ($remote_addr): the peer alone, whatever the client claimed.
        #expect(headers["x-forwarded-for"] == "127.0.0.1")
        for name in ["x-forwarded-host", "forwarded", "x-forwarded-ssl", "x-forwarded-scheme", "x-real-ip"] {
            #expect(headers[name] == nil, "a client's \(name) does not reach the app")
        }
        #expect(headers["x-forwarded-proto"] == "http")
        #expect(headers["x-forwarded-port"] == String(port))
        #expect(headers["x-request-id"] == "given-id")
        let start = try #require(headers["x-request-start"])
        #expect(start.hasPrefix("t=") && Int(start.dropFirst(2)) != nil)
        #expect(headers["x-secret"] == nil, "headers named in Connection are hop-by-hop")
        #expect(headers["keep-alive"] == nil)
        let generated = try curl(port, host: "h.test", path: "/headers")
        let fresh = try #require(try JSONSerialization.jsonObject(with: Data(generated.stdout.utf8)) as? [String: String])
        #expect(fresh["x-request-id"]?.isEmpty == false)
    }

    /// Behind another balancer an app's settings may trust the client's forwarding headers
    /// (Dokku's `x-forwarded-*-value` with nginx variables), or fix a value; other forwarding
    /// headers stay the proxy's.
    @Test func forwardingValuesFollowTheAppsSettings() async throws {
        let backend = try Backend("f")
        let behind = RouteTable.App.Forwarded(forValue: .appendPeer, proto: .client, port: .client, ssl: "on")
        let fixed = RouteTable.App.Forwarded(forValue: .client, proto: .literal("https"))
        let (server, port) = try await startProxy(RouteTable(domains: [
            ("behind.test", .init(name: "behind", upstreams: [backend.upstream], forwarded: behind)),
            ("fixed.test", .init(name: "fixed", upstreams: [backend.upstream], forwarded: fixed)),
        ]))
        defer { Task { await server.stop() } }
        func headers(_ host: String, _ extra: [String] = []) throws -> [String: String] {
            let result = try curl(port, host: host, path: "/headers", extra: extra)
            return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: String], "\(result)")
        }
        let claimed = ["-H", "X-Forwarded-For: 203.0.113.7", "-H", "X-Forwarded-Proto: https", "-H", "X-Forwarded-Port: 443", "-H", "X-Forwarded-Host: bank.test"]
        let passed = try headers("behind.test", claimed)
        #expect(passed["x-forwarded-for"] == "203.0.113.7, 127.0.0.1")
        #expect(passed["x-forwarded-proto"] == "https")
        #expect(passed["x-forwarded-port"] == "443")
        #expect(passed["x-forwarded-ssl"] == "on")
        #expect(passed["x-forwarded-host"] == nil, "only the headers the settings name pass")
        // Without the client's headers the proxy's own values stand in.
        let bare = try headers("behind.test")
        #expect(bare["x-forwarded-for"] == "127.0.0.1" && bare["x-forwarded-proto"] == "http" && bare["x-forwarded-port"] == String(port), "\(bare)")
        let pinned = try headers("fixed.test", ["-H", "X-Forwarded-For: 203.0.113.7", "-H", "X-Forwarded-Proto: gopher"])
        #expect(pinned["x-forwarded-for"] == "203.0.113.7" && pinned["x-forwarded-proto"] == "https" && pinned["x-forwarded-port"] == String(port), "\(pinned)")
    }

    /// `nginx:set APP proxy-connect-timeout`: an instance that does not accept is given up on
    /// after the app's own timeout, not the proxy's 5 s.
    @Test func anAppsConnectTimeoutIsHonoured() async throws {
        // An upstream whose accept queue is full: connecting to it hangs.
        let stuck = try Backend(name: "stuck", script: """
            import socket, time
            hold = socket.socket(); hold.bind(("127.0.0.1", 0)); hold.listen(0)
            filler = socket.create_connection(hold.getsockname())
            print("ready %d" % hold.getsockname()[1], flush=True)
            time.sleep(120)
            """)
        let (server, port) = try await startProxy(RouteTable(domains: [("stuck.test", .init(name: "stuck", upstreams: [stuck.upstream], connectTimeoutMilliseconds: 300))]))
        defer { Task { await server.stop() }; stuck.stop() }
        let started = ContinuousClock.now
        let result = try curl(port, host: "stuck.test", extra: ["-o", "/dev/null", "-w", "%{http_code}"])
        let waited = ContinuousClock.now - started
        #expect(result.stdout == "502", "\(result)")
        #expect(waited < .seconds(3), "waited \(waited) for a 300 ms connect timeout")
    }

    @Test func anIPv4PeerOfADualStackListenerIsForwardedAsIPv4() async throws {
        let backend = try Backend("h")
        let (server, port) = try await startProxy(RouteTable(domains: [("h.test", .init(name: "h", upstreams: [backend.upstream]))])) {
            $0.listeners = [.init(host: "::", port: 0, kind: .http)]
        }
        defer { Task { await server.stop() } }
        let headers = try #require(try JSONSerialization.jsonObject(with: Data(try curl(port, host: "h.test", path: "/headers").stdout.utf8)) as? [String: String])
        #expect(headers["x-forwarded-for"] == "127.0.0.1", "not ::ffff:127.0.0.1")
    }

    @Test func anAbsoluteFormTargetIsRoutedByItsHostAndForwardedInOriginForm() async throws {
        let a = try Backend("a"), b = try Backend("b")
        let (server, port) = try await startProxy(RouteTable(domains: [
            ("a.test", .init(name: "a", upstreams: [a.upstream])), ("b.test", .init(name: "b", upstreams: [b.upstream])),
        ]))
        defer { Task { await server.stop() } }
        let answer = rawExchange(port: port, "GET http://b.test/headers?x=1 HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
        let body = try #require(answer.range(of: "\r\n\r\n").map { String(answer[$0.upperBound...]) })
        let headers = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: String], "\(answer)")
        #expect(headers["host"] == "b.test", "RFC 9112 §3.2.2: the target's authority, not the Host header")
        let bare = rawExchange(port: port, "GET HTTP://b.test HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
        #expect(bare.hasPrefix("HTTP/1.1 200"), "\(bare)")
        #expect(bare.hasSuffix("b"), "routed to b, forwarded as `GET /`: \(bare)")
        let userinfo = rawExchange(port: port, "GET http://user@b.test/ HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
        #expect(userinfo.hasPrefix("HTTP/1.1 400"), "\(userinfo)")
    }

    @Test func skipsARefusedUpstreamForSafeRequests() async throws {
        let live = try Backend("live")
        let dead = try RefusingPort()
        let (server, port) = try await startProxy(RouteTable(domains: [("r.test", .init(name: "r", upstreams: [dead.upstream, live.upstream]))]))
        defer { Task { await server.stop() } }
        for _ in 0..<6 {
            #expect(try curl(port, host: "r.test").stdout == "live")
        }
        withExtendedLifetime((live, dead)) {}
    }

    /// Nothing reached a refusing instance, so a POST (with its body) goes to the next one;
    /// the refusing one is then left out for a while (passive health).
    @Test func postsGoToTheLiveInstanceWhenOneRefuses() async throws {
        let live = try Backend("live")
        let dead = try RefusingPort()
        let (server, port) = try await startProxy(RouteTable(domains: [("p.test", .init(name: "p", upstreams: [dead.upstream, live.upstream]))]))
        defer { Task { await server.stop() } }
        for round in 0..<10 {
            let posted = try curl(port, host: "p.test", path: "/echo", extra: ["--data-binary", String(repeating: "z", count: 1000 + round)])
            #expect(posted.stdout.contains("received \(1000 + round)"), "round \(round): \(posted)")
        }
        // The refusing instance is reported down, for at most the ten seconds it is left
        // out; the live one is not. (On a loaded machine the rounds can outlast the ten
        // seconds: a request more lets a loop try the instance again and mark it anew.)
        var down = await server.downInstances()
        for _ in 0..<20 where down["p"] == nil {
            _ = try curl(port, host: "p.test")
            down = await server.downInstances()
        }
        #expect(down.keys.sorted() == ["p"], "\(down)")
        #expect(down["p"]?.map(\.upstream) == [dead.upstream], "\(down)")
        #expect(down["p"]?.allSatisfy { (1...10).contains($0.seconds) } == true, "\(down)")
        withExtendedLifetime((live, dead)) {}
    }

    @Test func anAppThatRefusesGetsA502AndTheConnectionStaysOpen() async throws {
        let dead = try RefusingPort()
        let (server, port) = try await startProxy(RouteTable(domains: [("d.test", .init(name: "d", upstreams: [dead.upstream]))]))
        defer { Task { await server.stop() } }
        let answer = rawExchange(port: port, "GET / HTTP/1.1\r\nHost: d.test\r\n\r\nGET /again HTTP/1.1\r\nHost: d.test\r\nConnection: close\r\n\r\n")
        #expect(answer.components(separatedBy: "HTTP/1.1 502 Bad Gateway").count == 3, "both requests answered on one connection: \(answer)")
        #expect(answer.contains("The app d is not answering."))
        withExtendedLifetime(dead) {}
    }

    @Test func aPooledConnectionTheAppClosedIsRetriedOnANewOne() async throws {
        // Each connection answers one request and keeps alive, then closes on the next one
        // without answering: the race of an upstream's keep-alive timeout with a reuse.
        let flaky = try Backend(name: "flaky", script: """
            import socket, threading
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", 0)); s.listen(16)
            print("ready %d" % s.getsockname()[1], flush=True)
            count = [0]
            def serve(c):
                data = b""
                while b"\\r\\n\\r\\n" not in data:
                    chunk = c.recv(4096)
                    if not chunk: return c.close()
                    data += chunk
                count[0] += 1
                body = b"answer %d" % count[0]
                c.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: %d\\r\\n\\r\\n" % len(body) + body)
                c.recv(4096)
                c.close()
            while True:
                conn, _ = s.accept()
                threading.Thread(target=serve, args=(conn,), daemon=True).start()
            """)
        defer { flaky.stop() }
        let (server, port) = try await startProxy(RouteTable(domains: [("f.test", .init(name: "f", upstreams: [flaky.upstream]))])) { $0.threads = 1 }
        defer { Task { await server.stop() } }
        #expect(try curl(port, host: "f.test").stdout == "answer 1")
        #expect(try curl(port, host: "f.test").stdout == "answer 2", "the pooled connection broke; the request went again on a new one")
        #expect(try curl(port, host: "f.test").stdout == "answer 3")
    }

    @Test func rejectsSmugglingMalformedAndOversizedRequests() async throws {
        let backend = try Backend("s")
        let (server, port) = try await startProxy(RouteTable(domains: [("s.test", .init(name: "s", upstreams: [backend.upstream], maxBodyBytes: 1024))]))
        defer { Task { await server.stop() } }
        let both = rawExchange(port: port, "POST / HTTP/1.1\r\nHost: s.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        #expect(both.hasPrefix("HTTP/1.1 400"), "\(both.prefix(80))")
        let conflicting = rawExchange(port: port, "POST / HTTP/1.1\r\nHost: s.test\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde")
        #expect(conflicting.hasPrefix("HTTP/1.1 400"), "\(conflicting.prefix(80))")
        let garbage = rawExchange(port: port, "NOT HTTP AT ALL\r\n\r\n")
        #expect(garbage.hasPrefix("HTTP/1.1 400"), "\(garbage.prefix(80))")
        let huge = rawExchange(port: port, "GET / HTTP/1.1\r\nHost: s.test\r\nX-Big: \(String(repeating: "a", count: 100_000))\r\n\r\n")
        #expect(huge.hasPrefix("HTTP/1.1 431"), "\(huge.prefix(80))")
        let tooLarge = try curl(port, host: "s.test", path: "/echo", extra: ["-X", "POST", "--data-binary", String(repeating: "x", count: 4096), "-w", "%{http_code}", "-o", "/dev/null"])
        #expect(tooLarge.stdout == "413")
        let fits = try curl(port, host: "s.test", path: "/echo", extra: ["-X", "POST", "--data-binary", String(repeating: "x", count: 1000)])
        #expect(fits.stdout == "received 1000")
    }

    @Test func anUpstreamDyingMidResponseClosesOnlyThatClient() async throws {
        let backend = try Backend("d")
        let (server, port) = try await startProxy(RouteTable(domains: [("d.test", .init(name: "d", upstreams: [backend.upstream]))]))
        defer { Task { await server.stop() } }
        let broken = try curl(port, host: "d.test", path: "/die")
        #expect(broken.status != 0, "curl sees the truncated response")
        #expect(try curl(port, host: "d.test").stdout == "d", "the proxy and other requests carry on")
    }

    @Test func slowClientsAndSlowUpstreamsTimeOut() async throws {
        let backend = try Backend("t")
        let (server, port) = try await startProxy(RouteTable(domains: [("t.test", .init(name: "t", upstreams: [backend.upstream]))])) {
            $0.headerTimeout = .seconds(1)
            $0.responseTimeout = .seconds(1)
        }
        defer { Task { await server.stop() } }
        let started = ContinuousClock.now
        let loris = rawExchange(port: port, "GET / HTTP/1.1\r\nHost: t.te", timeout: 10)
        #expect(loris.isEmpty, "a client that never finishes its head is dropped")
        #expect(ContinuousClock.now - started < .seconds(5))
        let slow = try curl(port, host: "t.test", path: "/slow?s=4", extra: ["-w", "%{http_code}", "-o", "/dev/null"])
        #expect(slow.stdout == "504")
    }

    /// `nginx:set APP proxy-read-timeout`: the app's own wait for a response, over the
    /// server's default (60 s here, so a 504 within seconds can only come from the app's).
    @Test func anAppsReadTimeoutIsHonoured() async throws {
        let backend = try Backend("rt")
        let (server, port) = try await startProxy(RouteTable(domains: [
            ("rt.test", .init(name: "rt", upstreams: [backend.upstream], responseTimeoutMilliseconds: 800)),
            ("patient.test", .init(name: "patient", upstreams: [backend.upstream], responseTimeoutMilliseconds: 5000)),
        ]))
        defer { Task { await server.stop() } }
        let started = ContinuousClock.now
        let slow = try curl(port, host: "rt.test", path: "/slow?s=3", extra: ["-w", "%{http_code}", "-o", "/dev/null"])
        #expect(slow.stdout == "504", "\(slow)")
        #expect(ContinuousClock.now - started < .seconds(2.5))
        let waited = try curl(port, host: "patient.test", path: "/slow?s=2", extra: ["-w", "%{http_code}", "-o", "/dev/null"])
        #expect(waited.stdout == "200", "\(waited)")
    }

    @Test func routeUpdatesApplyWithoutDroppingConnections() async throws {
        let old = try Backend("old"), new = try Backend("new")
        let (server, port) = try await startProxy(RouteTable(domains: [("u.test", .init(name: "u", upstreams: [old.upstream]))]))
        defer { Task { await server.stop() } }
        #expect(try curl(port, host: "u.test").stdout == "old")
        // A slow request in flight on the old upstream finishes there.
        // On its own thread: blocking test code can starve the cooperative pool of tasks.
        let inFlight = LockedResult()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            inFlight.set((try? curl(port, host: "u.test", path: "/slow?s=2").stdout) ?? "failed")
            done.signal()
        }
        #expect(try eventually { try Shell.which("curl", ["-sS", "http://127.0.0.1:\(old.port)/inflight"]).stdout == "1" })
        server.update(RouteTable(domains: [("u.test", .init(name: "u", upstreams: [new.upstream]))]))
        #expect(try curl(port, host: "u.test").stdout == "new")
        done.wait()
        #expect(inFlight.get() == "old")

        // A keep-alive connection sees the new table on its next request: its remembered
        // route belongs to the old one.
        let script = """
            import socket, sys
            c = socket.create_connection(("127.0.0.1", \(port))); c.settimeout(5)
            def get():
                c.sendall(b"GET / HTTP/1.1\\r\\nHost: u.test\\r\\n\\r\\n")
                data = b""
                while b"\\r\\n\\r\\n" not in data: data += c.recv(4096)
                head, body = data.split(b"\\r\\n\\r\\n", 1)
                length = int([l.split(b":")[1] for l in head.split(b"\\r\\n") if l.lower().startswith(b"content-length")][0])
                while len(body) < length: body += c.recv(4096)
                return body.decode()
            print(get(), flush=True)
            sys.stdin.readline()
            print(get(), flush=True)
            """
        let client = Process()
        client.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        client.arguments = ["-c", script]
        let input = Pipe(), output = Pipe()
        client.standardInput = input
        client.standardOutput = output
        try client.run()
        let first = output.fileHandleForReading.readLine()
        server.update(RouteTable(domains: [("u.test", .init(name: "u", upstreams: [old.upstream]))]))
        input.fileHandleForWriting.write(Data("next\n".utf8))
        let second = output.fileHandleForReading.readLine()
        client.waitUntilExit()
        #expect(first == "new" && second == "old", "\(first ?? "-") then \(second ?? "-")")
    }

    @Test func websocketUpgradesAreSpliced() async throws {
        let backend = try Backend("ws")
        let (server, port) = try await startProxy(RouteTable(domains: [("ws.test", .init(name: "ws", upstreams: [backend.upstream]))]))
        defer { Task { await server.stop() } }
        // As WebSocket clients do: frames go out once the 101 has arrived.
        let script = """
            import socket, sys, time
            c = socket.create_connection(("127.0.0.1", \(port))); c.settimeout(3)
            c.sendall(b"GET /ws HTTP/1.1\\r\\nHost: ws.test\\r\\nConnection: Upgrade\\r\\nUpgrade: websocket\\r\\n\\r\\n")
            data = b""
            while b"\\r\\n\\r\\n" not in data: data += c.recv(4096)
            print(data.split(b"\\r\\n")[0].decode())
            for word in [b"ping", b"through", b"the-proxy"]:
                c.sendall(word)
                print(c.recv(4096).decode())
            """
        let result = try Shell.run("/usr/bin/python3", ["-c", script])
        #expect(result.stdout == "HTTP/1.1 101 Switching Protocols\nping\nthrough\nthe-proxy\n", "\(result)")
    }

    @Test func tcpForwardsReachTheApp() async throws {
        let backend = try Backend("tcp")
        let app = RouteTable.App(name: "tcp", upstreams: [backend.upstream])
        let server = try ProxyServer(configuration: .init(listeners: [.init(host: "127.0.0.1", port: 0, kind: .tcp)], accessLog: false, threads: 1), routes: RouteTable())
        let port = try await server.start()[0]
        server.update(RouteTable(tcp: [port: app]))
        defer { Task { await server.stop() } }
        let response = rawExchange(port: port, "GET / HTTP/1.0\r\n\r\n")
        #expect(response.hasSuffix("tcp"), "\(response)")
    }

    @Test func aHandedOverSocketOutlivesTheProxyThatServedIt() async throws {
        // As systemd hands one listening socket to each proxy process in turn: the first
        // one's stop must leave it listening, and the next one serves from it.
        let backend = try Backend("handover")
        defer { backend.stop() }
        let (socket, port) = try boundLoopbackSocket()
        defer { close(socket) }
        #expect(listen(socket, 64) == 0)
        let routes = RouteTable(domains: [("handover.test", .init(name: "handover", upstreams: [backend.upstream]))])
        func serve() async throws -> ProxyServer {
            let server = try ProxyServer(configuration: .init(listeners: [.init(host: "127.0.0.1", port: port, kind: .http, inheritedDescriptor: socket)], accessLog: false, threads: 1), routes: routes)
            #expect(try await server.start() == [port])
            return server
        }
        let first = try await serve()
        #expect(try curl(port, host: "handover.test").stdout == "handover")
        await first.stop()
        #expect(canConnect(port), "between the two processes, connections wait in the backlog")
        let second = try await serve()
        defer { Task { await second.stop() } }
        #expect(try curl(port, host: "handover.test").stdout == "handover")
    }

    @Test func holdsThousandsOfIdleConnectionsWhileServing() throws {
        // The proxy and the clients run outside this process: Foundation's Process crashed
        // spawning children from a test process that held thousands of descriptors.
        let backend = try Backend("busy")
        let proxy = try ProxyProcess(routes: ["busy.test=\(backend.upstream)"])
        let port = proxy.port
        let script = """
            import resource, socket
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 16384), hard))
            idle = [socket.create_connection(("127.0.0.1", \(port))) for _ in range(3000)]
            answered = 0
            for _ in range(20):
                c = socket.create_connection(("127.0.0.1", \(port))); c.settimeout(10)
                c.sendall(b"GET / HTTP/1.1\\r\\nHost: busy.test\\r\\nConnection: close\\r\\n\\r\\n")
                data = b""
                while chunk := c.recv(65536): data += chunk
                answered += data.startswith(b"HTTP/1.1 200") and data.endswith(b"busy")
            closed = 0
            for s in idle:
                s.setblocking(False)
                try:
                    closed += s.recv(1) == b""
                except BlockingIOError:
                    pass
            print(len(idle), answered, closed)
            """
        let result = try Shell.run("/usr/bin/python3", ["-c", script])
        #expect(result.stdout == "3000 20 0\n", "3,000 idle connections stay open while 20 requests are answered: \(result)")
    }
}

/// A string set from another thread.
final class LockedResult: @unchecked Sendable {
    private var value = ""
    private let lock = NSLock()
    func set(_ newValue: String) { lock.withLock { value = newValue } }
    func get() -> String { lock.withLock { value } }
}
