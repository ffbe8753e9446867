import Foundation
import TestSupport
import Testing

/// `builder:*`, `app-json:*`, `logs:set|report` and `repo:*`: Dokku's settings namespaces,
/// through the built binary. What the settings do to a deploy is in DeployTests.
@Suite struct SettingsCLITests {
    @Test func gitSettingsRawGlobalAndComputed() throws {
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "web")
        func value(_ flag: String, _ subject: String = "web") throws -> String { try sandbox.run("git:report", subject, flag).stdout }
        #expect(try value("--git-keep-git-dir") == "\n")
        #expect(try value("--git-computed-keep-git-dir") == "false\n")
        #expect(try value("--git-computed-deploy-branch") == "master\n")
        #expect(try value("--git-computed-archive-max-size") == "1073741824\n")
        #expect(try value("--git-computed-archive-max-files") == "10000\n")
        #expect(try sandbox.run("git:set", "--global", "keep-git-dir", "true").status == 0)
        #expect(try value("--git-global-keep-git-dir") == "true\n")
        #expect(try value("--git-computed-keep-git-dir") == "true\n")
        #expect(try sandbox.run("git:set", "web", "keep-git-dir", "false").status == 0)
        #expect(try value("--git-keep-git-dir") == "false\n")
        #expect(try value("--git-computed-keep-git-dir") == "false\n")
        #expect(try value("--git-computed-keep-git-dir", "--global") == "true\n")
        #expect(try sandbox.run("git:report", "--global", "--git-keep-git-dir").status != 0, "no app values in the global report")
        #expect(try sandbox.run("git:set", "web", "archive-max-files", "many").stderr == " !     Invalid archive-max-files value: many (expected a positive integer)\n")
        #expect(try sandbox.run("git:set", "web", "archive-max-files", "50").status == 0)
        #expect(try value("--git-computed-archive-max-files") == "50\n")
        #expect(try value("--git-last-updated-at") == "\n", "nothing pushed yet")
    }

    @Test func unsafeOrOversizedArchivesAreRefusedBeforeUnpacking() throws {
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "web")
        let work = sandbox.root + "/archives"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let script = """
            import io, tarfile, sys
            def make(name, members):
                with tarfile.open(sys.argv[1] + "/" + name, "w") as t:
                    for arcname, link in members:
                        info = tarfile.TarInfo(arcname)
                        if link is None:
                            data = b"web: true\\n"; info.size = len(data); t.addfile(info, io.BytesIO(data))
                        else:
                            info.type = tarfile.SYMTYPE; info.linkname = link; t.addfile(info)
            make("absolute.tar", [("/Procfile", None)])
            make("traversal.tar", [("app/../../Procfile", None)])
            make("link-absolute.tar", [("Procfile", None), ("passwd", "/etc/passwd")])
            make("link-outside.tar", [("Procfile", None), ("up", "../../outside")])
            make("two.tar", [("Procfile", None), ("README", None)])
            """
        #expect(try Shell.run("/usr/bin/python3", ["-c", script, work]).status == 0)
        func fromArchive(_ name: String) throws -> ProcessResult { try sandbox.run("git:from-archive", "web", "file://\(work)/\(name)") }
        #expect(try fromArchive("absolute.tar").stderr.hasSuffix(" !     Archive contains entries with absolute paths\n"))
        #expect(try fromArchive("traversal.tar").stderr.hasSuffix(" !     Archive contains entries with parent directory traversal\n"))
        #expect(try fromArchive("link-absolute.tar").stderr.hasSuffix(" !     Archive contains symlinks with absolute targets\n"))
        #expect(try fromArchive("link-outside.tar").stderr.hasSuffix(" !     Archive contains symlinks pointing outside extraction directory\n"))
        try sandbox.run("git:set", "web", "archive-max-files", "1")
        let many = try fromArchive("two.tar")
        #expect(many.status != 0 && many.stderr.hasSuffix(" !     Archive contains 2 entries which exceeds the maximum of 1\n"), "\(many)")
        try sandbox.run("git:set", "--global", "archive-max-size", "100")
        #expect(try fromArchive("two.tar").stderr.hasSuffix(" !     Archive exceeds maximum allowed size of 100 bytes\n"))
        #expect(try sandbox.sql("SELECT COUNT(*) FROM release WHERE app = 'web'") == "0", "nothing was built")
    }

    @Test func networkSettingsAreKeptAndReported() throws {
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "web")
        func value(_ flag: String) throws -> String { try sandbox.run("network:report", "web", flag).stdout }
        #expect(try value("--network-computed-bind-all-interfaces") == "false\n")
        #expect(try sandbox.run("network:set", "--global", "bind-all-interfaces", "true").status == 0)
        #expect(try value("--network-computed-bind-all-interfaces") == "true\n")
        #expect(try sandbox.run("network:set", "web", "attach-post-deploy", "one", "two").stdout == "=====> Setting attach-post-deploy to one,two\n")
        #expect(try value("--network-attach-post-deploy") == "one,two\n")
        #expect(try sandbox.run("network:set", "web", "attach-post-create", "bridge").stderr == " !     Invalid network name specified for attach: bridge\n")
        #expect(try sandbox.run("network:set", "--global", "static-web-listener", "127.0.0.1:5000").stderr == " !     Property cannot be specified globally\n")
        #expect(try value("--network-web-listeners") == "\n", "no web process runs")
        let json = try JSONSerialization.jsonObject(with: Data(try sandbox.run("network:report", "web", "--format", "json").stdout.utf8)) as? [String: String]
        #expect(json?["attach-post-deploy"] == "one,two" && json?["network-attach-post-deploy"] == "one,two", "\(String(describing: json))")
    }

    @Test func builderSettingsAppGlobalAndComputed() throws {
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "web")
        func value(_ flag: String) throws -> String { try sandbox.run("builder:report", "web", flag).stdout }
        #expect(try value("--builder-build-dir") == "\n")
        #expect(try value("--builder-computed-skip-cleanup") == "false\n")

        #expect(try sandbox.run("builder:set", "--global", "build-dir", "global/subdir").stdout == "=====> Setting build-dir to global/subdir\n")
        #expect(try value("--builder-computed-build-dir") == "global/subdir\n")
        try sandbox.run("builder:set", "web", "build-dir", "app/subdir")
        #expect(try value("--builder-build-dir") == "app/subdir\n")
        #expect(try value("--builder-global-build-dir") == "global/subdir\n")
        #expect(try value("--builder-computed-build-dir") == "app/subdir\n")
        #expect(try sandbox.run("builder:set", "web", "build-dir").stdout == "=====> Unsetting build-dir\n")
        #expect(try value("--builder-computed-build-dir") == "global/subdir\n")

        let report = try sandbox.run("builder:report", "web").stdout
        #expect(report.hasPrefix("=====> web builder information\n"))
        #expect(report.contains("       Builder computed build dir:    global/subdir\n"))
        let json = try sandbox.run("builder:report", "--global", "--format", "json").stdout
        #expect(json.contains(#""builder-global-build-dir":"global/subdir""#) && json.contains(#""global-build-dir":"global/subdir""#))
        #expect(!json.contains(#""builder-build-dir""#), "the global report has no app values")

        let detected = try sandbox.run("builder:set", "web", "detected", "x")
        #expect(detected.status == 0 && detected.stderr == " !     detected is a read-only property\n")
        let invalid = try sandbox.run("builder:set", "web", "colour", "blue")
        #expect(invalid.status == 1)
        #expect(invalid.stderr == " !     Invalid property specified, valid properties include: build-dir, detected, selected, skip-cleanup\n")
        #expect(try sandbox.run("builder:set", "nope", "build-dir", "x").status == 20)
        let flag = try sandbox.run("builder:report", "web", "--builder-colour")
        #expect(flag.status == 1 && flag.stderr.hasPrefix(" !     Invalid flag passed, valid flags: --builder-build-dir, --builder-computed-build-dir,"))
    }

    @Test func appJSONPathReport() throws {
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "web")
        #expect(try sandbox.run("app-json:report", "web", "--app-json-computed-appjson-path").stdout == "app.json\n")
        #expect(try sandbox.run("app-json:set", "web", "appjson-path", "app2.json").stdout == "=====> Setting appjson-path to app2.json\n")
        let json = try sandbox.run("app-json:report", "web", "--format", "json").stdout
        for pair in [#""app-json-appjson-path":"app2.json""#, #""computed-appjson-path":"app2.json""#, #""global-appjson-path":"""#] {
            #expect(json.contains(pair), "\(pair) in \(json)")
        }
        let invalid = try sandbox.run("app-json:set", "web", "path", "x")
        #expect(invalid.stderr == " !     Invalid property specified, valid properties include: appjson-path\n")
    }

    @Test func logsSettingsValidateAndHideSinks() throws {
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "web")
        func value(_ flag: String) throws -> String { try sandbox.run("logs:report", "web", flag).stdout }
        #expect(try value("--logs-computed-max-size") == "10m\n")
        try sandbox.run("logs:set", "--global", "max-size", "20m")
        #expect(try value("--logs-computed-max-size") == "20m\n")
        try sandbox.run("logs:set", "web", "max-size", "unlimited")
        #expect(try value("--logs-computed-max-size") == "unlimited\n")

        for (key, value, message) in [
            ("max-size", "20x", "Invalid max-size unit measure, value must end in any of [k, m, g]"),
            ("max-size", "am", "Invalid max-size value, unable to convert number to int: a"),
            ("app-label-alias", "_leading", "Invalid app-label-alias value, must start with a letter or number and contain only letters, numbers, and any of [_, ., -]"),
            ("vector-image", "timberio/vector:latest-debian", "vector-image may only be set globally with --global"),
        ] {
            let refused = try sandbox.run("logs:set", "web", key, value)
            #expect(refused.status == 1 && refused.stderr == " !     \(message)\n", "\(key)=\(value): \(refused)")
        }
        #expect(try sandbox.run("logs:set", "--global", "vector-networks", "a,").stderr == " !     Invalid vector-networks value, empty entry in comma-separated list\n")

        try sandbox.run("logs:set", "web", "vector-sink", "datadog_logs://?api_key=abc123")
        #expect(try value("--logs-vector-sink") == "datadog_logs://?api_key=abc123\n", "its own flag shows the raw value")
        #expect(try value("--logs-computed-vector-sink") == "datadog_logs://redacted\n")
        let report = try sandbox.run("logs:report", "web").stdout
        #expect(report.components(separatedBy: "datadog_logs://redacted").count == 3 && !report.contains("abc123"), "\(report)")
        #expect(try sandbox.run("logs:report", "web", "--format", "json").stdout.contains(#""vector-sink":"datadog_logs://?api_key=abc123""#))
    }

    @Test func reportGathersEveryNamespace() throws {
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "web")
        let report = try sandbox.run("report", "web")
        #expect(report.status == 0)
        for type in ["app", "app-json", "builder", "buildpacks", "checks", "domains", "logs", "ports", "proxy", "storage"] {
            #expect(report.stdout.contains("=====> web \(type) information\n"), "\(type)")
        }
        #expect(report.stdout.hasPrefix("-----> uname: "))
        #expect(try sandbox.run("report", "nope").status == 20)
    }

    @Test func cronSettings() throws {
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "web")
        #expect(try sandbox.run("cron:set", "--global", "mailto", "ops@example.com").stdout == "=====> Setting mailto to ops@example.com\n")
        #expect(try sandbox.run("cron:report", "web", "--cron-computed-mailto").stdout == "ops@example.com\n")
        #expect(try sandbox.run("cron:report", "web", "--cron-computed-maintenance").stdout == "false\n")
        #expect(try sandbox.run("cron:report", "web", "--cron-task-count").stdout == "0\n")
        #expect(try sandbox.run("cron:set", "--global", "maintenance.abc", "true").stderr == " !     Task maintenance properties cannot be set globally\n")
        #expect(try sandbox.run("cron:set", "web", "maintenance.abc", "true").stderr == " !     Invalid task maintenance property, no matching task ID found: maintenance.abc\n")
        #expect(try sandbox.run("cron:set", "web", "maintenance", "maybe").stderr == " !     Invalid maintenance value: maybe (expected true or false)\n")
        #expect(try sandbox.run("cron:suspend", "web").stderr == " !     Please specify a Cron ID from the output of 'dokku cron:list web'\n")
        #expect(try sandbox.run("cron:run", "web", "abc").stderr == " !     No matching Cron ID found. Please specify a Cron ID from the output of 'dokku cron:list web'\n")
    }

    @Test func repoCommands() throws {
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "web")
        #expect(try sandbox.run("repo:help").stdout.contains("Manage the app's repo"))
        #expect(try sandbox.run("repo:gc", "web").status == 0, "an app never pushed has nothing to collect")
        #expect(try sandbox.run("repo:purge-cache", "web").status == 0)
        let missing = try sandbox.run("repo:purge-cache", "nope")
        #expect(missing.status == 20 && missing.stderr == " !     App nope does not exist\n")
    }
}
