import Foundation
import TestSupport
import Testing

@Suite struct DomainsCLITests {
    @Test func addRemoveSetClear() throws {
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "web")
        #expect(try sandbox.run("domains:add", "web", "a.test", "b.test").stdout == "-----> Added a.test to web\n-----> Added b.test to web\n")
        #expect(try sandbox.run("domains:add", "web", "a.test").stdout == "-----> Skipping: a.test already added to web\n")
        #expect(try sandbox.run("domains:report", "web", "--domains-app-vhosts").stdout == "a.test b.test\n")
        #expect(try sandbox.run("domains:remove", "web", "a.test").stdout == "-----> Removed a.test from web\n")
        #expect(try sandbox.run("domains:set", "web", "x.test", "*.y.test").stdout == "-----> Set x.test *.y.test for web\n")
        #expect(try sandbox.run("domains:report", "web", "--domains-app-vhosts").stdout == "x.test *.y.test\n")
        #expect(try sandbox.run("domains:clear", "web").stdout == "-----> Cleared domains in web\n")
        #expect(try sandbox.run("domains:report", "web", "--domains-app-vhosts").stdout == "\n")
    }

    @Test func invalidDomainWritesNothing() throws {
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "web")
        let bad = try sandbox.run("domains:add", "web", "ok.test", "http://bad")
        #expect(bad.status == 1)
        #expect(bad.stderr == " !     http://bad is invalid. exiting...\n")
        #expect(try sandbox.run("domains:report", "web", "--domains-app-vhosts").stdout == "\n")
        #expect(try sandbox.run("domains:add", "web").stderr.hasPrefix(" !     Please specify a domain name."))
        #expect(try sandbox.run("domains:add", "nope", "x.test").status == 20)
    }

    @Test func globalDomainsGiveNewAppsADefault() throws {
        let sandbox = try Sandbox()
        #expect(try sandbox.run("domains:add-global", "dokku.test").stdout == "-----> Added dokku.test\n")
        #expect(try sandbox.run("domains:add-global", "dokku.test").stdout == "-----> Skipping dokku.test: already added\n")
        try sandbox.run("apps:create", "fresh")
        #expect(try sandbox.run("domains:report", "fresh", "--domains-app-vhosts").stdout == "fresh.dokku.test\n")
        let global = try sandbox.run("domains:report", "--global", "--format", "json")
        #expect(global.stdout == "{\"global-enabled\":\"true\",\"global-vhosts\":\"dokku.test\"}\n")
        #expect(try sandbox.run("domains:set-global", "a.test", "b.test").stdout == "-----> Set a.test b.test\n")
        #expect(try sandbox.run("domains:remove-global", "a.test").stdout == "-----> Removed a.test\n")
        #expect(try sandbox.run("domains:report", "--global", "--domains-global-vhosts").stdout == "b.test\n")
    }

    @Test func disableAndEnable() throws {
        let sandbox = try Sandbox()
        try sandbox.run("domains:add-global", "dokku.test")
        try sandbox.run("apps:create", "sw")
        #expect(try sandbox.run("domains:clear", "sw").status == 0)
        #expect(try sandbox.run("domains:report", "sw", "--domains-app-enabled").stdout == "true\n", "clearing is not disabling, as in Dokku")
        try sandbox.run("domains:add", "sw", "sw.example.test")
        #expect(try sandbox.run("domains:disable", "sw").stdout == "-----> App virtual host support disabled\n")
        #expect(try sandbox.run("domains:report", "sw", "--domains-app-enabled").stdout == "false\n")
        #expect(try sandbox.run("domains:report", "sw", "--domains-app-vhosts").stdout == "\n")
        #expect(try sandbox.run("domains:disable", "sw").stdout == "-----> Domains (VHOST) support is already disabled for app (sw)\n")
        #expect(try sandbox.run("domains:enable", "sw").status == 0)
        #expect(try sandbox.run("domains:report", "sw", "--domains-app-vhosts").stdout == "sw.dokku.test\n", "the defaults come back")
        #expect(try sandbox.run("domains:enable", "sw").stdout == "-----> Domains (VHOST) support is already enabled for app (sw)\n")
        try sandbox.run("domains:disable", "sw")
        try sandbox.run("domains:add", "sw", "again.test")
        #expect(try sandbox.run("domains:report", "sw", "--domains-app-enabled").stdout == "true\n", "adding a domain enables domains again")

        // A clone of a disabled app starts with domains on (it has its own defaults).
        try sandbox.run("domains:disable", "sw")
        #expect(try sandbox.run("apps:clone", "--skip-deploy", "sw", "sw2").status == 0)
        #expect(try sandbox.run("domains:report", "sw2", "--domains-app-enabled").stdout == "true\n")
        #expect(try sandbox.run("domains:report", "sw2", "--domains-app-vhosts").stdout == "sw2.dokku.test\n")
    }

    @Test func renameMovesEveryDefaultDomain() throws {
        let sandbox = try Sandbox()
        try sandbox.run("domains:set-global", "one.test", "two.test")
        try sandbox.run("apps:create", "a")
        try sandbox.run("domains:add", "a", "custom.test")
        #expect(try sandbox.run("apps:rename", "a", "x.y").status == 0)
        #expect(try sandbox.run("domains:report", "x.y", "--domains-app-vhosts").stdout == "x.y custom.test\n", "an app named with a dot is its one default")
        #expect(try sandbox.run("apps:rename", "x.y", "b").status == 0)
        #expect(try sandbox.run("domains:report", "b", "--domains-app-vhosts").stdout == "b.one.test b.two.test custom.test\n")
    }
}

