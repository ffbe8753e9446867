import Foundation
import TestSupport
import Testing

/// `letsencrypt:*` without an ACME server: settings, their checks, reports, and what is
/// said of the cron job.
@Suite struct LetsEncryptCLITests {
    @Test func settingsAreCheckedSavedAndReportedAsDokkuLetsencryptDoes() throws {
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "le")
        let set = try sandbox.run("letsencrypt:set", "le", "email", "ops@example.com")
        #expect(set.stdout == "=====> Setting email to ops@example.com\n")
        #expect(try sandbox.run("letsencrypt:set", "--global", "server", "staging").status == 0)
        #expect(try sandbox.run("letsencrypt:report", "le", "--letsencrypt-computed-server").stdout == "https://acme-staging-v02.api.letsencrypt.org/directory\n")
        #expect(try sandbox.run("letsencrypt:report", "le", "--letsencrypt-computed-graceperiod").stdout == "2592000\n")
        #expect(try sandbox.run("letsencrypt:report", "le", "--letsencrypt-active").stdout == "false\n")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(try sandbox.run("letsencrypt:report", "le", "--format", "json").stdout.utf8)) as? [String: String])
        #expect(json["computed-email"] == "ops@example.com")
        #expect(json["global-server"] == "staging")
        #expect(try sandbox.run("letsencrypt:set", "le", "email").stdout == "=====> Unsetting email\n")
        #expect(try sandbox.run("letsencrypt:active", "le").stdout == "false\n")

        for (arguments, message) in [
            (["le", "email", "ops@"], "Invalid email address: ops@"),
            (["le", "email", "a b@example.com"], "Invalid email address: a b@example.com"),
            (["le", "server", "http://acme.example.com/dir"], "Invalid server: http://acme.example.com/dir"),
            (["le", "graceperiod", "999999999999"], "Invalid graceperiod: 999999999999"),
            (["le", "challenge", "dns-01"], "Invalid challenge: dns-01"),
            (["le", "auto-enable", "true"], "auto-enable is a global setting"),
            (["le", "on-demand-ask", "file:///etc/passwd"], "Invalid on-demand-ask"),
            (["le", "dns-provider", "cloudflare"], "DNS-01 is not available"),
            (["le", "color", "blue"], "Invalid key specified, valid keys include:"),
            (["le"], "No key specified"),
        ] {
            let result = try sandbox.run(["letsencrypt:set"] + arguments)
            #expect(result.status == 1, "\(arguments)")
            #expect(result.stderr.contains(message) && result.stderr.split(separator: "\n").count == 1, "\(arguments): \(result)")
        }
        #expect(try sandbox.run("letsencrypt:report", "le", "--letsencrypt-email").stdout == "\n", "nothing refused was saved")
        #expect(try sandbox.run("letsencrypt:enable", "le").stderr == " !     No domains detected for le\n")
        try sandbox.run("domains:add", "le", "le.example.com")
        #expect(try sandbox.run("letsencrypt:enable", "le").stderr.contains("Cannot request a certificate without an e-mail address"))
    }

    @Test func renewalIsATimerNotACronJob() throws {
        let sandbox = try Sandbox()
        #expect(try sandbox.run("letsencrypt:cron-job").stdout.hasPrefix("=====> Auto-renew cron job is enabled\n"))
        #expect(try sandbox.run("letsencrypt:cron-job", "--add").stdout.contains("dokkulite-letsencrypt.timer"))
        #expect(try sandbox.run("letsencrypt:cron-job", "--bogus").status != 0)
        #expect(try sandbox.run("letsencrypt:auto-renew").stdout == "=====> Auto-renewing all apps...\n=====> Finished auto-renewal\n")
        #expect(try sandbox.run("letsencrypt:list").stdout.hasPrefix("-----> App name           Certificate Expiry"))
        #expect(try sandbox.run("letsencrypt:on-demand", "x.example.com").stderr.contains("No app takes on-demand certificates for x.example.com"))
    }

    /// The ACME server is a key holder's choice: the URLs it answers with must be https,
    /// never another scheme the HTTP client speaks (`http+unix://` reaches local sockets).
    @Test func urlsFromTheACMEServerMustBeHTTPS() throws {
        let sandbox = try Sandbox()
        let work = sandbox.root + "/fake-acme"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let openssl = try Shell.which("openssl", [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=fake acme",
            "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", work + "/key.pem", "-out", work + "/cert.pem",
        ])
        #expect(openssl.status == 0)
        let port = try freePort()
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        server.arguments = ["-c", """
            import http.server, json, ssl
            class H(http.server.BaseHTTPRequestHandler):
                def do_GET(self):
                    body = json.dumps({"newNonce": "http+unix://%2Frun%2Fdocker.sock/v1/nonce", "newAccount": "https://127.0.0.1:\(port)/a",
                                       "newOrder": "https://127.0.0.1:\(port)/o"}).encode()
                    self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
                def log_message(self, *a): pass
            s = http.server.HTTPServer(("127.0.0.1", \(port)), H)
            c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); c.load_cert_chain("\(work)/cert.pem", "\(work)/key.pem")
            s.socket = c.wrap_socket(s.socket, server_side=True); s.serve_forever()
            """]
        try server.run()
        defer {
            kill(server.processIdentifier, SIGKILL)
            server.waitUntilExit()
        }
        #expect(eventually(timeout: .seconds(10)) { canConnect(port) })
        sandbox.environment["DOKKULITE_ACME_CA_FILE"] = work + "/cert.pem"
        try sandbox.run("apps:create", "acme")
        try sandbox.run("domains:add", "acme", "acme.example.com")
        try sandbox.run("letsencrypt:set", "acme", "email", "ops@example.com")
        try sandbox.run("letsencrypt:set", "acme", "server", "https://127.0.0.1:\(port)/dir")
        let result = try sandbox.run("letsencrypt:enable", "acme")
        #expect(result.status == 1 && result.stderr.contains("newNonce is not an https URL"), "\(result)")
        #expect(try sandbox.run("letsencrypt:active", "acme").stdout == "false\n")
    }
}
