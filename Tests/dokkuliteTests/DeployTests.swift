import Foundation
import Proxy
import TestSupport
import Testing

@testable import Platform

/// git push → build → release → proxy, end to end on the real systemd manager, git and HTTP.
@Suite(.enabled(if: Integration.systemdEnabled, "needs a systemd manager: run scripts/test"), .serialized)
struct DeployTests {
    /// A minimal web app answering `VERSION` (and config var GREETING when set).
    static func versionApp(_ version: String) -> [String: String] {
        [
            "Procfile": "web: exec python3 server.py\n",
            "server.py": """
                import http.server, os
                class H(http.server.BaseHTTPRequestHandler):
                    def do_GET(self):
                        body = ("%s %s" % (open("VERSION").read().strip(), os.environ.get("GREETING", ""))).strip().encode()
                        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
                    def log_message(self, *a): pass
                http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
                """,
            "VERSION": version + "\n",
        ]
    }

    func setUp(_ name: String) throws -> (Sandbox, DaemonProcess) {
        _ = try #require(Integration.systemdBus, "DOKKULITE_SYSTEMD_BUS is not set; scripts/test sets it")
        let sandbox = try Sandbox(name)
        try sandbox.run("domains:set-global", "dokku.test")
        // Old processes stop as soon as the new ones serve: keeps the machine quiet.
        try sandbox.run("checks:set", "--global", "wait-to-retire", "0")
        return (sandbox, try DaemonProcess(sandbox))
    }

    /// An instance whose process has stopped answering: requests go to the other one, and
    /// `proxy:report` shows it marked down by the running proxy.
    @Test func aDeadInstanceIsSkippedAndReportedDown() throws {
        let (sandbox, proxy) = try setUp("deadinstance")
        let app = uniqueApp("dead")
        let source = try AppSource(sandbox, files: Self.versionApp("alive"))
        #expect(try source.push(app).status == 0)
        #expect(try sandbox.run("ps:scale", app, "web=2").status == 0)
        #expect(try sandbox.run("proxy:report", app, "--proxy-upstreams-down").stdout == "\n", "nothing down at first")
        let instances = try sandbox.sql("SELECT unit || ' ' || port FROM instance WHERE app = '\(app)' AND processType = 'web' ORDER BY number")
            .split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        try #require(instances.count == 2, "\(instances)")
        // The first instance's process goes away behind dokkulite's back.
        let stopped = try Shell.which("systemctl", ["--user", "stop", instances[0][0]])
        #expect(stopped.status == 0, "\(stopped)")
        for round in 0..<4 {
            #expect(proxy.get("\(app).dokku.test")?.body == "alive", "round \(round): the live instance answers")
        }
        let down = try sandbox.run("proxy:report", app, "--proxy-upstreams-down").stdout
        #expect(down.hasPrefix("127.0.0.1:\(instances[0][1]) ("), "\(down)")
        #expect(!down.contains(":\(instances[1][1])"), "\(down)")
    }

