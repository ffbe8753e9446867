import Foundation
import Synchronization
import TestSupport
import Testing

/// `config:*` through the built binary: Dokku's output and exact round-trips.
@Suite struct ConfigCLITests {
    @Test func setShowGetUnset() throws {
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "cfg")
        let set = try sandbox.run("config:set", "cfg", "zKey=true", "bKey=true", "BKEY=true", "aKey=true")
        #expect(set.status == 0)
        #expect(set.stdout == "-----> Setting config vars\n       BKEY:  true\n       aKey:  true\n       bKey:  true\n       zKey:  true\n")
        #expect(try sandbox.run("config:show", "cfg").stdout == "=====> cfg env vars\nBKEY:  true\naKey:  true\nbKey:  true\nzKey:  true\n")
        #expect(try sandbox.run("config:keys", "cfg").stdout == "BKEY\naKey\nbKey\nzKey\n")
        #expect(try sandbox.run("config:export", "--format", "shell", "cfg").stdout == "BKEY='true' aKey='true' bKey='true' zKey='true' ")
        #expect(try sandbox.run("config:export", "--format", "docker-args", "cfg").stdout == "--env=BKEY='true' --env=aKey='true' --env=bKey='true' --env=zKey='true'\n")

        let unset = try sandbox.run("config:unset", "cfg", "aKey", "nothere")
        #expect(unset.stdout == "-----> Unsetting aKey\n-----> Skipping nothere, it is not set in the environment\n")
        let missing = try sandbox.run("config:get", "cfg", "aKey")
        #expect(missing.status == 1)
        #expect(missing.stdout.isEmpty)
        #expect(try sandbox.run("config:clear", "cfg").status == 0)
        #expect(try sandbox.run("config:keys", "cfg").stdout.isEmpty)
    }

    @Test(arguments: [
        "two words", "it's \"quoted\"", "$HOME and ${PATH} and `cmd`", "line1\nline2\n", "ünïcødé ✓ 日本",
        "a=b=c", "back\\slash", "  padded  ", "",
    ])
    func valuesRoundTripByteForByte(_ value: String) throws {
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "rt")
        #expect(try sandbox.run("config:set", "--no-restart", "rt", "VALUE=\(value)").status == 0)
        #expect(try sandbox.run("config:get", "rt", "VALUE").stdout == value + "\n")
        let encoded = Data(value.utf8).base64EncodedString()
        #expect(try sandbox.run("config:set", "--encoded", "rt", "ENC=\(encoded)").status == 0)
        #expect(try sandbox.run("config:get", "rt", "ENC").stdout == value + "\n")
        let json = try sandbox.run("config:export", "--format", "json", "rt").stdout
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: String]
        #expect(object?["VALUE"] == value)
    }

    @Test func badInputIsRefusedAndNothingIsWritten() throws {
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "bad")
        let noPairs = try sandbox.run("config:set", "bad")
        #expect(noPairs.stderr == " !     At least one env pair must be given\n")
        #expect(noPairs.status == 1)
        let badPair = try sandbox.run("config:set", "bad", "GOOD=1", "NOEQUALS")
        #expect(badPair.stderr == " !     Invalid env pair: NOEQUALS\n")
        let badKey = try sandbox.run("config:set", "bad", "GOOD=1", "my-key=1")
        #expect(badKey.stderr == " !     Invalid key name: 'my-key'\n")
        #expect(badKey.status == 1)
        #expect(try sandbox.run("config:keys", "bad").stdout.isEmpty, "a rejected config:set wrote nothing")
        #expect(try sandbox.run("config:unset", "bad").stderr == " !     At least one key must be given\n")
        let missingApp = try sandbox.run("config:set", "ghost", "A=1")
        #expect(missingApp.status == 20)
        #expect(missingApp.stderr == " !     App ghost does not exist\n")
        #expect(try sandbox.run("config:export", "--format", "xml", "bad").stderr == " !     Unknown export format: xml\n")
    }

    @Test func globalAndMerged() throws {
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "merge")
        try sandbox.run("config:set", "--global", "SHARED=global", "ONLY_GLOBAL=g")
        try sandbox.run("config:set", "--no-restart", "merge", "SHARED=app")
        #expect(try sandbox.run("config:get", "--global", "SHARED").stdout == "global\n")
        #expect(try sandbox.run("config:show", "--global").stdout.hasPrefix("=====> global env vars\n"))
        #expect(try sandbox.run("config:keys", "--merged", "merge").stdout == "ONLY_GLOBAL\nSHARED\n")
        #expect(try sandbox.run("config:export", "--merged", "merge").stdout == "export ONLY_GLOBAL='g'\nexport SHARED='app'\n")
    }

    @Test func importFromStdin() throws {
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "imp")
        let imported = try sandbox.run(["config:import", "imp", "-"], input: "A=1\nexport B=\"two\\nlines\"\n")
        #expect(imported.status == 0)
        #expect(try sandbox.run("config:get", "imp", "B").stdout == "two\nlines\n")
        let json = try sandbox.run(["config:import", "--replace", "--format", "json", "imp"], input: "{\"C\":\"3\"}")
        #expect(json.status == 0)
        #expect(try sandbox.run("config:keys", "imp").stdout == "C\n")
    }

    @Test func importReadsTheFileWithTheDokkuUsersRights() throws {
        guard getpwnam("dokku") != nil else { return }
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "imp")
        let file = sandbox.root + "/vars.env"
        try "SECOND=2\n".write(toFile: file, atomically: true, encoding: .utf8)
        chmod(file, 0o600)
        let refused = try sandbox.run("config:import", "--no-restart", "imp", file)
        #expect(refused.status == 1 && refused.stderr == " !     Unable to read file \(file) as the dokku user: Permission denied\n", "\(refused)")
        #expect(try sandbox.run("config:keys", "imp").stdout == "", "nothing imported")
        try handToDokkuUser(file)
        #expect(try sandbox.run("config:import", "--no-restart", "imp", file).status == 0)
        #expect(try sandbox.run("config:get", "imp", "SECOND").stdout == "2\n")
        let device = try sandbox.run("config:import", "--no-restart", "imp", "/dev/zero")
        #expect(device.status == 1 && device.stderr == " !     File /dev/zero is larger than 1048576 bytes\n", "\(device)")
    }

    /// Two processes writing at once never lose a write: 24 concurrent `config:set` calls
    /// from separate processes, then every key must be present.
    @Test func concurrentWritersLoseNothing() throws {
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "race")
        let count = 24
        let failures = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: count) { index in
            let result = try? sandbox.run("config:set", "--no-restart", "race", "KEY_\(index)=value \(index)")
            if result?.status != 0 { failures.withLock { $0 += 1 } }
        }
        #expect(failures.withLock { $0 } == 0)
        let keys = try sandbox.run("config:keys", "race").stdout.split(separator: "\n")
        #expect(keys.count == count)
        for index in 0..<count {
            #expect(try sandbox.run("config:get", "race", "KEY_\(index)").stdout == "value \(index)\n")
        }
        let check = try Shell.which("sqlite3", [sandbox.root + "/dokkulite.db", "PRAGMA integrity_check; PRAGMA journal_mode;"])
        #expect(check.stdout == "ok\nwal\n")
    }
}
