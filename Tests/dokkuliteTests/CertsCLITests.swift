import Foundation
import TestSupport
import Testing

/// `certs:add`, `certs:update`, `certs:generate`, `certs:report` and `certs:remove`, with files
/// and with a tar on stdin.
@Suite struct CertsCLITests {
    /// A self-signed certificate and key for `name` in `directory`, as `server.crt`/`server.key`.
    private func makeCertificate(_ name: String, in directory: String) throws {
        let made = try Shell.which("openssl", [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", directory + "/server.key", "-out", directory + "/server.crt",
            "-days", "2", "-subj", "/CN=\(name)", "-addext", "subjectAltName=DNS:\(name),DNS:www.\(name)",
        ])
        #expect(made.status == 0, "\(made)")
        try handToDokkuUser(directory + "/server.crt", directory + "/server.key")
    }

    /// A sandbox with app `web`, and certificates for `one.test` and `two.test` in two
    /// directories of it.
    private func sandboxWithTwoCertificates() throws -> (Sandbox, one: String, two: String) {
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "web")
        let one = sandbox.root + "/one", two = sandbox.root + "/two"
        for directory in [one, two] { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        try makeCertificate("one.test", in: one)
        try makeCertificate("two.test", in: two)
        return (sandbox, one, two)
    }

    @Test func addReportRemove() throws {
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "web")
        let files = sandbox.root + "/certs-in"
        try FileManager.default.createDirectory(atPath: files, withIntermediateDirectories: true)
        try makeCertificate("web.test", in: files)

        #expect(try sandbox.run("certs:report", "web", "--ssl-enabled").stdout == "false\n")
        let added = try sandbox.run("certs:add", "web", files + "/server.crt", files + "/server.key")
        #expect(added.status == 0, "\(added)")
        #expect(try sandbox.run("certs:report", "web", "--ssl-enabled").stdout == "true\n")
        #expect(try sandbox.run("certs:report", "web", "--ssl-hostnames").stdout == "web.test www.web.test\n")
        #expect(try sandbox.run("certs:report", "web", "--ssl-verified").stdout == "self signed\n")
        #expect(try sandbox.run("certs:report", "web", "--ssl-subject").stdout.contains("web.test"))
        // certs:show prints either file, as installed.
        let shownCertificate = try sandbox.run("certs:show", "web", "crt").stdout
        #expect(shownCertificate == (try String(contentsOfFile: files + "/server.crt", encoding: .utf8)))
        #expect(try sandbox.run("certs:show", "web", "key").stdout.contains("-----END PRIVATE KEY-----"))
        #expect(try sandbox.run("certs:show", "web", "pem").stderr == " !     specify either 'key' or 'crt'\n")

        let removed = try sandbox.run("certs:remove", "web")
        #expect(removed.stdout.contains("Removing SSL endpoint from web"), "\(removed)")
        #expect(try sandbox.run("certs:report", "web", "--ssl-enabled").stdout == "false\n")
        let again = try sandbox.run("certs:remove", "web")
        #expect(again.status != 0)
        #expect(again.stderr.contains("An app-specific SSL endpoint is not defined"))
        let nothing = try sandbox.run("certs:show", "web", "crt")
        #expect(nothing.status != 0 && nothing.stderr == " !     web doesn't have an SSL endpoint defined\n", "\(nothing)")

        // Explicit http:80 maps get their https:443 twin with a certificate, and lose it
        // with the certificate; an https:443 map already there is kept as it is.
        #expect(try sandbox.run("ports:set", "web", "http:80:5000").status == 0)
        #expect(try sandbox.run("certs:add", "web", files + "/server.crt", files + "/server.key").status == 0)
        #expect(try sandbox.run("--quiet", "ports:report", "web", "--ports-map").stdout == "http:80:5000 https:443:5000\n")
        #expect(try sandbox.run("certs:remove", "web").status == 0)
        #expect(try sandbox.run("--quiet", "ports:report", "web", "--ports-map").stdout == "http:80:5000\n")
        #expect(try sandbox.run("ports:set", "web", "http:80:80", "https:443:443").status == 0)
        #expect(try sandbox.run("certs:add", "web", files + "/server.crt", files + "/server.key").status == 0)
        #expect(try sandbox.run("--quiet", "ports:report", "web", "--ports-map").stdout == "http:80:80 https:443:443\n")
        #expect(try sandbox.run("certs:remove", "web").status == 0)
        #expect(try sandbox.run("ports:clear", "web").status == 0)