    @Test func procfileAppPushedAndReachedByHost() throws {
        let (sandbox, proxy) = try setUp("procfile")
        let app = uniqueApp("pf")
        let source = try AppSource(sandbox, files: Self.versionApp("v1"))
        let push = try source.push(app)
        #expect(push.status == 0, "\(push)")
        #expect(push.stderr.contains("-----> Procfile app detected"))
        #expect(push.stderr.contains("=====> Application deployed:"))
        #expect(push.stderr.contains("http://\(app).dokku.test"))
        #expect(proxy.get("\(app).dokku.test")?.body == "v1")
        #expect(proxy.get("unknown.dokku.test")?.status == 404)
        #expect(try sandbox.run("url", app).stdout == "http://\(app).dokku.test\n")
        let releases = try sandbox.run("releases", app)
        #expect(releases.stdout.contains("v1       current"), "\(releases.stdout)")

        // A domain added later routes at once; GREETING reaches the process on restart.
        try sandbox.run("domains:add", app, "www.\(app).test")
        #expect(proxy.get("www.\(app).test")?.body == "v1")
        #expect(try sandbox.run("config:set", app, "GREETING=hi").status == 0)
        #expect(proxy.get("\(app).dokku.test")?.body == "v1 hi")

        // Dokku's nginx:set client-max-body-size is applied by the proxy.
        #expect(try sandbox.run("nginx:set", app, "client-max-body-size", "1k").stdout == "=====> Setting client-max-body-size to 1k\n")
        let upload = try Shell.which("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: \(app).dokku.test", "--data-binary", String(repeating: "x", count: 4096), "http://127.0.0.1:\(proxy.port)/"])
        #expect(upload.stdout == "413")
        #expect(try sandbox.run("nginx:report", app, "--nginx-computed-client-max-body-size").stdout == "1k\n")
        #expect(try sandbox.run("nginx:set", app, "client-max-body-size").status == 0)
        #expect(try sandbox.run("nginx:set", app, "colour", "red").stderr.hasPrefix(" !     Invalid key specified, valid keys include: access-log-format"))
        // Timeouts take nginx's time syntax; proxy-read-timeout reaches the proxy's route.
        #expect(try sandbox.run("nginx:set", app, "proxy-read-timeout", "soon").stderr == " !     Invalid value for proxy-read-timeout: a time such as 60s, 2m or 500ms\n")
        #expect(try sandbox.run("nginx:set", app, "proxy-read-timeout", "45s").status == 0)
        #expect(proxy.get("\(app).dokku.test")?.body == "v1 hi", "routes rebuilt with the timeout")
        #expect(try sandbox.run("nginx:set", app, "proxy-read-timeout").status == 0)
        #expect(try sandbox.run("nginx:set", app, "hsts", "maybe").stderr == " !     Invalid value for hsts: true or false\n")
        #expect(try sandbox.run("nginx:set", app, "hsts-max-age", "120").status == 0)
        // proxy-buffering is applied (on or off); a key with no meaning here is kept with a
        // warning, and the report lists what is not applicable.
        #expect(try sandbox.run("nginx:set", app, "proxy-buffering", "sometimes").stderr == " !     Invalid value for proxy-buffering: on or off\n")
        let buffering = try sandbox.run("nginx:set", app, "proxy-buffering", "off")
        #expect(buffering.status == 0 && buffering.stderr.isEmpty, "\(buffering)")
        #expect(proxy.get("\(app).dokku.test")?.body == "v1 hi", "routes rebuilt without buffering")
        // Behind another balancer: the client's forwarding headers, by the nginx variables
        // Dokku's docs give; one the proxy does not know is refused.
        #expect(try sandbox.run("nginx:set", app, "x-forwarded-proto-value", "$http_x_forwarded_proto").status == 0)
        #expect(proxy.get("\(app).dokku.test")?.body == "v1 hi")
        let unknown = try sandbox.run("nginx:set", app, "x-forwarded-for-value", "$host")
        #expect(unknown.stderr == " !     Invalid value for x-forwarded-for-value: one of $http_x_forwarded_for, $proxy_add_x_forwarded_for, $remote_addr or a fixed value\n", "\(unknown)")
        #expect(try sandbox.run("nginx:set", app, "x-forwarded-proto-value").status == 0)
        // The patience settings and underscore-in-headers reach the app's route.
        #expect(try sandbox.run("nginx:set", app, "underscore-in-headers", "yes").stderr == " !     Invalid value for underscore-in-headers: on or off\n")
        #expect(try sandbox.run("nginx:set", app, "send-timeout", "soon").stderr == " !     Invalid value for send-timeout: a time such as 60s, 2m or 500ms\n")
        for (key, value) in [("underscore-in-headers", "on"), ("keepalive-timeout", "5s"), ("client-body-timeout", "2m"), ("send-timeout", "90s"), ("proxy-send-timeout", "1500ms")] {
            let set = try sandbox.run("nginx:set", app, key, value)
            #expect(set.status == 0 && set.stderr.isEmpty, "\(key): \(set)")
        }
        let route = try RouteBuilder(Context(settings: Settings(environment: sandbox.environment), output: Output(quiet: true))).plan().routes.hosts["\(app).dokku.test"]
        #expect(route?.underscoresInHeaders == true && route?.keepaliveTimeoutMilliseconds == 5000 && route?.clientBodyTimeoutMilliseconds == 120_000, "\(String(describing: route))")
        #expect(route?.sendTimeoutMilliseconds == 90_000 && route?.upstreamSendTimeoutMilliseconds == 1500, "\(String(describing: route))")
        #expect(proxy.get("\(app).dokku.test")?.body == "v1 hi", "routes rebuilt with them")
        // client-header-timeout is the server's: set with --global; an app's is kept with a warning.
        let perApp = try sandbox.run("nginx:set", app, "client-header-timeout", "10s")
        #expect(perApp.status == 0 && perApp.stderr.contains("client-header-timeout applies to the whole server"), "\(perApp)")
        #expect(try sandbox.run("nginx:set", "--global", "client-header-timeout", "20s").status == 0)
        let table = try RouteBuilder(Context(settings: Settings(environment: sandbox.environment), output: Output(quiet: true))).plan().routes
        #expect(table.headerTimeoutMilliseconds == 20_000)
        #expect(try sandbox.run("nginx:set", "--global", "client-header-timeout").status == 0)
        #expect(proxy.get("\(app).dokku.test")?.body == "v1 hi")
        let kept = try sandbox.run("nginx:set", app, "bind-address-ipv4", "10.0.0.1")
        #expect(kept.status == 0 && kept.stderr == " !     bind-address-ipv4 is kept for Dokku compatibility; dokkulite's proxy does not apply it\n", "\(kept)")
        let notApplicable = try sandbox.run("nginx:report", app, "--nginx-not-applicable").stdout
        #expect(notApplicable.contains("bind-address-ipv4") && !notApplicable.contains("proxy-buffering") && !notApplicable.contains("client-max-body-size"), "\(notApplicable)")
        // lingering-timeout and error-log-path off reach the route too.
        #expect(try sandbox.run("nginx:set", app, "lingering-timeout", "2s").status == 0)
        #expect(try sandbox.run("nginx:set", app, "error-log-path", "off").status == 0)
        let later = try RouteBuilder(Context(settings: Settings(environment: sandbox.environment), output: Output(quiet: true))).plan().routes.hosts["\(app).dokku.test"]
        #expect(later?.lingeringTimeoutMilliseconds == 2000 && later?.errorLog == false, "\(String(describing: later))")
        // nginx:show-config writes the route in nginx's words: names, the instance, settings.
        let config = try sandbox.run("nginx:show-config", app)
        #expect(config.status == 0, "\(config)")
        let instancePort = try #require(later?.upstreams.first?.port)
        for line in ["upstream \(app)-web {", "  server 127.0.0.1:\(instancePort);", "  listen 80;", "  server_name \(app).dokku.test www.\(app).test;",
            "  lingering_timeout 2s;", "  send_timeout 90s;", "  proxy_buffering off;", "  error_log off;", "    proxy_pass http://\(app)-web;"]
        {
            #expect(config.stdout.contains(line + "\n"), "\(line) in \(config.stdout)")
        }
        #expect(!config.stdout.contains("ssl_certificate"), "no certificate, no HTTPS server")
        let undeployed = uniqueApp("nd")
        #expect(try sandbox.run("apps:create", undeployed).status == 0)
        #expect(try sandbox.run("nginx:show-config", undeployed).stderr == " !     No nginx config exists for \(undeployed): it has not been deployed\n")
        #expect(try sandbox.run("nginx:show-config", "no-such-app").status != 0)

