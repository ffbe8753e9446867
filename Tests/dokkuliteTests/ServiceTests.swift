import Foundation
import TestSupport
import Testing

/// `postgres:*` and `redis:*` against Debian's real PostgreSQL 15 and Redis 7, run as units
/// of the real systemd manager: what a linked app's processes reach, what an unlinked app
/// cannot, data that survives restarts, crashes and round trips, backups that fire from their
/// timer, and bad input that changes nothing.
@Suite(.enabled(if: Integration.systemdEnabled, "needs a systemd manager: run scripts/test"), .serialized)
struct ServiceTests {
    static let postgresInstalled = FileManager.default.isExecutableFile(atPath: "/usr/lib/postgresql/15/bin/postgres")
    static let redisInstalled = FileManager.default.isExecutableFile(atPath: "/usr/bin/redis-server")

    /// A sandbox with two apps, each running the fixture server.
    func sandboxWithApps(_ base: String) throws -> (Sandbox, String, String) {
        _ = try #require(Integration.systemdBus, "DOKKULITE_SYSTEMD_BUS is not set; scripts/test sets it")
        #expect(Self.postgresInstalled && Self.redisInstalled, "postgresql-15 and redis-server are installed by scripts/deps")
        let sandbox = try Sandbox(base)
        var apps: [String] = []
        for suffix in ["a", "b"] {
            let app = uniqueApp(base + suffix)
            #expect(try sandbox.run("apps:create", app).status == 0)
            try sandbox.installRelease(app: app, files: ["server.py": fixtureServer], processTypes: ["web": "exec python3 server.py"])
            #expect(try sandbox.run("ps:start", app).status == 0)
            apps.append(app)
        }
        return (sandbox, apps[0], apps[1])
    }

    /// `run APP LINE` as the app (its user, sandbox and config).
    func inApp(_ sandbox: Sandbox, _ app: String, _ line: String) throws -> ProcessResult {
        try sandbox.run("run", "--no-tty", app, line)
    }

    func isActive(_ unit: String) throws -> Bool {
        try Shell.which("systemctl", ["--user", "is-active", unit]).stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "active"
    }

    func unit(_ sandbox: Sandbox, _ kind: String, _ name: String) -> String { "\(sandbox.slice)-\(kind)@\(name).service" }

    /// `dokkulite ARGS` with a file as stdin or stdout (dumps are binary).
    func withFile(_ sandbox: Sandbox, _ arguments: [String], stdin: String? = nil, stdout: String? = nil) throws -> ProcessResult {
        var line = "\"$0\" \"$@\""
        if let stdin { line += " < '\(stdin)'" }
        if let stdout { line += " > '\(stdout)'" }
        return try Shell.which("bash", ["-c", line, Binaries.dokkulite] + arguments, environment: sandbox.environment)
    }

