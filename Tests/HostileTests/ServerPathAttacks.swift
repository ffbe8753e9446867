import Foundation
import TestSupport
import Testing

extension OnTheInstalledServer {
    /// Over ssh, server paths are not inputs: no command reads, creates, mounts or fetches
    /// a file of the server that a key holder names.
    @Suite struct ServerPathAttacks {
        /// Item 2: a mount of root's git configuration directory, made and given to the app,
        /// would let the app name a hook that root runs on the next push.
        @Test func storageMountsOnlyUnderTheStorageRoot() throws {
            let server = try InstalledServer.get()
            let app = server.newApp("mount")
            defer { server.cleanUp(app) }
            #expect(try server.ssh("apps:create \(app)").status == 0)
            let target = "/root/.config/dokkulite-hostile-\(UUID().uuidString.prefix(6))"
            for mount in ["\(target):/x", "/etc:/x", "/var/lib/dokkulite/apps:/x", "/tmp:/x", "\(InstalledServer.storage)/../../../dokkulite/apps:/x"] {
                let result = try server.ssh("storage:mount \(app) \(mount)")
                #expect(result.status != 0, "\(mount): \(result)")
            }
            #expect(!FileManager.default.fileExists(atPath: target), "nothing made outside the storage root")
            #expect(try server.console("storage:list", app, "--format", "json").stdout == "[]\n")
            // A mount point among the system's files would have systemd make it as root.
            let named = "hostile-\(app)"
            #expect(try server.ssh("storage:mount \(app) \(named):/etc/cron.d").stderr.contains("is reserved"))
            // What a key holder may do: a directory under the storage root, made for the app.
            let mounted = try server.ssh("storage:mount \(app) \(named):/storage")
            #expect(mounted.status == 0, "\(mounted)")
            let info = try FileManager.default.attributesOfItem(atPath: "\(InstalledServer.storage)/\(named)")
            #expect((info[.ownerAccountID] as? NSNumber)?.intValue != 0, "the app's own")
            try? FileManager.default.removeItem(atPath: "\(InstalledServer.storage)/\(named)")
        }

        /// Named entries over ssh: their directory is under the storage root, made without
        /// following links, and only that default directory is ever removed.
        @Test func namedEntriesStayUnderTheStorageRoot() throws {
            let server = try InstalledServer.get()
            let app = server.newApp("entry")
            defer { server.cleanUp(app) }
            let name = "hostile-\(app)"
            defer { _ = try? server.console("--force", "storage:destroy", name, "--destroy-host-dir") }
            let target = "/root/.config/dokkulite-hostile-\(UUID().uuidString.prefix(6))"
            for path in [target, "/etc", "\(InstalledServer.storage)/../../../dokkulite/apps"] {
                let result = try server.ssh("storage:create \(name) \(path)")
                #expect(result.status != 0, "\(path): \(result)")
            }
            #expect(!FileManager.default.fileExists(atPath: target), "nothing made outside the storage root")
            #expect(try !server.console("storage:list-entries", "--format", "json").stdout.contains("\"\(name)\""), "nothing saved")
            #expect(try server.ssh("storage:create \(name)").status == 0)
            // A link where the entry's directory was: destroying it removes the link only.
            let directory = "\(InstalledServer.storage)/\(name)"
            try FileManager.default.removeItem(atPath: directory)
            try FileManager.default.createSymbolicLink(atPath: directory, withDestinationPath: "/etc/dokkulite")
            #expect(try server.ssh("--force storage:destroy \(name) --destroy-host-dir").status == 0)
            #expect(FileManager.default.fileExists(atPath: "/etc/dokkulite/dokkulite.env"), "the link was not followed")
            // An entry the administrator made elsewhere is not a key holder's to mount.
            let elsewhere = "\(InstalledServer.root)-entry-\(app)"
            defer { try? FileManager.default.removeItem(atPath: elsewhere) }
            #expect(try server.console("storage:create", name, elsewhere).status == 0)
            #expect(try server.console("apps:create", app).status == 0)
            let mounted = try server.ssh("storage:mount \(app) \(name) --container-dir /data")
            #expect(mounted.status != 0 && mounted.stderr.contains("outside the storage root"), "\(mounted)")
            #expect(try server.console("--force", "storage:destroy", name).status == 0)
        }

