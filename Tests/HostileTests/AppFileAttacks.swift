import Foundation
import TestSupport
import Testing

extension OnTheInstalledServer {
    /// Files of an app that root reads (item 4): a link in the pushed tree, one the build
    /// plants in its metadata, or one the running app plants, never leads root elsewhere.
    @Suite struct AppFileAttacks {
        func expectNoLeak(_ secret: String, in texts: String..., because comment: Comment) {
            for text in texts { #expect(!text.contains(secret), comment) }
        }

        /// CHECKS, Procfile and app.json pushed as links to another app's config.
        @Test func pushedLinksToAnotherAppsSecretsAreRefused() throws {
            let server = try InstalledServer.get()
            let (victim, secret) = try server.victim()
            let app = server.newApp("links")
            defer { server.cleanUp(app, victim) }
            let env = "\(InstalledServer.root)/apps/\(victim)/ENV"
            for name in ["CHECKS", "app.json", "Procfile"] {
                var files = InstalledServer.webApp("links", extra: InstalledServer.ownBuildpack)
                files[name] = nil
                let push = try server.push(app, files: files, links: [name: env])
                #expect(push.status != 0, "\(name): \(push)")
                #expect(push.stderr.contains("\(name) leads outside its directory"), "\(name): \(push)")
                expectNoLeak(secret, in: push.stdout, push.stderr, because: "\(name)")
            }
            let logs = try server.console("logs", app, "-n", "500")
            expectNoLeak(secret, in: logs.stdout, because: "no request carried a line of the victim's config")
        }

        /// Settings that name a file of the push (`ps:set procfile-path`, `app-json:set
        /// appjson-path`, `builder:set build-dir`) name nothing outside it.
        @Test func pathSettingsStayInsideThePush() throws {
            let server = try InstalledServer.get()
            let (victim, secret) = try server.victim()
            let app = server.newApp("paths")
            defer { server.cleanUp(app, victim) }
            #expect(try server.ssh("apps:create \(app)").status == 0)
            let climb = "../../../../../../../..\(InstalledServer.root)/apps/\(victim)/ENV"
            let files = InstalledServer.webApp("paths", extra: InstalledServer.ownBuildpack)
            for (setting, refusal) in [
                ("ps:set \(app) procfile-path \(climb)", "leads outside its directory"),
                ("app-json:set \(app) appjson-path \(climb)", ""),
                ("builder:set \(app) build-dir ../../../../../../..\(InstalledServer.root)/apps/\(victim)", "build-dir not found"),
            ] {
                #expect(try server.ssh(setting).status == 0, "\(setting)")
                let push = try server.push(app, files: files)
                expectNoLeak(secret, in: push.stdout, push.stderr, because: "\(setting)")
                if !refusal.isEmpty {
                    #expect(push.status != 0 && push.stderr.contains(refusal), "\(setting): \(push)")
                }
                let reset = setting.split(separator: " ").prefix(3).joined(separator: " ")
                #expect(try server.ssh(reset).status == 0, "\(reset)")
            }
            expectNoLeak(secret, in: try server.console("releases", app).stdout, try server.console("app-json:report", app).stdout, because: "reports")
        }

        /// `.buildpacks -> /root/file` printed the file's first line.
        @Test func aBuildpacksLinkToARootFileIsRefused() throws {
            let server = try InstalledServer.get()
            let app = server.newApp("bplink")
            defer { server.cleanUp(app) }
            let secret = "root-only-\(UUID().uuidString)"
            let file = "/root/dokkulite-hostile-\(UUID().uuidString.prefix(6))"
            try "\(secret)\n".write(toFile: file, atomically: true, encoding: .utf8)
            chmod(file, 0o600)
            defer { try? FileManager.default.removeItem(atPath: file) }
            let push = try server.push(app, files: InstalledServer.webApp("x"), links: [".buildpacks": file])
            #expect(push.status != 0, "\(push)")
            #expect(push.stderr.contains(".buildpacks leads outside its directory"), "\(push)")
            expectNoLeak(secret, in: push.stdout, push.stderr, because: "the root-only file's line")
        }

        /// The running app replaces CHECKS with a link to another app's config; the
        /// administrator's routine restart and checks then read it as root.
        @Test func aLinkPlantedAtRunTimeIsRefused() throws {
            let server = try InstalledServer.get()
            let (victim, secret) = try server.victim()
            let app = server.newApp("planter")
            defer { server.cleanUp(app, victim) }
            #expect(try server.push(app, files: InstalledServer.webApp("planter", extra: ["CHECKS": "/ planter\n"])).status == 0)
            let planted = try server.ssh("run \(app) ln -sf \(InstalledServer.root)/apps/\(victim)/ENV /app/CHECKS")
            #expect(planted.status == 0, "\(planted)")
            for command in [["checks:run", app], ["ps:restart", app], ["config:set", app, "X=1"]] {
                let result = try server.console(command)
                #expect(result.status != 0, "\(command): \(result)")
                #expect(result.stderr.contains("CHECKS leads outside its directory"), "\(command): \(result)")
                expectNoLeak(secret, in: result.stdout, result.stderr, because: "\(command)")
            }
            #expect(try server.get(server.host(app)).body == "planter", "the running release keeps serving")
            let logs = try server.console("logs", app, "-n", "500")
            expectNoLeak(secret, in: logs.stdout, because: "no check request carried the victim's config")
        }

        /// The build writes its metadata as the app's user: a link there (to another app's
        /// config) is refused, not read.
        @Test func aLinkInTheBuildsMetadataIsRefused() throws {
            let server = try InstalledServer.get()
            let (victim, secret) = try server.victim()
            let app = server.newApp("meta")
            defer { server.cleanUp(app, victim) }
            var files = InstalledServer.webApp("meta")
            files["bin/compile"] = """
                #!/bin/sh
                for meta in \(InstalledServer.root)/apps/$DOKKU_APP_NAME/releases/v*/meta; do
                  ln -sf \(InstalledServer.root)/apps/\(victim)/ENV "$meta/buildpacks"
                done

                """
            files["bin/release"] = "#!/bin/sh\necho '--- {}'\n"
            let push = try server.push(app, files: files)
            #expect(push.status != 0, "\(push)")
            #expect(push.stderr.contains("buildpacks is or passes through a symbolic link"), "\(push)")
            expectNoLeak(secret, in: push.stdout, push.stderr, because: "the build output")
            expectNoLeak(secret, in: try server.console("releases", app).stdout, try server.console("buildpacks:report", app).stdout, because: "reports")
        }

        /// Item 10: the static file server stays inside its site, and a NUL ends nothing.
        @Test func theStaticServerStaysInTheSite() throws {
            let server = try InstalledServer.get()
            let app = server.newApp("static")
            defer { server.cleanUp(app) }
            let push = try server.push(app, files: [".static": "", "index.html": "the site\n", "public.txt": "public\n"], links: ["passwd": "/etc/passwd", "up": ".."])
            #expect(push.status == 0, "\(push)")
            #expect(try server.get(server.host(app), path: "/public.txt").body == "public\n")
            for path in ["/passwd", "/up/app/public.txt", "/index.html%00.txt", "/%2e%2e/%2e%2e/etc/passwd", "/up/"] {
                let answer = try server.get(server.host(app), path: path)
                #expect(answer.status == 404, "\(path): \(answer)")
                #expect(!answer.body.contains("root:"), "\(path)")
            }
        }
    }
}
