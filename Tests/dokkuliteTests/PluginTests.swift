import Foundation
import TestSupport
import Testing

/// Dokku-style plugins: commands, triggers, vetoes and a hanging trigger.
@Suite struct PluginTests {
    /// Writes a plugin directory and returns its path.
    static func makePlugin(in root: String, name: String, files: [String: String]) throws -> String {
        let directory = root + "/src-" + name
        for (path, content) in files.merging(["plugin.toml": "[plugin]\nname = \"\(name)\"\ndescription = \"test plugin \(name)\"\nversion = \"1.2.3\"\n"], uniquingKeysWith: { a, _ in a }) {
            let full = directory + "/" + path
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try content.write(toFile: full, atomically: true, encoding: .utf8)
            chmod(full, 0o755)
        }
        return directory
    }

    @Test func commandsTriggersAndVetoes() throws {
        let sandbox = try Sandbox("plugins")
        let log = sandbox.root + "/trigger.log"
        let source = try Self.makePlugin(in: sandbox.root, name: "sample", files: [
            "commands": "#!/bin/bash\ncase \"$1\" in\n  help) echo '    hello:world <app>          say hello';;\n  hello:world) echo \"hello from the plugin to $2\";;\n  *) exit 10;;\nesac\n",
            "subcommands/greet": "#!/bin/bash\necho \"greetings, $2\"\n",
            "post-create": "#!/bin/bash\necho \"post-create $*\" >> \(log)\n",
            "pre-deploy": "#!/bin/bash\nif [[ $1 == veto* ]]; then echo \"deploys of $1 are not allowed by policy\" >&2; exit 1; fi\n",
            "post-config-update": "#!/bin/bash\necho \"post-config-update $*\" >> \(log)\n",
        ])
        let installed = try sandbox.run("plugin:install", source)
        #expect(installed.status == 0, "\(installed)")
        #expect(try sandbox.run("plugin:list").stdout.contains("sample"))
        #expect(try sandbox.run("help").stdout.contains("hello:world <app>"))
        #expect(try sandbox.run("hello:world", "x").stdout == "hello from the plugin to x\n")
        #expect(try sandbox.run("greet", "you").stdout == "greetings, you\n")
        #expect(try sandbox.run("not:handled").stderr.contains("is not a dokku command"))

        let app = uniqueApp("plug")
        try sandbox.run("apps:create", app)
        try sandbox.run("config:set", "--no-restart", app, "A=1")
        let lines = try String(contentsOfFile: log, encoding: .utf8)
        #expect(lines.contains("post-create \(app)\n"))
        #expect(lines.contains("post-config-update \(app) set A\n"))

        let trigger = try sandbox.run("plugin:trigger", "pre-deploy", "veto-app")
        #expect(trigger.status != 0)
        #expect(trigger.stderr == " !     deploys of veto-app are not allowed by policy\n")

        #expect(try sandbox.run("plugin:disable", "sample").status == 0)
        #expect(try sandbox.run("hello:world", "x").status != 0, "a disabled plugin's commands are gone")
        #expect(try sandbox.run("plugin:enable", "sample").status == 0)
        #expect(try sandbox.run("plugin:uninstall", "sample").status == 0)
        #expect(try sandbox.run("plugin:list").stdout.isEmpty)
    }

