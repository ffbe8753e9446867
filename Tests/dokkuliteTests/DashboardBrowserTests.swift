import Foundation
import Testing
import TestSupport

/// The dashboard in a real browser: Debian's headless Chromium, driven over WebDriver by
/// chromedriver, against `api:serve` of a sandbox with a deployed app. It logs in with a
/// token, sees the app and its charts, scales it, rolls it back, sets a config var, watches
/// its log lines arrive, and logs out; the
/// screenshots go to `DOKKULITE_TEST_OUTPUT` (default `/tmp/dokkulite-test-output`)/dashboard.
@Suite(.serialized) struct DashboardBrowserTests {
    /// Drives the browser through the steps and prints one JSON object of what it saw.
    static let driver = #"""
        import json, sys, time, urllib.request, base64
        port, base, token, app, out, proxy, archive = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7]
        def call(method, path, body=None):
            data = None if body is None else json.dumps(body).encode()
            request = urllib.request.Request("http://127.0.0.1:%s%s" % (port, path), data=data, method=method, headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=30) as answer:
                return json.loads(answer.read())["value"]
        options = {"binary": "/usr/bin/chromium", "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000"]}
        session = call("POST", "/session", {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": options}}})["sessionId"]
        s = "/session/" + session
        seen = {}
        def find(css):
            found = call("POST", s + "/element", {"using": "css selector", "value": css})
            if not isinstance(found, dict) or not found:
                raise SystemExit("no element %s: %r" % (css, found))
            return list(found.values())[0]
        def source():
            return call("GET", s + "/source")
        def shot(name):
            png = base64.b64decode(call("GET", s + "/screenshot"))
            open(out + "/" + name + ".png", "wb").write(png)
        def wait_for(text):
            for _ in range(150):
                if text in source(): return True
                time.sleep(0.2)
            return False
        try:
            call("POST", s + "/url", {"url": base + "/"})
            seen["redirected_to_login"] = call("GET", s + "/url").endswith("/login")
            shot("login")
            call("POST", s + "/element/%s/value" % find("input[name=token]"), {"text": "dkl_not_a_token"})
            call("POST", s + "/element/%s/click" % find("button[type=submit]"), {})
            seen["bad_token_refused"] = wait_for("That token is not valid.")
            call("POST", s + "/element/%s/value" % find("input[name=token]"), {"text": token})
            call("POST", s + "/element/%s/click" % find("button[type=submit]"), {})
            seen["apps_page"] = wait_for('href="/apps/%s"' % app)
            shot("apps")
            call("POST", s + "/element/%s/click" % find('a[href="/apps/%s"]' % app), {})
            seen["app_page"] = wait_for("Requests/s")
            seen["chart_has_line"] = "<polyline" in source() and "no data" not in source().split("Requests/s", 1)[1][:400]
            shot("app")
            field = find("input[name=count]")
            call("POST", s + "/element/%s/clear" % field, {})
            call("POST", s + "/element/%s/value" % field, {"text": "2"})
            call("POST", s + "/element/%s/click" % find("form[action$=scale] button"), {})
            seen["scaled"] = wait_for("web.2")
            call("POST", s + "/element/%s/click" % find("form[action$=rollback] button"), {})
            seen["rolled_back"] = wait_for("<td>v1</td><td>current</td>")
            shot("app-after")
            # The config editor: a var set by form, shown masked until revealed.
            call("POST", s + "/element/%s/value" % find("form[action$=config].setvar input[name=key]"), {"text": "GREETING"})
            call("POST", s + "/element/%s/value" % find("form[action$=config].setvar input[name=value]"), {"text": "hello-from-browser"})
            call("POST", s + "/element/%s/click" % find("form[action$=config].setvar button"), {})
            seen["config_set"] = wait_for("<th>GREETING</th>")
            seen["config_masked"] = "hello-from-browser" not in source()
            call("POST", s + "/element/%s/click" % find('a[href$="reveal=config#config"]'), {})
            seen["config_revealed"] = wait_for("hello-from-browser")
            # The processes table follows a scale made elsewhere (here through the API).
            scale = urllib.request.Request(base + "/api/v1/apps/%s/formation" % app, data=b'{"web": 3}', method="PUT",
                headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
            urllib.request.urlopen(scale, timeout=60).read()
            seen["processes_live"] = False
            for _ in range(40):
                if "<td>web.3</td>" in source():
                    seen["processes_live"] = True
                    break
                time.sleep(0.5)
            # Live logs: a request's line appears in the panel without a reload.
            marker = "/live-%d" % int(time.time() * 1000)
            seen["live_log"] = False
            for _ in range(60):
                try:
                    urllib.request.urlopen(urllib.request.Request("http://127.0.0.1:%s%s" % (proxy, marker), headers={"Host": app + ".dokku.test"}), timeout=5).read()
                except Exception:
                    pass
                if marker in source():
                    seen["live_log"] = True
                    break
                time.sleep(0.5)
            shot("app-logs")
            # A deploy from the page: an archive chosen in its file input, the build's
            # output shown as it comes, then the page again with the new release.
            call("POST", s + "/element/%s/value" % find("form.deploy input[type=file]"), {"text": archive})
            call("POST", s + "/element/%s/click" % find("form.deploy button"), {})
            seen["deploy_streamed"] = wait_for("Fetching tar file from stdin")
            shot("app-deploy")
            seen["deployed"] = wait_for("Deployed: release v3") or wait_for("<td>v3</td><td>current</td>")
            seen["deploy_reloaded"] = wait_for("<td>v3</td><td>current</td>")
            call("POST", s + "/window/rect", {"width": 390, "height": 844})
            shot("app-phone")
            call("POST", s + "/element/%s/click" % find("form[action$=logout] button"), {})
            seen["logged_out"] = wait_for('name="token"')
            call("POST", s + "/url", {"url": base + "/apps/" + app})
            seen["login_again_needed"] = call("GET", s + "/url").endswith("/login")
        finally:
            call("DELETE", s)
        print(json.dumps(seen))
        """#

    @Test func logInSeeAnAppScaleItAndRollItBack() throws {
        _ = try #require(Integration.systemdBus, "DOKKULITE_SYSTEMD_BUS is not set; scripts/test sets it")
        for tool in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
            #expect(FileManager.default.isExecutableFile(atPath: tool), "\(tool) is missing: scripts/deps installs chromium and chromium-driver")
        }
        let sandbox = try Sandbox("dashboard")
        try sandbox.run("domains:set-global", "dokku.test")
        try sandbox.run("checks:set", "--global", "wait-to-retire", "0")
        sandbox.environment["DOKKULITE_METRICS_INTERVAL"] = "1"
        let proxy = try DaemonProcess(sandbox)
        let app = uniqueApp("dash")
        // The app logs each request (Python's own request log), for the log panel.
        func files(_ version: String) -> [String: String] {
            var files = DeployTests.versionApp(version)
            files["server.py"] = files["server.py"]!.replacingOccurrences(of: "    def log_message(self, *a): pass\n", with: "")
            return files
        }
        let source = try AppSource(sandbox, files: files("v1"))
        #expect(try source.push(app).status == 0)
        try source.commit(files("v2"), message: "v2")
        #expect(try source.push(app).status == 0)
        let token = try #require(try sandbox.run("api:tokens:create", "browser").stdout.split(separator: "\n").last.map(String.init))
        let server = try APITests.Server(sandbox)
        // Traffic for the charts: the sampler needs two snapshots a second apart.
        for _ in 0..<20 { _ = proxy.get("\(app).dokku.test") }
        #expect(try eventually(timeout: .seconds(20)) {
            let body = try server.request("GET", "/api/v1/apps/\(app)/metrics", token: token).body
            return body.contains("\"requests\":2") || body.contains("\"requests\":1")
        })

        // The archive the page will deploy: v3, in a top-level folder as GitHub's are.
        let tree = sandbox.root + "/upload/project"
        try FileManager.default.createDirectory(atPath: tree, withIntermediateDirectories: true)
        for (path, content) in files("v3") { try content.write(toFile: tree + "/" + path, atomically: true, encoding: .utf8) }
        let archive = sandbox.root + "/upload/code.tar"
        #expect(try Shell.which("tar", ["-cf", archive, "-C", sandbox.root + "/upload", "project"]).status == 0)
        let output = (ProcessInfo.processInfo.environment["DOKKULITE_TEST_OUTPUT"] ?? "/tmp/dokkulite-test-output") + "/dashboard"
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        let driverPort = try freePort()
        let chromedriver = Process()
        chromedriver.executableURL = URL(fileURLWithPath: "/usr/bin/chromedriver")
        chromedriver.arguments = ["--port=\(driverPort)"]
        chromedriver.standardOutput = FileHandle.nullDevice
        chromedriver.standardError = FileHandle.nullDevice
        try chromedriver.run()
        defer {
            kill(chromedriver.processIdentifier, SIGKILL)
            chromedriver.waitUntilExit()
        }
        #expect(eventually(timeout: .seconds(20)) { canConnect(driverPort) })
        // Bounded: a browser that stops answering fails the test instead of holding it.
        let run = try Shell.run("/usr/bin/timeout", ["--kill-after=5", "180", "/usr/bin/python3", "-c", Self.driver, String(driverPort), "http://127.0.0.1:\(server.port)", token, app, output, String(proxy.port), archive], environment: nil)
        #expect(run.status == 0, "\(run)")
        let seen = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Bool], "\(run)")
        for step in ["redirected_to_login", "bad_token_refused", "apps_page", "app_page", "chart_has_line", "scaled", "rolled_back", "config_set", "config_masked", "config_revealed", "processes_live", "live_log", "deploy_streamed", "deployed", "deploy_reloaded", "logged_out", "login_again_needed"] {
            #expect(seen[step] == true, "\(step): \(seen)")
        }
        #expect(try sandbox.sql("SELECT version FROM release WHERE app = '\(app)' AND status = 'current'") == "3", "the rollback to v1, then the page's deploy")
        let audit = try sandbox.run("api:audit").stdout
        #expect(audit.contains(" browser POST /apps/\(app)/scale \(app) web=2 200") && audit.contains(" browser POST /apps/\(app)/rollback \(app) v1 200"), "\(audit)")
        #expect(audit.contains(" browser POST /apps/\(app)/config \(app) GREETING 200"), "\(audit)")
        #expect(audit.contains(" browser POST /apps/\(app)/deploys \(app) tar archive 200"), "\(audit)")
        #expect(try sandbox.run("config:get", app, "GREETING").stdout == "hello-from-browser\n")
        for name in ["login", "apps", "app", "app-after", "app-logs", "app-deploy", "app-phone"] {
            #expect(((try? FileManager.default.attributesOfItem(atPath: "\(output)/\(name).png")[.size] as? Int) ?? 0) > 5_000, "\(name).png")
        }
        _ = try? sandbox.run("--force", "apps:destroy", app)
    }

    /// A form posted from elsewhere (no CSRF token of the session) changes nothing.
    @Test func aFormFromAnotherSiteIsRefused() throws {
        let sandbox = try Sandbox("dashcsrf")
        let app = uniqueApp("csrf")
        #expect(try sandbox.run("apps:create", app).status == 0)
        let token = try #require(try sandbox.run("api:tokens:create", "csrf").stdout.split(separator: "\n").last.map(String.init))
        let server = try APITests.Server(sandbox)
        let jar = NSTemporaryDirectory() + "dokkulite-jar-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: jar) }
        func curl(_ arguments: [String]) throws -> String {
            try Shell.which("curl", ["-sS", "--max-time", "30", "-b", jar, "-c", jar, "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}"] + arguments).stdout
        }
        #expect(try curl(["--data-urlencode", "token=\(token)", "http://127.0.0.1:\(server.port)/login"]).hasPrefix("303 "))
        #expect(try curl(["http://127.0.0.1:\(server.port)/apps/\(app)"]).hasPrefix("200 "))
        let serverPage = try Shell.which("curl", ["-sS", "--max-time", "30", "-b", jar, "http://127.0.0.1:\(server.port)/server"]).stdout
        #expect(serverPage.contains("<th>Memory</th>") && serverPage.contains("<th>Disk (") && serverPage.contains("<th>Apps</th><td>1</td>"), "\(serverPage)")
        // The app's certificate: none, then one added with certs:add, its names and end shown.
        func appPage() throws -> String { try Shell.which("curl", ["-sS", "--max-time", "30", "-b", jar, "http://127.0.0.1:\(server.port)/apps/\(app)"]).stdout }
        #expect(try appPage().contains("No certificate: the app is served over plain HTTP."))
        let keys = sandbox.root + "/tls"
        try FileManager.default.createDirectory(atPath: keys, withIntermediateDirectories: true)
        #expect(try Shell.which("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=\(app).test", "-addext", "subjectAltName=DNS:\(app).test,DNS:www.\(app).test",
            "-keyout", keys + "/server.key", "-out", keys + "/server.crt"]).status == 0)
        try handToDokkuUser(keys + "/server.crt", keys + "/server.key")
        #expect(try sandbox.run("certs:add", app, keys + "/server.crt", keys + "/server.key").status == 0)
        // Domains, added and removed with the page's own CSRF token.
        let page = try appPage()
        let csrf = try #require(page.range(of: "name=csrf value=\"").map { String(page[$0.upperBound...].prefix(64)) })
        #expect(try curl(["--data", "csrf=\(csrf)&domain=www.\(app).test", "http://127.0.0.1:\(server.port)/apps/\(app)/domains"]).hasPrefix("303 "))
        #expect(try sandbox.run("domains:report", app, "--domains-app-vhosts").stdout.contains("www.\(app).test"))
        #expect(try appPage().contains("<li>www.\(app).test <form"))
        #expect(try curl(["--data", "csrf=\(csrf)&domain=--help", "http://127.0.0.1:\(server.port)/apps/\(app)/domains"]).hasPrefix("400 "))
        #expect(try curl(["--data", "csrf=\(csrf)&domain=www.\(app).test&remove=1", "http://127.0.0.1:\(server.port)/apps/\(app)/domains"]).hasPrefix("303 "))
        #expect(try !sandbox.run("domains:report", app, "--domains-app-vhosts").stdout.contains("www.\(app).test"))
        let secured = try appPage()
        #expect(secured.contains("<p>HTTPS for \(app).test, www.\(app).test, valid until 20") && secured.contains("(added with <code>certs:add</code>)"), "\(secured)")
        #expect(try curl(["--data", "type=web&count=3", "http://127.0.0.1:\(server.port)/apps/\(app)/scale"]).hasPrefix("403 "))
        #expect(try curl(["--data", "type=web&count=3&csrf=0000", "http://127.0.0.1:\(server.port)/apps/\(app)/scale"]).hasPrefix("403 "))
        #expect(try sandbox.run("api:audit").stdout.contains("/scale") == false)
        // The page's deploy takes the CSRF token in a header; an upload without it builds nothing.
        #expect(try curl(["-H", "Content-Type: application/x-tar", "--data-binary", "not a tar", "http://127.0.0.1:\(server.port)/apps/\(app)/deploys"]).hasPrefix("403 "))
        #expect(try curl(["-H", "Content-Type: application/x-tar", "-H", "X-CSRF-Token: 0000", "--data-binary", "x", "http://127.0.0.1:\(server.port)/apps/\(app)/deploys"]).hasPrefix("403 "))
        #expect(try sandbox.run("api:audit").stdout.contains("/deploys") == false)
        // The session cookie is not a credential for the JSON API.
        #expect(try curl(["http://127.0.0.1:\(server.port)/api/v1/apps"]).hasPrefix("401 "))
        let cookie = (try? String(contentsOfFile: jar, encoding: .utf8)) ?? ""
        #expect(cookie.contains("#HttpOnly_127.0.0.1") && cookie.contains("dkl_session"), "\(cookie)")
    }
}