        // As Dokku takes it: a tar holding server.crt and server.key on stdin.
        let tar = try Shell.which("tar", ["-cf", files + "/bundle.tar", "-C", files, "server.crt", "server.key"])
        #expect(tar.status == 0)
        let bundle = String(decoding: try Data(contentsOf: URL(fileURLWithPath: files + "/bundle.tar")), as: UTF8.self)
        #expect(try sandbox.run(["certs:add", "web"], input: bundle).status == 0)
        #expect(try sandbox.run("certs:report", "web", "--ssl-enabled").stdout == "true\n")
    }

    @Test func reportGivesTheSubjectInOrderAndTheCommonNameWithTheAltNames() throws {
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "web")
        let files = sandbox.root + "/certs-in"
        try FileManager.default.createDirectory(atPath: files, withIntermediateDirectories: true)
        let made = try Shell.which("openssl", [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", files + "/server.key", "-out", files + "/server.crt",
            "-days", "2", "-subj", "/C=US/O=Example/CN=main.test", "-addext", "subjectAltName=DNS:zz.main.test,DNS:b.main.test,DNS:main.test",
        ])
        #expect(made.status == 0, "\(made)")
        try handToDokkuUser(files + "/server.crt", files + "/server.key")
        #expect(try sandbox.run("certs:add", "web", files + "/server.crt", files + "/server.key").status == 0)
        #expect(try sandbox.run("certs:report", "web", "--ssl-subject").stdout == "C=US; O=Example; CN=main.test\n")
        #expect(try sandbox.run("certs:report", "web", "--ssl-hostnames").stdout == "b.main.test main.test zz.main.test\n")
        #expect(try sandbox.run("certs:report", "web", "--ssl-verified").stdout == "self signed\n")

        // A certificate with a common name only: that name is its hostname.
        let plain = try Shell.which("openssl", [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", files + "/cn.key", "-out", files + "/cn.crt", "-days", "2", "-subj", "/CN=only.test",
        ])
        #expect(plain.status == 0, "\(plain)")
        try handToDokkuUser(files + "/cn.crt", files + "/cn.key")
        #expect(try sandbox.run("certs:update", "web", files + "/cn.crt", files + "/cn.key").status == 0)
        #expect(try sandbox.run("certs:report", "web", "--ssl-hostnames").stdout == "only.test\n")
        #expect(try sandbox.run("certs:report", "web", "--ssl-subject").stdout == "CN=only.test\n")
    }

    @Test func certsTriggersInstallAndRemoveAsTheCommandsDo() throws {
        let (sandbox, one, _) = try sandboxWithTwoCertificates()
        let missing = try sandbox.run("plugin:trigger", "certs-set", "web", one + "/server.crt", "/nonexistent/server.key")
        #expect(missing.status == 1 && missing.stderr == " !     KEY file specified not found, please check file paths\n", "\(missing)")
        let half = try sandbox.run("plugin:trigger", "certs-set", "web", one + "/server.crt")
        #expect(half.status == 1 && half.stderr == " !     Both CRT and KEY file paths are required\n", "\(half)")
        #expect(try sandbox.run("certs:report", "web", "--ssl-enabled").stdout == "false\n")
        let none = try sandbox.run("plugin:trigger", "certs-remove", "web")
        #expect(none.status == 1 && none.stderr == " !     An app-specific SSL endpoint is not defined\n", "\(none)")

        #expect(try sandbox.run("plugin:trigger", "certs-set", "web", one + "/server.crt", one + "/server.key").status == 0)
        #expect(try sandbox.run("certs:report", "web", "--ssl-hostnames").stdout == "one.test www.one.test\n")
        let removed = try sandbox.run("plugin:trigger", "certs-remove", "web")
        #expect(removed.status == 0 && removed.stdout.contains("Removing SSL endpoint from web"), "\(removed)")
        #expect(try sandbox.run("certs:report", "web", "--ssl-enabled").stdout == "false\n")
    }

    @Test func filesAreReadWithTheDokkuUsersRights() throws {
        guard getpwnam("dokku") != nil else { return }
        let (sandbox, one, _) = try sandboxWithTwoCertificates()
        try Shell.which("chown", ["root:root", one + "/server.key"])
        chmod(one + "/server.key", 0o600)
        let refused = try sandbox.run("certs:add", "web", one + "/server.crt", one + "/server.key")
        #expect(refused.status == 1 && refused.stderr == " !     KEY file specified not found, please check file paths\n", "\(refused)")
        #expect(try sandbox.run("certs:report", "web", "--ssl-enabled").stdout == "false\n")
    }

    @Test func updateReplacesTheCertificate() throws {
        let (sandbox, one, two) = try sandboxWithTwoCertificates()
        #expect(try sandbox.run("certs:add", "web", one + "/server.crt", one + "/server.key").status == 0)
        let updated = try sandbox.run("certs:update", "web", two + "/server.crt", two + "/server.key")
        #expect(updated.status == 0, "\(updated)")
        #expect(try sandbox.run("certs:report", "web", "--ssl-hostnames").stdout == "two.test www.two.test\n")
    }

    @Test func generateMakesASelfSignedCertificateForADomain() throws {
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "web")
        let bad = try sandbox.run("certs:generate", "web", "not a domain")
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("not a domain is invalid"), "\(bad)")
        #expect(try sandbox.run("certs:report", "web", "--ssl-enabled").stdout == "false\n", "nothing was half-written")

        let made = try sandbox.run("certs:generate", "web", "shop.example.test")
        #expect(made.status == 0, "\(made)")
        #expect(made.stdout.contains("-----> Installing certificate and key..."), "\(made.stdout)")
        #expect(made.stdout.contains("signed SSL certificate for web at shop.example.test"))
        #expect(made.stdout.contains("-----BEGIN CERTIFICATE REQUEST-----"))
        #expect(try sandbox.run("certs:report", "web", "--ssl-enabled").stdout == "true\n")
        #expect(try sandbox.run("certs:report", "web", "--ssl-hostnames").stdout == "shop.example.test\n")
        #expect(try sandbox.run("certs:report", "web", "--ssl-verified").stdout == "self signed\n")
        #expect(try sandbox.run("domains:report", "web", "--domains-app-vhosts").stdout.contains("shop.example.test"), "the domain is added to the app")

        let again = try sandbox.run("certs:generate", "web", "other.example.test")
        #expect(again.status == 0)
        #expect(again.stdout.contains("web has an SSL endpoint already defined"), "\(again)")
        #expect(try sandbox.run("certs:report", "web", "--ssl-hostnames").stdout == "shop.example.test\n")
    }

    @Test func unusableCertificatesWriteNothing() throws {
        let (sandbox, one, two) = try sandboxWithTwoCertificates()

        let missing = try sandbox.run("certs:add", "web", one + "/nope.crt", one + "/server.key")
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("CRT file specified not found"))
        let mismatched = try sandbox.run("certs:add", "web", one + "/server.crt", two + "/server.key")
        #expect(mismatched.status != 0)
        #expect(mismatched.stderr.contains("cannot be used together"), "\(mismatched)")
        let empty = try sandbox.run(["certs:add", "web"], input: "")
        #expect(empty.stderr.contains("Tar archive containing server.crt and server.key expected on stdin"))
        #expect(try sandbox.run("certs:add", "nope", one + "/server.crt", one + "/server.key").status == 20)
        #expect(try sandbox.run("certs:report", "web", "--ssl-enabled").stdout == "false\n", "nothing was half-written")
    }
}