        /// A storage directory the app itself can write: a link planted there must not let
        /// a later mount of a path through it reach elsewhere.
        @Test func aMountThroughAnAppsOwnDirectoryIsRefused() throws {
            let server = try InstalledServer.get()
            let app = server.newApp("planted")
            defer { server.cleanUp(app) }
            let named = "hostile-\(app)"
            defer { try? FileManager.default.removeItem(atPath: "\(InstalledServer.storage)/\(named)") }
            #expect(try server.console("apps:create", app).status == 0)
            #expect(try server.ssh("storage:mount \(app) \(named):/storage").status == 0)
            #expect(try server.push(app, files: InstalledServer.webApp("planted")).status == 0)
            // The app plants a link in its storage directory, to root's home.
            #expect(try server.ssh("run \(app) ln -s /root /storage/escape").status == 0)
            let result = try server.ssh("storage:mount \(app) \(InstalledServer.storage)/\(named)/escape:/escape")
            #expect(result.status != 0 && (result.stderr.contains("only root can change") || result.stderr.contains("symbolic link")), "\(result)")
        }

        /// Item 3: the archive URL went to curl as an option; now only a network URL, after `--`.
        @Test func archiveURLsAreNeverOptionsOrServerFiles() throws {
            let server = try InstalledServer.get()
            let app = server.newApp("archive")
            defer { server.cleanUp(app) }
            #expect(try server.ssh("apps:create \(app)").status == 0)
            let written = server.work + "/curl-wrote-\(UUID().uuidString.prefix(6))"
            for url in ["-K/etc/shadow", "-o\(written)", "--output=\(written)", "file:///etc/shadow", "/etc/shadow", "ftp://127.0.0.1/x", "gopher://127.0.0.1/x"] {
                let result = try server.ssh("git:from-archive \(app) \(url)")
                #expect(result.status != 0, "\(url): \(result)")
                #expect(result.stderr.contains("Invalid archive url"), "\(url): \(result)")
                #expect(!result.stderr.contains("root:"), "no line of /etc/shadow")
            }
            #expect(!FileManager.default.fileExists(atPath: written))
        }

        /// git:sync clones as root: no server path, no `file://`, no ssh with root's keys.
        @Test func gitSyncTakesNetworkRemotesOnly() throws {
            let server = try InstalledServer.get()
            let (victim, _) = try server.victim()
            let app = server.newApp("sync")
            defer { server.cleanUp(app, victim) }
            #expect(try server.ssh("apps:create \(app)").status == 0)
            for remote in ["\(InstalledServer.root)/apps/\(victim)/repo.git", "file://\(InstalledServer.root)/apps/\(victim)/repo.git", "ssh://git@127.0.0.1/x", "git@127.0.0.1:x"] {
                let result = try server.ssh("git:sync --build \(app) \(remote)")
                #expect(result.status != 0 && result.stderr.contains("Invalid git remote"), "\(remote): \(result)")
            }
            // After `--`, a word that looks like an option is the remote, and refused as one.
            let option = try server.ssh("git:sync \(app) -- --upload-pack=touch")
            #expect(option.status != 0 && option.stderr.contains("Invalid git remote --upload-pack=touch"), "\(option)")
            #expect(!FileManager.default.fileExists(atPath: "\(InstalledServer.root)/apps/\(app)/sync.git"))
        }

        /// Item 7: files named on the command line are read as root; over ssh they must come
        /// on stdin.
        @Test func configImportAndCertsAddReadNoServerFile() throws {
            let server = try InstalledServer.get()
            let app = server.newApp("files")
            defer { server.cleanUp(app) }
            #expect(try server.ssh("apps:create \(app)").status == 0)
            let secret = server.work + "/root-only-\(UUID().uuidString.prefix(6))"
            try "STOLEN=root-secret\n".write(toFile: secret, atomically: true, encoding: .utf8)
            chmod(secret, 0o600)
            let imported = try server.ssh("config:import \(app) \(secret)")
            #expect(imported.status != 0 && imported.stderr.contains("over ssh, send it on stdin"), "\(imported)")
            #expect(!(try server.console("config:show", app).stdout.contains("root-secret")))
            #expect(try server.ssh("config:import --no-restart \(app)", input: Data("FROM_STDIN=yes\n".utf8)).status == 0)
            #expect(try server.console("config:get", app, "FROM_STDIN").stdout == "yes\n")

            let key = server.work + "/server.key", crt = server.work + "/server.crt"
            try Self.selfSigned(key: key, certificate: crt)
            let added = try server.ssh("certs:add \(app) \(crt) \(key)")
            #expect(added.status != 0 && added.stderr.contains("over ssh, send a tarball"), "\(added)")
            #expect(try server.ssh("certs:show \(app) key").status != 0, "nothing was installed")
        }

