import Foundation
import TestSupport
import Testing

/// scripts/install on this machine, then a push over ssh as the `dokku` user reaches the
/// app through the installed proxy on port 80. It changes the machine (binary, units, the
/// dokku user, sshd), so it runs only when asked: scripts/test asks unless
/// DOKKULITE_TEST_INSTALL=0.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["DOKKULITE_TEST_INSTALL"] == "1", "installs dokkulite on this machine; scripts/test enables it"))
struct InstallTests {
    @Test func installThenPushOverSSH() throws {
        // The installed dokkulite reads /etc/dokkulite; nothing of the test sandboxes leaks in.
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("DOKKULITE_") }
        environment["PATH"] = "/usr/local/bin:" + (environment["PATH"] ?? "/usr/bin:/bin")
        let install = try Shell.run(Binaries.packageRoot + "/scripts/install", ["--binary", Binaries.dokkulite, "--domain", "install.test"], environment: environment)
        #expect(install.status == 0, "\(install)")
        #expect(install.stdout.contains("git remote add dokku dokku@"))

        let work = "/var/lib/dokkulite-tests/install-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let key = work + "/id_ed25519"
        try Shell.which("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key])
        let keyName = "install-test-\(UUID().uuidString.prefix(6))"
        #expect(try Shell.run("/usr/local/bin/dokku", ["ssh-keys:add", keyName, key + ".pub"], environment: environment).status == 0)
        defer { _ = try? Shell.run("/usr/local/bin/dokku", ["ssh-keys:remove", keyName], environment: environment) }

        let app = uniqueApp("installed")
        defer { _ = try? Shell.run("/usr/local/bin/dokku", ["--force", "apps:destroy", app], environment: environment) }
        let source = work + "/src"
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        try "web: exec python3 -m http.server $PORT\n".write(toFile: source + "/Procfile", atomically: true, encoding: .utf8)
        try "installed and pushed\n".write(toFile: source + "/index.html", atomically: true, encoding: .utf8)
        var gitEnvironment = environment
        gitEnvironment["GIT_SSH_COMMAND"] = "ssh -i \(key) -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes"
        for arguments in [["init", "-q", "-b", "main"], ["add", "-A"], ["-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "-m", "app"]] {
            #expect(try Shell.which("git", arguments, environment: gitEnvironment, directory: source).status == 0)
        }
        let push = try Shell.which("git", ["push", "dokku@127.0.0.1:\(app)", "main"], environment: gitEnvironment, directory: source)
        #expect(push.status == 0, "\(push)")
        #expect(push.stderr.contains("http://\(app).install.test"))
        let answer = try Shell.which("curl", ["-sS", "--max-time", "10", "-H", "Host: \(app).install.test", "http://127.0.0.1:80/index.html"])
        #expect(answer.stdout == "installed and pushed\n", "\(answer)")

        // scripts/uninstall stops the apps and the proxy and removes the program, keeping
        // the apps' data; installing again brings the machine back as it was.
        let root = "/var/lib/dokkulite"
        let uninstall = try Shell.run(Binaries.packageRoot + "/scripts/uninstall", [], environment: environment)
        #expect(uninstall.status == 0, "\(uninstall)")
        #expect(!FileManager.default.fileExists(atPath: "/usr/local/bin/dokkulite") && !FileManager.default.fileExists(atPath: "/usr/local/bin/dokku"))
        #expect(try Shell.which("curl", ["-sS", "--max-time", "5", "-H", "Host: \(app).install.test", "http://127.0.0.1:80/index.html"]).status != 0, "the proxy is gone")
        #expect(FileManager.default.fileExists(atPath: "\(root)/apps/\(app)/repo.git"), "app data stays without --purge")
        let again = try Shell.run(Binaries.packageRoot + "/scripts/install", ["--binary", Binaries.dokkulite, "--domain", "install.test"], environment: environment)
        #expect(again.status == 0, "\(again)")
        #expect(try Shell.run("/usr/local/bin/dokku", ["ps:start", app], environment: environment).status == 0)
        #expect(try eventually(timeout: .seconds(20)) {
            (try? Shell.which("curl", ["-sS", "--max-time", "5", "-H", "Host: \(app).install.test", "http://127.0.0.1:80/index.html"]).stdout) == "installed and pushed\n"
        }, "after installing again, the app serves")
    }
}