@Suite struct PortsCLITests {
    @Test func addSetRemoveClear() throws {
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "p")
        #expect(try sandbox.run("ports:add", "p", "http:80:5000", "tcp:2222:22").status == 0)
        #expect(try sandbox.run("ports:report", "p", "--ports-map").stdout == "http:80:5000 tcp:2222:22\n")
        #expect(try sandbox.run("ports:set", "p", "https:443:5000").status == 0)
        #expect(try sandbox.run("ports:report", "p", "--ports-map").stdout == "https:443:5000\n")
        try sandbox.run("ports:add", "p", "http:8080:5000")
        #expect(try sandbox.run("ports:remove", "p", "8080").status == 0)
        #expect(try sandbox.run("ports:report", "p", "--ports-map-json").stdout == "[{\"container_port\":5000,\"host_port\":443,\"scheme\":\"https\"}]\n")
        #expect(try sandbox.run("ports:clear", "p").status == 0)
        #expect(try sandbox.run("ports:list", "p").stderr == " !     No port mappings configured for app\n")
    }

    @Test func badMapsAreRefused() throws {
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "p")
        #expect(try sandbox.run("ports:add", "p").stderr == " !     No port mapping specified\n")
        #expect(try sandbox.run("ports:add", "p", "http:80").stderr == " !     Invalid port map http:80 [len=2]\n")
        #expect(try sandbox.run("ports:set", "p", "http:80:1", "http:80:2").stderr == " !     Error validating port mappings: The same scheme:host-port is being reused: http:80\n")
        let bad = try sandbox.run("ports:add", "p", "http:80:5000", "smtp:25:25")
        #expect(bad.status == 1)
        #expect(try sandbox.run("ports:report", "p", "--ports-map").stdout == "\n")
        // An identical map already there is reuse too (Dokku's ports.bats).
        #expect(try sandbox.run("ports:add", "p", "http:1234:5001").status == 0)
        #expect(try sandbox.run("ports:add", "p", "http:1234:5001").stderr == " !     Error validating all port mappings: The same scheme:host-port is being reused: http:1234\n")
    }
}

