import Foundation
import Testing
import TestSupport

/// The HTTP API (`api:serve`) against a sandbox: tokens, reads from the store, changes run
/// as the commands, the audit log, and what a client without the right token gets.
@Suite(.serialized) struct APITests {
    /// `api:serve` of a sandbox on a free loopback port.
    final class Server {
        let process = Process()
        let port: Int

        init(_ sandbox: Sandbox, port: Int? = nil) throws {
            self.port = try port ?? freePort()
            process.executableURL = URL(fileURLWithPath: Binaries.dokkulite)
            process.arguments = ["api:serve", "--listen", "127.0.0.1:\(self.port)"]
            process.environment = sandbox.environment
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            let port = self.port
            guard eventually(timeout: .seconds(20), { (try? Self.request(port, "GET", "/api/v1/apps").status) == 401 }) else {
                stop()
                throw TestFailure("api:serve did not answer on port \(port)")
            }
        }

        func stop() {
            if process.isRunning {
                kill(process.processIdentifier, SIGTERM)
                process.waitUntilExit()
            }
        }

        deinit { stop() }

        /// Status and body of one request.
        static func request(_ port: Int, _ method: String, _ path: String, token: String? = nil, body: String? = nil, headers: [String] = [], file: String? = nil) throws -> (status: Int, body: String) {
            var arguments = ["-sS", "--max-time", "300", "-X", method, "-w", "\n%{http_code}"]
            if let token { arguments += ["-H", "Authorization: Bearer \(token)"] }
            if let body { arguments += ["-H", "Content-Type: application/json", "--data-binary", body] }
            if let file { arguments += ["--data-binary", "@" + file] }
            for header in headers { arguments += ["-H", header] }
            let result = try Shell.which("curl", arguments + ["http://127.0.0.1:\(port)\(path)"])
            guard result.status == 0, let split = result.stdout.lastIndex(of: "\n"), let status = Int(result.stdout[result.stdout.index(after: split)...]) else {
                throw TestFailure("curl failed: \(result)")
            }
            return (status, String(result.stdout[..<split]))
        }

        func request(_ method: String, _ path: String, token: String? = nil, body: String? = nil, headers: [String] = [], file: String? = nil) throws -> (status: Int, body: String) {
            try Self.request(port, method, path, token: token, body: body, headers: headers, file: file)
        }
    }

    func json(_ text: String) -> Any? { try? JSONSerialization.jsonObject(with: Data(text.utf8)) }

