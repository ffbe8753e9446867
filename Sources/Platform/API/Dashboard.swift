import Beneath
import Builder
import Foundation
import Hummingbird
import NIOCore
import Proxy
import Supervisor
import Synchronization
import X509

/// The dashboard: server-rendered pages over the same store and commands as the API, with
/// charts drawn as SVG here (no JavaScript needed, nothing fetched from elsewhere). A user
/// logs in with an API token; the session is a random id in an HttpOnly, SameSite=Strict
/// cookie, and every form carries the session's CSRF token.
struct Dashboard {
    let server: APIServer
    let sessions: Sessions

    // MARK: Routes

    func add(to router: Router<APIServer.RequestContext>) {
        router.get("login") { _, _ in self.page("Log in", self.loginForm(error: nil)) }
        router.post("login") { request, context in
            let form = try await self.form(request)
            let secret = form["token"] ?? ""
            guard secret.hasPrefix(APITokens.prefix), let token = try self.server.store.useAPIToken(hash: APITokens.hash(secret)) else {
                self.server.failures.record(context.client)
                var response = self.page("Log in", self.loginForm(error: "That token is not valid."))
                response.status = .unauthorized
                return response
            }
            let session = self.sessions.create(token)
            var response = Response(status: .seeOther, headers: [.location: "/"])
            response.setCookie(try Cookie.validated(name: Sessions.cookie, value: session.id, path: "/", secure: context.forwardedHTTPS, httpOnly: true, sameSite: .strict))
            return response
        }
        router.post("logout") { request, context in
            _ = try await self.checked(request, context)
            if let id = request.cookies[Sessions.cookie]?.value { self.sessions.remove(id) }
            var response = Response(status: .seeOther, headers: [.location: "/login"])
            response.setCookie(try Cookie.validated(name: Sessions.cookie, value: "", maxAge: 0, path: "/", httpOnly: true, sameSite: .strict))
            return response
        }
        router.get("/") { _, context in try self.appsPage(context) }
        router.get("server") { _, context in try self.serverPage(context) }
        router.get("apps/:app") { request, context in
            let app = try self.server.existingApp(context)
            let range = request.uri.queryParameters["range"] == "24h" ? 86_400 : 3600
            return try self.appPage(app, context, range: range, reveal: request.uri.queryParameters["reveal"] == "config")
        }
        router.post("apps/:app/rollback") { request, context in
            let form = try await self.checked(request, context)
            let app = try self.server.existingApp(context)
            guard let version = form["version"].flatMap({ Int($0) }), version > 0 else { throw APIError(.badRequest, "Invalid release version") }
            return try await self.act(context, app, "POST /apps/\(app)/rollback", "\(app) v\(version)", ["releases:rollback", app.rawValue, "v\(version)"])
        }
        router.post("apps/:app/scale") { request, context in
            let form = try await self.checked(request, context)
            let app = try self.server.existingApp(context)
            guard let type = form["type"], Procfile.isValidType(type), let count = form["count"].flatMap({ Int($0) }), (0...1000).contains(count) else {
                throw APIError(.badRequest, "Invalid scale")
            }
            return try await self.act(context, app, "POST /apps/\(app)/scale", "\(app) \(type)=\(count)", ["ps:scale", app.rawValue, "\(type)=\(count)"])
        }
        // An archive uploaded by the page's script: the session's CSRF token comes in a
        // header (the body is the archive), and the build's events come back as the API's.
        router.post("apps/:app/deploys") { request, context in
            try Self.requireCSRF(request.headers.first(where: { $0.name.canonicalName == "x-csrf-token" })?.value, context)
            let app = try self.server.existingApp(context)
            guard APIServer.archiveTypes[APIServer.mediaType(request.headers[.contentType])] != nil else {
                throw APIError(.unsupportedMediaType, "Upload a tar, tar.gz or zip archive")
            }
            return try await self.server.deploy(request, context, app, action: "POST /apps/\(app)/deploys")
        }
        router.post("apps/:app/domains") { request, context in
            let form = try await self.checked(request, context)
            let app = try self.server.existingApp(context)
            let domain = (form["domain"] ?? "").trimmingCharacters(in: .whitespaces).lowercased()
            guard Domains.isValid(domain), !domain.hasPrefix("-") else { throw APIError(.badRequest, "\(domain) is invalid. exiting...") }
            let remove = form["remove"] == "1"
            return try await self.act(context, app, "POST /apps/\(app)/domains", "\(app) \(remove ? "-" : "+")\(domain)", [remove ? "domains:remove" : "domains:add", app.rawValue, domain])
        }
        router.post("apps/:app/config") { request, context in
            let form = try await self.checked(request, context)
            let app = try self.server.existingApp(context)
            guard let key = form["key"], !key.isEmpty else { throw APIError(.badRequest, "No config key given") }
            let change: [String: String?] = form["unset"] == "1" ? [key: nil] : [key: form["value"] ?? ""]
            _ = try await self.server.changeConfig(context, app, change, action: "POST /apps/\(app)/config")
            return Response(status: .seeOther, headers: [.location: "/apps/\(app)#config"])
        }
        // The app's new log lines, for the page's log panel (the API's stream, behind the
        // session's cookie: EventSource sends no Authorization header).
        router.get("apps/:app/logs") { _, context in
            let app = try self.server.existingApp(context)
            let owner = try ProcessManager(self.server.context()).userID(of: app)
            return Response(
                status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                body: .init { writer in try await APIServer.streamLogs(LogFilter(app: app, processType: nil), owner: owner, count: 0, follow: true, to: &writer) })
        }
        // The app's processes now, for the page's processes table.
        router.get("apps/:app/processes") { _, context in
            let app = try self.server.existingApp(context)
            struct Item: Encodable { var name: String; var state: String; var port: Int? }
            return try self.server.json(try self.server.store.instances(app).sorted { ($0.processType, $0.number) < ($1.processType, $1.number) }.map {
                Item(name: "\($0.processType).\($0.number)", state: $0.state.rawValue, port: $0.port)
            })
        }
        router.get("assets/dashboard.js") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/javascript; charset=utf-8", .cacheControl: "max-age=3600"], body: .init(byteBuffer: ByteBuffer(string: Self.script)))
        }
        router.post("apps/:app/restart") { request, context in
            _ = try await self.checked(request, context)
            let app = try self.server.existingApp(context)
            return try await self.act(context, app, "POST /apps/\(app)/restart", app.rawValue, ["ps:restart", app.rawValue])
        }
    }

    // MARK: Pages

    private func appsPage(_ context: APIServer.RequestContext) throws -> Response {
        let store = server.store
        var rows = ""
        let now = Int(Date().timeIntervalSince1970)
        // One read transaction for the whole list.
        try store.snapshot {
            for record in try store.apps() {
                let release = try store.currentReleaseRecord(record.name)
                let running = try store.instances(record.name).filter { $0.state == .running }.count
                let latest = try store.metricSamples(record.name, since: now - 120).last
                let url = try URLs(server.context()).first(record.name)
                rows += "<tr><td><a href=\"/apps/\(record.name)\">\(record.name)</a></td>"
                rows += "<td>\(release == nil ? "not deployed" : "\(running) running")</td>"
                rows += "<td>\(url.map { "<a href=\"\(HTML.escape($0))\">\(HTML.escape($0))</a>" } ?? "")</td>"
                rows += "<td>\(release.map { "v\($0.version), \(HTML.escape(APIAccess.time($0.createdAt)))" } ?? "")</td>"
                rows += "<td class=n>\(latest.map { Self.megabytes($0.memoryBytes) } ?? "")</td>"
                rows += "<td class=n>\(latest.map { String(format: "%.1f", Double($0.requests) / Double(max(1, $0.seconds))) } ?? "")</td></tr>\n"
            }
        }
        let table = rows.isEmpty ? "<p>No apps yet: <code>git push</code> one.</p>" :
            "<table><thead><tr><th>App</th><th>Status</th><th>URL</th><th>Deployed</th><th>Memory</th><th>Req/s</th></tr></thead><tbody>\n\(rows)</tbody></table>"
        return page("Apps", table, context: context)
    }

    private func appPage(_ app: AppName, _ context: APIServer.RequestContext, range: Int, reveal: Bool) throws -> Response {
        let store = server.store
        let csrf = context.session?.csrf ?? ""
        let readOnly = context.token?.readOnly != false
        var body = "<p><a href=\"/\">Apps</a> › <strong>\(app)</strong></p>"
        // Processes.
        body += "<h2>Processes</h2><table data-refresh=\"/apps/\(app)/processes\"><thead><tr><th>Process</th><th>State</th><th>Port</th></tr></thead><tbody>"
        for instance in try store.instances(app).sorted(by: { ($0.processType, $0.number) < ($1.processType, $1.number) }) {
            body += "<tr><td>\(HTML.escape(instance.processType)).\(instance.number)</td><td>\(instance.state.rawValue)</td><td class=n>\(instance.port.map(String.init) ?? "")</td></tr>"
        }
        body += "</tbody></table>"
        if !readOnly {
            let formation = try effectiveFormation(app, knownTypes: (try? ReleaseInfo.processTypes(app, context: server.context())) ?? [], context: server.context())
            for (type, count) in formation where type != "release" {
                body += "<form method=post action=\"/apps/\(app)/scale\" class=inline>\(hidden(csrf))<input type=hidden name=type value=\"\(HTML.escape(type))\">"
                body += "<label>\(HTML.escape(type)) <input type=number name=count min=0 max=1000 value=\(count) aria-label=\"\(HTML.escape(type)) count\"></label> <button>Scale</button></form> "
            }
            body += button("Restart", to: "/apps/\(app)/restart", csrf: csrf)
        }
        // Charts.
        let samples = try store.metricSamples(app, since: Int(Date().timeIntervalSince1970) - range)
        body += "<h2>Last \(range == 3600 ? "hour" : "24 hours") <small><a href=\"?range=1h\">1 h</a> · <a href=\"?range=24h\">24 h</a></small></h2><div class=charts>"
        func series(_ value: (MetricSample) -> Double?) -> [(Int, Double)] { samples.compactMap { sample in value(sample).map { (sample.at, $0) } } }
        body += Chart(title: "Requests/s", unit: "", points: series { Double($0.requests) / Double(max(1, $0.seconds)) }, range: range).svg
        body += Chart(title: "p95 latency", unit: " ms", points: series { $0.percentileMilliseconds(0.95) }, range: range).svg
        body += Chart(title: "5xx/s", unit: "", points: series { Double($0.serverErrors) / Double(max(1, $0.seconds)) }, range: range).svg
        body += Chart(title: "CPU", unit: " %", points: series { Double($0.cpuNanoseconds) / Double(max(1, $0.seconds)) / 1e7 }, range: range).svg
        body += Chart(title: "Memory", unit: " MB", points: series { Double($0.memoryBytes) / 1_048_576 }, range: range).svg
        body += Chart(title: "Network in+out", unit: " kB/s", points: series { Double($0.receivedBytes + $0.sentBytes) / Double(max(1, $0.seconds)) / 1000 }, range: range).svg
        body += "</div>"
        // Releases.
        body += "<h2>Releases</h2><table><thead><tr><th>Release</th><th>Status</th><th>Description</th><th>Created</th><th></th></tr></thead><tbody>"
        for release in try store.releases(app).reversed() {
            var action = ""
            if !readOnly, release.status == .available {
                action = button("Roll back to v\(release.version)", to: "/apps/\(app)/rollback", [("version", String(release.version))], csrf: csrf)
            }
            body += "<tr><td>v\(release.version)</td><td>\(release.status.rawValue)</td><td>\(HTML.escape(release.description))</td><td>\(HTML.escape(APIAccess.time(release.createdAt)))</td><td>\(action)</td></tr>"
        }
        body += "</tbody></table>"
        body += "<h2>Domains</h2><ul>"
        for domain in try store.domains(.app(app)) {
            body += "<li>\(HTML.escape(domain))"
            if !readOnly {
                body += " " + button("Remove", to: "/apps/\(app)/domains", [("domain", domain), ("remove", "1")], csrf: csrf, ariaLabel: "Remove \(domain)")
            }
            body += "</li>"
        }
        body += "</ul>"
        if !readOnly {
            body += "<form method=post action=\"/apps/\(app)/domains\" class=adddomain>\(hidden(csrf))<input name=domain required placeholder=www.example.com aria-label=Domain autocomplete=off><button>Add domain</button></form>"
        }
        if !readOnly {
            body += "<h2>Deploy</h2><form class=deploy data-deploy=\"/apps/\(app)/deploys\" data-csrf=\"\(csrf)\">"
            body += "<input type=file name=archive accept=\".tar,.tar.gz,.tgz,.zip\" required aria-label=\"Archive of the app's code\"><button>Deploy</button></form>"
            body += "<p><small>A tar, tar.gz or zip of the app's code, built as <code>git:from-archive</code> builds it; the build's output appears below (this needs JavaScript; <code>git push</code> and the API work without).</small></p>"
            body += "<pre class=\"logs deploy-output\" hidden></pre>"
        }
        body += try certificateSection(app)
        body += try configSection(app, csrf: csrf, readOnly: readOnly, reveal: reveal)
        body += try logsSection(app)
        return page(app.rawValue, body, context: context, script: true)
    }

    /// HTTPS: the certificate's names and end, and whether Let's Encrypt renews it.
    private func certificateSection(_ app: AppName) throws -> String {
        let context = server.context()
        let certificates = Certificates(context)
        var html = "<h2>Certificates</h2>"
        guard try certificates.exists(app),
            let pem = try? Beneath.readText("server.crt", in: certificates.directory(app), limit: 1 << 20, links: .refused),
            let leaf = try? X509.Certificate(pemEncoded: pem)
        else {
            return html + "<p>No certificate: the app is served over plain HTTP. <code>letsencrypt:enable \(app)</code> gets one.</p>"
        }
        let names = (try? leaf.extensions.subjectAlternativeNames)??.compactMap { name -> String? in
            if case .dnsName(let dns) = name { return dns }
            return nil
        } ?? []
        let letsEncrypt = LetsEncrypt(context: context)
        let renewing = (try? letsEncrypt.isActive(app)) == true
        html += "<p>HTTPS for \(names.isEmpty ? "its domains" : names.map(HTML.escape).joined(separator: ", ")), valid until \(APIAccess.time(leaf.notValidAfter))"
        html += renewing ? "; Let's Encrypt renews it.</p>" : " (added with <code>certs:add</code>).</p>"
        if renewing, let error = try letsEncrypt.state(app).lastError, !error.isEmpty {
            html += "<p class=error>Last renewal attempt: \(HTML.escape(error))</p>"
        }
        return html
    }

    /// Config vars: masked unless a full token asks to see them; set and unset by form.
    private func configSection(_ app: AppName, csrf: String, readOnly: Bool, reveal: Bool) throws -> String {
        let config = try server.store.config(.app(app)).sorted { $0.key < $1.key }
        var html = "<h2 id=config>Config</h2>"
        if !readOnly { html += reveal ? "<p><a href=\"/apps/\(app)#config\">Hide values</a></p>" : "<p><a href=\"/apps/\(app)?reveal=config#config\">Reveal values</a></p>" }
        html += "<table class=config><tbody>"
        for (key, value) in config {
            html += "<tr><th>\(HTML.escape(key))</th><td class=value>\(reveal && !readOnly ? HTML.escape(value) : "********")</td><td>"
            if !readOnly {
                html += button("Unset", to: "/apps/\(app)/config", [("key", key), ("unset", "1")], csrf: csrf, ariaLabel: "Unset \(key)")
            }
            html += "</td></tr>"
        }
        html += "</tbody></table>"
        if config.isEmpty { html += "<p>No config vars.</p>" }
        if !readOnly {
            html += "<form method=post action=\"/apps/\(app)/config\" class=setvar>\(hidden(csrf))"
            html += "<input name=key required placeholder=KEY pattern=\"[A-Za-z_][A-Za-z0-9_]*\" aria-label=Key autocomplete=off>"
            html += "<input name=value placeholder=value aria-label=Value autocomplete=off><button>Set</button></form>"
            html += "<p><small>Setting or unsetting a var restarts the app, as <code>config:set</code> does.</small></p>"
        }
        return html
    }

    /// The app's last lines; with JavaScript, new ones as they come.
    private func logsSection(_ app: AppName) throws -> String {
        let filter = LogFilter(app: app, processType: nil)
        let owner = try ProcessManager(server.context()).userID(of: app)
        let lines = (try? filter.recent(50, in: try Journal(), owner: owner)) ?? []
        let text = lines.map { "\(Journal.rfc3339($0.timestamp)) \(filter.dyno($0.identifier)): \($0.message)\n" }.joined()
        return "<h2>Logs</h2><pre class=logs data-follow=\"/apps/\(app)/logs\">\(HTML.escape(text))</pre>"
    }

    /// The machine: disk, memory and load, the proxy's unit, the services.
    private func serverPage(_ context: APIServer.RequestContext) throws -> Response {
        var rows = ""
        func row(_ name: String, _ value: String) { rows += "<tr><th>\(HTML.escape(name))</th><td>\(HTML.escape(value))</td></tr>" }
        var disk = statvfs()
        if statvfs(server.settings.paths.root, &disk) == 0 {
            let total = UInt64(disk.f_blocks) * UInt64(disk.f_frsize), free = UInt64(disk.f_bavail) * UInt64(disk.f_frsize)
            row("Disk (\(server.settings.paths.root))", "\(Self.megabytes(total - free)) used of \(Self.megabytes(total))")
        }
        let meminfo = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8)) ?? ""
        func kilobytes(_ key: String) -> UInt64? {
            meminfo.split(separator: "\n").first { $0.hasPrefix(key + ":") }.flatMap { $0.split(separator: " ").dropFirst().first.flatMap { UInt64($0) } }
        }
        if let total = kilobytes("MemTotal"), let available = kilobytes("MemAvailable") {
            row("Memory", "\(Self.megabytes((total - available) * 1024)) used of \(Self.megabytes(total * 1024))")
        }
        row("Load", ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "").split(separator: " ").prefix(3).joined(separator: " "))
        row("Apps", String(try server.store.apps().count))
        let proxy = try? server.context().supervisor().status(of: ProxyLog.unit)
        row("Proxy", proxy.map { "\($0.activeState) (\($0.subState))" + ($0.memoryBytes.map { ", \(Self.megabytes($0))" } ?? "") } ?? "not running as a unit here")
        var services = ""
        for service in try server.store.services() {
            services += "<tr><td>\(service.kind.rawValue)</td><td>\(HTML.escape(service.name.rawValue))</td><td>\(service.stopped ? "stopped" : "started")</td><td class=n>\(service.port)</td></tr>"
        }
        let body = "<table><tbody>\(rows)</tbody></table><h2>Services</h2>"
            + (services.isEmpty ? "<p>None.</p>" : "<table><thead><tr><th>Kind</th><th>Name</th><th>State</th><th>Port</th></tr></thead><tbody>\(services)</tbody></table>")
        return page("Server", body, context: context)
    }

    private func loginForm(error: String?) -> String {
        var html = "<form method=post action=\"/login\" class=login>"
        if let error { html += "<p class=error>\(HTML.escape(error))</p>" }
        html += "<label>API token <input type=password name=token autocomplete=off required placeholder=\"dkl_…\"></label>"
        html += "<button type=submit>Log in</button><p><small>Make one at the server: <code>dokku api:tokens:create NAME</code></small></p></form>"
        return html
    }

    /// A whole page.
    private func page(_ title: String, _ body: String, context: APIServer.RequestContext? = nil, script: Bool = false) -> Response {
        var header = "<header><a href=\"/\" class=brand>dokkulite</a>"
        if let context, let token = context.token {
            header += "<a href=\"/server\" style=\"color:#fff\">Server</a><span>\(HTML.escape(token.name))\(token.readOnly ? " (read-only)" : "")</span>"
            header += "<form method=post action=\"/logout\" class=inline>\(hidden(context.session?.csrf ?? ""))<button>Log out</button></form>"
        }
        header += "</header>"
        let html = """
            <!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport content="width=device-width, initial-scale=1">
            <title>\(HTML.escape(title)) · dokkulite</title><style>\(Self.style)</style>\(script ? "<script src=\"/assets/dashboard.js\" defer></script>" : "")</head>
            <body>\(header)<main><h1>\(HTML.escape(title))</h1>\(body)</main></body></html>
            """
        return Response(
            status: .ok,
            headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store", .contentSecurityPolicy: "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'"],
            body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    private static let style = """
        body{font:15px/1.4 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}header{display:flex;gap:1em;align-items:center;padding:.6em 1em;background:#1d2330;color:#fff}
        header .brand{color:#fff;font-weight:600;text-decoration:none;margin-right:auto}main{padding:1em;max-width:72em;margin:auto}
        table{border-collapse:collapse;width:100%;background:#fff;display:block;overflow-x:auto}th,td{padding:.4em .6em;border-bottom:1px solid #e3e6ea;text-align:left;white-space:nowrap}
        td.n{text-align:right}.inline{display:inline-block;margin:.5em .5em .5em 0}input[type=number]{width:4em}button{cursor:pointer}
        .charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(18em,1fr));gap:1em}.charts svg{background:#fff;width:100%;height:auto}
        .login{display:grid;gap:.8em;max-width:24em}.login input{width:100%;padding:.4em}.error{color:#b00020}
        .config td.value{font-family:monospace;white-space:pre-wrap;word-break:break-all}.setvar,.adddomain{display:flex;flex-wrap:wrap;gap:.5em;margin:.8em 0}
        pre.logs{background:#10141c;color:#d8dee9;padding:.8em;max-height:24em;overflow:auto;font-size:12px;white-space:pre-wrap;word-break:break-all}
        """

    /// The page's one script, progressive: without it the page still shows the processes
    /// and the last lines as they were. It refreshes the processes table every 3 seconds
    /// and follows the app's log as server-sent events, adding everything as text.
    static let script = """
        "use strict";
        for (const table of document.querySelectorAll("table[data-refresh]")) {
          const body = table.tBodies[0];
          setInterval(async () => {
            try {
              const answer = await fetch(table.dataset.refresh, { credentials: "same-origin" });
              if (!answer.ok) return;
              const processes = await answer.json();
              body.replaceChildren(...processes.map((process) => {
                const row = document.createElement("tr");
                for (const [value, numeric] of [[process.name, false], [process.state, false], [process.port ?? "", true]]) {
                  const cell = document.createElement("td");
                  cell.textContent = String(value);
                  if (numeric) cell.className = "n";
                  row.append(cell);
                }
                return row;
              }));
            } catch (error) {}
          }, 3000);
        }
        for (const form of document.querySelectorAll("form[data-deploy]")) {
          const output = document.querySelector("pre.deploy-output");
          const say = (text) => { output.append(document.createTextNode(text + "\\n")); output.scrollTop = output.scrollHeight; };
          form.addEventListener("submit", async (submitted) => {
            submitted.preventDefault();
            const file = form.querySelector("input[type=file]").files[0];
            if (!file) return;
            const type = /\\.zip$/i.test(file.name) ? "application/zip" : /\\.(tar\\.gz|tgz)$/i.test(file.name) ? "application/gzip" : "application/x-tar";
            output.hidden = false;
            output.replaceChildren();
            form.querySelector("button").disabled = true;
            try {
              const answer = await fetch(form.dataset.deploy, { method: "POST", body: file, credentials: "same-origin",
                headers: { "Content-Type": type, "X-CSRF-Token": form.dataset.csrf } });
              if (!answer.ok) { say(" !     " + ((await answer.json()).error || answer.statusText)); return; }
              const reader = answer.body.getReader(), decoder = new TextDecoder();
              let buffered = "", event = "";
              for (;;) {
                const { value, done } = await reader.read();
                if (done) break;
                buffered += decoder.decode(value, { stream: true });
                let end;
                while ((end = buffered.indexOf("\\n")) >= 0) {
                  const line = buffered.slice(0, end);
                  buffered = buffered.slice(end + 1);
                  if (line.startsWith("event: ")) event = line.slice(7);
                  if (!line.startsWith("data: ")) continue;
                  const data = JSON.parse(line.slice(6));
                  if (event === "output") say(data.line);
                  if (event === "done") {
                    say(data.ok ? `=====> Deployed: release v${data.release}` : ` !     ${data.error}`);
                    if (data.ok) setTimeout(() => location.reload(), 1500);
                  }
                }
              }
            } catch (error) {
              say(" !     " + error);
            } finally {
              form.querySelector("button").disabled = false;
            }
          });
        }
        for (const panel of document.querySelectorAll("pre[data-follow]")) {
          panel.scrollTop = panel.scrollHeight;
          const source = new EventSource(panel.dataset.follow);
          source.onmessage = (event) => {
            const line = JSON.parse(event.data);
            const atEnd = panel.scrollTop + panel.clientHeight >= panel.scrollHeight - 4;
            panel.append(document.createTextNode(`${line.time} ${line.process}: ${line.message}\\n`));
            while (panel.childNodes.length > 500) panel.firstChild.remove();
            if (atEnd) panel.scrollTop = panel.scrollHeight;
          };
        }
        """

    // MARK: Helpers

    private func hidden(_ csrf: String) -> String { "<input type=hidden name=csrf value=\"\(csrf)\">" }

    private func form(_ request: Request) async throws -> [String: String] {
        var request = request
        let buffer = try await request.collectBody(upTo: 16 * 1024)
        var fields: [String: String] = [:]
        for pair in String(buffer: buffer).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" }
            if parts.count == 2 { fields[parts[0]] = parts[1] }
        }
        return fields
    }

    /// A form from a logged-in page: its fields, once its CSRF token is the session's.
    private func checked(_ request: Request, _ context: APIServer.RequestContext) async throws -> [String: String] {
        let form = try await form(request)
        try Self.requireCSRF(form["csrf"], context)
        return form
    }

    /// The session's CSRF token, from a form field or the deploy upload's header.
    private static func requireCSRF(_ given: String?, _ context: APIServer.RequestContext) throws {
        guard let expected = context.session?.csrf, let given, equal(given, expected) else {
            throw APIError(.forbidden, "The form is stale or not from this dashboard; reload the page")
        }
    }

    /// A form of one button that posts `fields`, with the session's CSRF token, to `action`.
    private func button(_ label: String, to action: String, _ fields: [(String, String)] = [], csrf: String, ariaLabel: String? = nil) -> String {
        var html = "<form method=post action=\"\(action)\" class=inline>\(hidden(csrf))"
        for (name, value) in fields { html += "<input type=hidden name=\(name) value=\"\(HTML.escape(value))\">" }
        return html + "<button\(ariaLabel.map { " aria-label=\"\(HTML.escape($0))\"" } ?? "")>\(HTML.escape(label))</button></form>"
    }

    /// A change through its command, then back to the app's page.
    private func act(_ context: APIServer.RequestContext, _ app: AppName, _ action: String, _ target: String, _ words: [String]) async throws -> Response {
        _ = try await server.change(context, action, target, words)
        return Response(status: .seeOther, headers: [.location: "/apps/\(app)"])
    }

    static func megabytes(_ bytes: UInt64) -> String { String(format: "%.0f MB", Double(bytes) / 1_048_576) }

    /// Compares in time independent of where they differ.
    static func equal(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}

