import Foundation
import TestSupport
import Testing

/// Named storage entries (`storage:create` and the commands around it, Dokku 0.38's
/// storage registry) through the built binary: what is saved, what is made on disk, what
/// is refused with nothing written.
@Suite struct StorageEntryTests {
    private func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    private func names(_ sandbox: Sandbox) throws -> [String] {
        let list = try JSONSerialization.jsonObject(with: Data(try sandbox.run("storage:list-entries", "--format", "json").stdout.utf8)) as? [[String: Any]]
        return (list ?? []).compactMap { $0["name"] as? String }
    }

    private func mode(_ path: String) throws -> Int {
        try #require(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber).intValue
    }

    private func owner(_ path: String) throws -> Int {
        try #require(try FileManager.default.attributesOfItem(atPath: path)[.ownerAccountID] as? NSNumber).intValue
    }

    @Test func createMakesTheDirectoryUnderTheStorageRootAndConvergesItsModeAndOwner() throws {
        let sandbox = try Sandbox()
        let storage = sandbox.root + "/storage"
        let created = try sandbox.run("storage:create", "uploads")
        #expect(created.status == 0, "\(created)")
        #expect(created.stdout.hasSuffix("-----> Storage entry uploads created\n"))
        #expect(try mode(storage + "/uploads") == 0o755, "Dokku's default")
        #expect(try mode(storage) == 0o711, "apps traverse the root only to what is bound into them")
        let info = try json(try sandbox.run("storage:info", "uploads", "--format", "json").stdout)
        #expect(info["scheduler"] as? String == "docker-local")
        #expect(info["host_path"] as? String == storage + "/uploads")
        #expect(info["mode"] == nil, "nothing asked, nothing stored")

        // Again, with a mode and an owner: the entry is rewritten, the directory converges.
        #expect(try sandbox.run("storage:create", "--mode", "750", "--chown", "heroku", "uploads").status == 0)
        #expect(try mode(storage + "/uploads") == 0o750)
        #expect(try owner(storage + "/uploads") == 1000)
        #expect(try json(try sandbox.run("storage:info", "uploads", "--format", "json").stdout)["mode"] as? String == "0750")
        #expect(try sandbox.run("storage:set", "uploads", "mode", "0700").status == 0)
        #expect(try mode(storage + "/uploads") == 0o700)
        #expect(try sandbox.run("storage:set", "uploads", "chown", "1500").status == 0)
        #expect(try owner(storage + "/uploads") == 1500)
        #expect(try sandbox.run("storage:info", "uploads").stdout.contains("       Mode:             0700\n"))
        #expect(try sandbox.run("storage:set", "uploads", "mode").status == 0, "no value unsets")
        #expect(try json(try sandbox.run("storage:info", "uploads", "--format", "json").stdout)["mode"] == nil)
        #expect(try names(sandbox) == ["uploads"])
    }

    @Test(arguments: [
        (["bad_name"], "must be a DNS-1123 label"),
        (["Upper"], "must be a DNS-1123 label"),
        ([String(repeating: "a", count: 46)], "is too long"),
        (["legacy-mine"], "reserved prefix"),
        (["--chown", "65536", "x"], "Unsupported chown permissions"),
        (["--chown", "-1", "x"], "Unsupported chown permissions"),
        (["--mode", "0888", "x"], "Unsupported directory mode"),
        (["--mode", "u+rwx", "x"], "Unsupported directory mode"),
        (["--chown", "herokuish", "x", "/var/lib/dokkulite-tests/elsewhere"], "--chown is only supported when the storage entry uses the default host path"),
        (["--mode", "0777", "x", "/var/lib/dokkulite-tests/elsewhere"], "--mode is only supported when the storage entry uses the default host path"),
        (["--reclaim-policy", "Delete", "x", "/var/lib/dokkulite-tests/elsewhere"], "default host path"),
        (["--reclaim-policy", "Sometimes", "x"], "unsupported reclaim policy"),
        (["--size", "1Gi", "x"], "does not accept --size"),
        (["--scheduler", "k3s", "x"], "unsupported scheduler"),
        (["x", "relative/path"], "must be an absolute path or a docker named volume token"),
    ])
    func badInputIsRefusedWithNothingWritten(arguments: [String], message: String) throws {
        let sandbox = try Sandbox()
        let result = try sandbox.run(["storage:create"] + arguments)
        #expect(result.status == 1)
        #expect(result.stderr.contains(message), "\(result)")
        #expect(result.stderr.split(separator: "\n").count == 1, "one line")
        #expect(try names(sandbox).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: sandbox.root + "/storage/x"))
        #expect(!FileManager.default.fileExists(atPath: "/var/lib/dokkulite-tests/elsewhere"))
    }