    @Test func tokensReadsChangesAndTheAuditLog() throws {
        _ = try #require(Integration.systemdBus, "DOKKULITE_SYSTEMD_BUS is not set; scripts/test sets it")
        let sandbox = try Sandbox("api")
        let app = uniqueApp("api")
        #expect(try sandbox.run("apps:create", app).status == 0)
        try sandbox.installRelease(app: app, files: ["server.py": fixtureServer], processTypes: ["web": "exec python3 server.py"])

        // Tokens: shown once, kept only as their hash.
        let created = try sandbox.run("api:tokens:create", "deploy-bot")
        #expect(created.status == 0, "\(created)")
        let full = try #require(created.stdout.split(separator: "\n").last.map(String.init))
        #expect(full.hasPrefix("dkl_") && full.count == 47, "\(full)")
        let readOnly = try #require(try sandbox.run("api:tokens:create", "--read-only", "watcher").stdout.split(separator: "\n").last.map(String.init))
        #expect(try sandbox.run("api:tokens:create", "deploy-bot").stderr == " !     Token deploy-bot already exists\n")
        #expect(try sandbox.run("api:tokens:create", "Bad Name").stderr.hasPrefix(" !     Invalid token name: Bad Name"))
        let stored = try sandbox.sql("SELECT name || ' ' || hash || ' ' || readOnly FROM apiToken ORDER BY name")
        #expect(!stored.contains(full) && !stored.contains(readOnly), "the secrets are not kept: \(stored)")
        #expect(stored.contains("deploy-bot ") && stored.contains("watcher "), "\(stored)")
        let listed = try sandbox.run("api:tokens:list").stdout
        #expect(listed.contains("deploy-bot  full") && listed.contains("watcher     read-only") && !listed.contains("dkl_"), "\(listed)")

        let server = try Server(sandbox)
        // Without a token, or with a wrong one: 401 and a JSON line.
        let anonymous = try server.request("GET", "/api/v1/apps")
        #expect(anonymous.status == 401 && anonymous.body == "{\"error\":\"A token is required: Authorization: Bearer TOKEN\"}\n", "\(anonymous)")
        #expect(try server.request("GET", "/api/v1/apps", token: "dkl_" + String(full.dropFirst(4).reversed())).status == 401)

        // Reads.
        let apps = try server.request("GET", "/api/v1/apps", token: readOnly)
        #expect(apps.status == 200, "\(apps)")
        let list = try #require(json(apps.body) as? [[String: Any]])
        let listedApp = try #require(list.first { $0["name"] as? String == app })
        #expect(listedApp["deployed"] as? Bool == true && listedApp["release"] as? Int == 1, "\(listedApp)")
        let detail = try #require(json(try server.request("GET", "/api/v1/apps/\(app)", token: readOnly).body) as? [String: Any])
        #expect((detail["formation"] as? [String: Int])?["web"] == 1, "\(detail)")
        #expect(try server.request("GET", "/api/v1/apps/no-such-app", token: readOnly).body == "{\"error\":\"App no-such-app does not exist\"}\n")
        let unknown = try server.request("GET", "/api/v1/nothing-here", token: readOnly)
        #expect(unknown.status == 404 && unknown.body == "{\"error\":\"No such resource: GET /api/v1/nothing-here\"}\n", "\(unknown)")

        // Changes: refused to a read-only token, made by the command itself for a full one.
        let other = uniqueApp("apinew")
        let refused = try server.request("POST", "/api/v1/apps", token: readOnly, body: "{\"name\": \"\(other)\"}")
        #expect(refused.status == 403 && refused.body == "{\"error\":\"Token watcher is read-only\"}\n", "\(refused)")
        #expect(try sandbox.run("apps:exists", other).status != 0)
        let made = try server.request("POST", "/api/v1/apps", token: full, body: "{\"name\": \"\(other)\"}")
        #expect(made.status == 201, "\(made)")
        #expect(try sandbox.run("apps:exists", other).status == 0)
        let taken = try server.request("POST", "/api/v1/apps", token: full, body: "{\"name\": \"\(other)\"}")
        #expect(taken.status == 409 && taken.body == "{\"error\":\"Name is already taken\"}\n", "the command's own message, its kind as the status: \(taken)")
        #expect(try server.request("POST", "/api/v1/apps", token: full, body: "{\"name\": \"../etc\"}").body == "{\"error\":\"Invalid app name: ../etc\"}\n")
        #expect(try server.request("POST", "/api/v1/apps", token: full, body: "not json").status == 400)
        let scaled = try server.request("PUT", "/api/v1/apps/\(app)/formation", token: full, body: "{\"web\": 2}")
        #expect(scaled.status == 200, "\(scaled)")
        let after = try #require(json(try server.request("GET", "/api/v1/apps/\(app)", token: full).body) as? [String: Any])
        #expect((after["formation"] as? [String: Int])?["web"] == 2, "\(after)")
        #expect(try server.request("PUT", "/api/v1/apps/\(app)/formation", token: full, body: "{\"web; rm\": 2}").status == 400)

        // Logs as server-sent events: the last lines, then, following, new ones.
        // The fixture app was installed, not started: its processes start now, as scaled.
        #expect(try server.request("POST", "/api/v1/apps/\(app)/start", token: full).status == 200)
        var logs = ""
        #expect(try eventually(timeout: .seconds(20)) {
            logs = try server.request("GET", "/api/v1/apps/\(app)/logs?n=20&process=web", token: readOnly).body
            return logs.contains("\"process\":\"web.2\"") && logs.contains("listening on")
        }, "\(logs)")
        #expect(logs.hasPrefix("data: {\"message\":"), "\(logs)")
        #expect(try server.request("GET", "/api/v1/apps/\(app)/logs?process=web;x", token: readOnly).status == 400)
        // since: seconds back, or a time; the lines before it are left out.
        #expect(try server.request("GET", "/api/v1/apps/\(app)/logs?since=3600&process=web", token: readOnly).body.contains("listening on"))
        let future = try server.request("GET", "/api/v1/apps/\(app)/logs?since=2099-01-01T00:00:00Z", token: readOnly)
        #expect(future.status == 200 && future.body.isEmpty, "\(future)")
        #expect(try server.request("GET", "/api/v1/apps/\(app)/logs?since=yesterday", token: readOnly).status == 400)
        let follower = Process()
        follower.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        follower.arguments = ["-sS", "-N", "--max-time", "8", "-H", "Authorization: Bearer \(readOnly)", "http://127.0.0.1:\(server.port)/api/v1/apps/\(app)/logs?n=0&follow=true"]
        let followed = Pipe()
        follower.standardOutput = followed
        try follower.run()
        #expect(try sandbox.run("ps:restart", app).status == 0)
        let streamed = String(decoding: followed.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        follower.waitUntilExit()
        #expect(streamed.contains("listening on"), "the restarted processes' lines, as they came: \(streamed)")
        #expect(try server.request("DELETE", "/api/v1/apps/\(other)", token: full).body == "{\"error\":\"Destroying \(other) needs ?confirm=\(other)\"}\n")
        #expect(try server.request("DELETE", "/api/v1/apps/\(other)?confirm=\(other)", token: full).status == 200)
        #expect(try sandbox.run("apps:exists", other).status != 0)

        // Config: masked unless a full token asks; values reach the command on its input.
        #expect(try sandbox.run("config:set", "--no-restart", app, "SECRET=hunter2", "KEEP=1").status == 0)
        #expect(try server.request("GET", "/api/v1/apps/\(app)/config", token: readOnly).body.contains("\"SECRET\":\"********\""))
        #expect(try server.request("GET", "/api/v1/apps/\(app)/config?reveal=true", token: readOnly).status == 403)
        #expect(try server.request("GET", "/api/v1/apps/\(app)/config?reveal=true", token: full).body.contains("\"SECRET\":\"hunter2\""))
        let patched = try server.request("PATCH", "/api/v1/apps/\(app)/config", token: full, body: "{\"SECRET\": null, \"NEW_ONE\": \"a b=c -x\"}")
        #expect(patched.status == 200, "\(patched)")
        #expect(try sandbox.run("config:get", app, "NEW_ONE").stdout == "a b=c -x\n")
        #expect(try sandbox.run("config:get", app, "SECRET").status != 0 && sandbox.run("config:get", app, "KEEP").stdout == "1\n")
        #expect(try server.request("PATCH", "/api/v1/apps/\(app)/config", token: full, body: "{\"BAD-KEY\": \"x\"}").body == "{\"error\":\"Invalid config key: BAD-KEY\"}\n")

        // Domains.
        #expect(try server.request("POST", "/api/v1/apps/\(app)/domains", token: full, body: "{\"domain\": \"www.api.test\"}").status == 201)
        #expect(try server.request("GET", "/api/v1/apps/\(app)/domains", token: readOnly).body.contains("\"www.api.test\""))
        #expect(try server.request("POST", "/api/v1/apps/\(app)/domains", token: full, body: "{\"domain\": \"--help\"}").status == 400)
        #expect(try server.request("DELETE", "/api/v1/apps/\(app)/domains/www.api.test", token: full).status == 200)
        #expect(try !sandbox.run("domains:report", app, "--domains-app-vhosts").stdout.contains("www.api.test"))

        // Releases and a rollback to the first.
        try sandbox.installRelease(app: app, version: 2, files: ["server.py": fixtureServer], processTypes: ["web": "exec python3 server.py"])
        let releases = try #require(json(try server.request("GET", "/api/v1/apps/\(app)/releases", token: readOnly).body) as? [[String: Any]])
        #expect(releases.compactMap { $0["version"] as? Int }.sorted() == [1, 2] && releases.contains { $0["version"] as? Int == 2 && $0["status"] as? String == "current" }, "\(releases)")
        let rolledBack = try server.request("POST", "/api/v1/apps/\(app)/releases/v1/rollback", token: full)
        #expect(rolledBack.status == 200, "\(rolledBack)")
        #expect(try sandbox.sql("SELECT version FROM release WHERE app = '\(app)' AND status = 'current'") == "1")
        let missing = try server.request("POST", "/api/v1/apps/\(app)/releases/v9/rollback", token: full)
        #expect(missing.status == 404 && missing.body == "{\"error\":\"Release v9 of \(app) does not exist\"}\n", "\(missing)")

        // The audit log names the token of every change, refused ones too.
        let audit = try sandbox.run("api:audit").stdout
        for line in [" console api:tokens:create deploy-bot 0", " watcher POST /api/v1/apps \(other) 403", " deploy-bot POST /api/v1/apps \(other) 201",
            " deploy-bot POST /api/v1/apps \(other) 409", " deploy-bot PUT /api/v1/apps/\(app)/formation \(app) 200", " deploy-bot DELETE /api/v1/apps/\(other) \(other) 200"]
        {
            #expect(audit.contains(line + "\n"), "\(line) in \(audit)")
        }
        #expect(try sandbox.run("api:tokens:list").stdout.contains("deploy-bot  full"))

        // A revoked token stops at once.
        #expect(try sandbox.run("api:tokens:revoke", "watcher").status == 0)
        #expect(try server.request("GET", "/api/v1/apps", token: readOnly).status == 401)
        #expect(try sandbox.run("api:tokens:revoke", "watcher").stderr == " !     No API token named watcher\n")
        _ = try? sandbox.run("--force", "apps:destroy", app)
    }

    /// Ten failed logins within a minute from one client, and that client is refused even
    /// with a good token until the first of them is a minute old; another client is not.
    @Test func aClientThatKeepsGuessingIsRefused() throws {
        let sandbox = try Sandbox("apiguess")
        let token = try #require(try sandbox.run("api:tokens:create", "good").stdout.split(separator: "\n").last.map(String.init))
        let server = try Server(sandbox)
        // Through the proxy, the client is the address it forwards; a minute boundary in
        // the middle would reset the count, so the guesses go in one burst.
        let guesser = ["X-Forwarded-For: 203.0.113.7"]
        var statuses: [Int] = []
        for _ in 0..<10 { statuses.append(try server.request("GET", "/api/v1/apps", token: "dkl_wrong", headers: guesser).status) }
        let refused = try server.request("GET", "/api/v1/apps", token: token, headers: guesser)
        let other = try server.request("GET", "/api/v1/apps", token: token, headers: ["X-Forwarded-For: 198.51.100.1"])
        #expect(statuses == Array(repeating: 401, count: 10), "\(statuses)")
        #expect(refused.status == 429 && refused.body == "{\"error\":\"Too many failed logins; try again in a minute\"}\n", "\(refused)")
        #expect(other.status == 200, "\(other)")
    }

    /// Known traffic through the proxy, counted in `/metrics` by app and status class, with
    /// the durations' histogram and the process's own figures from systemd.
    @Test func metricsCountTheRequestsThroughTheProxy() throws {
        _ = try #require(Integration.systemdBus, "DOKKULITE_SYSTEMD_BUS is not set; scripts/test sets it")
        let sandbox = try Sandbox("apimetrics")
        try sandbox.run("domains:set-global", "dokku.test")
        try sandbox.run("checks:set", "--global", "wait-to-retire", "0")
        let proxy = try DaemonProcess(sandbox)
        let app = uniqueApp("met")
        let push = try AppSource(sandbox, files: DeployTests.versionApp("v1")).push(app)
        #expect(push.status == 0, "\(push)")
        #expect(try sandbox.run("nginx:set", app, "client-max-body-size", "1k").status == 0)
        // A sample a second: the history's first comes a second after the server starts.
        sandbox.environment["DOKKULITE_METRICS_INTERVAL"] = "1"
        let token = try #require(try sandbox.run("api:tokens:create", "--read-only", "grafana").stdout.split(separator: "\n").last.map(String.init))
        let server = try Server(sandbox)
        for _ in 0..<5 { #expect(proxy.get("\(app).dokku.test")?.status == 200) }
        for _ in 0..<2 {
            let upload = try Shell.which("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: \(app).dokku.test", "--data-binary", String(repeating: "x", count: 4096), "http://127.0.0.1:\(proxy.port)/"])
            #expect(upload.stdout == "413")
        }
        #expect(try server.request("GET", "/metrics").status == 401)
        let metrics = try server.request("GET", "/metrics", token: token)
        #expect(metrics.status == 200, "\(metrics)")
        let lines = Set(metrics.body.split(separator: "\n").map(String.init))
        for line in [
            "dokkulite_http_requests_total{app=\"\(app)\",status=\"2xx\"} 5", "dokkulite_http_requests_total{app=\"\(app)\",status=\"4xx\"} 2",
            "dokkulite_http_requests_total{app=\"\(app)\",status=\"5xx\"} 0", "dokkulite_http_request_duration_seconds_bucket{app=\"\(app)\",le=\"+Inf\"} 7",
            "dokkulite_http_request_duration_seconds_count{app=\"\(app)\"} 7", "dokkulite_process_restarts_total{app=\"\(app)\",process=\"web.1\"} 0",
            "# TYPE dokkulite_http_request_duration_seconds histogram",
        ] {
            #expect(lines.contains(line), "\(line) in \(metrics.body)")
        }
        let memory = lines.first { $0.hasPrefix("dokkulite_process_memory_bytes{app=\"\(app)\",process=\"web.1\"} ") }
        #expect((memory?.split(separator: " ").last.flatMap { UInt64($0) } ?? 0) > 1_000_000, "\(String(describing: memory))")
        // systemd's IP accounting of the unit: the proxy's requests in, the responses out.
        for direction in ["receive", "transmit"] {
            let line = lines.first { $0.hasPrefix("dokkulite_process_network_\(direction)_bytes_total{app=\"\(app)\",process=\"web.1\"} ") }
            #expect((line?.split(separator: " ").last.flatMap { UInt64($0) } ?? 0) > 500, "\(String(describing: line))")
        }
        let tenSeconds = lines.first { $0.hasPrefix("dokkulite_http_request_duration_seconds_bucket{app=\"\(app)\",le=\"10\"} ") }
        #expect(tenSeconds?.hasSuffix(" 7") == true, "\(String(describing: tenSeconds))")

        // The history: samples whose requests add up to the traffic, by class.
        var series: [[String: Any]] = []
        #expect(try eventually(timeout: .seconds(20)) {
            let body = try server.request("GET", "/api/v1/apps/\(app)/metrics?since=600", token: token).body
            series = (json(body) as? [String: Any])?["samples"] as? [[String: Any]] ?? []
            return series.compactMap { $0["requests"] as? Int }.reduce(0, +) == 7
        }, "\(series)")
        #expect(series.compactMap { $0["client_errors"] as? Int }.reduce(0, +) == 2 && series.compactMap { $0["server_errors"] as? Int }.reduce(0, +) == 0, "\(series)")
        #expect((series.last?["memory_bytes"] as? Int ?? 0) > 1_000_000, "\(series)")
        #expect(series.contains { ($0["p95_ms"] as? Double ?? 0) > 0 }, "\(series)")
        #expect(series.contains { ($0["sent_bytes_per_second"] as? Double ?? 0) > 0 && ($0["received_bytes_per_second"] as? Double ?? 0) > 0 }, "\(series)")
        #expect(try server.request("GET", "/api/v1/apps/\(app)/metrics?since=999999", token: token).status == 400)
        _ = try? sandbox.run("--force", "apps:destroy", app)
    }

    /// A deploy through the API: an archive uploaded, its build's output read as events
    /// while it runs, a repository refused when it names a file on the server; then the
    /// resources that mirror ports, checks, certificates, letsencrypt and services.
    @Test func deploysStreamTheBuildAndResourcesMirrorTheCommands() throws {
        _ = try #require(Integration.systemdBus, "DOKKULITE_SYSTEMD_BUS is not set; scripts/test sets it")
        let sandbox = try Sandbox("apideploy")
        try sandbox.run("domains:set-global", "dokku.test")
        try sandbox.run("checks:set", "--global", "wait-to-retire", "0")
        let proxy = try DaemonProcess(sandbox, https: true)
        let app = uniqueApp("apidep")
        #expect(try sandbox.run("apps:create", app).status == 0)
        let full = try #require(try sandbox.run("api:tokens:create", "deployer").stdout.split(separator: "\n").last.map(String.init))
        let readOnly = try #require(try sandbox.run("api:tokens:create", "--read-only", "viewer").stdout.split(separator: "\n").last.map(String.init))
        let server = try Server(sandbox)

        let work = sandbox.root + "/work"
        func tarball(_ version: String, compile: String? = nil) throws -> String {
            let tree = work + "/\(version)/project"
            try FileManager.default.createDirectory(atPath: tree + "/bin", withIntermediateDirectories: true)
            var files = DeployTests.versionApp(version)
            if let compile {
                files["bin/compile"] = compile
                files["bin/release"] = "#!/bin/sh\necho '--- {}'\n"
            }
            for (path, content) in files {
                try content.write(toFile: tree + "/" + path, atomically: true, encoding: .utf8)
                if path.hasPrefix("bin/") { chmod(tree + "/" + path, 0o755) }
            }
            try Shell.which("tar", ["-cf", work + "/\(version).tar", "-C", work + "/\(version)", "project"])
            return work + "/\(version).tar"
        }
        // The build prints a line dressed as one of the command's events: without the
        // run's marker it stays the build's own output.
        let forged = #"{"kind":"notFound","line":" !     forged","stream":"stderr","text":"forged","type":"failure"}"#
        let first = try tarball("from-api", compile: "#!/bin/sh\necho '\(forged)'\n")
        #expect(try server.request("POST", "/api/v1/apps/\(app)/deploys", token: readOnly, headers: ["Content-Type: application/x-tar"]).status == 403)
        #expect(try server.request("POST", "/api/v1/apps/\(app)/deploys", token: full, headers: ["Content-Type: text/plain"]).status == 415)

        /// Uploads `archive` as a deploy with curl, and returns once its first event is read.
        func startDeploy(_ archive: String) throws -> (curl: Process, events: Pipe, received: Data) {
            let curl = Process()
            curl.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
            curl.arguments = ["-sS", "-N", "--max-time", "300", "-H", "Authorization: Bearer \(full)", "-H", "Content-Type: application/x-tar",
                "--data-binary", "@" + archive, "http://127.0.0.1:\(server.port)/api/v1/apps/\(app)/deploys"]
            let events = Pipe()
            curl.standardOutput = events
            try curl.run()
            var received = Data()
            while !String(decoding: received, as: UTF8.self).contains("event: output\ndata: ") {
                let chunk = events.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                received.append(chunk)
            }
            return (curl, events, received)
        }

        // The events come as the build writes them: the first is read before the release exists.
        let (upload, events, firstEvents) = try startDeploy(first)
        var received = firstEvents
        let releasesAtFirstEvent = try sandbox.sql("SELECT COUNT(*) FROM release WHERE app = '\(app)'")
        received.append(events.fileHandleForReading.readDataToEndOfFile())
        upload.waitUntilExit()
        let stream = String(decoding: received, as: UTF8.self)
        #expect(releasesAtFirstEvent == "0", "the first event came before the build ended: \(stream)")
        #expect(stream.hasPrefix("event: output\ndata: {\"line\":\"-----> Fetching tar file from stdin\",\"stream\":\"stdout\",\"text\":\"Fetching tar file from stdin\",\"type\":\"step\"}\n\n"), "\(stream)")
        #expect(stream.contains("data: {\"line\":\"\(forged.replacingOccurrences(of: "\"", with: "\\\""))\",\"stream\":\"stdout\",\"text\":"), "the forged line is raw output: \(stream)")
        #expect(!stream.contains("\"type\":\"failure\""), "\(stream)")
        #expect(stream.hasSuffix("event: done\ndata: {\"ok\":true,\"release\":1,\"status\":0}\n\n"), "\(stream)")
        #expect(proxy.get("\(app).dokku.test")?.body == "from-api")

        // Asked for JSON only, the client gets the outcome at the end.
        let second = try server.request("POST", "/api/v1/apps/\(app)/deploys", token: full, body: nil,
            headers: ["Content-Type: application/gzip", "Accept: application/json"], file: try {
                try Shell.which("gzip", ["-k", try tarball("second")])
                return work + "/second.tar.gz"
            }())
        #expect(second.status == 200 && second.body.hasPrefix("{\"ok\":true,\"output\":\"-----> Fetching tar.gz file from stdin"), "\(second)")
        #expect(second.body.hasSuffix(",\"release\":2}\n"), "\(second)")
        #expect(proxy.get("\(app).dokku.test")?.body == "second")

        // Too large: refused before the command runs, the running release untouched.
        #expect(try sandbox.run("git:set", app, "archive-max-size", "100").status == 0)
        let large = try server.request("POST", "/api/v1/apps/\(app)/deploys", token: full, headers: ["Content-Type: application/x-tar"], file: first)
        #expect(large.status == 413 && large.body == "{\"error\":\"Archive exceeds maximum allowed size of 100 bytes\"}\n", "\(large)")
        #expect(try sandbox.run("git:set", app, "archive-max-size").status == 0)

        // A repository on the server's own disk is refused as it is to an ssh key holder,
        // by the command itself, and nothing is built.
        let local = try server.request("POST", "/api/v1/apps/\(app)/deploys", token: full, body: "{\"repository\": \"file://\(work)\"}",
            headers: ["Accept: application/json"])
        #expect(local.status == 400 && local.body == "{\"error\":\"Invalid git remote file://\(work): use https, http, git (files on the server only for root at its console)\"}\n", "\(local)")
        #expect(try server.request("POST", "/api/v1/apps/\(app)/deploys", token: full, body: "{\"repository\": \"https://example.test/r.git\", \"ref\": \"--upload-pack=x\"}").status == 400)
        #expect(try sandbox.sql("SELECT COUNT(*) FROM release WHERE app = '\(app)'") == "2")
        let audit = try sandbox.run("api:audit").stdout
        for line in [" deployer POST /api/v1/apps/\(app)/deploys \(app) tar archive 200", " viewer POST /api/v1/apps/\(app)/deploys \(app) tar archive 403",
            " deployer POST /api/v1/apps/\(app)/deploys \(app) tar archive 413", " deployer POST /api/v1/apps/\(app)/deploys \(app) file://\(work) 400"]
        {
            #expect(audit.contains(line + "\n"), "\(line) in \(audit)")
        }

        // Ports.
        let ports = try server.request("GET", "/api/v1/apps/\(app)/ports", token: readOnly)
        #expect(ports.body == "[{\"container_port\":5000,\"host_port\":80,\"scheme\":\"http\"}]\n", "\(ports)")
        #expect(try server.request("PUT", "/api/v1/apps/\(app)/ports", token: full, body: "[\"http:8080:5000\"]").status == 200)
        #expect(try server.request("GET", "/api/v1/apps/\(app)/ports", token: readOnly).body.contains("\"host_port\":8080"))
        #expect(try server.request("PUT", "/api/v1/apps/\(app)/ports", token: full, body: "[\"--help\"]").body == "{\"error\":\"Invalid port mapping: --help\"}\n")
        #expect(try server.request("DELETE", "/api/v1/apps/\(app)/ports", token: full, body: "[\"http:8080:5000\"]").status == 200)

        // Checks, certificates, letsencrypt: the reports, as `NS:report --format json`.
        #expect(try server.request("POST", "/api/v1/apps/\(app)/checks/disable", token: full, body: "{\"process_types\": [\"web\"]}").status == 200)
        let checks = try #require(json(try server.request("GET", "/api/v1/apps/\(app)/checks", token: readOnly).body) as? [String: Any])
        #expect(checks["disabled-list"] as? String == "web", "\(checks)")
        #expect(try server.request("POST", "/api/v1/apps/\(app)/checks/enable", token: full).status == 200)
        #expect(try server.request("POST", "/api/v1/apps/\(app)/checks/skip", token: full, body: "{\"process_types\": [\"a,b\"]}").status == 400)
        let certs = try #require(json(try server.request("GET", "/api/v1/apps/\(app)/certs", token: readOnly).body) as? [String: Any])
        #expect(certs["enabled"] as? String == "false", "\(certs)")
        #expect(try server.request("GET", "/api/v1/apps/\(app)/letsencrypt", token: readOnly).status == 200)
        #expect(try server.request("PUT", "/api/v1/apps/\(app)/certs", token: full, body: "{}").status == 415)
        // A certificate and key, as a tar on the request, as `certs:add` takes them on stdin.
        let keys = work + "/tls"
        try FileManager.default.createDirectory(atPath: keys, withIntermediateDirectories: true)
        #expect(try Shell.which("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=\(app).dokku.test",
            "-keyout", keys + "/server.key", "-out", keys + "/server.crt"]).status == 0)
        try Shell.which("tar", ["-cf", work + "/tls.tar", "-C", keys, "server.crt", "server.key"])
        let installed = try server.request("PUT", "/api/v1/apps/\(app)/certs", token: full, headers: ["Content-Type: application/x-tar"], file: work + "/tls.tar")
        #expect(installed.status == 200, "\(installed)")
        let secured = try #require(json(try server.request("GET", "/api/v1/apps/\(app)/certs", token: readOnly).body) as? [String: Any])
        #expect(secured["enabled"] as? String == "true" && secured["hostnames"] as? String == "\(app).dokku.test", "\(secured)")
        #expect(try server.request("DELETE", "/api/v1/apps/\(app)/certs", token: full).status == 200)

        // Services: none here; bad words refused before any command.
        #expect(try server.request("GET", "/api/v1/services", token: readOnly).body == "[]\n")
        #expect(try server.request("GET", "/api/v1/apps/\(app)/services", token: readOnly).body == "[]\n")
        #expect(try server.request("POST", "/api/v1/services", token: full, body: "{\"kind\": \"mysql\", \"name\": \"db\"}").body == "{\"error\":\"Invalid service kind: mysql (postgres or redis)\"}\n")
        #expect(try server.request("POST", "/api/v1/services", token: full, body: "{\"kind\": \"redis\", \"name\": \"-f\"}").status == 400)
        #expect(try server.request("DELETE", "/api/v1/services/redis/cache?confirm=cache", token: full).status == 404)

        // The client gone and the API stopped while a deploy builds: the deploy finishes,
        // is audited, and only then does the API exit.
        let releases = try sandbox.sql("SELECT COUNT(*) FROM release WHERE app = '\(app)'")
        // Its build takes 3 seconds: longer than the API takes to stop.
        let third = try tarball("third", compile: "#!/bin/sh\nsleep 3\n")
        let (late, _, begun) = try startDeploy(third)
        #expect(String(decoding: begun, as: UTF8.self).contains("event: output"), "the build had begun")
        late.terminate()
        late.waitUntilExit()
        server.stop()
        // Checked the moment the API has exited: the deploy was already done.
        #expect(try sandbox.sql("SELECT COUNT(*) FROM release WHERE app = '\(app)' AND status = 'current' AND version = \(Int(releases)! + 1)") == "1",
            "the deploy the stop came during finished before the API exited")
        let audited = try sandbox.run("api:audit").stdout.components(separatedBy: " deployer POST /api/v1/apps/\(app)/deploys \(app) tar archive 200\n").count - 1
        #expect(audited == 2, "the first deploy and this one")
        #expect(proxy.get("\(app).dokku.test")?.body == "third")
        _ = try? sandbox.run("--force", "apps:destroy", app)
    }

    /// The API host through the proxy: plain HTTP until it has a certificate of its own,
    /// then HTTPS, with plain HTTP sent there; back to plain HTTP when it is removed.
    @Test func theAPIHostTakesItsOwnCertificate() throws {
        let sandbox = try Sandbox("apitls")
        try sandbox.run("domains:set-global", "dokku.test")
        let apiPort = try freePort()
        sandbox.environment["DOKKULITE_API_LISTEN"] = "127.0.0.1:\(apiPort)"
        let proxy = try DaemonProcess(sandbox, https: true)
        let httpsPort = try #require(proxy.httpsPort)
        let token = try #require(try sandbox.run("api:tokens:create", "tls").stdout.split(separator: "\n").last.map(String.init))
        let server = try Server(sandbox, port: apiPort)
        _ = server
        let host = "dokkulite.dokku.test"
        func plain() throws -> String {
            try Shell.which("curl", ["-sS", "--max-time", "20", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", "-H", "Host: \(host)", "-H", "Authorization: Bearer \(token)",
                "http://127.0.0.1:\(proxy.port)/api/v1/apps"]).stdout
        }
        #expect(try plain() == "200 ", "served over plain HTTP before a certificate")

        let keys = sandbox.root + "/apitls"
        try FileManager.default.createDirectory(atPath: keys, withIntermediateDirectories: true)
        #expect(try Shell.which("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=\(host)", "-addext", "subjectAltName=DNS:\(host)",
            "-keyout", keys + "/server.key", "-out", keys + "/server.crt"]).status == 0)
        try handToDokkuUser(keys + "/server.crt", keys + "/server.key")
        #expect(try sandbox.run("api:certs:add", keys + "/server.crt", keys + "/server.key" + ".missing").stderr == " !     KEY file specified not found, please check file paths\n")
        let added = try sandbox.run("api:certs:add", keys + "/server.crt", keys + "/server.key")
        #expect(added.status == 0 && added.stdout == "-----> API certificate installed: https://\(host)/\n", "\(added)")
        let mode = try FileManager.default.attributesOfItem(atPath: sandbox.root + "/certs/_api/server.key")[.posixPermissions] as? Int
        #expect(mode == 0o600, "the key is root's alone: \(String(describing: mode))")
        #expect(try plain().hasPrefix("301 https://\(host)"), "plain HTTP is sent to HTTPS")
        let secure = try Shell.which("curl", ["-sS", "--max-time", "20", "--cacert", keys + "/server.crt", "--resolve", "\(host):\(httpsPort):127.0.0.1",
            "-H", "Authorization: Bearer \(token)", "-w", "\n%{http_code}", "https://\(host):\(httpsPort)/api/v1/apps"])
        #expect(secure.status == 0 && secure.stdout == "[]\n\n200", "\(secure)")
        #expect(try sandbox.run("api:certs:remove").status == 0)
        #expect(try plain() == "200 ")
        #expect(try sandbox.run("api:certs:remove").stderr == " !     The API has no certificate\n")
    }
}