        /// Config keys name files root writes (a build's ENV_DIR): a key like a path is
        /// refused wherever it comes from, `git:set rev-env-var` included.
        @Test func configKeysAreNeverPaths() throws {
            let server = try InstalledServer.get()
            let app = server.newApp("keys")
            defer { server.cleanUp(app) }
            #expect(try server.ssh("apps:create \(app)").status == 0)
            let target = "/etc/dokkulite-hostile-\(UUID().uuidString.prefix(6))"
            let revEnv = try server.ssh("git:set \(app) rev-env-var ../../../../../../..\(target)")
            #expect(revEnv.status != 0 && revEnv.stderr.contains("Invalid key name"), "\(revEnv)")
            #expect(try server.ssh("config:set --no-restart \(app) ../../../../../../..\(target)=x").status != 0)
            #expect(try server.ssh("config:import --no-restart \(app)", input: Data("../../../../../../..\(target)=x\n".utf8)).status != 0)
            #expect(try server.push(app, files: InstalledServer.webApp("keys")).status == 0)
            #expect(!FileManager.default.fileExists(atPath: target))
        }

        /// A tarball's entries are read without following links: `server.key -> /etc/shadow`
        /// would hand root's files to `certs:show`.
        @Test func certsTarballLinksAreRefused() throws {
            let server = try InstalledServer.get()
            let app = server.newApp("certs")
            defer { server.cleanUp(app) }
            #expect(try server.ssh("apps:create \(app)").status == 0)
            let directory = server.work + "/tar-\(UUID().uuidString.prefix(6))"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try Self.selfSigned(key: directory + "/real.key", certificate: directory + "/server.crt")
            try FileManager.default.createSymbolicLink(atPath: directory + "/server.key", withDestinationPath: "/etc/shadow")
            try FileManager.default.removeItem(atPath: directory + "/real.key")
            #expect(try Shell.run("/bin/tar", ["-cf", directory + "/linked.tar", "-C", directory, "server.crt", "server.key"]).status == 0)
            let added = try server.ssh("certs:add \(app)", input: try Data(contentsOf: URL(fileURLWithPath: directory + "/linked.tar")))
            #expect(added.status != 0, "\(added)")
            #expect(added.stderr.contains("symbolic link"), "\(added)")
            #expect(try server.ssh("certs:show \(app) key").status != 0)
            // The same archive with real files goes in, macOS `._` entries aside.
            try FileManager.default.removeItem(atPath: directory + "/server.key")
            try Self.selfSigned(key: directory + "/server.key", certificate: directory + "/server.crt")
            try "junk".write(toFile: directory + "/._server.crt", atomically: true, encoding: .utf8)
            let good = try Shell.run("/bin/tar", ["-cf", directory + "/good.tar", "-C", directory, "server.crt", "server.key", "._server.crt"])
            #expect(good.status == 0)
            let tarball = try Data(contentsOf: URL(fileURLWithPath: directory + "/good.tar"))
            let installed = try server.ssh("certs:add \(app)", input: tarball)
            #expect(installed.status == 0, "\(installed)")
            let key = try FileManager.default.attributesOfItem(atPath: "\(InstalledServer.root)/certs/\(app)/server.key")
            #expect((key[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        }

        /// Item 8: a buildpack on the server's disk would be checked out world-readable.
        @Test func buildpacksFromTheServersDiskAreRefused() throws {
            let server = try InstalledServer.get()
            let (victim, _) = try server.victim()
            let app = server.newApp("bp")
            defer { server.cleanUp(app, victim) }
            #expect(try server.ssh("apps:create \(app)").status == 0)
            let other = "\(InstalledServer.root)/apps/\(victim)/repo.git"
            for url in ["file://\(other)", other, "ssh://git@127.0.0.1/x.git", "file:///etc/x.tgz"] {
                let set = try server.ssh("buildpacks:set \(app) \(url)")
                #expect(set.status != 0 && set.stderr.contains("Invalid buildpack specified"), "\(url): \(set)")
            }
            // The push's own choices: .buildpacks, app.json, BUILDPACK_URL.
            var files = InstalledServer.webApp("bp")
            files[".buildpacks"] = "file://\(other)\n"
            var push = try server.push(app, files: files)
            #expect(push.status != 0 && push.stderr.contains("an app may name buildpacks by https, http or git URL only"), "\(push)")
            files[".buildpacks"] = nil
            files["app.json"] = #"{"buildpacks": [{"url": "\#(other)"}]}"#
            push = try server.push(app, files: files)
            #expect(push.status != 0 && push.stderr.contains("an app may name buildpacks by https, http or git URL only"), "\(push)")
            files["app.json"] = nil
            #expect(try server.ssh("config:set --no-restart \(app) BUILDPACK_URL=file://\(other)").status == 0)
            push = try server.push(app, files: files)
            #expect(push.status != 0 && push.stderr.contains("an app may name buildpacks by https, http or git URL only"), "\(push)")
            let checkouts = (try? FileManager.default.contentsOfDirectory(atPath: "\(InstalledServer.root)/buildpacks/checkout")) ?? []
            for checkout in checkouts {
                #expect(!FileManager.default.fileExists(atPath: "\(InstalledServer.root)/buildpacks/checkout/\(checkout)/server.py"), "no app's source checked out")
            }
        }

        /// A submodule with a path or file URL (or one relative to the repository here) would
        /// have root clone another app's repository into the build.
        @Test func submodulesMustBeOnTheNetwork() throws {
            let server = try InstalledServer.get()
            let (victim, _) = try server.victim()
            let app = server.newApp("sub")
            defer { server.cleanUp(app, victim) }
            for url in ["../\(victim)/repo.git", "\(InstalledServer.root)/apps/\(victim)/repo.git", "file://\(InstalledServer.root)/apps/\(victim)/repo.git"] {
                let push = try server.pushWithSubmodule(app, url: url)
                #expect(push.status != 0, "\(url): \(push)")
                #expect(push.stderr.contains("is not an https, http or git URL"), "\(url): \(push)")
                let cache = "\(InstalledServer.root)/apps/\(app)/submodules"
                #expect(((try? FileManager.default.contentsOfDirectory(atPath: cache)) ?? []).isEmpty, "nothing cloned: \(url)")
            }
            // `.gitmodules` itself as a link (to a root-only file) is refused, not read.
            let linked = try server.pushWithLinkEntry(app, files: InstalledServer.webApp("sub"), name: ".gitmodules", target: "/etc/shadow")
            // (libgit2 refuses to check it out; were it there, reading it would refuse the link.)
            #expect(linked.status != 0 && linked.stderr.contains(".gitmodules"), "\(linked)")
            #expect(!linked.stderr.contains("root:"), "no line of /etc/shadow")
        }

        static func selfSigned(key: String, certificate: String) throws {
            let made = try Shell.which("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate, "-days", "2", "-subj", "/CN=hostile.test"])
            guard made.status == 0 else { throw TestFailure("openssl: \(made)") }
        }
    }
}

extension InstalledServer {
    /// Pushes an app whose tree records a submodule at `lib` with `url` (the commit it
    /// names is this repository's own first one: any commit will do, the URL is refused).
    func pushWithSubmodule(_ app: String, url: String) throws -> ProcessResult {
        let directory = work + "/sub-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for (path, content) in Self.webApp("sub").merging([".gitmodules": "[submodule \"lib\"]\n\tpath = lib\n\turl = \(url)\n"]) { $1 } {
            try content.write(toFile: directory + "/" + path, atomically: true, encoding: .utf8)
        }
        var git = environment
        git["GIT_SSH_COMMAND"] = "ssh " + sshOptions.joined(separator: " ")
        let steps: [[String]] = [
            ["init", "-q", "-b", "main"], ["add", "-A"], ["-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "-m", "first"],
        ]
        for arguments in steps { try Self.check(Shell.which("git", arguments, environment: git, directory: directory), "git \(arguments[0])") }
        let head = try Shell.which("git", ["rev-parse", "HEAD"], environment: git, directory: directory).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try Self.check(Shell.which("git", ["update-index", "--add", "--cacheinfo", "160000,\(head),lib"], environment: git, directory: directory), "update-index")
        try Self.check(Shell.which("git", ["-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "-m", "submodule"], environment: git, directory: directory), "commit")
        return try Shell.which("git", ["push", "ssh://dokku@127.0.0.1:\(Self.sshPort)/\(app)", "main"], environment: git, directory: directory)
    }
}