        // A clone takes the settings and the code, and deploys under its own name.
        let clone = uniqueApp("cl")
        let cloned = try sandbox.run("apps:clone", app, clone)
        #expect(cloned.status == 0, "\(cloned)")
        #expect(cloned.stdout.hasPrefix("-----> Cloning \(app) to \(clone)\n"), "\(cloned)")
        #expect(cloned.stdout.contains("=====> Application deployed:"), "\(cloned)")
        #expect(proxy.get("\(clone).dokku.test")?.body == "v1 hi", "the config var came along")
        #expect(try sandbox.run("apps:clone", app, clone).stderr == " !     Name is already taken\n")
        #expect(try sandbox.run("apps:clone", "--ignore-existing", app, clone).status == 0)
        #expect(try sandbox.run("apps:destroy", clone, "--force").status == 0)

        // A rename deploys again under the new name, as Dokku's does.
        let renamedApp = uniqueApp("rn")
        let renamed = try sandbox.run("apps:rename", app, renamedApp)
        #expect(renamed.status == 0, "\(renamed)")
        #expect(renamed.stdout.contains("=====> Application deployed:"), "\(renamed)")
        #expect(proxy.get("\(renamedApp).dokku.test")?.body == "v1 hi")
        #expect(proxy.get("\(app).dokku.test")?.status == 404)
    }

    @Test func buildpackExamplesDeploy() throws {
        let (sandbox, proxy) = try setUp("examples")
        for (example, expected) in [("node-web", "Hello from Node.js"), ("static-site", "Hello from a static site"), ("python-web", "Hello from Python")] {
            let app = uniqueApp(String(example.prefix(6)))
            let push = try AppSource(sandbox, example: example).push(app)
            #expect(push.status == 0, "\(example): \(push)")
            #expect(!(push.stdout + push.stderr).contains("asks for Python"), "no runtime.txt, no warning: \(push)")
            let answer = proxy.get("\(app).dokku.test")
            #expect(answer?.status == 200, "\(example)")
            #expect(answer?.body.contains(expected) == true, "\(example): \(String(describing: answer))")
        }
    }

    @Test func workerAndReleasePhase() throws {
        let (sandbox, proxy) = try setUp("worker")
        let app = uniqueApp("wr")
        try sandbox.run("apps:create", app)
        try sandbox.run("ps:scale", app, "worker=1")
        let push = try AppSource(sandbox, example: "worker-release").push(app)
        #expect(push.status == 0, "\(push)")
        #expect(push.stderr.contains("release phase done"))
        #expect(try eventually(timeout: .seconds(15)) {
            proxy.get("\(app).dokku.test")?.body.range(of: #"release=True ticks=[1-9]"#, options: .regularExpression) != nil
        })

        // `ps:restart APP TYPE` replaces that type's processes and leaves the others be.
        func units(_ type: String) throws -> Set<String> {
            Set(try sandbox.sql("SELECT unit FROM instance WHERE app = '\(app)' AND processType = '\(type)' AND state = 'running'").split(separator: "\n").map(String.init))
        }
        let (web, worker) = (try units("web"), try units("worker"))
        let restarted = try sandbox.run("ps:restart", app, "worker")
        #expect(restarted.status == 0, "\(restarted)")
        #expect(try units("web") == web)
        let newWorker = try units("worker")
        #expect(newWorker.isDisjoint(with: worker) && newWorker.count == 1, "\(worker) → \(newWorker)")
        #expect(try sandbox.run("ps:restart", "--all", "worker").stderr == " !     Unable to restart all apps when specifying a process name\n")
        #expect(try sandbox.run("ps:restart", "--parallel", "2", app).status == 0)
    }

    /// `builder:set build-dir` builds a subdirectory (a monorepo's app), and
    /// `app-json:set appjson-path` picks the file read as app.json, as in Dokku.
    @Test func keepGitDirLeavesTheRepositoryInTheBuild() throws {
        let (sandbox, _) = try setUp("keepgit")
        let app = uniqueApp("kg")
        try sandbox.run("apps:create", app)
        try sandbox.run("git:set", app, "keep-git-dir", "true")
        let source = try AppSource(sandbox, files: Self.versionApp("g"))
        let push = try source.push(app)
        #expect(push.status == 0, "\(push)")
        let pushed = try Shell.which("git", ["rev-parse", "HEAD"], directory: source.directory).stdout
        let head = try sandbox.run("run", app, "git rev-parse HEAD && git status --porcelain --untracked-files=no")
        #expect(head.status == 0 && head.stdout == pushed, "the build is a clone at the pushed revision: \(head)")
        #expect(try sandbox.run("git:report", app, "--git-last-updated-at").stdout != "\n")
        // Without the setting, no .git, as Dokku deletes it.
        try sandbox.run("git:set", app, "keep-git-dir", "false")
        #expect(try sandbox.run("ps:rebuild", app).status == 0)
        #expect(try sandbox.run("run", app, "test -e .git").status != 0)
    }

    @Test func buildDirAndAppJSONPath() throws {
        let (sandbox, proxy) = try setUp("builddir")
        let app = uniqueApp("bd")
        try sandbox.run("apps:create", app)
        var files = Self.versionApp("root")
        for (path, content) in Self.versionApp("sub") { files["sub/" + path] = content }
        files["sub/app.json"] = #"{"scripts": {"dokku": {"predeploy": "echo predeploy from app.json"}}}"#
        files["sub/other.json"] = #"{"scripts": {"dokku": {"predeploy": "echo predeploy from other.json"}}}"#
        let source = try AppSource(sandbox, files: files)

        try sandbox.run("builder:set", app, "build-dir", "missing")
        let missing = try source.push(app)
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("Specified build-dir not found in sourcecode working directory: missing"), "\(missing)")

        try sandbox.run("builder:set", app, "build-dir", "/sub/")
        try sandbox.run("app-json:set", app, "appjson-path", "other.json")
        try source.commit(["README": "a monorepo\n"], message: "readme")
        let rebuilt = try source.push(app)
        #expect(rebuilt.status == 0, "\(rebuilt)")
        let output = rebuilt.stdout + rebuilt.stderr
        #expect(output.contains("predeploy from other.json") && !output.contains("predeploy from app.json"), "\(rebuilt)")
        #expect(proxy.get("\(app).dokku.test")?.body == "sub")
        #expect(try sandbox.run("builder:report", app, "--builder-detected").stdout == "herokuish\n")

        // A configured app.json that is missing: built as if there were none.
        try sandbox.run("app-json:set", app, "appjson-path", "nowhere.json")
        let without = try sandbox.run("ps:rebuild", app)
        #expect(without.status == 0 && !(without.stdout + without.stderr).contains("predeploy from"), "\(without)")

        // Back to the whole tree.
        try sandbox.run("builder:set", app, "build-dir")
        try sandbox.run("app-json:set", app, "appjson-path")
        #expect(try sandbox.run("ps:rebuild", app).status == 0)
        #expect(proxy.get("\(app).dokku.test")?.body == "root")

        // The build cache goes; git gc leaves the repository deployable.
        let cache = sandbox.root + "/apps/\(app)/cache"
        try FileManager.default.createDirectory(atPath: cache + "/vendor/pip", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: cache + "/vendor/pip/wheel", contents: Data("x".utf8))
        #expect(try sandbox.run("repo:purge-cache", app).status == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: cache).isEmpty)
        #expect(try sandbox.run("repo:gc", app).status == 0)
        #expect(try sandbox.run("ps:rebuild", app).status == 0)
    }

    @Test func appJSONFormationIsTheWholeScale() throws {
        let (sandbox, proxy) = try setUp("formation")
        let app = uniqueApp("fm")
        try sandbox.run("apps:create", app)
        #expect(try sandbox.run("ps:scale", app, "--format", "json").stdout == #"[{"process_type":"web","quantity":1}]"# + "\n", "web=1 from creation, as Dokku's post-create")
        var files = Self.versionApp("f")
        files["Procfile"] = "web: exec python3 server.py\nworker: sleep 600\nrelease: true\n"
        files["app.json"] = #"{"formation": {"web": {"quantity": 2}}}"#
        let push = try AppSource(sandbox, files: files).push(app)
        #expect(push.status == 0, "\(push)")
        #expect(proxy.get("\(app).dokku.test")?.body == "f")
        #expect(try sandbox.run("ps:scale", app, "--format", "json").stdout == #"[{"process_type":"release","quantity":0},{"process_type":"web","quantity":2},{"process_type":"worker","quantity":0}]"# + "\n", "every Procfile type is listed, release too, as Dokku lists them")
        #expect(try sandbox.sql("SELECT count(*) FROM instance WHERE app = '\(app)' AND processType = 'web' AND state = 'running'") == "2")
        #expect(try sandbox.run("ps:report", app, "--ps-can-scale").stdout == "false\n")
        let refused = try sandbox.run("ps:scale", app, "worker=1")
        #expect(refused.stderr == " !     App \(app) contains an app.json file with a formations key and cannot be manually scaled\n")
        #expect(refused.status != 0)

        // checks:run runs the checks against what is running now.
        let checked = try sandbox.run("checks:run", app)
        #expect(checked.status == 0, "\(checked)")
        #expect(checked.stdout.contains("All checks successful (web.1)") && checked.stdout.contains("All checks successful (web.2)"), "\(checked)")
        #expect(try sandbox.run("checks:run", app, "worker").stderr == " !     Invalid process type specified (\(app).worker)\n")
        // One instance, as TYPE.INDEX.
        let one = try sandbox.run("checks:run", app, "web.2")
        #expect(one.status == 0 && one.stdout.contains("All checks successful (web.2)") && !one.stdout.contains("(web.1)"), "\(one)")
        #expect(try sandbox.run("checks:run", app, "web.3").stderr == " !     Invalid container index specified (\(app).web.3)\n")
    }

    /// As Heroku's Node.js buildpack: `heroku-prebuild` runs before the install, and
    /// `heroku-postbuild` in place of `build`; `npm start` is the web process.
    @Test func nodeBuildScripts() throws {
        let (sandbox, proxy) = try setUp("nodescripts")
        let app = uniqueApp("ns")
        let scripts = #"{"heroku-prebuild": "echo pre > steps", "heroku-postbuild": "echo post >> steps", "build": "echo build >> steps", "start": "node server.js"}"#
        let files = [
            "package.json": #"{"name": "steps", "version": "1.0.0", "scripts": \#(scripts)}"#,
            "server.js": """
                require("http").createServer((req, res) => res.end(require("fs").readFileSync("steps", "utf8").trim().split("\\n").join(","))).listen(process.env.PORT)
                """,
        ]
        let push = try AppSource(sandbox, files: files).push(app)
        #expect(push.status == 0, "\(push)")
        #expect(proxy.get("\(app).dokku.test")?.body == "pre,post")
    }

    /// Dokku's static sites: a `.static` marker, the files at the top or under NGINX_ROOT.
    @Test func dokkuStaticSiteWithNginxRoot() throws {
        let (sandbox, proxy) = try setUp("staticroot")
        let app = uniqueApp("st")
        try sandbox.run("apps:create", app)
        let push = try AppSource(sandbox, files: [".static": "", "index.html": "top", "_site/index.html": "built"]).push(app)
        #expect(push.status == 0, "\(push)")
        #expect(proxy.get("\(app).dokku.test")?.body == "top")
        try sandbox.run("config:set", "--no-restart", app, "NGINX_ROOT=_site")
        #expect(try sandbox.run("ps:rebuild", app).status == 0)
        #expect(proxy.get("\(app).dokku.test")?.body == "built")
        try sandbox.run("config:set", "--no-restart", app, "NGINX_ROOT=missing")
        let failed = try sandbox.run("ps:rebuild", app)
        #expect(failed.status != 0 && failed.stderr.contains("The static root missing is not a directory of the app"), "\(failed)")
        #expect(proxy.get("\(app).dokku.test")?.body == "built", "the running release still serves")
    }

    /// As Heroku's Python buildpack: a Django app's static files are collected at build
    /// time, with the app's config vars in the environment, unless DISABLE_COLLECTSTATIC.
    @Test func djangoStaticFilesAreCollected() throws {
        let (sandbox, proxy) = try setUp("collectstatic")
        let app = uniqueApp("dj")
        let files: [String: String] = [
            "requirements.txt": "\n",
            "runtime.txt": "python-2.7.18\n",
            // A stand-in for Django (importable from the app), so the build needs no network.
            "django/__init__.py": "",
            "manage.py": """
                import os, sys
                if sys.argv[1:3] == ["collectstatic", "--noinput"]:
                    os.makedirs("staticfiles", exist_ok=True)
                    open("staticfiles/collected", "w").write(os.environ.get("GREETING", "no config"))
                    print("1 static file copied to 'staticfiles'.")
                """,
            "Procfile": "web: exec python3 server.py\n",
            "server.py": """
                import http.server, os
                class H(http.server.BaseHTTPRequestHandler):
                    def do_GET(self):
                        body = open("staticfiles/collected").read().encode() if os.path.exists("staticfiles/collected") else b"missing"
                        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
                    def log_message(self, *a): pass
                http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
                """,
        ]
        try sandbox.run("apps:create", app)
        try sandbox.run("config:set", "--no-restart", app, "GREETING=collected with config")
        let push = try AppSource(sandbox, files: files).push(app)
        #expect(push.status == 0, "\(push)")
        #expect((push.stdout + push.stderr).contains("-----> $ python manage.py collectstatic --noinput"), "\(push)")
        #expect((push.stdout + push.stderr).contains(" !     The app asks for Python 2.7.18; it is built and run with the server's Python 3."), "\(push)")
        #expect(proxy.get("\(app).dokku.test")?.body == "collected with config")

        try sandbox.run("config:set", "--no-restart", app, "DISABLE_COLLECTSTATIC=1")
        let rebuilt = try sandbox.run("ps:rebuild", app)
        #expect(rebuilt.status == 0 && !(rebuilt.stdout + rebuilt.stderr).contains("collectstatic"), "\(rebuilt)")
        #expect(proxy.get("\(app).dokku.test")?.body == "missing")
    }

    @Test func pythonDependenciesFromAUVLock() throws {
        let (sandbox, proxy) = try setUp("uvlock")
        let app = uniqueApp("uv")
        var files: [String: String] = [
            "Procfile": "web: exec python3 web.py\n",
            "web.py": """
                import http.server, os, six
                class H(http.server.BaseHTTPRequestHandler):
                    def do_GET(self):
                        body = ("six " + six.__version__).encode()
                        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
                    def log_message(self, *a): pass
                http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
                """,
            "pyproject.toml": "[project]\nname = \"uvapp\"\nversion = \"0.1.0\"\nrequires-python = \">=3.9\"\ndependencies = [\"six==1.16.0\"]\n",
        ]
        // Without a lockfile or requirements.txt, as Heroku's buildpack, the build says what is missing.
        let unlocked = try AppSource(sandbox, files: files.merging(["Pipfile": "[packages]\nsix = \"==1.16.0\"\n"]) { $1 }).push(uniqueApp("pipfile"))
        #expect(unlocked.stderr.contains("Pipfile.lock not found: run 'pipenv lock' and commit the lock file"), "\(unlocked.stderr)")
        let source = try AppSource(sandbox, files: files)
        let missing = try source.push(app)
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("No Python dependencies file: add requirements.txt (or a uv.lock, poetry.lock or Pipfile.lock)"), "\(missing.stderr)")
        files["uv.lock"] = """
            version = 1
            revision = 5
            requires-python = ">=3.9"

            [[package]]
            name = "six"
            version = "1.16.0"
            source = { registry = "https://pypi.org/simple" }
            sdist = { url = "https://files.pythonhosted.org/packages/71/39/171f1c67cd00715f190ba0b100d606d440a28c93c7714febeca8b79af85e/six-1.16.0.tar.gz", hash = "sha256:1e61c37477a1626458e36f7b1d82aa5c9b094fa4802892072e49de9c60c4c926", size = 34041, upload-time = "2021-05-05T14:18:18.379Z" }
            wheels = [
                { url = "https://files.pythonhosted.org/packages/d9/5a/e7c31adbe875f2abbb91bd84cf2dc52d792b5a01506781dbcf25c91daf11/six-1.16.0-py2.py3-none-any.whl", hash = "sha256:8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254", size = 11053, upload-time = "2021-05-05T14:18:17.237Z" },
            ]

            [[package]]
            name = "uvapp"
            version = "0.1.0"
            source = { virtual = "." }
            dependencies = [
                { name = "six" },
            ]

            [package.metadata]
            requires-dist = [{ name = "six", specifier = "==1.16.0" }]

            """
        try source.commit(["uv.lock": files["uv.lock"]!], message: "lock")
        let push = try source.push(app)
        #expect(push.status == 0, "\(push)")
        #expect(push.stderr.contains("Exporting requirements from uv.lock with uv"))
        #expect(proxy.get("\(app).dokku.test")?.body == "six 1.16.0")
    }

    @Test func failuresLeaveTheRunningReleaseServing() throws {
        let (sandbox, proxy) = try setUp("failures")
        let app = uniqueApp("keep")
        let source = try AppSource(sandbox, files: Self.versionApp("good"))
        #expect(try source.push(app).status == 0)

        // A build that fails (an inline buildpack whose compile exits 3).
        try source.commit(["bin/compile": "#!/bin/sh\necho compiling; exit 3\n", "VERSION": "broken-build\n"], message: "broken build")
        let build = try source.push(app)
        #expect(build.status != 0)
        #expect(build.stderr.contains("failed (exit status 3)"), "\(build.stderr)")
        #expect(proxy.get("\(app).dokku.test")?.body == "good")

        // A release phase that fails.
        try source.commit(["bin/compile": "", "Procfile": "web: exec python3 server.py\nrelease: exit 4\n", "VERSION": "broken-release\n"], message: "broken release")
        try FileManager.default.removeItem(atPath: source.directory + "/bin/compile")
        try source.commit([:], message: "no inline buildpack")
        let release = try source.push(app)
        #expect(release.status != 0)
        #expect(release.stderr.contains("Execution of release task failed: exit 4"), "\(release.stderr)")
        #expect(release.stderr.contains("Executing release task from Procfile in ephemeral container: exit 4"), "Dokku's words: \(release.stderr)")
        #expect(proxy.get("\(app).dokku.test")?.body == "good")

        let none = try sandbox.run("logs:failed", app)
        #expect(none.status == 0 && none.stderr.contains("No failed containers found"), "\(none)")

        // A health check that fails; `logs:failed` then shows what its process wrote.
        try source.commit([
            "server.py": "import sys; print('unhealthy one starting', file=sys.stderr, flush=True)\n" + Self.versionApp("")["server.py"]!,
            "Procfile": "web: exec python3 server.py\n",
            "app.json": #"{"formation": {"web": {"quantity": 1}}, "healthchecks": {"web": [{"type": "startup", "name": "needs content", "path": "/", "content": "never there", "attempts": 2, "wait": 0}]}}"#,
            "VERSION": "unhealthy\n",
        ], message: "unhealthy")
        let unhealthy = try source.push(app)
        #expect(unhealthy.status != 0)
        #expect(unhealthy.stderr.contains("failed healthcheck name='needs content'"), "\(unhealthy.stderr)")
        #expect(proxy.get("\(app).dokku.test")?.body == "good")
        #expect(try eventually { try sandbox.run("logs:failed", app).stdout.contains("\(app)[web.1]: unhealthy one starting") })
        #expect(try sandbox.run("logs:failed", app).stdout.hasPrefix("=====> \(app) failed deploy logs\n"))
        #expect(try sandbox.run("logs:failed", "--all").stdout.contains("unhealthy one starting"))
        let releases = try sandbox.run("releases", app).stdout
        #expect(releases.contains("v1       current"), "\(releases)")
        // The failed release's app.json formation did not become the serving release's scale.
        #expect(try sandbox.run("ps:report", app, "--ps-can-scale").stdout == "true\n")

        // A postdeploy task that fails after the switch: the push fails, but the release
        // that serves stays usable (it is not marked failed).
        try source.commit(["app.json": #"{"scripts": {"dokku": {"postdeploy": "exit 3"}}}"#, "VERSION": "post\n"], message: "postdeploy fails")
        let post = try source.push(app)
        #expect(post.status != 0)
        #expect(proxy.get("\(app).dokku.test")?.body == "post")
        #expect(try sandbox.run("ps:restart", app).status == 0, "the serving release is still current")
        #expect(proxy.get("\(app).dokku.test")?.body == "post")
    }

    @Test func rollbackWithoutRebuilding() throws {
        let (sandbox, proxy) = try setUp("rollback")
        let app = uniqueApp("rb")
        let source = try AppSource(sandbox, files: Self.versionApp("one"))
        #expect(try source.push(app).status == 0)
        try source.commit(["VERSION": "two\n"], message: "two")
        #expect(try source.push(app).status == 0)
        #expect(proxy.get("\(app).dokku.test")?.body == "two")
        let rollback = try sandbox.run("releases:rollback", app)
        #expect(rollback.status == 0, "\(rollback)")
        #expect(!rollback.stdout.contains("Building"))
        #expect(proxy.get("\(app).dokku.test")?.body == "one")
        #expect(try sandbox.run("releases:rollback", app, "v2").status == 0)
        #expect(proxy.get("\(app).dokku.test")?.body == "two")
        #expect(try sandbox.run("releases:rollback", app, "v9").stderr == " !     Release v9 of \(app) does not exist\n")
    }

    @Test func onlyTheDeployBranchDeploys() throws {
        let (sandbox, _) = try setUp("branch")
        let app = uniqueApp("br")
        let source = try AppSource(sandbox, files: Self.versionApp("x"))
        #expect(try source.push(app).status == 0)
        let other = try source.push(app, branch: "main", to: "feature")
        #expect(other.status == 0)
        #expect(other.stderr.contains("WARNING: deploy did not complete, you must push to main."))
        #expect(try sandbox.run("releases", app).stdout.components(separatedBy: "\n").filter { $0.hasPrefix("v") }.count == 1)
    }

    @Test func buildpackAPIWithFixtureBuildpacks() throws {
        let (sandbox, proxy) = try setUp("buildpacks")
        let first = try BuildpackRepository(files: [
            "bin/detect": "#!/bin/sh\n[ -f \"$1/needs-first\" ] && echo First\n",
            "bin/compile": "#!/bin/sh\nset -e\necho \"       compiling first with $(cat $3/COLOR)\"\necho first > \"$1/first.txt\"\nmkdir -p \"$1/.profile.d\"\necho 'export FROM_FIRST=yes' > \"$1/.profile.d/first.sh\"\necho 'export CHAINED=from-first' > \"$(dirname $0)/../export\"\n",
            "bin/release": "#!/bin/sh\nprintf -- '---\\nconfig_vars:\\n  FIRST_DEFAULT: one\\ndefault_process_types:\\n  web: exec python3 server.py\\n'\n",
        ])
        let second = try BuildpackRepository(files: [
            "bin/detect": "#!/bin/sh\necho Second\n",
            "bin/compile": "#!/bin/sh\nset -e\necho \"$CHAINED\" > \"$1/chained.txt\"\n",
        ])
        let app = uniqueApp("bp")
        try sandbox.run("apps:create", app)
        try sandbox.run("config:set", "--no-restart", app, "COLOR=blue")
        let server = Self.versionApp("bp")["server.py"]!.replacingOccurrences(of: #"open("VERSION").read().strip()"#, with: #"open("first.txt").read().strip() + "," + open("chained.txt").read().strip() + "," + os.environ.get("FROM_FIRST", "") + "," + os.environ.get("FIRST_DEFAULT", "")"#)
        let source = try AppSource(sandbox, files: [
            "server.py": server, "needs-first": "", ".buildpacks": "\(first.url)\n\(second.url)\n",
        ])
        let push = try source.push(app)
        #expect(push.status == 0, "\(push)")
        #expect(push.stderr.contains("-----> First app detected"))
        #expect(push.stderr.contains("compiling first with blue"), "ENV_DIR carries config vars")
        // As herokuish: the types are named after the last buildpack, whichever one gave them.
        #expect(push.stderr.contains("Default types for Second -> web"), "\(push)")
        #expect(proxy.get("\(app).dokku.test")?.body == "first,from-first,yes,one")
        let report = try sandbox.run("buildpacks:report", app, "--buildpacks-list")
        #expect(report.stdout == "\n", "no buildpacks:set: the .buildpacks file chose")
    }
}

extension DeployTests {
    @Test func tarballBuildpackOverHTTP() throws {
        let (sandbox, proxy) = try setUp("tarball")
        let files = "/var/lib/dokkulite-tests/tarball-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: files + "/pack/bin", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: files) }
        let scripts = [
            "detect": "#!/bin/sh\necho Tarred\n",
            "compile": "#!/bin/sh\nset -e\necho \"       compiling from a tarball\"\necho tarred > \"$1/VERSION\"\n",
            "release": "#!/bin/sh\nprintf -- '---\\ndefault_process_types:\\n  web: exec python3 server.py\\n'\n",
        ]
        for (name, body) in scripts {
            try body.write(toFile: "\(files)/pack/bin/\(name)", atomically: true, encoding: .utf8)
            chmod("\(files)/pack/bin/\(name)", 0o755)
        }
        // As GitHub serves them: one top-level directory inside the archive.
        #expect(try Shell.which("tar", ["-czf", files + "/pack.tgz", "-C", files, "pack"]).status == 0)
        let port = try freePort()
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        server.arguments = ["-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", files]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer {
            // SIGKILL: children of the test process inherit its mask, where SIGTERM is blocked.
            kill(server.processIdentifier, SIGKILL)
            server.waitUntilExit()
        }
        let url = "http://127.0.0.1:\(port)/pack.tgz"
        #expect(try eventually { try Shell.which("curl", ["-fsS", "-o", "/dev/null", url]).status == 0 })

        let app = uniqueApp("tar")
        try sandbox.run("apps:create", app)
        #expect(try sandbox.run("buildpacks:set", app, url).status == 0)
        var appFiles = Self.versionApp("unused")
        appFiles["Procfile"] = nil
        appFiles["VERSION"] = nil
        let source = try AppSource(sandbox, files: appFiles)
        let push = try source.push(app)
        #expect(push.status == 0, "\(push)")
        #expect(push.stderr.contains("-----> Tarred app detected"), "\(push)")
        #expect(push.stderr.contains("compiling from a tarball"))
        #expect(proxy.get("\(app).dokku.test")?.body == "tarred", "bin/release gave the web process; compile wrote VERSION")

        // A tarball that is not there fails the build, names the URL, and the app keeps serving.
        #expect(try sandbox.run("buildpacks:set", app, "http://127.0.0.1:\(port)/missing.tgz").status == 0)
        try source.commit(["touched": "1"], message: "touch")
        let broken = try source.push(app)
        #expect(broken.status != 0)
        #expect(broken.stderr.contains("missing.tgz"), "\(broken)")
        #expect(proxy.get("\(app).dokku.test")?.body == "tarred")
    }
}

/// A local git repository holding a buildpack, served by `git daemon` on loopback: an app
/// may name buildpacks by network URL only (a `file://` one would have root copy files of
/// the server out for the build).
final class BuildpackRepository: @unchecked Sendable {
    let directory: String
    private let daemon: Process
    private let port: Int
    var url: String { "git://127.0.0.1:\(port)/\((directory as NSString).lastPathComponent)" }

    init(files: [String: String]) throws {
        directory = "/var/lib/dokkulite-tests/buildpack-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for (path, content) in files {
            let full = directory + "/" + path
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try content.write(toFile: full, atomically: true, encoding: .utf8)
            chmod(full, 0o755)
        }
        for arguments in [["init", "-q", "-b", "main"], ["add", "-A"], ["-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "-m", "buildpack"]] {
            let result = try Shell.which("git", arguments, directory: directory)
            guard result.status == 0 else { throw TestFailure("git \(arguments) failed: \(result)") }
        }
        port = try freePort()
        daemon = Process()
        // git-daemon itself, not `git daemon`, which would run it as a child the kill misses.
        daemon.executableURL = URL(fileURLWithPath: "/usr/lib/git-core/git-daemon")
        daemon.arguments = ["--reuseaddr", "--export-all", "--listen=127.0.0.1", "--port=\(port)", "--base-path=" + (directory as NSString).deletingLastPathComponent, directory]
        daemon.standardOutput = FileHandle.nullDevice
        daemon.standardError = FileHandle.nullDevice
        try daemon.run()
        let port = self.port
        guard eventually({ canConnect(port) }) else { throw TestFailure("git daemon did not start") }
    }

    deinit {
        // SIGKILL: children of the test process inherit its mask, where SIGTERM is blocked.
        kill(daemon.processIdentifier, SIGKILL)
        daemon.waitUntilExit()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