@Suite struct PSCLITests {
    @Test func lifecycleCommandsSkipAppsNotDeployed() throws {
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "one")
        try sandbox.run("apps:create", "two")
        for command in ["ps:start", "ps:stop", "ps:restart"] {
            let single = try sandbox.run(command, "one")
            #expect(single.status == 0, "\(command)")
            #expect(single.stderr == " !     App one has not been deployed\n", "\(command)")
            let all = try sandbox.run(command, "--all")
            #expect(all.stderr == " !     App one has not been deployed\n !     App two has not been deployed\n", "\(command)")
            #expect(try sandbox.run(command, "nope").status == 20)
        }
        // The global report: Dokku's keys, computed values falling back to the defaults.
        #expect(try sandbox.run("ps:set", "--global", "stop-timeout-seconds", "45").status == 0)
        #expect(try sandbox.run("ps:report", "--global", "--ps-computed-stop-timeout-seconds").stdout == "45\n")
        #expect(try sandbox.run("ps:report", "--global", "--ps-computed-skip-deploy").stdout == "false\n")
        let globalReport = try sandbox.run("ps:report", "--global").stdout
        #expect(globalReport.hasPrefix("=====> --global ps information\n") && globalReport.contains("Ps global stop timeout seconds:"), "\(globalReport)")
        #expect(try sandbox.run("ps:report", "--global", "--ps-can-scale").status != 0, "app keys are not in the global report")
        // A rebuild needs commits on the deploy branch (Dokku's git plugin).
        try sandbox.run("git:set", "one", "deploy-branch", "custom")
        let rebuild = try sandbox.run("ps:rebuild", "one")
        #expect(rebuild.status == 1)
        #expect(rebuild.stdout == "-----> WARNING: Cannot build from 'custom' as there are no commits stored at that branch.\n", "\(rebuild)")
    }

    @Test func scaleRecordsFormation() throws {
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "s")
        #expect(try sandbox.run("--quiet", "ps:scale", "s").stdout == "web:  1\n")
        let scaled = try sandbox.run("ps:scale", "s", "web=4", "worker=1", "beat=0")
        #expect(scaled.stdout.hasPrefix("-----> Scaling s processes: web=4 worker=1 beat=0\n"))
        #expect(try sandbox.run("--quiet", "ps:scale", "s").stdout == "beat: 0\nweb:  4\nworker: 1\n")
        #expect(try sandbox.run("ps:scale", "s").stdout.hasPrefix("-----> Scaling for s\nproctype: qty\n--------: ---\n"))
        #expect(try sandbox.run("ps:scale", "--format", "json", "s").stdout == "[{\"process_type\":\"beat\",\"quantity\":0},{\"process_type\":\"web\",\"quantity\":4},{\"process_type\":\"worker\",\"quantity\":1}]\n")
    }

    @Test func badScaleWritesNothing() throws {
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "s")
        #expect(try sandbox.run("ps:scale", "s", "web=2", "worker").stderr == " !     Missing count for process type worker\n")
        #expect(try sandbox.run("ps:scale", "s", "web=x").stderr == " !     Invalid count for process type web\n")
        #expect(try sandbox.run("ps:scale", "s", "web=-1").status == 1)
        #expect(try sandbox.run("--quiet", "ps:scale", "s").stdout == "web:  1\n")
    }

    @Test func setRestartPolicy() throws {
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "s")
        #expect(try sandbox.run("ps:set", "s", "restart-policy", "always").stdout == "=====> Setting restart-policy to always\n")
        #expect(try sandbox.run("ps:set", "s", "restart-policy", "sometimes").stderr == " !     Invalid restart-policy specified\n")
        #expect(try sandbox.run("ps:set", "s", "restart-policy").stdout == "=====> Unsetting restart-policy\n")
        let bad = try sandbox.run("ps:set", "s", "colour", "red")
        #expect(bad.stderr.hasPrefix(" !     Invalid property specified, valid properties include: "))
        #expect(try sandbox.run("ps:set", "--global", "restore", "false").stderr == " !     Property cannot be specified globally\n")
    }
}

