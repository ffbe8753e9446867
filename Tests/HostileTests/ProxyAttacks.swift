import Foundation
import Synchronization
import TestSupport
import Testing

extension OnTheInstalledServer {
    /// Item 11, through the installed proxy: what an app reads about where a request came
    /// from is the proxy's word, and an absolute-form target goes to the app it names.
    @Suite struct ProxyAttacks {
        @Test func clientsCannotSpeakForTheProxy() throws {
            let server = try InstalledServer.get()
            let app = server.newApp("hdr")
            defer { server.cleanUp(app) }
            #expect(try server.push(app, files: InstalledServer.webApp("hdr")).status == 0)
            let answer = try server.get(server.host(app), path: "/headers", headers: [
                "X-Forwarded-For: 203.0.113.9", "X-Forwarded-Host: bank.test", "Forwarded: for=203.0.113.9;proto=https",
                "X-Forwarded-Proto: https", "X-Forwarded-Ssl: on", "X-Real-IP: 203.0.113.9",
            ])
            #expect(answer.status == 200)
            let lines = Set(answer.body.split(separator: "\n").map(String.init))
            #expect(lines.contains("x-forwarded-for: 127.0.0.1"), "the peer alone, as Dokku's nginx: \(answer.body)")
            #expect(lines.contains("x-forwarded-proto: http"))
            #expect(!answer.body.contains("203.0.113.9") && !answer.body.contains("bank.test") && !answer.body.contains("x-forwarded-ssl"), "\(answer.body)")
        }

        @Test func anAbsoluteFormTargetGoesToTheAppItNames() throws {
            let server = try InstalledServer.get()
            let a = server.newApp("abs-a"), b = server.newApp("abs-b")
            defer { server.cleanUp(a, b) }
            #expect(try server.push(a, files: InstalledServer.webApp("app a")).status == 0)
            #expect(try server.push(b, files: InstalledServer.webApp("app b")).status == 0)
            let raw = try Shell.which("curl", ["-sS", "--max-time", "10", "--request-target", "http://\(server.host(b))/headers", "-H", "Host: \(server.host(a))", "http://127.0.0.1:80/"])
            #expect(raw.stdout.contains("host: \(server.host(b))"), "routed by the target's authority: \(raw)")
            #expect(!raw.stdout.contains("host: \(server.host(a))"))
        }

        /// `nginx:access-logs` and `nginx:error-logs` show an app its own lines from the proxy's
        /// journal, and a client cannot make a line of one app pass for another's: journald
        /// splits a line past 48 KiB into entries, and a long target ending in `app=OTHER`
        /// would begin the second one. The proxy cuts client fields short of that.
        @Test func appsSeeOnlyTheirOwnProxyLogLines() throws {
            let server = try InstalledServer.get()
            let a = server.newApp("loga"), b = server.newApp("logb")
            defer { server.cleanUp(a, b) }
            #expect(try server.push(a, files: InstalledServer.webApp("a")).status == 0)
            #expect(try server.push(b, files: InstalledServer.webApp("b")).status == 0)
            let marker = "seen-\(UUID().uuidString.prefix(8))"
            #expect(try server.get(server.host(a), path: "/\(marker)").status == 200)
            // b's line is `app=B host=HOST method=GET uri=TARGET status=…`: targets ending in
            // `app=A` that starts at the split, give or take a few bytes.
            let lead = "app=\(b) host=\(server.host(b)) method=GET uri=".utf8.count
            for shift in -2...2 {
                let filler = 48 * 1024 - lead + shift
                _ = try? server.get(server.host(b), path: "/" + String(repeating: "f", count: filler - 1) + "app=\(a)")
            }
            #expect(try server.get(server.host(b), path: "/after").status == 200)
            var access = ""
            #expect(try eventually(timeout: .seconds(15)) {
                access = try server.ssh("nginx:access-logs \(b)").stdout
                return access.contains(" uri=/after ")
            }, "\(access.prefix(2000))")
            let own = try server.ssh("nginx:access-logs \(a)").stdout
            #expect(own.contains("app=\(a) host=\(server.host(a)) method=GET uri=/\(marker) status=200 "), "\(own.prefix(2000))")
            let foreign = own.split(separator: "\n").filter { !$0.contains(" app=\(a) host=\(server.host(a)) method=") }
            #expect(foreign.isEmpty, "a line of b's passed for a's: \(foreign)")
            #expect(!access.contains(marker), "a's request in b's log")