    func dsn(_ sandbox: Sandbox, _ kind: String, _ name: String) throws -> String {
        try sandbox.run("\(kind):info", name, "--dsn").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// psql as root on the host, against a URL.
    func psql(_ url: String, _ sql: String) throws -> ProcessResult {
        try Shell.which("psql", [url, "-X", "-tAc", sql])
    }

    func count(_ url: String) throws -> String {
        try psql(url, "SELECT count(*) FROM visits").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func postgresCreateLinkIsolateSurviveAndDestroy() throws {
        let (sandbox, app, other) = try sandboxWithApps("pglife")
        let created = try sandbox.run("postgres:create", "main-db")
        #expect(created.status == 0, "\(created)")
        #expect(created.stdout.contains("=====> Postgres container created: main-db\n"))
        #expect(created.stdout.contains("=====> main-db postgres service information\n"))
        #expect(try isActive(unit(sandbox, "postgres", "main\\x2ddb")))
        let url = try dsn(sandbox, "postgres", "main-db")
        let match = try #require(url.wholeMatch(of: /postgres:\/\/postgres:([0-9a-f]{32})@127\.0\.0\.1:(\d+)\/main_db/), "dokku-postgres's URL shape: \(url)")
        let (password, port) = (String(match.1), String(match.2))
        // Its data: the service user's alone.
        let data = try sandbox.run("postgres:info", "main-db", "--data-dir").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let attributes = try FileManager.default.attributesOfItem(atPath: data)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o700)
        #expect((attributes[.ownerAccountName] as? String)?.contains("-pg-main-db") == true)
        #expect(try sandbox.run("postgres:create", "main-db").stderr.contains("Postgres service main-db already exists"))

        // Linked: the URL reaches the app's processes, which can use it.
        let linked = try sandbox.run("postgres:link", "main-db", app)
        #expect(linked.status == 0, "\(linked)")
        #expect(linked.stdout.contains("-----> Setting config vars\n       DATABASE_URL:  \(url)\n"))
        #expect(try sandbox.run("config:get", app, "DATABASE_URL").stdout == url + "\n")
        let used = try inApp(sandbox, app, "psql \"$DATABASE_URL\" -X -tAc 'CREATE TABLE visits (at timestamptz DEFAULT now()); INSERT INTO visits DEFAULT VALUES; SELECT count(*) FROM visits'")
        #expect(used.status == 0 && used.stdout.hasSuffix("1\n"), "\(used)")
        // TLS, as dokku-postgres offers it: a client that requires it connects.
        let tls = try inApp(sandbox, app, "psql \"$DATABASE_URL?sslmode=require\" -X -tAc 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()'")
        #expect(tls.stdout == "t\n", "\(tls)")
        let again = try sandbox.run("postgres:link", "main-db", app)
        #expect(again.status == 1 && again.stderr.contains("Already linked as DATABASE_URL"), "\(again)")

        // Not linked: no credentials, and the server refuses without them; its files are out of reach.
        #expect(try sandbox.run("config:get", other, "DATABASE_URL").stdout.isEmpty)
        let guessed = try inApp(sandbox, other, "psql postgresql://postgres@127.0.0.1:\(port)/main_db -X -w -tAc 'SELECT 1'")
        #expect(guessed.status != 0 && (guessed.stdout + guessed.stderr).contains("password"), "\(guessed)")
        let wrong = try inApp(sandbox, other, "psql postgresql://postgres:not-\(password)@127.0.0.1:\(port)/main_db -X -w -tAc 'SELECT 1'")
        #expect(wrong.status != 0 && (wrong.stdout + wrong.stderr).contains("password authentication failed"), "\(wrong)")
        let peek = try inApp(sandbox, other, "cat \(data)/PG_VERSION")
        #expect(peek.status != 0 && !peek.stdout.contains("15"), "\(peek)")

        // A linked service cannot go; nor can the app, unless forced.
        let destroy = try sandbox.run("--force", "postgres:destroy", "main-db")
        #expect(destroy.status == 1 && destroy.stderr.contains("Cannot delete linked service"), "\(destroy)")
        let appDestroy = try sandbox.run("apps:destroy", app, input: app + "\n")
        #expect(appDestroy.status == 1 && appDestroy.stderr.contains("linked to postgres service main-db"), "\(appDestroy)")
        #expect(try isActive(unit(sandbox, "postgres", "main\\x2ddb")))

        // The data survives an app restart, a service restart, a crash of the server, ps:restore.
        #expect(try sandbox.run("ps:restart", app).status == 0)
        #expect(try sandbox.run("postgres:restart", "main-db").status == 0)
        #expect(try count(url) == "1")
        let pid = try Shell.which("systemctl", ["--user", "show", "-p", "MainPID", "--value", unit(sandbox, "postgres", "main\\x2ddb")]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(kill(pid_t(pid) ?? 0, SIGKILL) == 0)
        #expect(eventually(timeout: .seconds(30)) { (try? count(url)) == "1" }, "systemd restarts a crashed server; committed data is there")
        #expect(try Shell.which("systemctl", ["--user", "stop", unit(sandbox, "postgres", "main\\x2ddb")]).status == 0)
        let restored = try sandbox.run("ps:restore", "--all")
        #expect(restored.status == 0, "\(restored)")
        #expect(try isActive(unit(sandbox, "postgres", "main\\x2ddb")), "a boot's ps:restore starts the service")
        #expect(try count(url) == "1")
        #expect(try sandbox.run("postgres:stop", "main-db").status == 0)
        #expect(try sandbox.run("ps:restore", "--all").status == 0)
        #expect(try !isActive(unit(sandbox, "postgres", "main\\x2ddb")), "a service stopped on purpose stays stopped")
        // Stopped, its port is still no app's to take: systemd denies the bind where it
        // can (a BPF-capable kernel); where it cannot, the server does not start on a port
        // another user listens on, so linked apps never talk to an impostor.
        let listen = "python3 -c 'import socket,time; s=socket.socket(); s.bind((\"127.0.0.1\", \(port))); s.listen(); print(\"bound\", flush=True); time.sleep(60)'"
        let squat = try sandbox.run("run:detached", other, listen)
        #expect(squat.status == 0, "\(squat)")
        if eventually(timeout: .seconds(5), { canConnect(Int(port)!) }) {
            let refused = try sandbox.run("postgres:start", "main-db")
            #expect(refused.status == 1 && refused.stderr.contains("a process of another user"), "\(refused)")
            #expect(try sandbox.run("run:stop", other).status == 0)
        }
        #expect(eventually(timeout: .seconds(10)) { !canConnect(Int(port)!) })
        let started = try sandbox.run("postgres:start", "main-db")
        #expect(started.status == 0, "\(started)")

        // Unlinked: the variable goes; destroyed: unit, user and data go.
        let unlinked = try sandbox.run("postgres:unlink", "main-db", app)
        #expect(unlinked.status == 0 && unlinked.stdout.contains("-----> Unsetting DATABASE_URL"), "\(unlinked)")
        #expect(try sandbox.run("config:get", app, "DATABASE_URL").stdout.isEmpty)
        #expect(try sandbox.run("postgres:unlink", "main-db", app).stderr.contains("Not linked to app \(app)"))
        let gone = try sandbox.run("postgres:destroy", "main-db", input: "main-db\n")
        #expect(gone.status == 0 && gone.stdout.contains("=====> Postgres container deleted: main-db"), "\(gone)")
        #expect(try !isActive(unit(sandbox, "postgres", "main\\x2ddb")))
        #expect(!FileManager.default.fileExists(atPath: data))
        #expect(try Shell.which("getent", ["passwd", "\(sandbox.slice)-pg-main-db"]).status != 0)
    }

    @Test func aliasesPromoteAndRoundTrips() throws {
        let (sandbox, app, _) = try sandboxWithApps("pgalias")
        #expect(try sandbox.run("postgres:create", "one").status == 0)
        #expect(try sandbox.run("postgres:create", "two").status == 0)
        #expect(try sandbox.run("postgres:link", "--no-restart", "one", app).stdout.contains("Skipping restart of linked app"))
        let second = try sandbox.run("postgres:link", "two", app, "--no-restart")
        #expect(second.stdout.contains("DOKKU_POSTGRES_AQUA_URL:"), "\(second)")
        let aliased = try sandbox.run("postgres:link", "two", app, "--alias", "reports", "--no-restart")
        #expect(aliased.status == 1, "already linked: \(aliased)")
        let urlTwo = try dsn(sandbox, "postgres", "two")
        let promoted = try sandbox.run("postgres:promote", "two", app)
        #expect(promoted.status == 0, "\(promoted)")
        #expect(try sandbox.run("config:get", app, "DATABASE_URL").stdout == urlTwo + "\n")
        #expect(try sandbox.run("config:get", app, "DOKKU_POSTGRES_BLACK_URL").stdout == (try dsn(sandbox, "postgres", "one")) + "\n", "the old URL is kept")
        #expect(try sandbox.run("postgres:promote", "two", app).stderr.contains("Service two already promoted as DATABASE_URL"))
        // A clone is linked as its source was.
        let clone = uniqueApp("pgclone")
        #expect(try sandbox.run("apps:clone", "--skip-deploy", app, clone).status == 0)
        #expect(try sandbox.run("postgres:links", "two").stdout.contains(clone + "\n"))
        #expect(try sandbox.run("--force", "apps:destroy", clone).status == 0)
        #expect(try !sandbox.run("postgres:links", "two").stdout.contains(clone))

        // export → change → import gives back the exported data; a broken dump changes nothing.
        let url = try dsn(sandbox, "postgres", "one")
        #expect(try psql(url, "CREATE TABLE visits (n int); INSERT INTO visits VALUES (1), (2)").status == 0)
        let dump = sandbox.root + "/one.dump"
        let exported = try withFile(sandbox, ["postgres:export", "one"], stdout: dump)
        #expect(exported.status == 0, "\(exported)")
        #expect(try psql(url, "INSERT INTO visits VALUES (3)").status == 0)
        let imported = try withFile(sandbox, ["postgres:import", "one"], stdin: dump)
        #expect(imported.status == 0, "\(imported)")
        #expect(try count(url) == "2")
        // A dump cut short fails part-way through the restore; one transaction, so nothing changed.
        #expect(try psql(url, "INSERT INTO visits VALUES (3)").status == 0)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: dump))
        try bytes.prefix(bytes.count * 3 / 4).write(to: URL(fileURLWithPath: dump + ".cut"))
        let broken = try withFile(sandbox, ["postgres:import", "one"], stdin: dump + ".cut")
        #expect(broken.status != 0, "\(broken)")
        #expect(try count(url) == "3", "the failed import rolled back whole")

        // clone copies the data into a new service.
        let cloned = try sandbox.run("postgres:clone", "one", "copy")
        #expect(cloned.status == 0 && cloned.stdout.contains("-----> Copying data from one to copy"), "\(cloned)")
        #expect(try count(try dsn(sandbox, "postgres", "copy")) == "3")
        #expect(try sandbox.run("postgres:clone", "one", "copy").stderr.contains("Invalid service name copy. Verify the service name is not already in use."))
    }

    @Test func redisLinkExportImport() throws {
        let (sandbox, app, other) = try sandboxWithApps("redis")
        let created = try sandbox.run("redis:create", "cache")
        #expect(created.status == 0 && created.stdout.contains("=====> Redis container created: cache"), "\(created)")
        let url = try dsn(sandbox, "redis", "cache")
        let match = try #require(url.wholeMatch(of: /redis:\/\/:([0-9a-f]{32})@127\.0\.0\.1:(\d+)/), "\(url)")
        let cli = ["-h", "127.0.0.1", "-p", String(match.2), "-a", String(match.1), "--no-auth-warning"]
        #expect(try sandbox.run("redis:link", "cache", app).status == 0)
        // From the app, with its REDIS_URL: AUTH then SET, as a client library does.
        let client = """
            python3 -c 'import os, socket, urllib.parse as u
            p = u.urlparse(os.environ["REDIS_URL"]); s = socket.create_connection((p.hostname, p.port))
            s.sendall(b"AUTH " + p.password.encode() + b"\\r\\nSET greeting hello\\r\\n")
            import time; time.sleep(0.3); print(s.recv(100))'
            """
        let set = try inApp(sandbox, app, client)
        #expect(set.stdout.contains("+OK\\r\\n+OK"), "\(set)")
        let noAuth = try inApp(sandbox, other, "python3 -c 'import socket; s = socket.create_connection((\"127.0.0.1\", \(match.2))); s.sendall(b\"GET greeting\\r\\n\"); print(s.recv(100))'")
        #expect(noAuth.stdout.contains("NOAUTH"), "\(noAuth)")

        let dump = sandbox.root + "/cache.rdb"
        #expect(try withFile(sandbox, ["redis:export", "cache"], stdout: dump).status == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: dump)).prefix(5) == Data("REDIS".utf8))
        #expect(try Shell.which("redis-cli", cli + ["SET", "greeting", "changed"]).status == 0)
        let imported = try withFile(sandbox, ["redis:import", "cache"], stdin: dump)
        #expect(imported.status == 0, "\(imported)")
        #expect(try Shell.which("redis-cli", cli + ["GET", "greeting"]).stdout == "hello\n")
        try Data("not an rdb file".utf8).write(to: URL(fileURLWithPath: dump + ".bad"))
        let bad = try withFile(sandbox, ["redis:import", "cache"], stdin: dump + ".bad")
        #expect(bad.status == 1 && bad.stderr.contains("not a valid RDB file"), "\(bad)")
        #expect(try Shell.which("redis-cli", cli + ["GET", "greeting"]).stdout == "hello\n", "unchanged")
        // Data survives a service restart.
        #expect(try sandbox.run("redis:restart", "cache").status == 0)
        #expect(try Shell.which("redis-cli", cli + ["GET", "greeting"]).stdout == "hello\n")
    }

    @Test func backupsAreCompleteOrAbsentEncryptedScheduledAndRestored() throws {
        _ = try #require(Integration.systemdBus, "DOKKULITE_SYSTEMD_BUS is not set; scripts/test sets it")
        let sandbox = try Sandbox("pgbackup")
        #expect(try sandbox.run("postgres:create", "db").status == 0)
        let url = try dsn(sandbox, "postgres", "db")
        #expect(try psql(url, "CREATE TABLE visits (n int); INSERT INTO visits SELECT generate_series(1, 3)").status == 0)
        let root = sandbox.root + "/backups"
        let target = "file://\(root)/daily"

        // Targets outside the backup root, with .., through a link, or not a bucket name, are refused.
        for bad in ["file:///etc/cron.d", "file://\(root)/../escape", "Not_A_Bucket"] {
            let refused = try sandbox.run("postgres:backup", "db", bad)
            #expect(refused.status == 1 && refused.stderr.contains("Invalid backup target"), "\(bad): \(refused)")
        }
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: root + "/linked", withDestinationPath: "/etc")
        let viaLink = try sandbox.run("postgres:backup", "db", "file://\(root)/linked/x")
        #expect(viaLink.status == 1 && viaLink.stderr.contains("Invalid backup target"), "\(viaLink)")
        #expect(!FileManager.default.fileExists(atPath: "/etc/x"))
        let noCredentials = try sandbox.run("postgres:backup", "db", "my-bucket/nightly")
        #expect(noCredentials.status == 1 && noCredentials.stderr.contains("Provide AWS credentials or use the --use-iam flag"), "\(noCredentials)")

        // Plain, then encrypted; --keep 2 keeps the newest two.
        #expect(try sandbox.run("postgres:backup", "db", target).status == 0)
        #expect(try sandbox.run("postgres:backup-set-encryption", "db", "correct horse").status == 0)
        Thread.sleep(forTimeInterval: 1.1)  // backup names carry the second they were taken
        #expect(try sandbox.run("postgres:backup", "db", target, "--keep", "2").status == 0)
        Thread.sleep(forTimeInterval: 1.1)
        let third = try sandbox.run("postgres:backup", "db", target, "--keep", "2")
        #expect(third.status == 0, "\(third)")
        let files = try sandbox.run("postgres:backup-list", "db", target).stdout.split(separator: "\n").map(String.init)
        #expect(files.count == 2 && files.allSatisfy { $0.hasSuffix(".dump.gpg") }, "\(files)")
        // Another service whose name extends this one's: its backups are its own, never pruned by db's --keep.
        #expect(try sandbox.run("postgres:create", "db-2").status == 0)
        let neighbour = try sandbox.run("postgres:backup", "db-2", target)
        #expect(neighbour.status == 0, "\(neighbour)")
        #expect(try sandbox.run("postgres:backup-list", "db", target).stdout.split(separator: "\n").map(String.init) == files)
        #expect(try sandbox.run("postgres:backup-list", "db-2", target).stdout.split(separator: "\n").count == 1)
        #expect(try sandbox.run("--force", "postgres:destroy", "db-2").status == 0)
        let encrypted = try Data(contentsOf: URL(fileURLWithPath: files[1]))
        #expect(encrypted.range(of: Data("visits".utf8)) == nil, "no plaintext in an encrypted backup")
        #expect(try FileManager.default.attributesOfItem(atPath: files[1])[.posixPermissions] as? NSNumber == 0o600)

        // Restoring from the encrypted file brings the data back.
        #expect(try psql(url, "DELETE FROM visits").status == 0)
        let restored = try sandbox.run("postgres:backup-restore", "db", files[1])
        #expect(restored.status == 0, "\(restored)")
        #expect(try count(url) == "3")

        // The schedule is a timer; running its service is what the timer does when it fires.
        let scheduled = try sandbox.run("postgres:backup-schedule", "db", "0 3 * * *", "file://\(root)/nightly")
        #expect(scheduled.status == 0, "\(scheduled)")
        #expect(try sandbox.run("postgres:backup-schedule-cat", "db").stdout == "0 3 * * * postgres:backup db file://\(root)/nightly\n")
        let timer = "\(sandbox.slice)-postgres@db-backup.timer"
        #expect(try Shell.which("systemctl", ["--user", "show", "-p", "TimersCalendar", "--value", timer]).stdout.contains("03:00:00"))
        let fired = try Shell.which("systemctl", ["--user", "start", timer.replacingOccurrences(of: ".timer", with: ".service")])
        #expect(fired.status == 0, "\(fired)")
        #expect(eventually(timeout: .seconds(30)) { ((try? sandbox.run("postgres:backup-list", "db", "file://\(root)/nightly").stdout) ?? "").contains(".dump.gpg") })
        #expect(try sandbox.run("postgres:backup-unschedule", "db").status == 0)
        #expect(try !isActive(timer))
        #expect(try sandbox.run("postgres:backup-schedule-cat", "db").stderr.contains("There is no scheduled backup for db."))

        // A backup killed part-way leaves no file that looks complete.
        #expect(try psql(url, "INSERT INTO visits SELECT generate_series(1, 3000000)").status == 0)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Binaries.dokkulite)
        process.arguments = ["postgres:backup", "db", "file://\(root)/killed"]
        process.environment = sandbox.environment
        process.standardError = FileHandle.nullDevice
        try process.run()
        let started = eventually(timeout: .seconds(30)) {
            ((try? FileManager.default.contentsOfDirectory(atPath: root + "/killed")) ?? []).contains { $0.hasSuffix(".partial") }
        }
        #expect(started, "the backup began writing")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        // The dump may still be running: wait for its process to end, then look.
        #expect(eventually(timeout: .seconds(60)) {
            ((try? Shell.which("systemctl", ["--user", "list-units", "--no-legend", "--state=running", "\(sandbox.slice)-postgres@db-backup-*"]).stdout) ?? "x").isEmpty
        })
        let left = try FileManager.default.contentsOfDirectory(atPath: root + "/killed")
        #expect(left.allSatisfy { $0.hasPrefix(".") && $0.hasSuffix(".partial") }, "\(left)")
        #expect(try sandbox.run("postgres:backup-list", "db", "file://\(root)/killed").stdout.isEmpty)
    }

    @Test func backupsToAnS3Server() throws {
        _ = try #require(Integration.systemdBus, "DOKKULITE_SYSTEMD_BUS is not set; scripts/test sets it")
        #expect(Moto.available, "scripts/deps installs moto (an S3 server) into /opt/dokkulite-test/moto")
        guard Moto.available else { return }
        let sandbox = try Sandbox("svcs3")
        let moto = try Moto()
        #expect(try moto.request("PUT", "/dumps").status == 200, "the bucket")
        #expect(try sandbox.run("redis:create", "cache").status == 0)
        let url = try dsn(sandbox, "redis", "cache")
        let match = try #require(url.wholeMatch(of: /redis:\/\/:([0-9a-f]{32})@127\.0\.0\.1:(\d+)/), "\(url)")
        let cli = ["-h", "127.0.0.1", "-p", String(match.2), "-a", String(match.1), "--no-auth-warning"]
        #expect(try Shell.which("redis-cli", cli + ["SET", "kept", "yes"]).status == 0)
        #expect(try sandbox.run("redis:backup-auth", "cache", "AKIDTEST").stderr.contains("Please specify an aws secret access key"))
        #expect(try sandbox.run("redis:backup-auth", "cache", "AKIDTEST", "secret", "us-east-1", "s3v4", "file:///etc").stderr.contains("Invalid endpoint URL"))
        let auth = try sandbox.run("redis:backup-auth", "cache", "AKIDTEST", "c2VjcmV0", "us-east-1", "s3v4", moto.endpoint)
        #expect(auth.status == 0, "\(auth)")
        var keys: [String] = []
        for round in 0..<3 {
            if round > 0 { Thread.sleep(forTimeInterval: 1.1) }  // names carry the second
            let made = try sandbox.run("redis:backup", "cache", "dumps/nightly", "--keep", "2")
            #expect(made.status == 0, "\(made)")
            keys.append(made.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: " ").last.map(String.init) ?? "")
        }
        let listed = try sandbox.run("redis:backup-list", "cache", "s3://dumps/nightly").stdout.split(separator: "\n").map(String.init)
        #expect(listed == Array(keys.suffix(2)), "the newest two kept: \(listed) of \(keys)")
        let key = try #require(listed.last).replacingOccurrences(of: "s3://dumps/", with: "")
        #expect(try moto.object(bucket: "dumps", key: key).prefix(5) == Data("REDIS".utf8), "an RDB file in the bucket")
        // Restored from the bucket.
        #expect(try Shell.which("redis-cli", cli + ["SET", "kept", "changed"]).status == 0)
        let restored = try sandbox.run("redis:backup-restore", "cache", "s3://dumps/" + key)
        #expect(restored.status == 0, "\(restored)")
        #expect(try Shell.which("redis-cli", cli + ["GET", "kept"]).stdout == "yes\n")
        #expect(try sandbox.run("redis:backup-deauth", "cache").status == 0)
        #expect(try sandbox.run("redis:backup", "cache", "dumps").stderr.contains("Provide AWS credentials"))
    }

    @Test(arguments: [
        (["postgres:create", "bad.name"], "Please specify a valid name for the service. Valid characters are"),
        (["postgres:create"], "Please specify a valid name for the service"),
        (["postgres:info", "nope"], "Postgres service nope does not exist"),
        (["redis:destroy", "--force", "nope"], "Redis service nope does not exist"),
        (["postgres:link", "nope", "no-such-app"], "App no-such-app does not exist"),
        (["postgres:link", "nope"], "Please specify an app to run the command on"),
        (["postgres:export", "nope"], "Postgres service nope does not exist"),
        (["postgres:create", "x", "--memory", "lots"], "Invalid memory value lots"),
        (["postgres:create", "x", "--password", "a b"], "Invalid password"),
        (["postgres:backup-schedule", "nope", "* * * * *", "file:///x"], "Postgres service nope does not exist"),
    ])
    func badInputChangesNothing(_ arguments: [String], _ message: String) throws {
        _ = try #require(Integration.systemdBus, "DOKKULITE_SYSTEMD_BUS is not set; scripts/test sets it")
        let sandbox = try Sandbox("svcbad")
        let result = try sandbox.run(arguments)
        #expect(result.status != 0, "\(result)")
        #expect(result.stderr.contains(message), "\(result)")
        #expect(["", "0"].contains((try? sandbox.sql("SELECT count(*) FROM service")) ?? ""), "no service recorded")
        #expect(!FileManager.default.fileExists(atPath: sandbox.root + "/services/postgres/x"))
    }

    @Test func exposeForwardsAPublicPortThroughTheProxy() throws {
        _ = try #require(Integration.systemdBus, "DOKKULITE_SYSTEMD_BUS is not set; scripts/test sets it")
        let sandbox = try Sandbox("svcexpose")
        #expect(try sandbox.run("postgres:create", "db").status == 0)
        let daemon = try DaemonProcess(sandbox)
        defer { daemon.stop() }
        let port = try freePort()
        let exposed = try sandbox.run("postgres:expose", "db", String(port))
        #expect(exposed.status == 0 && exposed.stdout.contains("-----> Service db exposed on port(s) [container->host]: 5432->\(port) "), "\(exposed)")
        #expect(try sandbox.run("postgres:info", "db", "--exposed-ports").stdout.hasSuffix("->\(port) \n"))
        #expect(try sandbox.run("postgres:expose", "db", "1").stderr.contains("Service db already exposed on port(s) \(port)"))
        var url = try dsn(sandbox, "postgres", "db")
        url.replace(#/:\d+/db$/#, with: ":\(port)/db")
        #expect(eventually(timeout: .seconds(10)) { (try? psql(url, "SELECT 40 + 2").stdout) == "42\n" }, "psql through the proxy's forward")
        #expect(try sandbox.run("postgres:unexpose", "db").stdout.contains("-----> Service db unexposed"))
        #expect(eventually(timeout: .seconds(10)) { !canConnect(port) })
    }

    @Test func refusalsOnAnExistingService() throws {
        _ = try #require(Integration.systemdBus, "DOKKULITE_SYSTEMD_BUS is not set; scripts/test sets it")
        let sandbox = try Sandbox("svcrefuse")
        #expect(try sandbox.run("postgres:create", "db").status == 0)
        let upgrade = try sandbox.run("postgres:upgrade", "db", "--image-version", "16.2")
        #expect(upgrade.status == 1 && upgrade.stderr.contains("a change of major version needs a dump and restore"), "\(upgrade)")
        #expect(try sandbox.run("postgres:upgrade", "db").stdout.contains("Service db already running postgres:15"))
        #expect(try sandbox.run("postgres:set", "db", "color", "red").stderr.contains("Invalid key specified, valid keys include: memory"))
        let limited = try sandbox.run("postgres:set", "db", "memory", "256")
        #expect(limited.status == 0, "\(limited)")
        #expect(try Shell.which("systemctl", ["--user", "show", "-p", "MemoryMax", "--value", unit(sandbox, "postgres", "db")]).stdout == "\(256 << 20)\n")
        let declined = try sandbox.run("postgres:destroy", "db", input: "other\n")
        #expect(declined.status == 1 && declined.stderr.contains("Confirmation did not match db. Aborted."), "\(declined)")
        #expect(try isActive(unit(sandbox, "postgres", "db")))
        let list = try sandbox.run("postgres:list")
        #expect(list.stdout == "=====> Postgres services\ndb\n")
        #expect(try sandbox.run("redis:list").stderr.contains("There are no Redis services"))
    }
}
