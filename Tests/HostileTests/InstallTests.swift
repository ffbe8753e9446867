import Foundation
import TestSupport
import Testing

extension OnTheInstalledServer {
    /// scripts/install on this machine, then a push over ssh as the `dokku` user (on port 22
    /// and on the port `--ssh-port` added) reaches the app through the installed proxy on
    /// port 80; scripts/uninstall and installing again bring it back.
    @Suite struct InstallTests {
        @Test func installThenPushOverSSH() throws {
            let server = try InstalledServer.get()
            let app = server.newApp("installed")
            defer { server.cleanUp(app) }
            let files = ["Procfile": "web: exec python3 -m http.server $PORT\n", "index.html": "installed and pushed\n"]
            let push = try server.push(app, files: files)
            #expect(push.status == 0, "\(push)")
            #expect(push.stderr.contains("http://\(app).\(InstalledServer.domain)"))
            #expect(try server.get(server.host(app), path: "/index.html").body == "installed and pushed\n")
            // Port 22 still answers for the dokku user, with the same forced command.
            let viaDefaultPort = try Shell.which("ssh", server.sshOptions.map { $0 == String(InstalledServer.sshPort) ? "22" : $0 } + ["dokku@127.0.0.1", "apps:list"], environment: server.environment)
            #expect(viaDefaultPort.stdout.contains(app), "\(viaDefaultPort)")

            // A bad option is refused before anything changes.
            let bad = try Shell.run(Binaries.packageRoot + "/scripts/install", ["--ssh-port", "22x"], environment: server.environment)
            #expect(bad.status == 2 && bad.stderr.contains("--ssh-port must be a port number"), "\(bad)")

            // scripts/uninstall stops the apps and the proxy and removes the program, keeping
            // the apps' data; installing again brings the machine back as it was.
            let uninstall = try Shell.run(Binaries.packageRoot + "/scripts/uninstall", [], environment: server.environment)
            #expect(uninstall.status == 0, "\(uninstall)")
            #expect(!FileManager.default.fileExists(atPath: "/usr/local/bin/dokkulite") && !FileManager.default.fileExists(atPath: "/usr/local/bin/dokku"))
            #expect(throws: (any Error).self, "the proxy is gone") { try server.get(server.host(app), path: "/index.html") }
            #expect(FileManager.default.fileExists(atPath: "\(InstalledServer.root)/apps/\(app)/repo.git"), "app data stays without --purge")
            try InstalledServer.install(environment: server.environment)
            #expect(try server.console("ps:start", app).status == 0)
            #expect(try eventually(timeout: .seconds(20)) {
                (try? server.get(server.host(app), path: "/index.html").body) == "installed and pushed\n"
            }, "after installing again, the app serves")
        }
    }
}
