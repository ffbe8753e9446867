import Foundation
import TestSupport
import Testing

/// Persistent storage: the app's DATA_DIR across deploys and rollbacks, storage:mount as
/// BindPaths, and the sandbox around both.
@Suite(.enabled(if: Integration.systemdEnabled, "needs a systemd manager: run scripts/test"))
struct StorageTests {
    @Test func dataSurvivesDeploysAndMountsAreWritable() throws {
        _ = try #require(Integration.systemdBus, "DOKKULITE_SYSTEMD_BUS is not set; scripts/test sets it")
        let sandbox = try Sandbox("storage")
        try sandbox.run("checks:set", "--global", "wait-to-retire", "0")
        _ = try DaemonProcess(sandbox)
        let app = uniqueApp("store"), other = uniqueApp("other")
        let source = try AppSource(sandbox, files: DeployTests.versionApp("one"))
        #expect(try source.push(app).status == 0)
        #expect(try AppSource(sandbox, files: DeployTests.versionApp("x")).push(other).status == 0)

        #expect(try sandbox.run("run", app, "echo kept > $DATA_DIR/file").status == 0)
        try source.commit(["VERSION": "two\n"], message: "two")
        #expect(try source.push(app).status == 0)
        #expect(try sandbox.run("run", app, "cat $DATA_DIR/file").stdout == "kept\n", "survives a redeploy")
        #expect(try sandbox.run("releases:rollback", app).status == 0)
        #expect(try sandbox.run("run", app, "cat $DATA_DIR/file").stdout == "kept\n", "survives a rollback")

        let elsewhere = try sandbox.run("run", app, "touch /var/lib/x || touch \(sandbox.root)/x || touch /usr/x")
        #expect(elsewhere.status != 0, "nothing else is writable")
        #expect(try sandbox.run("run", app, "touch /app/new-file && ls /app/new-file").status == 0, "/app is writable, as a dyno's filesystem")
        let spy = try sandbox.run("run", other, "cat \(sandbox.root)/apps/\(app)/data/file")
        #expect(spy.status != 0, "another app cannot read the data directory")

        let ensured = try sandbox.run("storage:ensure-directory", "--chown", app, "uploads")
        #expect(ensured.status == 0, "\(ensured)")
        let host = sandbox.root + "/storage/uploads"
        #expect(try sandbox.run("storage:mount", app, "\(host):/uploads").status == 0)
        #expect(try sandbox.run("storage:mount", app, "\(host):/uploads").stderr == " !     Mount path already exists.\n")
        // Dokku's own example mounts inside the app's tree; a bare name is a directory under
        // the storage root, as a Docker named volume.
        #expect(try sandbox.run("storage:mount", app, "\(host):/app/storage").status == 0)
        #expect(try sandbox.run("storage:mount", app, "cache-\(app):/cache").status == 0)
        #expect(FileManager.default.fileExists(atPath: sandbox.root + "/storage/cache-\(app)"))
        // A host directory not there yet is made, as Docker does for Dokku (storage-1.bats),
        // and like Docker's it is root's: only one under the storage root is the app's.
        let missing = "/var/lib/dokkulite-tests/mount-\(app)/dir"
        defer { try? FileManager.default.removeItem(atPath: "/var/lib/dokkulite-tests/mount-\(app)") }
        #expect(try sandbox.run("storage:mount", app, "\(missing):/x").status == 0)
        #expect(FileManager.default.fileExists(atPath: missing))
        let owner = try FileManager.default.attributesOfItem(atPath: missing)[.ownerAccountID] as? NSNumber
        #expect(owner == 0, "root's, not handed to the app")
        #expect(try sandbox.run("storage:unmount", app, "\(missing):/x").status == 0)
        let appOwner = try FileManager.default.attributesOfItem(atPath: sandbox.root + "/storage/cache-\(app)")[.ownerAccountID] as? NSNumber
        #expect(appOwner != nil && appOwner != 0, "one made under the storage root is the app's")
        // Paths someone else could redirect, and mount points among the system's files.
        // In /tmp, a directory root made (as Dokku's own tests mount /tmp/mount) is root's to
        // change; one another user made, or a link, is not.
        let made = "/tmp/dokkulite-\(app)"
        defer { try? FileManager.default.removeItem(atPath: made) }
        #expect(try sandbox.run("storage:mount", app, "\(made):/made").status == 0)
        #expect(try sandbox.run("storage:unmount", app, "\(made):/made").status == 0)
        let theirs = "/tmp/dokkulite-theirs-\(app)"
        try FileManager.default.createDirectory(atPath: theirs, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: theirs) }
        chown(theirs, 65534, 65534)
        let temporary = try sandbox.run("storage:mount", app, "\(theirs):/x")
        #expect(temporary.status != 0 && temporary.stderr.contains("only root can change"), "\(temporary)")
        try FileManager.default.createSymbolicLink(atPath: made + "-link", withDestinationPath: "/root")
        defer { try? FileManager.default.removeItem(atPath: made + "-link") }
        #expect(try sandbox.run("storage:mount", app, "\(made)-link:/x").status != 0, "a link in /tmp")
        #expect(try sandbox.run("storage:mount", app, "\(host):/etc/cron.d").stderr.contains("Container path /etc/cron.d is reserved"))
        #expect(try sandbox.run("storage:mount", app, "\(host):/app/../etc").status != 0)
        #expect(try sandbox.run("storage:mount", app, "\(host):/app").stderr == " !     Container path /app is reserved\n")
        #expect(try sandbox.run("storage:mount", app, "\(sandbox.root)/apps:/x").stderr.contains("inside dokkulite's own state"))
        let listed = try JSONSerialization.jsonObject(with: Data(try sandbox.run("storage:list", app, "--format", "json").stdout.utf8)) as? [[String: String]]
        #expect(Set((listed ?? []).map { "\($0["host_path"] ?? ""):\($0["container_path"] ?? "")" }) == ["\(host):/uploads", "\(host):/app/storage", "cache-\(app):/cache"])
        #expect(try sandbox.run("ps:restart", app).status == 0)
        #expect(try sandbox.run("run", app, "echo uploaded > /uploads/a && cat /uploads/a").stdout == "uploaded\n")
        // An entry's directory is 0755 by default, as Dokku makes it: still out of reach of
        // an app it is not mounted into, which does not see the storage root at all.
        #expect(try sandbox.run("storage:create", "open-\(app)").status == 0)
        FileManager.default.createFile(atPath: sandbox.root + "/storage/open-\(app)/secret", contents: Data("s".utf8))
        let reach = try sandbox.run("run", other, "cat \(sandbox.root)/storage/open-\(app)/secret")
        #expect(reach.status != 0 && reach.stdout.isEmpty, "another app cannot reach the storage root: \(reach)")
        // A link the app plants in its own storage directory leads root nowhere, even when
        // root at the console names a path through it.
        #expect(try sandbox.run("run", app, "ln -s /root /uploads/escape").status == 0)
        let through = try sandbox.run("storage:mount", app, "\(host)/escape:/escape")
        #expect(through.status != 0 && through.stderr.contains("symbolic link"), "\(through)")
        #expect(try sandbox.run("run", app, "cat /app/storage/a && ls -d /cache").stdout == "uploaded\n/cache\n", "mounted inside /app and from a named directory")
        #expect(try sandbox.run("storage:unmount", app, "\(host):/app/storage").status == 0)
        #expect(try sandbox.run("storage:unmount", app, "cache-\(app):/cache").status == 0)
        #expect(try String(contentsOfFile: host + "/a", encoding: .utf8) == "uploaded\n")
        #expect(try sandbox.run("storage:unmount", app, "\(host):/uploads").status == 0)
        #expect(try sandbox.run("storage:unmount", app, "\(host):/uploads").stderr == " !     Mount path does not exist.\n")

        // Dokku's flow: ensure-directory (for herokuish's user unless --chown says otherwise),
        // then mount: the directory becomes the app's own user's, so its processes can write.
        let ensuredForDokku = try sandbox.run("storage:ensure-directory", "dokku-way-\(app)")
        #expect(ensuredForDokku.stdout.contains("       Setting directory ownership to 32767:32767\n"), "\(ensuredForDokku)")
        #expect(try sandbox.run("storage:mount", app, "\(sandbox.root)/storage/dokku-way-\(app):/dokku-way").status == 0)
        #expect(try sandbox.run("run", app, "echo ok > /dokku-way/f && cat /dokku-way/f").stdout == "ok\n")
        #expect(try sandbox.run("storage:ensure-directory", "--chown", "heroku", "h-\(app)").stdout.contains("Setting directory ownership to 1000:1000"))
        #expect(try !sandbox.run("storage:ensure-directory", "h-\(app)", "--chown", "false").stdout.contains("Setting directory ownership"))
        #expect(try sandbox.run("storage:ensure-directory", "--chown", "nobody-here", "h-\(app)").stderr.hasSuffix(" !     Unsupported chown permissions\n"))
    }
}
