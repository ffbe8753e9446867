import Foundation
import Testing

@testable import Builder

@Suite struct ProcfileTests {
    @Test func parsesTypesCommentsAndBlankLines() throws {
        let procfile = try Procfile(parsing: "# comment\nweb: python app.py --port $PORT\n\nworker:   bundle exec sidekiq  \r\nrelease: ./migrate\n")
        #expect(procfile.types == ["web", "worker", "release"])
        #expect(procfile["web"] == "python app.py --port $PORT")
        #expect(procfile["worker"] == "bundle exec sidekiq")
    }

    @Test func commandsMayContainColons() throws {
        let procfile = try Procfile(parsing: "web: gunicorn app:app -b 0.0.0.0:$PORT")
        #expect(procfile["web"] == "gunicorn app:app -b 0.0.0.0:$PORT")
    }

    @Test func errorsNameTheLine() {
        #expect(throws: BuildError.invalidProcfile(file: "Procfile", line: 2, reason: "expected \"type: command\"")) {
            try Procfile(parsing: "web: x\nnonsense\n")
        }
        #expect(throws: BuildError.invalidProcfile(file: "Procfile", line: 2, reason: "process type \"web\" is defined twice")) {
            try Procfile(parsing: "web: x\nweb: y\n")
        }
        #expect(throws: BuildError.self) { try Procfile(parsing: "Web: x") }
        #expect(throws: BuildError.self) { try Procfile(parsing: "web-: x") }
        #expect(throws: BuildError.self) { try Procfile(parsing: "web:") }
    }

    @Test func typeRule() {
        #expect(Procfile.isValidType("web"))
        #expect(Procfile.isValidType("a-b-1"))
        #expect(!Procfile.isValidType(String(repeating: "a", count: 64)))
        #expect(!Procfile.isValidType("-a"))
        #expect(!Procfile.isValidType("web_1"))
    }
}

@Suite struct AppJSONTests {
    @Test func healthchecksTakeDokkusTimings() throws {
        let json = #"{"healthchecks": {"web": [{"path": "/up", "attempts": 4, "wait": 3, "initialDelay": 2, "timeout": 7}, {"uptime": 5}]}, "formation": {"web": {"quantity": 2}}, "scripts": {"dokku": {"predeploy": "make db"}}}"#
        let parsed = try AppJSON(parsing: Data(json.utf8))
        let checks = try #require(parsed.healthchecks["web"])
        #expect(checks.count == 2)
        #expect(checks[0].path == "/up" && checks[0].attempts == 4 && checks[0].timeout == 7)
        #expect(checks[0].wait == 3, "wait is the pause between attempts")
        #expect(checks[0].initialDelay == 2, "initialDelay comes before the first")
        #expect(checks[1].uptime == 5 && checks[1].initialDelay == 0)
        #expect(parsed.formation == ["web": 2])
        #expect(parsed.predeploy == "make db")
    }

    @Test func commentsAndTrailingCommasAreAllowedAsInDokku() throws {
        // As Dokku's tests/apps/python/app.json.
        let json = """
            {
              // a comment for the scripts
              "scripts": {"dokku": {
                "postdeploy": "touch /app/post // not a comment", /* a block
                comment */ "predeploy": "echo \\"quoted, \\" ]",
              },},
              "formation": {"web": {"quantity": 1,},},
            }
            """
        let parsed = try AppJSON(parsing: Data(json.utf8))
        #expect(parsed.postdeploy == "touch /app/post // not a comment")
        #expect(parsed.predeploy == #"echo "quoted, " ]"#)
        #expect(parsed.formation == ["web": 1])
    }

    @Test func cronEntriesMayBeInMaintenance() throws {
        let json = #"{"cron": [{"command": "a", "schedule": "@daily", "maintenance": true}, {"command": "b", "schedule": "@hourly"}]}"#
        let parsed = try AppJSON(parsing: Data(json.utf8))
        #expect(parsed.cron.map(\.maintenance) == [true, false])
    }

    @Test func checksFileWaitsBeforeTheFirstCheck() {
        let checks = AppJSON.Healthcheck.parseChecksFile("WAIT=4\nATTEMPTS=2\n/ hello\n/other\n")
        #expect(checks.map(\.initialDelay) == [4, 0])
        #expect(checks.map(\.attempts) == [2, 2])
        #expect(checks[0].content == "hello")
    }
}

/// `.gitmodules` is the pusher's: root clones only network URLs, into paths inside the tree.
@Suite struct SubmoduleTests {
    @Test(arguments: ["lib", "vendor/lib", "a.b/c-d"])
    func pathsInsideTheTree(_ path: String) {
        #expect(Submodule.isInside(path))
    }

    @Test(arguments: ["", "/etc", "../x", "a/../../x", "a//b", "./a", "a/."])
    func pathsThatLeaveOrBlur(_ path: String) {
        #expect(!Submodule.isInside(path))
    }

    @Test func onlyNetworkURLs() {
        for url in ["https://github.com/a/b.git", "http://example.test/x", "git://example.test/x", "HTTPS://example.test/x"] {
            #expect(NetworkURL.isNetwork(url), "\(url)")
        }
        for url in ["../other/repo.git", "./x", "/var/lib/dokkulite/apps/x/repo.git", "file:///x", "ssh://git@h/x", "git@h:x", "ext::sh -c touch% /tmp/x", "https://h/x y", "--upload-pack=x", "git://", "HTTPS://"] {
            #expect(!NetworkURL.isNetwork(url), "\(url)")
        }
    }