/// A line chart as SVG: a series against time over the last `range` seconds.
struct Chart {
    let title: String
    let unit: String
    let points: [(Int, Double)]
    let range: Int

    var svg: String {
        let width = 320.0, height = 140.0, left = 8.0, top = 28.0, bottom = 18.0
        let now = Double(Int(Date().timeIntervalSince1970))
        let peak = points.map(\.1).max() ?? 0
        // An all-zero series lies along the bottom.
        let scale = peak > 0 ? peak : 1
        func x(_ t: Int) -> Double { left + (width - 2 * left) * (1 - (now - Double(t)) / Double(range)) }
        func y(_ v: Double) -> Double { top + (height - top - bottom) * (1 - v / scale) }
        let path = points.map { String(format: "%.1f,%.1f", x($0.0), y($0.1)) }.joined(separator: " ")
        let last = points.last.map { String(format: $0.1 < 10 ? "%.2f" : "%.0f", $0.1) + unit } ?? "no data"
        return """
            <svg viewBox="0 0 \(Int(width)) \(Int(height))" role=img aria-label="\(HTML.escape(title)): \(HTML.escape(last))"><text x=8 y=18 font-size=13 font-weight=600>\(HTML.escape(title))</text>\
            <text x=312 y=18 font-size=12 text-anchor=end>\(HTML.escape(last))</text>\
            <line x1=8 y1=\(Int(height - bottom)) x2=312 y2=\(Int(height - bottom)) stroke="#ccd"/>\
            <text x=312 y=\(Int(height - 4)) font-size=10 text-anchor=end fill="#667">peak \(HTML.escape(String(format: "%.2f", peak) + unit))</text>\
            <polyline fill=none stroke="#2f6fdf" stroke-width=1.5 points="\(path)"/></svg>
            """
    }
}

/// Logged-in sessions, in memory (a restart logs everyone out): a random id per login, the
/// token it proved, a CSRF token, and an end 12 hours on.
final class Sessions: Sendable {
    static let cookie = "dkl_session"
    static let lifetime: TimeInterval = 12 * 3600

    struct Session: Sendable {
        var id: String
        var tokenHash: String
        var csrf: String
        var expires: Date
    }

    private let sessions = Mutex<[String: Session]>([:])

    func create(_ token: APITokenRecord) -> Session {
        let session = Session(id: Self.random(), tokenHash: token.hash, csrf: Self.random(), expires: Date().addingTimeInterval(Self.lifetime))
        sessions.withLock { all in
            let now = Date()
            all = all.filter { $0.value.expires > now }
            all[session.id] = session
        }
        return session
    }

    func remove(_ id: String) { _ = sessions.withLock { $0.removeValue(forKey: id) } }

    /// The live session of a cookie value.
    func session(_ id: String) -> Session? {
        sessions.withLock { all in
            guard let session = all[id], session.expires > Date() else { return nil }
            return session
        }
    }


    static func random() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: .min ... .max, using: &generator)) }.joined()
    }
}
