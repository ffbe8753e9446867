import Foundation
import TestSupport
import Testing

/// `apps:*`, help, version and global flags, through the built binary.
@Suite struct AppsCLITests {
    @Test func createListExistsDestroy() throws {
        let sandbox = try Sandbox()
        let created = try sandbox.run("apps:create", "myapp")
        #expect(created.status == 0)
        #expect(created.stdout == "-----> Creating myapp...\n")
        #expect(try sandbox.run("apps:exists", "myapp").status == 0)
        #expect(try sandbox.run("apps:list").stdout == "=====> My Apps\nmyapp\n")
        #expect(try sandbox.run("--quiet", "apps:list").stdout == "myapp\n")
        #expect(try sandbox.run("apps:list", "--format", "json").stdout == "[\"myapp\"]\n")

        let destroyed = try sandbox.run("apps:destroy", "myapp", "--force")
        #expect(destroyed.status == 0)
        #expect(destroyed.stdout.contains("-----> Destroying myapp (including all add-ons)"))
        let gone = try sandbox.run("apps:exists", "myapp")
        #expect(gone.status == 20)
        #expect(gone.stderr == " !     App myapp does not exist\n")
        #expect(!FileManager.default.fileExists(atPath: sandbox.root + "/apps/myapp"))
    }

    @Test func duplicateAndInvalidNamesAreRefusedWithoutWriting() throws {
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "taken")
        let again = try sandbox.run("apps:create", "taken")
        #expect(again.status == 1)
        #expect(again.stderr == " !     Name is already taken\n")
        for bad in ["TestApp", "test_app", "test/app", "../etc", "a;b"] {
            let result = try sandbox.run("apps:create", bad)
            #expect(result.status == 1, "\(bad)")
            #expect(result.stderr == " !     App name must begin with lowercase alphanumeric character, and may only contain lowercase alphanumerics, dots, and hyphens\n")
        }
        #expect(try sandbox.run("--quiet", "apps:list").stdout == "taken\n")
        let missing = try sandbox.run("apps:create")
        #expect(missing.stderr == " !     Please specify an app to run the command on\n")
        #expect(missing.status == 1)
    }

    @Test func destroyAsksForConfirmation() throws {
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "keep")
        let refused = try sandbox.run(["apps:destroy", "keep"], input: "nope\n")
        #expect(refused.status == 1)
        #expect(refused.stderr.contains(" !     WARNING: Potentially Destructive Action\n !     This command will destroy app keep.\n !     To proceed, type \"keep\"\n"))
        #expect(refused.stderr.contains("Confirmation did not match keep. Aborted."))
        #expect(try sandbox.run("apps:exists", "keep").status == 0)

        let confirmed = try sandbox.run(["apps:destroy", "keep"], input: "keep\n")
        #expect(confirmed.status == 0)
        #expect(try sandbox.run("apps:exists", "keep").status == 20)

        try sandbox.run("apps:create", "forced")
        #expect(try sandbox.run("--force", "apps:destroy", "forced").status == 0)
    }

    @Test func renameKeepsSettings() throws {
        let sandbox = try Sandbox()
        try sandbox.run("domains:set-global", "example.test")
        try sandbox.run("apps:create", "old")
        try sandbox.run("config:set", "--no-restart", "old", "K=v")
        let renamed = try sandbox.run("apps:rename", "old", "new")
        #expect(renamed.status == 0)
        #expect(renamed.stdout.contains("-----> Renaming old to new"))
        #expect(try sandbox.run("apps:exists", "old").status == 20)
        #expect(try sandbox.run("config:get", "new", "K").stdout == "v\n")
        #expect(try sandbox.run("domains:report", "new", "--domains-app-vhosts").stdout == "new.example.test\n")
        try sandbox.run("apps:create", "other")
        #expect(try sandbox.run("apps:rename", "new", "other").stderr == " !     Name is already taken\n")
    }

    @Test func lockUnlockLocked() throws {
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "app")
        let notLocked = try sandbox.run("apps:locked", "app")
        #expect(notLocked.status == 1)
        #expect(notLocked.stderr == " !     Deploy lock does not exist\n")
        #expect(try sandbox.run("apps:unlock", "app").stderr == " !     Unable to remove deploy lock\n")
        #expect(try sandbox.run("apps:lock", "app").stdout == "-----> Deploy lock created\n")
        #expect(try sandbox.run("apps:locked", "app").stdout == "Deploy lock exists\n")
        #expect(try sandbox.run("apps:report", "app", "--app-locked").stdout == "true\n")
        #expect(try sandbox.run("apps:unlock", "app").stdout == "-----> Deploy lock removed\n")
        #expect(try sandbox.run("apps:report", "app", "--app-locked").stdout == "false\n")
    }

    @Test func reportFormats() throws {
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "rep")
        let report = try sandbox.run("apps:report", "rep")
        #expect(report.stdout.hasPrefix("=====> rep app information\n       App created at:                  "), "labels padded to the longest flag, as Dokku pads them")
        #expect(report.stdout.contains("\n       App dir:                         \(sandbox.root)/apps/rep\n"))
        let json = try sandbox.run("apps:report", "rep", "--format", "json")
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: String]
        #expect(object?["locked"] == "false")
        #expect(object?["app-locked"] == "false", "Dokku's apps report keeps the legacy key beside the trimmed one")
        #expect(try sandbox.run("apps:report", "--global", "--app-global-disable-autocreation").stdout == "\n")
        #expect(try sandbox.run("apps:set", "--global", "disable-autocreation", "true").status == 0)
        #expect(try sandbox.run("apps:report", "--global", "--app-global-disable-autocreation").stdout == "true\n")
        let global = try JSONSerialization.jsonObject(with: Data(try sandbox.run("apps:report", "--global", "--format", "json").stdout.utf8)) as? [String: String]
        #expect(global == ["global-disable-autocreation": "true", "app-global-disable-autocreation": "true"])
        #expect(try sandbox.run("apps:report", "rep", "--app-global-disable-autocreation").stdout == "true\n")
        let bad = try sandbox.run("apps:report", "rep", "--nope")
        #expect(bad.status == 1)
        #expect(bad.stderr.hasPrefix(" !     Invalid flag passed, valid flags: --app-created-at, "))
    }

    @Test func unknownCommandHelpAndVersion() throws {
        let sandbox = try Sandbox()
        let unknown = try sandbox.run("fakecommand", "arg1")
        #expect(unknown.status == 1)
        #expect(unknown.stderr == " !     `fakecommand arg1` is not a dokku command.\n !     See `dokku help` for a list of available commands.\n")
        let help = try sandbox.run("help")
        #expect(help.status == 0)
        #expect(help.stdout.contains("    apps                     Manage apps\n"))
        #expect(help.stdout.contains("    config                   Manage global and app-specific config vars\n"))
        let appsHelp = try sandbox.run("apps:help")
        #expect(appsHelp.stdout.hasPrefix("Usage: dokkulite apps[:COMMAND]\n\nManage apps\n\nAdditional commands:\n"))
        #expect(appsHelp.stdout.contains("apps:create <app>"))
        #expect(try sandbox.run("apps", "--help").stdout == appsHelp.stdout, "as apps_1.bats: `apps --help` is `apps:help`")
        #expect(try sandbox.run("config", "--help").stdout == (try sandbox.run("config:help").stdout))
        #expect(try sandbox.run("logs:help").stdout.contains("Manage log integration for an app"))
        #expect(try sandbox.run("nginx").stdout.contains("Manage the nginx proxy"))
        #expect(try sandbox.run("nginx:help").stdout.contains("nginx:set"))
        #expect(try sandbox.run("version").stdout.hasPrefix("dokkulite version "))
        #expect(try sandbox.run("apps:nonexistent", "x").stderr.hasPrefix(" !     `apps:nonexistent x` is not a dokku command."))
    }

    @Test func appsSetTakesDokkusProperties() throws {
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "a")
        #expect(try sandbox.run("apps:set", "a", "disable-autocreation", "true").stderr == " !     Property can only be specified globally\n")
        #expect(try sandbox.run("apps:set", "--global", "disable-autocreation", "true").stdout == "=====> Setting disable-autocreation to true\n")
        #expect(try sandbox.sql("SELECT value FROM globalProperty WHERE namespace = 'apps' AND key = 'disable-autocreation'") == "true")
        #expect(try sandbox.run("apps:set", "--global", "disable-autocreation").stdout == "=====> Unsetting disable-autocreation\n")
        #expect(try sandbox.run("apps:set", "a", "colour", "red").stderr.hasPrefix(" !     Invalid property specified, valid properties include: deploy-source"))
    }

    @Test func globalAppFlagSuppliesTheApp() throws {
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "flagged")
        #expect(try sandbox.run("--app", "flagged", "config:set", "--no-restart", "A=1").status == 0)
        #expect(try sandbox.run("--app", "flagged", "config:get", "A").stdout == "1\n")
        #expect(try sandbox.run("--app", "missing", "config:show").status == 20)
    }

    /// Asked for events (as the API asks), a command writes each step, and the failure that
    /// stops it with its kind, as one marked JSON line on stdout; a marker that is not
    /// letters and digits of a fitting length is ignored, and the terminal gets its usual lines.
    @Test func outputAsEventsCarriesTheFailureKind() throws {
        let sandbox = try Sandbox("events")
        let marker = "m0123456789abcdefABCDEF"
        sandbox.environment["DOKKULITE_OUTPUT_EVENTS"] = marker
        let created = try sandbox.run("apps:create", "evented")
        #expect(created.status == 0 && created.stderr.isEmpty, "\(created)")
        #expect(created.stdout == "\(marker) {\"line\":\"-----> Creating evented...\",\"stream\":\"stdout\",\"text\":\"Creating evented...\",\"type\":\"step\"}\n", "\(created)")
        let again = try sandbox.run("apps:create", "evented")
        #expect(again.status == 1 && again.stderr.isEmpty, "\(again)")
        #expect(again.stdout == "\(marker) {\"kind\":\"conflict\",\"line\":\" !     Name is already taken\",\"stream\":\"stderr\",\"text\":\"Name is already taken\",\"type\":\"failure\"}\n", "\(again)")
        #expect(try sandbox.run("config:get", "missing-app", "X").stdout.contains("\"kind\":\"notFound\""))
        #expect(try sandbox.run("apps:create", "Bad_Name").stdout.contains("\"kind\":\"invalid\""))
        sandbox.environment["DOKKULITE_OUTPUT_EVENTS"] = "short;"
        let plain = try sandbox.run("apps:create", "evented")
        #expect(plain.stdout.isEmpty && plain.stderr == " !     Name is already taken\n", "\(plain)")
    }
}
