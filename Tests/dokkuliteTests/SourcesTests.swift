import Foundation
import TestSupport
import Testing

/// Code that does not arrive by push: archives, other repositories, submodules, and an
/// app that brings its own buildpack in bin/.
@Suite(.enabled(if: Integration.systemdEnabled, "needs a systemd manager: run scripts/test"))
struct SourcesTests {
    @Test func archiveSyncSubmodulesAndInlineBuildpack() throws {
        _ = try #require(Integration.systemdBus, "DOKKULITE_SYSTEMD_BUS is not set; scripts/test sets it")
        let sandbox = try Sandbox("sources")
        try sandbox.run("domains:set-global", "dokku.test")
        try sandbox.run("checks:set", "--global", "wait-to-retire", "0")
        let proxy = try DaemonProcess(sandbox)

        // git:from-archive: a tarball on stdin, with one top-level directory.
        let app = uniqueApp("archive")
        try sandbox.run("apps:create", app)
        let work = sandbox.root + "/work"
        let tree = work + "/project"
        try FileManager.default.createDirectory(atPath: tree, withIntermediateDirectories: true)
        for (path, content) in DeployTests.versionApp("from-tar") { try content.write(toFile: tree + "/" + path, atomically: true, encoding: .utf8) }
        try Shell.which("tar", ["-cf", work + "/code.tar", "-C", work, "project"])
        let tarball = try Data(contentsOf: URL(fileURLWithPath: work + "/code.tar"))
        let archive = Process()
        archive.executableURL = URL(fileURLWithPath: Binaries.dokkulite)
        archive.arguments = ["git:from-archive", app, "--"]
        archive.environment = sandbox.environment
        let input = Pipe(), output = Pipe()
        archive.standardInput = input
        archive.standardOutput = output
        archive.standardError = output
        try archive.run()
        input.fileHandleForWriting.write(tarball)
        try input.fileHandleForWriting.close()
        let log = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        archive.waitUntilExit()
        #expect(archive.terminationStatus == 0, "\(log)")
        #expect(log.contains("-----> Fetching tar file from stdin"))
        #expect(proxy.get("\(app).dokku.test")?.body == "from-tar")
        #expect(try sandbox.run("apps:report", app, "--app-deploy-source").stdout == "tar\n")
        // ps:rebuild builds the archived code again from the app's repository.
        #expect(try sandbox.run("ps:rebuild", app).status == 0)
        #expect(try sandbox.sql("SELECT COUNT(*) FROM release WHERE app = '\(app)'") == "2")

        // git:sync from another repository that has a submodule, built with its own bin/.
        let library = try BuildpackRepository(files: ["greeting.txt": "from-submodule\n"])
        let upstream = work + "/upstream"
        try FileManager.default.createDirectory(atPath: upstream, withIntermediateDirectories: true)
        var files = DeployTests.versionApp("unused")
        files["server.py"] = files["server.py"]!.replacingOccurrences(of: #"open("VERSION").read().strip()"#, with: #"open("lib/greeting.txt").read().strip() + "+" + open("compiled.txt").read().strip()"#)
        files["bin/compile"] = "#!/bin/sh\necho inline > \"$1/compiled.txt\"\n"
        files["bin/release"] = "#!/bin/sh\necho '--- {}'\n"
        for (path, content) in files {
            let full = upstream + "/" + path
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try content.write(toFile: full, atomically: true, encoding: .utf8)
            if path.hasPrefix("bin/") { chmod(full, 0o755) }
        }
        for arguments in [
            ["init", "-q", "-b", "main"],
            ["-c", "protocol.file.allow=always", "submodule", "add", "-q", library.url, "lib"],
            ["add", "-A"],
            ["-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "-m", "with submodule"],
        ] {
            let result = try Shell.which("git", arguments, directory: upstream)
            #expect(result.status == 0, "\(arguments): \(result)")
        }
        let synced = uniqueApp("sync")
        try sandbox.run("apps:create", synced)
        let sync = try sandbox.run("git:sync", "--build", synced, "file://" + upstream, "main")
        #expect(sync.status == 0, "\(sync)")
        #expect(sync.stdout.contains("-----> inline app detected"), "the app's own bin/compile ran")
        #expect(proxy.get("\(synced).dokku.test")?.body == "from-submodule+inline")
        // As Dokku: the ref was a branch, so it became the deploy branch, and the branch
        // holds the remote's own commit.
        #expect(sync.stdout.contains("-----> Cloning \(synced) from file://\(upstream)#main\n"), "\(sync)")
        #expect(sync.stdout.contains("       Detected branch, setting deploy-branch to main\n"), "\(sync)")
        let upstreamHead = try Shell.which("git", ["rev-parse", "HEAD"], directory: upstream).stdout
        #expect(try sandbox.run("git:report", synced, "--git-sha").stdout == upstreamHead)
        // --build-if-changes: nothing new, no build; a new commit, built.
        let unchanged = try sandbox.run("git:sync", "--build-if-changes", synced, "file://" + upstream, "main")
        #expect(unchanged.status == 0 && unchanged.stdout.contains("Skipping build as no changes were detected"), "\(unchanged)")
        try "from-submodule\n".write(toFile: upstream + "/NOTE", atomically: true, encoding: .utf8)
        for arguments in [["add", "-A"], ["-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "-m", "note"]] {
            #expect(try Shell.which("git", arguments, directory: upstream).status == 0)
        }
        let changed = try sandbox.run("git:sync", "--build-if-changes", synced, "file://" + upstream, "main")
        #expect(changed.status == 0 && changed.stdout.contains("Fetching remote code for \(synced)") && !changed.stdout.contains("Skipping build"), "\(changed)")
        #expect(try sandbox.run("git:report", synced, "--git-sha").stdout == (try Shell.which("git", ["rev-parse", "HEAD"], directory: upstream).stdout))
        #expect(try sandbox.sql("SELECT COUNT(*) FROM release WHERE app = '\(synced)' AND status != 'failed'") == "2")
    }
}
