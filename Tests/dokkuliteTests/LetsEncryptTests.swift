import Foundation
import Synchronization
import TestSupport
import Testing

/// `letsencrypt:*` against a real ACME server: Let's Encrypt's pebble on loopback, its
/// fake DNS sending every name to the proxy under test.
@Suite(.enabled(if: Integration.systemdEnabled, "needs a systemd manager: run scripts/test"))
struct LetsEncryptTests {
    private func https(_ daemon: DaemonProcess, _ host: String, root: String) throws -> ProcessResult {
        let port = daemon.httpsPort ?? 0
        return try Shell.which("curl", [
            "-sS", "--max-time", "10", "--cacert", root, "--resolve", "\(host):\(port):127.0.0.1", "https://\(host):\(port)/",
        ])
    }

    @Test func enableIssuesServesRenewsAndKeepsTheOldCertificateWhenValidationFails() throws {
        try #require(Pebble.available, "pebble is not installed: scripts/deps installs it")
        let sandbox = try Sandbox("acme")
        try sandbox.run("checks:set", "--global", "wait-to-retire", "0")
        let daemon = try DaemonProcess(sandbox, https: true)
        let pebble = try Pebble(httpPort: daemon.port, tlsPort: try #require(daemon.httpsPort))
        sandbox.environment["DOKKULITE_ACME_CA_FILE"] = pebble.apiCAFile
        sandbox.environment["DOKKULITE_ACME_TIMEOUT"] = "60"
        try sandbox.run("domains:set-global", "acme.test")
        let app = uniqueApp("tls")
        let host = "\(app).acme.test"
        #expect(try AppSource(sandbox, files: DeployTests.versionApp("one")).push(app).status == 0)

        // Bad input: one line each, nothing written.
        for (arguments, message) in [
            (["letsencrypt:set", app, "email", "not-an-email"], "Invalid email address: not-an-email"),
            (["letsencrypt:set", app, "server", "ftp://x"], "Invalid server: ftp://x"),
            (["letsencrypt:set", app, "graceperiod", "soon"], "Invalid graceperiod: soon"),
            (["letsencrypt:set", app, "dns-provider", "x"], "DNS-01 is not available"),
            (["letsencrypt:enable", app], "Cannot request a certificate without an e-mail address"),
        ] {
            let result = try sandbox.run(arguments)
            #expect(result.status == 1, "\(arguments)")
            #expect(result.stderr.hasSuffix(" !     \(message)") || result.stderr.contains(message), "\(arguments): \(result)")
        }
        #expect(try sandbox.run("letsencrypt:report", app, "--letsencrypt-email").stdout == "\n")
        try sandbox.run("letsencrypt:set", "--global", "email", "ops@acme.test")
        // An ACME server that is not there.
        try sandbox.run("letsencrypt:set", app, "server", "https://127.0.0.1:\(try freePort())/dir")
        let unreachable = try sandbox.run("letsencrypt:enable", app)
        #expect(unreachable.status == 1 && unreachable.stderr.contains("cannot reach the ACME server"), "\(unreachable)")
        #expect(try sandbox.run("letsencrypt:active", app).stdout == "false\n")
        try sandbox.run("letsencrypt:set", app, "server")
        try sandbox.run("letsencrypt:set", "--global", "server", pebble.directory)

        let enabled = try sandbox.run("letsencrypt:enable", app)
        #expect(enabled.status == 0, "\(enabled)\n\(pebble.log.suffix(2000))")
        #expect(enabled.stdout.contains("=====> Enabling letsencrypt for \(app)\n"))
        #expect(enabled.stdout.contains("-----> Certificate retrieved successfully.\n"))
        #expect(try sandbox.run("letsencrypt:active", app).stdout == "true\n")
        let root = try pebble.rootFile()
        let served = try https(daemon, host, root: root)
        #expect(served.status == 0 && served.stdout == "one", "the chain validates against pebble's root: \(served)")
        #expect(daemon.get(host)?.status == 301, "plain HTTP redirects to HTTPS")
        let list = try sandbox.run("letsencrypt:list")
        #expect(list.stdout.contains("\n\(app) "), "\(list)")
        let skipped = try sandbox.run("letsencrypt:enable", app)
        #expect(skipped.stdout.contains("Certificate is still valid for \(app), skipping certificate request"))

        // A renewal forced by a grace period longer than the certificate's life: a new
        // certificate, installed without a restart, while a client keeps asking.
        let certificate = sandbox.root + "/certs/\(app)/server.crt"
        let first = try String(contentsOfFile: certificate, encoding: .utf8)
        let failures = Atomic(0), done = Atomic(false)
        let loop = Thread {
            while !done.load(ordering: .relaxed) {
                if (try? self.https(daemon, host, root: root))?.stdout != "one" { failures.add(1, ordering: .relaxed) }
            }
        }
        loop.start()
        try sandbox.run("letsencrypt:set", app, "graceperiod", "315360000")
        let renewed = try sandbox.run("letsencrypt:auto-renew", app)
        done.store(true, ordering: .relaxed)
        #expect(renewed.status == 0, "\(renewed)")
        #expect(try String(contentsOfFile: certificate, encoding: .utf8) != first, "a new certificate")
        _ = eventually(timeout: .seconds(15)) { loop.isFinished }
        #expect(failures.load(ordering: .relaxed) == 0, "no request failed during the renewal")
        #expect(try https(daemon, host, root: root).stdout == "one")
        try sandbox.run("letsencrypt:set", app, "graceperiod")

        // Validation fails (the name points elsewhere): the old certificate keeps serving
        // and the reason is shown.
        let second = try String(contentsOfFile: certificate, encoding: .utf8)
        try pebble.resolve(host, to: "127.0.0.2")
        let failed = try sandbox.run("letsencrypt:enable", app, "--force")
        #expect(failed.status == 1 && failed.stderr.contains("Failed to setup letsencrypt for \(app)"), "\(failed)")
        #expect(try String(contentsOfFile: certificate, encoding: .utf8) == second, "the old certificate stays")
        #expect(try https(daemon, host, root: root).stdout == "one")
        #expect(try sandbox.run("letsencrypt:list").stderr.contains("\(app): last attempt failed"))
        #expect(try sandbox.run("letsencrypt:report", app, "--letsencrypt-last-error").stdout.contains(host))

        // With auto-enable, a domain added later is in the certificate at once.
        try pebble.forget(host)
        try sandbox.run("letsencrypt:set", "--global", "auto-enable", "true")
        let added = try sandbox.run("domains:add", app, "www.acme.test")
        #expect(added.status == 0 && added.stdout.contains("Certificate retrieved successfully."), "\(added)")
        #expect(try https(daemon, "www.acme.test", root: root).stdout == "one")
        #expect(try sandbox.run("letsencrypt:report", app, "--letsencrypt-domains").stdout.split(separator: " ").count == 2)

        // Revoked at the ACME server, then gone from the proxy: plain HTTP serves again.
        let revoked = try sandbox.run("letsencrypt:revoke", app)
        #expect(revoked.status == 0 && revoked.stdout.contains("-----> Certificate revoked successfully.\n"), "\(revoked)")
        #expect(try sandbox.run("letsencrypt:active", app).stdout == "false\n")
        #expect(!FileManager.default.fileExists(atPath: certificate))
        #expect(daemon.get(host)?.status == 200, "no redirect once the certificate is gone")
        #expect(try sandbox.run("letsencrypt:revoke", app).status == 1, "nothing left to revoke")
    }

    /// TLS-ALPN-01: the proxy answers the validation on its HTTPS listener with the
    /// challenge's own certificate, and every other client with the app's.
    @Test func tlsALPNChallengeIsAnsweredOnTheHTTPSListener() throws {
        try #require(Pebble.available, "pebble is not installed: scripts/deps installs it")
        let sandbox = try Sandbox("alpn")
        try sandbox.run("checks:set", "--global", "wait-to-retire", "0")
        let daemon = try DaemonProcess(sandbox, https: true)
        let pebble = try Pebble(httpPort: try freePort(), tlsPort: try #require(daemon.httpsPort))
        sandbox.environment["DOKKULITE_ACME_CA_FILE"] = pebble.apiCAFile
        try sandbox.run("domains:set-global", "alpn.test")
        let app = uniqueApp("alpn")
        #expect(try AppSource(sandbox, files: DeployTests.versionApp("two")).push(app).status == 0)
        try sandbox.run("letsencrypt:set", "--global", "email", "ops@alpn.test")
        try sandbox.run("letsencrypt:set", "--global", "server", pebble.directory)
        #expect(try sandbox.run("letsencrypt:set", app, "challenge", "dns-01").stderr.contains("Invalid challenge: dns-01"))
        try sandbox.run("letsencrypt:set", app, "challenge", "tls-alpn-01")
        // Nothing answers HTTP-01 here (pebble's HTTP port is a free one): only TLS-ALPN-01 can pass.
        let enabled = try sandbox.run("letsencrypt:enable", app)
        #expect(enabled.status == 0, "\(enabled)\n\(pebble.log.suffix(2000))")
        #expect(enabled.stdout.contains("via TLS-ALPN-01"))
        let served = try https(daemon, "\(app).alpn.test", root: try pebble.rootFile())
        #expect(served.status == 0 && served.stdout == "two", "\(served)")
        #expect(!FileManager.default.fileExists(atPath: sandbox.root + "/acme-challenges/tls-alpn-01/\(app).alpn.test.pem"), "withdrawn")
    }

    /// On-demand TLS: a name under the app's `*.` domain gets its certificate while the
    /// first client waits, when the allowlist or the ask URL allows it; another does not.
    @Test func onDemandIssuesForAllowedNamesWhileTheClientWaitsAndRefusesOthers() throws {
        try #require(Pebble.available, "pebble is not installed: scripts/deps installs it")
        let sandbox = try Sandbox("ondemand")
        try sandbox.run("checks:set", "--global", "wait-to-retire", "0")
        // The proxy daemon asks pebble itself here: pebble first, so the daemon starts
        // trusting its API.
        let ports = (http: try freePort(), https: try freePort())
        let pebble = try Pebble(httpPort: ports.http, tlsPort: ports.https)
        sandbox.environment["DOKKULITE_ACME_CA_FILE"] = pebble.apiCAFile
        let daemon = try DaemonProcess(sandbox, ports: ports)
        let app = uniqueApp("tenant")
        #expect(try AppSource(sandbox, files: DeployTests.versionApp("three")).push(app).status == 0)
        #expect(try sandbox.run("domains:set", app, "*.tenants.test").status == 0)
        try sandbox.run("letsencrypt:set", "--global", "email", "ops@tenants.test")
        try sandbox.run("letsencrypt:set", "--global", "server", pebble.directory)
        #expect(try sandbox.run("letsencrypt:set", app, "on-demand-allow", "shop.tenants.test bad_name").stderr.contains("Invalid on-demand-allow: bad_name"))
        try sandbox.run("letsencrypt:set", app, "on-demand-allow", "shop.tenants.test")
        // The ask URL allows one more name, as Caddy's does: 2xx yes, anything else no.
        let askPort = try freePort()
        let ask = Process()
        ask.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        ask.arguments = ["-c", """
            import http.server, urllib.parse
            class H(http.server.BaseHTTPRequestHandler):
                def do_GET(self):
                    domain = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query).get("domain", [""])[0]
                    self.send_response(200 if domain == "blog.tenants.test" else 403); self.send_header("Content-Length", "0"); self.end_headers()
                def log_message(self, *a): pass
            http.server.HTTPServer(("127.0.0.1", \(askPort)), H).serve_forever()
            """]
        try ask.run()
        defer {
            kill(ask.processIdentifier, SIGKILL)
            ask.waitUntilExit()
        }
        #expect(eventually(timeout: .seconds(10)) { canConnect(askPort) })
        try sandbox.run("letsencrypt:set", "--global", "on-demand-ask", "http://127.0.0.1:\(askPort)/check")
        try sandbox.run("letsencrypt:set", app, "on-demand", "true")

        let root = try pebble.rootFile()
        for name in ["shop.tenants.test", "blog.tenants.test"] {
            let served = try https(daemon, name, root: root)
            #expect(served.status == 0 && served.stdout == "three", "\(name): \(served)\n\(pebble.log.suffix(1500))")
            #expect(FileManager.default.fileExists(atPath: sandbox.root + "/certs/\(app)/on-demand/\(name).crt"))
        }
        let refused = try https(daemon, "evil.tenants.test", root: root)
        #expect(refused.status != 0, "no certificate for a name nobody allowed: \(refused)")
        #expect(!FileManager.default.fileExists(atPath: sandbox.root + "/certs/\(app)/on-demand/evil.tenants.test.crt"))
        // Not a name the app answers: never even asked about.
        #expect(try https(daemon, "shop.elsewhere.test", root: root).status != 0)
    }

    /// The API's own host name gets its certificate from the ACME server too, and the
    /// renewal timer's command renews it when due.
    @Test func theAPIHostGetsAndRenewsItsCertificate() throws {
        try #require(Pebble.available, "pebble is not installed: scripts/deps installs it")
        let sandbox = try Sandbox("acmeapi")
        let apiPort = try freePort()
        sandbox.environment["DOKKULITE_API_LISTEN"] = "127.0.0.1:\(apiPort)"
        let daemon = try DaemonProcess(sandbox, https: true)
        let pebble = try Pebble(httpPort: daemon.port, tlsPort: try #require(daemon.httpsPort))
        sandbox.environment["DOKKULITE_ACME_CA_FILE"] = pebble.apiCAFile
        sandbox.environment["DOKKULITE_ACME_TIMEOUT"] = "60"
        let server = try APITests.Server(sandbox, port: apiPort)
        _ = server
        #expect(try sandbox.run("api:letsencrypt").stderr == " !     The API has no host name: set a global domain (domains:set-global) or DOKKULITE_API_HOST\n")
        try sandbox.run("domains:set-global", "acme.test")
        let host = "dokkulite.acme.test"
        #expect(try sandbox.run("api:letsencrypt").stderr.contains("Cannot request a certificate without an e-mail address"))
        try sandbox.run("letsencrypt:set", "--global", "email", "ops@acme.test")
        try sandbox.run("letsencrypt:set", "--global", "server", pebble.directory)
        let got = try sandbox.run("api:letsencrypt")
        #expect(got.status == 0 && got.stdout.hasSuffix("-----> API certificate installed: https://\(host)/\n"), "\(got)\n\(pebble.log.suffix(2000))")
        let root = try pebble.rootFile()
        let port = try #require(daemon.httpsPort)
        let secure = try Shell.which("curl", ["-sS", "--max-time", "10", "--cacert", root, "--resolve", "\(host):\(port):127.0.0.1", "-w", "\n%{http_code}", "https://\(host):\(port)/api/v1/apps"])
        #expect(secure.status == 0 && secure.stdout.hasSuffix("\n401"), "the API over HTTPS, the chain pebble's: \(secure)")
        #expect(daemon.get(host)?.status == 301, "plain HTTP to the API host redirects to HTTPS")
        #expect(try sandbox.run("api:letsencrypt").stdout == "-----> Certificate for \(host) is still valid, skipping certificate request\n")

        let path = sandbox.root + "/certs/_api/server.crt"
        let first = try String(contentsOfFile: path, encoding: .utf8)
        try sandbox.run("letsencrypt:set", "--global", "graceperiod", "315360000")
        let renewed = try sandbox.run("letsencrypt:auto-renew")
        #expect(renewed.status == 0 && renewed.stdout.contains("-----> The API's certificate needs renewal\n"), "\(renewed)")
        #expect(try String(contentsOfFile: path, encoding: .utf8) != first, "a new certificate")
        #expect(try sandbox.run("api:certs:remove").status == 0)
        #expect(try sandbox.run("letsencrypt:auto-renew").stdout.contains("The API's certificate") == false, "nothing left to renew")
    }
}
