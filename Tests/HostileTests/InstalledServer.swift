import Foundation
import TestSupport
import Testing

/// Every test here runs against dokkulite as `scripts/install` sets it up on this machine:
/// the installed binary, its units and proxy on port 80, the `dokku` user with its sudo
/// rule, and the real sshd. They run one at a time (the install test uninstalls and
/// installs again in the middle). scripts/test enables them; DOKKULITE_TEST_INSTALL=0
/// turns them off on a machine that must not be changed.
@Suite(.serialized, .enabled(if: InstalledServer.enabled, "installs dokkulite on this machine; scripts/test enables it"))
struct OnTheInstalledServer {}

/// The installed server, set up once for the run, and what the attacks need: a key
/// holder's ssh, the root console, pushes over ssh, requests through the proxy.
final class InstalledServer: @unchecked Sendable {
    static let enabled = ProcessInfo.processInfo.environment["DOKKULITE_TEST_INSTALL"] == "1"

    /// The port sshd listens on besides 22 (`scripts/install --ssh-port`), where pushes go.
    static let sshPort: Int = (try? freePort()) ?? 2422
    /// App ports of the installed server: apart from those the sandboxes of other tests
    /// hand out (20000-31999) and below the kernel's ephemeral range.
    static let portRange = "32000-32767"
    static let root = "/var/lib/dokkulite"
    /// The storage root: Dokku's, as an installation keeps it.
    static let storage = "/var/lib/dokku/data/storage"
    static let domain = "hostile.test"

    private static let shared = Result { try InstalledServer() }
    /// The installed server (installing it on first use).
    static func get() throws -> InstalledServer { try shared.get() }

    /// The environment of root at the console: the installed program, none of the test
    /// sandboxes' settings.
    let environment: [String: String]
    /// A scratch directory of this run (root's).
    let work: String
    let key: String
    let keyName = "hostile-tests"