            // What the proxy answers itself with a 5xx is an error line of that app alone.
            #expect(try server.ssh("ps:stop \(a)").status == 0)
            #expect(try server.get(server.host(a), path: "/down").status == 502)
            var errors = ""
            #expect(try eventually(timeout: .seconds(15)) {
                errors = try server.ssh("nginx:error-logs \(a)").stdout
                return errors.contains(" uri=/down ")
            }, "\(errors)")
            #expect(errors.contains("error app=\(a) status=502 upstream=- "), "\(errors)")
            #expect(errors.contains("message=\"The app \(a) has no running web processes.\""), "\(errors)")
            #expect(try !server.ssh("nginx:error-logs \(b)").stdout.contains(" uri=/down "))
        }

        /// The HTTP API as `scripts/install` sets it up: its unit running, reached through the
        /// proxy at `dokkulite.GLOBAL_DOMAIN`, answering only to a token, which only root at
        /// the console can make.
        @Test func theAPIAnswersThroughTheProxyToATokenFromTheConsole() throws {
            let server = try InstalledServer.get()
            let minted = try server.ssh("api:tokens:create sneaky")
            #expect(minted.status != 0 && !minted.stdout.contains("dkl_"), "a key holder made a token: \(minted)")
            let name = "hostile-\(UUID().uuidString.prefix(6).lowercased())"
            let created = try server.console("api:tokens:create", "--read-only", name)
            #expect(created.status == 0, "\(created)")
            defer { _ = try? server.console("api:tokens:revoke", name) }
            let token = try #require(created.stdout.split(separator: "\n").last.map(String.init))
            let host = "dokkulite.\(InstalledServer.domain)"
            var answer: (status: Int, body: String) = (0, "")
            #expect(try eventually(timeout: .seconds(20)) {
                answer = try server.get(host, path: "/api/v1/apps", headers: ["Authorization: Bearer \(token)"])
                return answer.status == 200
            }, "\(answer)")
            #expect(answer.body.hasPrefix("["), "\(answer)")
            #expect(try server.get(host, path: "/api/v1/apps").status == 401)
            #expect(try server.get(host, path: "/api/v1/apps", headers: ["Authorization: Bearer dkl_\(String(token.dropFirst(4).reversed()))"]).status == 401)
        }

        /// systemd holds the API's socket (`dokkulite-api.socket`): while the API restarts,
        /// requests through the proxy wait in it and are answered by the next process.
        @Test func theAPIRestartsWithoutRefusingARequest() throws {
            let server = try InstalledServer.get()
            #expect(try server.systemctl("is-active", "dokkulite-api.socket").stdout == "active\n")
            let name = "restart-\(UUID().uuidString.prefix(6).lowercased())"
            let created = try server.console("api:tokens:create", "--read-only", name)
            #expect(created.status == 0, "\(created)")
            defer { _ = try? server.console("api:tokens:revoke", name) }
            let token = try #require(created.stdout.split(separator: "\n").last.map(String.init))
            let host = "dokkulite.\(InstalledServer.domain)"
            let auth = ["Authorization: Bearer \(token)"]
            #expect(try eventually(timeout: .seconds(20)) { try server.get(host, path: "/api/v1/apps", headers: auth).status == 200 })
            func mainPID() throws -> String { try server.systemctl("show", "--property=MainPID", "--value", "dokkulite-api.service").stdout }
            let before = try mainPID()
            // Requests one after another on another thread, through both restarts.
            let statuses = Mutex<[Int]>([]), stop = Mutex(false)
            let done = DispatchSemaphore(value: 0)
            Thread.detachNewThread {
                for _ in 0..<2000 where !stop.withLock({ $0 }) {
                    let status = (try? server.get(host, path: "/api/v1/apps", headers: auth).status) ?? -1
                    statuses.withLock { $0.append(status) }
                }
                done.signal()
            }
            for _ in 0..<2 {
                let answered = statuses.withLock { $0.count }
                #expect(try server.systemctl("restart", "dokkulite-api.service").status == 0)
                #expect(eventually(timeout: .seconds(20)) { statuses.withLock { $0.count } > answered + 5 })
            }
            stop.withLock { $0 = true }
            done.wait()
            let seen = statuses.withLock { $0 }
            #expect(try mainPID() != before, "the API really restarted")
            #expect(seen.count > 10 && seen.allSatisfy { $0 == 200 }, "every request answered: \(seen.filter { $0 != 200 }.count) of \(seen.count) not")
        }
    }
}
