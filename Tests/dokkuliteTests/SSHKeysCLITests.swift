import Foundation
import TestSupport
import Testing

/// `ssh-keys:*` against a sandbox's own authorized_keys, without sshd (SSHTests has the
/// real one).
@Suite struct SSHKeysCLITests {
    /// A sandbox whose authorized_keys is its own, and a fresh public key file.
    private func sandboxWithKey() throws -> (Sandbox, keys: String, key: String) {
        let sandbox = try Sandbox()
        let keys = sandbox.root + "/authorized_keys"
        sandbox.environment["DOKKULITE_AUTHORIZED_KEYS"] = keys
        let key = sandbox.root + "/id_ed25519"
        try Shell.which("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key])
        return (sandbox, keys, key + ".pub")
    }

    @Test func aLineSSHKeygenRefusesStopsAddAndList() throws {
        let (sandbox, keys, key) = try sandboxWithKey()
        #expect(try sandbox.run("ssh-keys:add", "first", key).status == 0)
        let handle = try #require(FileHandle(forWritingAtPath: keys))
        handle.seekToEndOfFile()
        handle.write(Data("\n# a comment sshd skips\ninvalid\n".utf8))
        try handle.close()
        let before = try String(contentsOfFile: keys, encoding: .utf8)

        let other = sandbox.root + "/other"
        try Shell.which("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", other])
        let added = try sandbox.run("ssh-keys:add", "second", other + ".pub")
        #expect(added.status == 1 && added.stderr == " !     \(keys) line 4 failed ssh-keygen check.\n", "\(added)")
        #expect(try String(contentsOfFile: keys, encoding: .utf8) == before, "nothing written")
        let listed = try sandbox.run("ssh-keys:list")
        #expect(listed.status == 1 && listed.stderr == " !     \(keys) line 4 failed ssh-keygen check.\n", "\(listed)")
    }

    @Test func listingAnUnknownNameIsAnEmptyFailure() throws {
        let (sandbox, _, key) = try sandboxWithKey()
        #expect(try sandbox.run("ssh-keys:add", "someone", key).status == 0)
        #expect(try sandbox.run("ssh-keys:list", "someone").stdout.contains("NAME=\"someone\""))
        let unknown = try sandbox.run("ssh-keys:list", "nobody")
        #expect(unknown.status == 1 && unknown.stdout.isEmpty && unknown.stderr.isEmpty, "\(unknown)")
        #expect(try sandbox.run("ssh-keys:remove", "someone").status == 0)
        let removed = try sandbox.run("ssh-keys:list", "someone")
        #expect(removed.status == 1 && removed.stdout.isEmpty && removed.stderr.isEmpty, "\(removed)")
    }
}