    @Test func buildpacksReachTheNetworkOrTheServer() throws {
        #expect(try #require(BuildpackReference("https://github.com/heroku/heroku-buildpack-ruby.git")).reach == .network)
        #expect(try #require(BuildpackReference("git://127.0.0.1:9418/x")).reach == .network)
        #expect(try #require(BuildpackReference("http://h/x.tgz")).reach == .network)
        #expect(try #require(BuildpackReference("heroku/python")).reach == .builtin)
        for server in ["file:///var/lib/dokkulite/apps/x/repo.git", "/var/lib/dokkulite/apps/x/repo.git", "ssh://git@h/x.git", "git@h:x.git", "file:///x.tgz"] {
            #expect(try #require(BuildpackReference(server)).reach == .server, "\(server)")
        }
    }

    @Test func dokkuFormIsAShorthandOrAURLWithOwnerAndName() throws {
        for text in ["heroku/ruby", "my-org/my_pack", "https://github.com/a/b.git", "git@github.com:a/b.git", "http://127.0.0.1:8000/pack.tgz"] {
            #expect(BuildpackReference.isDokkuForm(text), "\(text)")
        }
        for text in ["nodejs", "/nodejs", "http://nodejs", "https://host/only", "file:///x/y/z", "a/b/c", "ssh://git@h/a/b"] {
            #expect(!BuildpackReference.isDokkuForm(text), "\(text)")
        }
        #expect(try #require(BuildpackReference("someone/pack")).url == "https://github.com/someone/heroku-buildpack-pack.git")
        #expect(try #require(BuildpackReference("heroku-community/apt")).url == "https://github.com/heroku/heroku-buildpack-apt.git")
    }
}

/// Fetched buildpacks and submodules are kept by URL: a URL that hashes like another never
/// gets the other's directory.
@Suite struct CacheSlotTests {
    @Test func aCollidingURLGetsADirectoryOfItsOwn() throws {
        let parent = "/var/lib/dokkulite-tests/slots-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let url = "https://example.test/buildpack.git"
        let first = try CacheSlot.directory(in: parent, for: url, suffix: ".git")
        #expect(try CacheSlot.directory(in: parent, for: url, suffix: ".git") == first, "the same URL, the same directory")
        // Another URL recorded under this URL's name, as a collision would leave it.
        let base = String(first.dropLast(4))
        try "https://attacker.test/x.git".write(toFile: base + ".source", atomically: true, encoding: .utf8)
        let second = try CacheSlot.directory(in: parent, for: url, suffix: ".git")
        #expect(second != first && second.hasSuffix("-1.git"), "\(second)")
        // A directory an older version left without a record is not taken either.
        try FileManager.default.createDirectory(atPath: parent + "/orphan", withIntermediateDirectories: true)
        let key = String(StableHash.fnv1a("other"), radix: 16)
        try FileManager.default.moveItem(atPath: parent + "/orphan", toPath: parent + "/" + key)
        #expect(try CacheSlot.directory(in: parent, for: "other") == parent + "/" + key + "-1")
    }
}

/// app.json and `bin/release` are the app's and root reads them: bounded, and nothing from
/// them reaches a request line unchecked.
@Suite struct HostileAppFileTests {
    func parse(_ json: String) throws -> AppJSON { try AppJSON(parsing: Data(json.utf8)) }

    @Test func healthchecksThatCannotBeRunSafelyAreRefused() throws {
        for check in [
            #"{"port": 70000}"#, #"{"port": -1}"#, #"{"path": "/x HTTP/1.1\r\nHost: evil"}"#, #"{"path": "relative"}"#,
            #"{"attempts": 1e300}"#, #"{"attempts": 0}"#, #"{"timeout": 1e300}"#, #"{"initialDelay": 100000}"#, #"{"uptime": -5}"#,
            #"{"httpHeaders": [{"name": "X", "value": "a\r\nInjected: 1"}]}"#, #"{"httpHeaders": [{"name": "Bad Name", "value": "a"}]}"#,
        ] {
            #expect(throws: BuildError.self, "\(check)") { try parse(#"{"healthchecks": {"web": [\#(check)]}}"#) }
        }
        let fine = try parse(#"{"healthchecks": {"web": [{"path": "/health", "port": 5000, "attempts": 3, "timeout": 2, "httpHeaders": [{"name": "Host", "value": "a.test"}]}]}}"#)
        #expect(fine.healthchecks["web"]?.first?.port == 5000)
    }

    @Test func aChecksFileLineThatIsNoPathIsNoCheck() {
        let checks = AppJSON.Healthcheck.parseChecksFile("WAIT=inf\nATTEMPTS=100000\n/ok fine\n/bad\tpath x\nnot-a-path\n")
        #expect(checks.map(\.path) == ["/ok"], "a tab inside the path, a word without /: no check")
        #expect(checks.allSatisfy { $0.wait == 5 && $0.attempts == 100 })
    }

    @Test func aFormationBeyondTheLimitIsRefused() throws {
        #expect(throws: BuildError.self) { try parse(#"{"formation": {"web": {"quantity": 5000}}}"#) }
        #expect(try parse(#"{"formation": {"web": {"quantity": 3}}}"#).formation["web"] == 3)
    }

    @Test func aYAMLAliasBombCostsNoMoreThanItsText() throws {
        var text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1..<30 { text += "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]\n" }
        text += "default_process_types:\n  web: *a29\n  worker: run it\nconfig_vars:\n  LANG: C.UTF-8\n  BOMB: *a29\n"
        let started = ContinuousClock.now
        let release = try BuildOutcome.parseRelease(text, buildpack: "bomb")
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(release.types == ["worker": "run it"], "only scalars are taken")
        #expect(release.configVars == ["LANG": "C.UTF-8"])
    }
}