    @Test func destroyRefusesWhileMountedAsksForConfirmationAndKeepsTheDirectoryUnlessTold() throws {
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "holder")
        let directory = sandbox.root + "/storage/shared"
        #expect(try sandbox.run("storage:create", "shared").status == 0)
        let mounted = try sandbox.run("storage:mount", "holder", "shared", "--container-dir", "/data")
        #expect(mounted.stdout == "-----> Storage entry shared mounted at /data on holder\n", "\(mounted)")
        #expect(try sandbox.run("storage:report", "--global").stdout == "-----> Storage report (global):\n       shared\tdocker-local\tmounted by: holder\n")
        let busy = try sandbox.run("storage:destroy", "shared", "--force")
        #expect(busy.status == 1 && busy.stderr.contains("is still mounted by app(s): holder"), "\(busy)")
        #expect(try sandbox.run("storage:unmount", "holder", "shared").status == 0)

        let unconfirmed = try sandbox.run("storage:destroy", "shared", input: "")
        #expect(unconfirmed.status == 1 && unconfirmed.stderr.contains("WARNING: Potentially Destructive Action"))
        #expect(try names(sandbox) == ["shared"])
        #expect(try sandbox.run("storage:destroy", "shared", input: "shared\n").status == 0)
        #expect(try names(sandbox).isEmpty)
        #expect(FileManager.default.fileExists(atPath: directory), "kept by default, as Dokku keeps it")

