import Foundation
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
    }
}