    private init() throws {
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("DOKKULITE_") && $0.key != "SSH_ORIGINAL_COMMAND" }
        environment["PATH"] = "/usr/local/bin:" + (environment["PATH"] ?? "/usr/bin:/bin")
        self.environment = environment
        work = "/var/lib/dokkulite-tests/hostile-\(UUID().uuidString.prefix(8).lowercased())"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        try Self.install(environment: environment)
        key = work + "/id_ed25519"
        try Self.check(Shell.which("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]), "ssh-keygen")
        _ = try Shell.run("/usr/local/bin/dokku", ["ssh-keys:remove", keyName], environment: environment)
        try Self.check(Shell.run("/usr/local/bin/dokku", ["ssh-keys:add", keyName, key + ".pub"], environment: environment), "ssh-keys:add")
    }

    /// `scripts/install` with an extra ssh port and the test port range.
    static func install(environment: [String: String]) throws {
        try FileManager.default.createDirectory(atPath: "/etc/dokkulite", withIntermediateDirectories: true)
        let config = "/etc/dokkulite/dokkulite.env"
        let kept = ((try? String(contentsOfFile: config, encoding: .utf8)) ?? "").split(separator: "\n").filter { !$0.hasPrefix("DOKKULITE_PORT_RANGE=") }
        try (kept + ["DOKKULITE_PORT_RANGE=\(portRange)"]).joined(separator: "\n").appending("\n").write(toFile: config, atomically: true, encoding: .utf8)
        let installed = try Shell.run(
            Binaries.packageRoot + "/scripts/install", ["--binary", Binaries.dokkulite, "--domain", domain, "--ssh-port", String(sshPort)], environment: environment)
        try check(installed, "scripts/install")
    }

    static func check(_ result: ProcessResult, _ what: String) throws {
        guard result.status == 0 else { throw TestFailure("\(what) failed: \(result)") }
    }

    // MARK: Principals

    /// `dokku ARGS` as root at the server's console.
    @discardableResult
    func console(_ arguments: String..., input: String? = nil) throws -> ProcessResult {
        try console(arguments, input: input)
    }

    /// `console` with the words as an array.
    @discardableResult
    func console(_ arguments: [String], input: String? = nil) throws -> ProcessResult {
        try Shell.run("/usr/local/bin/dokku", arguments, environment: environment, input: input)
    }

    /// The ssh options of the key holder.
    var sshOptions: [String] {
        ["-i", key, "-p", String(Self.sshPort), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes"]
    }

    /// `ssh dokku@server COMMAND` as the key holder, with `input` on stdin.
    @discardableResult
    func ssh(_ command: String, input: Data? = nil) throws -> ProcessResult {
        // `--`: a command starting with `-` is the command, not options of ssh's own.
        // A bounded wait: a command that should have been refused may serve forever.
        try Shell.run("/usr/bin/timeout", ["--kill-after=5", "60", "/usr/bin/ssh"] + sshOptions + ["--", "dokku@127.0.0.1", command], environment: environment, bytes: input)
    }

    /// A new app name (app users are machine-wide), destroyed by `cleanUp`.
    func newApp(_ base: String) -> String { uniqueApp(base) }

    /// Destroys apps made by a test.
    func cleanUp(_ apps: String...) {
        for app in apps { _ = try? console("--force", "apps:destroy", app) }
    }

    /// `systemctl ARGS` against the manager the installed dokkulite uses (a private user
    /// manager where PID 1 is not systemd, as `scripts/install` records it).
    func systemctl(_ arguments: String...) throws -> ProcessResult {
        let config = (try? String(contentsOfFile: "/etc/dokkulite/dokkulite.env", encoding: .utf8)) ?? ""
        var environment = self.environment
        if let line = config.split(separator: "\n").last(where: { $0.hasPrefix("XDG_RUNTIME_DIR=") }) {
            environment["XDG_RUNTIME_DIR"] = String(line.dropFirst("XDG_RUNTIME_DIR=".count))
            return try Shell.run("/bin/systemctl", ["--user"] + arguments, environment: environment)
        }
        return try Shell.run("/bin/systemctl", arguments, environment: environment)
    }

    /// The units of an app that are loaded now.
    func units(of app: String) throws -> [String] {
        let escaped = app.replacingOccurrences(of: "-", with: "\\x2d")
        return try systemctl("list-units", "--all", "--plain", "--no-legend", "dokkulite-\(escaped)-*").stdout
            .split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) }
    }

    // MARK: Code and traffic

