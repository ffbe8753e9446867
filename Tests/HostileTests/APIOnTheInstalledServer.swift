import Foundation
import TestSupport
import Testing

extension OnTheInstalledServer {
    /// The API as installed: its unit behind its socket, reached through the installed proxy
    /// at `dokkulite.DOMAIN`, deploying with real app users and units.
    @Suite struct APIOnTheInstalledServer {
        /// An archive uploaded to the API host: the build's events come back as it runs,
        /// the app serves the new code, and a token holder's repository on the server's own
        /// disk is refused as it is to an ssh key holder.
        @Test func aDeployThroughTheAPIHostStreamsItsBuild() throws {
            let server = try InstalledServer.get()
            let app = server.newApp("apideploy")
            defer { server.cleanUp(app) }
            #expect(try server.console("apps:create", app).status == 0)
            let name = "deployer-\(UUID().uuidString.prefix(6).lowercased())"
            let created = try server.console("api:tokens:create", name)
            #expect(created.status == 0, "\(created)")
            defer { _ = try? server.console("api:tokens:revoke", name) }
            let token = try #require(created.stdout.split(separator: "\n").last.map(String.init))
            let host = "dokkulite.\(InstalledServer.domain)"

            let work = NSTemporaryDirectory() + "dokkulite-apideploy-\(UUID().uuidString)"
            defer { try? FileManager.default.removeItem(atPath: work) }
            try FileManager.default.createDirectory(atPath: work + "/code", withIntermediateDirectories: true)
            for (path, content) in InstalledServer.webApp("deployed-through-the-api") {
                try content.write(toFile: work + "/code/" + path, atomically: true, encoding: .utf8)
            }
            #expect(try Shell.which("tar", ["-cf", work + "/code.tar", "-C", work + "/code", "."]).status == 0)
            func curl(_ arguments: [String]) throws -> ProcessResult {
                try Shell.which("curl", ["-sS", "-N", "--max-time", "600", "-H", "Host: \(host)", "-H", "Authorization: Bearer \(token)"] + arguments)
            }
            let deploy = try curl(["-H", "Content-Type: application/x-tar", "--data-binary", "@\(work)/code.tar", "http://127.0.0.1:80/api/v1/apps/\(app)/deploys"])
            #expect(deploy.status == 0, "\(deploy)")
            #expect(deploy.stdout.hasPrefix("event: output\ndata: {\"line\":\"-----> Fetching tar file from stdin\""), "\(deploy.stdout.prefix(400))")
            #expect(deploy.stdout.hasSuffix("event: done\ndata: {\"ok\":true,\"release\":1,\"status\":0}\n\n"), "\(deploy.stdout.suffix(800))")
            #expect(try server.get(server.host(app)).body == "deployed-through-the-api")

            let local = try curl(["-H", "Content-Type: application/json", "-H", "Accept: application/json", "--data-binary",
                "{\"repository\": \"file://\(InstalledServer.root)\"}", "-w", "\n%{http_code}", "http://127.0.0.1:80/api/v1/apps/\(app)/deploys"])
            #expect(local.stdout.hasSuffix("400") && local.stdout.contains("files on the server only for root at its console"), "\(local)")
            let audit = try server.console("api:audit", "-n", "20").stdout
            #expect(audit.contains(" \(name) POST /api/v1/apps/\(app)/deploys \(app) tar archive 200\n"), "\(audit)")
        }
    }
}