@Suite struct ChecksCLITests {
    @Test func disableSkipEnableAndReport() throws {
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "c")
        #expect(try sandbox.run("checks:disable", "c").stdout == "-----> Disabling zero downtime for app (c)\n")
        #expect(try sandbox.run("checks:report", "c", "--checks-disabled-list").stdout == "_all_\n")
        #expect(try sandbox.run("checks:skip", "c", "worker,web").stdout == "-----> Skipping zero downtime for app's (c) proctypes (worker,web)\n")
        #expect(try sandbox.run("checks:report", "c", "--checks-skipped-list").stdout == "worker,web\n", "kept in the order given, as Dokku's checks.bats reads it")
        #expect(try sandbox.run("checks:report", "c", "--checks-disabled-list").stdout == "_all_\n", "as in Dokku, naming types does not undo _all_")
        #expect(try sandbox.run("checks:enable", "c").stdout == "-----> Enabling zero downtime for app's (c)\n")
        #expect(try sandbox.run("checks:report", "c", "--checks-skipped-list").stdout == "none\n")
        #expect(try sandbox.run("checks:set", "c", "wait-to-retire", "30").stdout == "=====> Setting wait-to-retire to 30\n")
        #expect(try sandbox.run("checks:report", "c", "--checks-computed-wait-to-retire").stdout == "30\n")
        #expect(try sandbox.run("checks:set", "c", "colour", "red").stderr.hasPrefix(" !     Invalid key specified, valid keys include: "))
        #expect(try sandbox.run("checks:disable", "c", "web,worker,urgentworker,notifications").status == 0)
        #expect(try sandbox.run("checks:skip", "c", "urgentworker,worker").status == 0)
        #expect(try sandbox.run("checks:report", "c", "--checks-disabled-list").stdout == "web,notifications\n")
        // The global report: one `global` subject (checks.bats).
        #expect(try sandbox.run("checks:set", "--global", "wait-to-retire", "90").status == 0)
        #expect(try sandbox.run("checks:report", "--global").stdout.contains("=====> --global checks information"))
        #expect(try sandbox.run("checks:report", "--global", "--checks-computed-wait-to-retire").stdout == "90\n")
        let json = try JSONSerialization.jsonObject(with: Data(try sandbox.run("checks:report", "--global", "--format", "json").stdout.utf8)) as? [String: String]
        #expect(json?["global-wait-to-retire"] == "90" && json?["computed-wait-to-retire"] == "90", "\(String(describing: json))")
    }
}

