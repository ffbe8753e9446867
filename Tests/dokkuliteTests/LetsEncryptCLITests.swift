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
}