    @Test func cronListGlobalGivesTheTasksPluginsInject() throws {
        let sandbox = try Sandbox("cronentries")
        let source = try Self.makePlugin(in: sandbox.root, name: "entries", files: [
            "cron-entries": "#!/bin/bash\n[[ $1 == docker-local ]] || exit 0\necho '@daily;/bin/true'\necho '0 1 * * *;/usr/bin/env x;/var/log/x.log'\necho 'no separator'\n",
        ])
        #expect(try sandbox.run("plugin:install", source).status == 0)
        let json = try sandbox.run("cron:list", "--global", "--format", "json")
        #expect(json.status == 0, "\(json)")
        #expect(json.stdout == """
            [{"id":"5cruaotm4yzzpnjlsdunblj8qyjp","command":"/bin/true","global":true,"schedule":"@daily","concurrency_policy":"",\
            "app-in-maintenance":false,"task-in-maintenance":false,"maintenance":false},\
            {"id":"1an6b094wc1xb6nbgqjk4x0hvio6owqfjwcs0lq5hhatzsytqostf8xtoeg5saxlgfb","command":"/usr/bin/env x","global":true,\
            "schedule":"0 1 * * *","concurrency_policy":"","app-in-maintenance":false,"task-in-maintenance":false,"maintenance":false}]

            """, "\(json)")
        #expect(json.stderr == " !     Invalid injected cron task: no separator\n")
        let text = try sandbox.run("cron:list", "--global")
        #expect(text.stdout.hasPrefix("=====> Global cron tasks\nID  "), "\(text)")
        #expect(text.stdout.contains("@daily"))
    }

    @Test func installedAnswersWithItsStatusAndUpdateFetchesTheSourceAgain() throws {
        let sandbox = try Sandbox("pluginupdate")
        let repository = sandbox.root + "/plugin-repo"
        try FileManager.default.createDirectory(atPath: repository, withIntermediateDirectories: true)
        func git(_ arguments: String...) throws {
            let result = try Shell.which("git", ["-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"] + arguments, directory: repository)
            #expect(result.status == 0, "\(arguments): \(result)")
        }
        func commit(version: String) throws {
            try "[plugin]\ndescription = \"updatable\"\nversion = \"\(version)\"\n".write(toFile: repository + "/plugin.toml", atomically: true, encoding: .utf8)
            try git("add", "plugin.toml")
            try git("commit", "-q", "-m", version)
            try git("tag", "v\(version)")
        }
        try git("init", "-q")
        try commit(version: "0.1.0")

        let absent = try sandbox.run("plugin:installed", "updatable")
        #expect(absent.status == 1 && absent.stdout.isEmpty && absent.stderr.isEmpty, "\(absent)")
        #expect(try sandbox.run("plugin:install", "file://" + repository, "--name", "updatable").status == 0)
        #expect(try sandbox.run("plugin:installed", "updatable").status == 0)
        #expect(try sandbox.run("plugin:list").stdout.contains("0.1.0"))

        try commit(version: "0.2.0")
        let updated = try sandbox.run("plugin:update", "updatable")
        #expect(updated.status == 0 && updated.stdout.contains("Plugin updatable updated"), "\(updated)")
        #expect(try sandbox.run("plugin:list").stdout.contains("0.2.0"))
        #expect(try sandbox.run("plugin:update", "updatable", "v0.1.0").status == 0)
        #expect(try sandbox.run("plugin:list").stdout.contains("0.1.0"))
        #expect(try sandbox.run("plugin:update").status == 0, "every plugin from git, pinned where it was pinned")
        #expect(try sandbox.run("plugin:list").stdout.contains("0.1.0"))

        #expect(try sandbox.run("plugin:update", "https://example.test/x.git").stderr == " !     Invalid plugin name specified\n")
        #expect(try sandbox.run("plugin:update", "missing").stderr == " !     Specified plugin not enabled or installed\n")
        #expect(try sandbox.run("plugin:update", "app-json").stderr.contains("against core plugin"))
        try sandbox.run("plugin:disable", "updatable")
        #expect(try sandbox.run("plugin:update", "updatable").stderr == " !     Specified plugin not enabled or installed\n")

        // Updating runs new code as root: never from ssh. Asking is fine.
        sandbox.environment["SSH_ORIGINAL_COMMAND"] = "plugin:update updatable"
        let overSSH = try sandbox.run("ssh-command", "--key-name", "someone")
        #expect(overSSH.status != 0 && !overSSH.stdout.contains("updated"), "\(overSSH)")
        sandbox.environment["SSH_ORIGINAL_COMMAND"] = "plugin:installed updatable"
        #expect(try sandbox.run("ssh-command", "--key-name", "someone").status == 0)
    }

    @Test func aHangingTriggerIsStoppedAndNamed() throws {
        let sandbox = try Sandbox("hanging")
        sandbox.environment["DOKKULITE_PLUGIN_TIMEOUT"] = "1"
        let source = try Self.makePlugin(in: sandbox.root, name: "sleepy", files: ["post-create": "#!/bin/bash\nsleep 60\n"])
        #expect(try sandbox.run("plugin:install", source).status == 0)
        let started = ContinuousClock.now
        let created = try sandbox.run("apps:create", uniqueApp("slow"))
        #expect(ContinuousClock.now - started < .seconds(10))
        #expect(created.status == 0, "post-create is not a veto: the app is created")
        #expect(created.stderr.contains("plugin sleepy: trigger post-create did not finish within 1s and was stopped"), "\(created)")
        #expect(try sandbox.run("--quiet", "apps:list").stdout.split(separator: "\n").count == 1, "state is intact")
    }

    @Test func userAuthCanRefuseSSHCommands() throws {
        let sandbox = try Sandbox("userauth")
        let source = try Self.makePlugin(in: sandbox.root, name: "gate", files: [
            "user-auth": "#!/bin/bash\n# $1 user, $2 key name, $3 command\nif [[ $2 == intern && $3 == apps:destroy ]]; then echo \"$2 may not destroy apps\" >&2; exit 1; fi\n",
        ])
        #expect(try sandbox.run("plugin:install", source).status == 0)
        sandbox.environment["SSH_ORIGINAL_COMMAND"] = "apps:destroy something --force"
        let refused = try sandbox.run("ssh-command", "--key-name", "intern")
        #expect(refused.status != 0)
        #expect(refused.stderr == " !     intern may not destroy apps\n")
        sandbox.environment["SSH_ORIGINAL_COMMAND"] = "version"
        #expect(try sandbox.run("ssh-command", "--key-name", "intern").status == 0)
        sandbox.environment["SSH_ORIGINAL_COMMAND"] = "plugin:install /tmp/x"
        #expect(try sandbox.run("ssh-command", "--key-name", "admin").status != 0, "plugins are installed on the server only")
    }
}

/// A veto on a real deploy: the plugin's message, and no release goes live.
@Suite(.enabled(if: Integration.systemdEnabled, "needs a systemd manager: run scripts/test"))
struct PluginDeployTests {
    @Test func preDeployVetoStopsTheDeployAndPostDeployRuns() throws {
        _ = try #require(Integration.systemdBus, "DOKKULITE_SYSTEMD_BUS is not set; scripts/test sets it")
        let sandbox = try Sandbox("plugindeploy")
        try sandbox.run("checks:set", "--global", "wait-to-retire", "0")
        let log = sandbox.root + "/deployed.log"
        let source = try PluginTests.makePlugin(in: sandbox.root, name: "policy", files: [
            "pre-deploy": "#!/bin/bash\necho \"-----> policy checked $1\"\nif [[ $1 == veto* ]]; then echo \"deploys of $1 are not allowed by policy\" >&2; exit 1; fi\n",
            "post-deploy": "#!/bin/bash\necho \"post-deploy $1 $4\" >> \(log)\n",
        ])
        #expect(try sandbox.run("plugin:install", source).status == 0)
        let allowed = uniqueApp("ok")
        #expect(try AppSource(sandbox, files: DeployTests.versionApp("fine")).push(allowed).status == 0)
        #expect(try String(contentsOfFile: log, encoding: .utf8) == "post-deploy \(allowed) v1\n")
        let vetoed = uniqueApp("veto")
        let push = try AppSource(sandbox, files: DeployTests.versionApp("no")).push(vetoed)
        #expect(push.status != 0)
        #expect(push.stderr.contains("deploys of \(vetoed) are not allowed by policy"))
        // What a trigger prints reaches the pusher, as Dokku's triggers' output does.
        #expect(push.stderr.contains("remote: -----> policy checked \(vetoed)"), "\(push)")
        #expect(try sandbox.sql("SELECT COUNT(*) FROM release WHERE app = '\(vetoed)' AND status = 'current'") == "0")
        #expect(try sandbox.sql("SELECT COUNT(*) FROM instance WHERE app = '\(vetoed)'") == "0")
    }
}