        // --destroy-host-dir removes it, contents and all, without following a link in it.
        #expect(try sandbox.run("storage:create", "shared").status == 0)
        let outside = sandbox.root + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: outside + "/precious", contents: Data("x".utf8))
        try FileManager.default.createSymbolicLink(atPath: directory + "/link", withDestinationPath: outside)
        let warned = try sandbox.run("storage:destroy", "shared", "--destroy-host-dir", input: "shared\n")
        #expect(warned.status == 0)
        #expect(warned.stderr.contains("which will be removed along with its contents"))
        #expect(!FileManager.default.fileExists(atPath: directory))
        #expect(FileManager.default.fileExists(atPath: outside + "/precious"), "the link was removed, not followed")

        // An entry at a path of its own is the administrator's: never removed by dokkulite.
        #expect(try sandbox.run("storage:create", "custom", outside).status == 0)
        let refused = try sandbox.run("--force", "storage:destroy", "custom", "--destroy-host-dir")
        #expect(refused.status == 1 && refused.stderr.contains("--destroy-host-dir is only supported when the storage entry uses the default host path"))
        #expect(FileManager.default.fileExists(atPath: outside + "/precious"))
        #expect(try sandbox.run("--force", "storage:destroy", "custom").status == 0)

        // Reclaim policy Delete: destroy removes the default directory.
        #expect(try sandbox.run("storage:create", "--reclaim-policy", "Delete", "gone").status == 0)
        #expect(try sandbox.run("storage:destroy", "gone", "--force").status == 0)
        #expect(!FileManager.default.fileExists(atPath: sandbox.root + "/storage/gone"))
    }

    @Test func mountsAreAttachmentsReportedAndUpdatedInPlace() throws {
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "att")
        #expect(try sandbox.run("storage:create", "data").status == 0)
        #expect(try sandbox.run(
            "storage:mount", "att", "data", "--container-dir", "/data", "--phase", "run", "--volume-options", "noexec",
            "--volume-subpath", "uploads", "--volume-readonly").status == 0)
        var report = try json(try sandbox.run("storage:report", "att", "--format", "json").stdout)
        #expect(report["attachment.1.entry-name"] as? String == "data")
        #expect(report["storage-attachment.1.host-path"] as? String == sandbox.root + "/storage/data")
        #expect(report["attachment.1.phases"] as? String == "run")
        #expect(report["attachment.1.subpath"] as? String == "uploads")
        #expect(report["attachment.1.readonly"] as? String == "true")
        #expect(report["run-mounts"] as? String == "-v \(sandbox.root)/storage/data:/data:ro,noexec")
        #expect(report["deploy-mounts"] as? String == "", "only the run phase")
        #expect(try sandbox.run("storage:report", "att", "--storage-attachment.1.volume-options").stdout == "noexec\n")

        // The same entry at the same path again: updated, not added.
        let again = try sandbox.run("storage:mount", "att", "data", "--container-dir", "/data")
        #expect(again.stdout == "-----> Storage entry data mount at /data on att updated\n")
        report = try json(try sandbox.run("storage:report", "att", "--format", "json").stdout)
        #expect(report["attachment.1.readonly"] as? String == "false")
        #expect(report["attachment.2.entry-name"] == nil)

        // The colon form is an entry of its own, named after the host path.
        #expect(try sandbox.run("storage:mount", "att", "/var/lib/dokkulite-tests:/other:ro").status == 0)
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(try sandbox.run("storage:list", "att", "--format", "json").stdout.utf8)) as? [[String: Any]])
        #expect(rows.count == 2)
        let colon = try #require(rows.first { $0["container_path"] as? String == "/other" })
        #expect(colon["host_path"] as? String == "/var/lib/dokkulite-tests")
        #expect(colon["readonly"] as? Bool == true)
        #expect((colon["entry_name"] as? String)?.hasPrefix("legacy-") == true)
        #expect(try sandbox.run("--quiet", "storage:list", "att").stdout == "\(sandbox.root)/storage/data:/data\n/var/lib/dokkulite-tests:/other:ro\n", "sorted by entry name, as Dokku sorts")
        #expect(try sandbox.run("storage:mount", "att", "/var/lib/dokkulite-tests:/other").stderr == " !     Mount path already exists.\n")
        #expect(try sandbox.run("storage:unmount", "att", "/var/lib/dokkulite-tests:/other").status == 0)

        let missing = try sandbox.run("storage:mount", "att", "nothing", "--container-dir", "/x")
        #expect(missing.stderr.contains("storage entry \"nothing\" does not exist; create it first"))
        #expect(try sandbox.run("storage:mount", "att", "data").stderr.contains("--container-dir is required"))
        #expect(try sandbox.run("storage:mount", "att", "data", "--container-dir", "/etc/x").stderr.contains("is reserved"))
        #expect(try sandbox.run("storage:mount", "att", "data", "--container-dir", "/d", "--volume-subpath", "../..").status == 1)
        #expect(try sandbox.run("storage:mount", "att", "data", "--container-dir", "/d", "--phase", "build").status == 1)
    }

    @Test func annotationsAndLabelsAreKeptApartSetAndCleared() throws {
        let sandbox = try Sandbox()
        #expect(try sandbox.run("storage:annotations:set", "absent", "k", "v").stderr.contains("storage entry \"absent\" does not exist"))
        #expect(try sandbox.run("storage:create", "meta").status == 0)
        #expect(try sandbox.run("storage:annotations:set", "meta").stderr == " !     No annotation key specified\n")
        #expect(try sandbox.run("storage:annotations:set", "meta", "backup.velero.io/backup-volumes", "meta").status == 0)
        #expect(try sandbox.run("storage:labels:set", "meta", "tier", "cache").status == 0)
        let info = try json(try sandbox.run("storage:info", "meta", "--format", "json").stdout)
        #expect(info["annotations"] as? [String: String] == ["backup.velero.io/backup-volumes": "meta"])
        #expect(info["labels"] as? [String: String] == ["tier": "cache"])
        #expect(try sandbox.run("storage:labels:report", "meta", "--storage-labels.tier").stdout == "cache\n")
        #expect(try sandbox.run("storage:labels:report", "meta", "--storage-labels.none").stderr.contains("Invalid flag passed, valid flags: --storage-labels.tier"))
        #expect(try sandbox.run("storage:labels:report", "meta").stdout.contains("       Label tier:                    cache\n"))
        #expect(try sandbox.run("storage:annotations:set", "meta", "backup.velero.io/backup-volumes").status == 0)
        #expect(try json(try sandbox.run("storage:info", "meta", "--format", "json").stdout)["annotations"] == nil)
        let mixed = try sandbox.run("storage:set", "meta", "mode", "0700", "--chown", "herokuish")
        #expect(mixed.stderr.contains("either a property and a value or flags, not both"))
        #expect(try sandbox.run("storage:set", "meta", "bogus", "1").stderr.contains("Invalid property specified, valid properties include: access-mode, chown"))
        let deprecated = try sandbox.run("storage:set", "meta", "--annotation", "team=billing")
        #expect(deprecated.status == 0 && deprecated.stderr.contains("storage:annotations:set"))
        #expect(try json(try sandbox.run("storage:info", "meta", "--format", "json").stdout)["annotations"] as? [String: String] == ["team": "billing"])
    }

    /// Mounts an earlier version kept as `HOST:CONTAINER` lines become attachments, once.
    @Test func mountsOfAnEarlierVersionBecomeAttachments() throws {
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "old")
        let id = try sandbox.sql("SELECT name FROM app WHERE name = 'old'")
        #expect(id == "old")
        _ = try sandbox.sql("INSERT INTO property (app, namespace, key, value) VALUES ('old', 'storage', 'mounts', '/srv/a:/a' || char(10) || 'vol-b:/b')")
        #expect(try sandbox.run("--quiet", "storage:list", "old").stdout.split(separator: "\n").sorted() == ["/srv/a:/a", "vol-b:/b"])
        #expect(try sandbox.sql("SELECT count(*) FROM property WHERE namespace = 'storage' AND key = 'mounts'") == "0")
        #expect(try sandbox.run("storage:migrate", "old").stdout == "-----> Re-migrated old\n")
        #expect(try names(sandbox).count == 2)
        #expect(try sandbox.run("storage:migrate").stderr == " !     storage:migrate requires an app name (or --all)\n")
    }
}