@Suite struct ProxySettingsCLITests {
    @Test func reportHasDokkusKeys() throws {
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "r")
        func value(_ flag: String, _ subject: String = "r") throws -> String { try sandbox.run("proxy:report", subject, flag).stdout }
        #expect(try value("--proxy-enabled") == "true\n")
        #expect(try value("--proxy-computed-type") == "nginx\n")
        #expect(try value("--proxy-computed-proxy-port") == "\n", "none set: the detected map's 80 is the ports plugin's default, as in Dokku")
        #expect(try value("--proxy-computed-proxy-ssl-port") == "\n")
        #expect(try sandbox.run("proxy:disable", "r").stdout == "-----> Disabling proxy for app\n")
        #expect(try value("--proxy-enabled") == "false\n")
        #expect(try value("--proxy-computed-disabled") == "true\n")
        #expect(try value("--proxy-computed-type", "--global") == "nginx\n")
        #expect(try sandbox.run("proxy:set", "r", "proxy-port", "8080").status == 0)
        let json = try JSONSerialization.jsonObject(with: Data(try sandbox.run("proxy:report", "r", "--format", "json").stdout.utf8)) as? [String: String]
        #expect(json?["computed-proxy-port"] == "8080" && json?["proxy-computed-proxy-port"] == "8080", "\(String(describing: json))")
    }

    @Test func typeAndPortsAreSetPerAppOrGloballyAndComputedAsDokkuDoes() throws {
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "r")
        func value(_ flag: String, _ subject: String = "r") throws -> String { try sandbox.run("proxy:report", subject, flag).stdout }
        #expect(try sandbox.run("proxy:set", "--global", "type", "caddy").stdout == "=====> Setting type to caddy\n")
        #expect(try value("--proxy-global-type", "--global") == "caddy\n")
        #expect(try value("--proxy-computed-type") == "caddy\n")
        #expect(try sandbox.run("proxy:set", "r", "traefik").status == 0, "Dokku's older proxy:set APP TYPE")
        #expect(try value("--proxy-type") == "traefik\n")
        #expect(try value("--proxy-computed-type") == "traefik\n")
        #expect(try sandbox.run("proxy:set", "r", "type").stdout == "=====> Unsetting type\n")
        #expect(try sandbox.run("proxy:set", "--global", "type").status == 0)
        #expect(try value("--proxy-computed-type") == "nginx\n")

        #expect(try sandbox.run("proxy:set", "--global", "proxy-port", "5000").status == 0)
        #expect(try sandbox.run("proxy:set", "--global", "proxy-ssl-port", "5443").status == 0)
        #expect(try value("--proxy-computed-proxy-port") == "5000\n")
        #expect(try sandbox.run("proxy:set", "r", "proxy-ssl-port", "6443").status == 0)
        #expect(try value("--proxy-computed-proxy-ssl-port") == "6443\n")
        #expect(try value("--proxy-global-proxy-ssl-port") == "5443\n")
        #expect(try sandbox.run("--quiet", "ports:report", "r", "--ports-map-detected").stdout == "http:5000:5000\n", "detected maps follow proxy-port")
        let bad = try sandbox.run("proxy:set", "r", "proxy-port", "eighty")
        #expect(bad.status == 1 && bad.stderr == " !     Invalid proxy-port: eighty (expected a port, 1-65535)\n", "\(bad)")
        #expect(try sandbox.run("proxy:set", "--global", "client-max-body-size", "1m").stderr == " !     Property cannot be specified globally\n")
    }

    @Test func aPortMapIsNoProxyType() throws {
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "r")
        let mapped = try sandbox.run("proxy:set", "r", "http:80:80")
        #expect(mapped.status == 1, "\(mapped)")
        #expect(mapped.stderr == " !     Detected potential port mapping instead of proxy type\n !     Consider using ports:set command or specifying a valid proxy\n")
        #expect(try sandbox.run("proxy:report", "r", "--proxy-type").stdout == "\n", "nothing set")
    }

    /// Dokku's `nginx:set --global KEY VALUE`: the global value, then the app's over it,
    /// as Dokku's nginx-vhosts_properties tests check them (`--global` is a word of the
    /// command, not an option of the parser).
    @Test func nginxSettingsTakeGlobalAndAppValues() throws {
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "g")
        func report(_ key: String) throws -> [String: String] {
            let json = try sandbox.run("nginx:report", "g", "--format", "json").stdout
            let values = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: String] ?? [:]
            return ["app": values[key] ?? "?", "global": values["global-" + key] ?? "?", "computed": values["computed-" + key] ?? "?"]
        }
        let global = try sandbox.run("nginx:set", "--global", "send-timeout", "30s")
        #expect(global.status == 0 && global.stdout == "=====> Setting send-timeout to 30s\n", "\(global)")
        #expect(try report("send-timeout") == ["app": "", "global": "30s", "computed": "30s"])
        #expect(try sandbox.run("nginx:set", "g", "send-timeout", "45s").status == 0)
        #expect(try report("send-timeout") == ["app": "45s", "global": "30s", "computed": "45s"])
        #expect(try sandbox.run("nginx:set", "g", "send-timeout").status == 0)
        #expect(try sandbox.run("nginx:set", "--global", "send-timeout").status == 0)
        #expect(try report("send-timeout") == ["app": "", "global": "", "computed": ""])
    }

    @Test func hugeBodySizesAreRefusedNotOverflowed() throws {
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "n")
        for command in ["nginx:set", "proxy:set"] {
            let huge = try sandbox.run(command, "n", "client-max-body-size", "9999999999999g")
            #expect(huge.status == 1, "\(command): \(huge)")
            #expect(huge.stderr.hasPrefix(" !     Invalid client-max-body-size: 9999999999999g"), "\(command): \(huge)")
        }
    }
}