    /// A repository of `files`, with `links` (name → target) as symbolic links, committed,
    /// and pushed over ssh to `app`.
    @discardableResult
    func push(_ app: String, files: [String: String], links: [String: String] = [:], executable: Set<String> = []) throws -> ProcessResult {
        let directory = work + "/src-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for (path, content) in files {
            let full = directory + "/" + path
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try content.write(toFile: full, atomically: true, encoding: .utf8)
            if executable.contains(path) || path.hasPrefix("bin/") { chmod(full, 0o755) }
        }
        for (path, target) in links {
            let full = directory + "/" + path
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: full, withDestinationPath: target)
        }
        var git = environment
        git["GIT_SSH_COMMAND"] = "ssh " + sshOptions.joined(separator: " ")
        for arguments in [["init", "-q", "-b", "main"], ["add", "-A"], ["-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "-m", "app"]] {
            try Self.check(Shell.which("git", arguments, environment: git, directory: directory), "git \(arguments[0])")
        }
        return try Shell.run("/usr/bin/timeout", ["--kill-after=5", "300", "/usr/bin/git", "push", "--force", "ssh://dokku@127.0.0.1:\(Self.sshPort)/\(app)", "main"], environment: git, directory: directory)
    }

    /// Pushes `files` plus an entry `name` that is a symbolic link to `target`, put in the
    /// tree with git's plumbing: the git client refuses to add some such links (a linked
    /// `.gitmodules`), a crafted push does not ask it.
    func pushWithLinkEntry(_ app: String, files: [String: String], name: String, target: String) throws -> ProcessResult {
        let directory = work + "/craft-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for (path, content) in files { try content.write(toFile: directory + "/" + path, atomically: true, encoding: .utf8) }
        var git = environment
        git["GIT_SSH_COMMAND"] = "ssh " + sshOptions.joined(separator: " ")
        func run(_ arguments: [String], input: String? = nil) throws -> String {
            let result = try Shell.which("git", ["-c", "user.email=t@t", "-c", "user.name=t"] + arguments, environment: git, input: input, directory: directory)
            guard result.status == 0 else { throw TestFailure("git \(arguments.first ?? ""): \(result)") }
            return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        _ = try run(["init", "-q", "-b", "main"])
        _ = try run(["add", "-A"])
        _ = try run(["commit", "-q", "-m", "app"])
        let blob = try run(["hash-object", "-w", "--stdin"], input: target)
        let listing = try run(["ls-tree", "HEAD"])
        let tree = try run(["mktree"], input: listing + "\n120000 blob \(blob)\t\(name)\n")
        let commit = try run(["commit-tree", tree, "-p", "HEAD", "-m", "crafted"])
        _ = try run(["update-ref", "refs/heads/main", commit])
        return try Shell.run("/usr/bin/timeout", ["--kill-after=5", "300", "/usr/bin/git", "push", "--force", "ssh://dokku@127.0.0.1:\(Self.sshPort)/\(app)", "main"], environment: git, directory: directory)
    }

    /// A request through the installed proxy on port 80.
    func get(_ host: String, path: String = "/", headers: [String] = []) throws -> (status: Int, body: String) {
        let result = try Shell.which("curl", ["-sS", "--max-time", "10", "--path-as-is", "-H", "Host: \(host)"] + headers.flatMap { ["-H", $0] } + ["-w", "\n%{http_code}", "http://127.0.0.1:80\(path)"])
        guard result.status == 0, let split = result.stdout.lastIndex(of: "\n"), let status = Int(result.stdout[result.stdout.index(after: split)...]) else {
            throw TestFailure("curl failed: \(result)")
        }
        return (status, String(result.stdout[..<split]))
    }

    /// The host name of an app under the installed global domain.
    func host(_ app: String) -> String { "\(app).\(Self.domain)" }

    /// A secret config var of a fresh victim app, deployed so its ENV file exists.
    func victim() throws -> (app: String, secret: String) {
        let app = newApp("victim")
        let secret = "s3cr3t-\(UUID().uuidString)"
        try Self.check(try console("apps:create", app), "apps:create")
        try Self.check(try console("config:set", "--no-restart", app, "SECRET=\(secret)"), "config:set")
        try Self.check(try push(app, files: Self.webApp("victim")), "push victim")
        return (app, secret)
    }

    /// The files of an app that is its own buildpack (an empty `bin/compile`): its build
    /// passes whatever else the tree holds, so root goes on to read the Procfile and app.json.
    static let ownBuildpack = ["bin/compile": "#!/bin/sh\n", "bin/release": "#!/bin/sh\necho '--- {}'\n"]

    /// A minimal web app answering `text`.
    static func webApp(_ text: String, extra: [String: String] = [:]) -> [String: String] {
        [
            "Procfile": "web: exec python3 server.py\n",
            "server.py": """
                import http.server, os
                class H(http.server.BaseHTTPRequestHandler):
                    def do_GET(self):
                        body = (os.environ.get("ANSWER") or \(String(reflecting: text))).encode()
                        if self.path.startswith("/headers"):
                            body = "\\n".join(f"{k.lower()}: {v}" for k, v in self.headers.items()).encode()
                        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
                    def log_message(self, *a):
                        print(self.path, flush=True)
                http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()

                """,
        ].merging(extra) { $1 }
    }
}
