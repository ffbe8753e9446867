import Beneath
import Foundation
import Supervisor

/// Runs services (`postgres:*`, `redis:*`): each one its own server process from Debian's
/// packages, as its own system user, with its own data directory and its own port on
/// 127.0.0.1, supervised by systemd as a persistent unit in dokkulite's slice and sandboxed
/// as apps are. The distribution's own cluster or instance is neither used nor touched.
struct ServiceManager {
    let context: Context
    let kind: ServiceKind

    init(_ context: Context, _ kind: ServiceKind) {
        self.context = context
        self.kind = kind
    }

    private var settings: Settings { context.settings }
    private var store: Store { get throws { try context.store() } }

    // MARK: Places and names

    /// `ROOT/services/KIND/NAME`: root's, readable by the service's group (its config).
    func directory(_ name: ServiceName) -> String { "\(settings.paths.services)/\(kind.rawValue)/\(name.rawValue)" }
    /// The server's data: the service user's alone.
    func dataDirectory(_ name: ServiceName) -> String { directory(name) + "/data" }
    /// The password as the client tools read it (`PGPASSWORD`, `REDISCLI_AUTH`): root-only,
    /// passed to tool units as an `EnvironmentFile=`.
    func secretsFile(_ name: ServiceName) -> String { directory(name) + "/ENV" }
    /// Redis's configuration (it holds the password): root's, readable by the group.
    func redisConfig(_ name: ServiceName) -> String { directory(name) + "/redis.conf" }

    /// `ROOT-KIND@NAME.service`. The `@` keeps it apart from every app's units
    /// (`ROOT-APP-…`), whatever the app is called.
    func unit(_ name: ServiceName) -> String { "\(settings.rootSlice)-\(kind.rawValue)@\(UnitNames.escape(name.rawValue)).service" }

    /// The service's record, or dokku-postgres's message when there is none.
    func existing(_ raw: String?) throws -> ServiceRecord {
        let name = try ServiceName.parse(raw)
        guard let record = try store.service(kind, name) else { throw CommandError("\(kind.title) service \(name) does not exist", kind: .notFound) }
        return record
    }

    /// The URL a linked app gets: `postgres://postgres:PASS@127.0.0.1:PORT/DB`,
    /// `redis://:PASS@127.0.0.1:PORT`, with `querystring` appended.
    func url(_ record: ServiceRecord, querystring: String? = nil) -> String {
        var url: String
        switch kind {
        case .postgres: url = "\(kind.scheme)://postgres:\(record.password)@127.0.0.1:\(record.port)/\(record.name.databaseName)"
        case .redis: url = "\(kind.scheme)://:\(record.password)@127.0.0.1:\(record.port)"
        }
        if let querystring, !querystring.isEmpty { url += "?" + querystring }
        return url
    }

    // MARK: Life

    /// Makes a service: its user, its directories, an initialised data directory, its
    /// record; then starts it and waits until it answers. Nothing is left behind if a step
    /// fails.
    func create(_ name: ServiceName, password: String?, memoryBytes: UInt64?) throws -> ServiceRecord {
        guard FileManager.default.isExecutableFile(atPath: kind.serverProgram) else {
            throw CommandError("\(kind.serverProgram) is missing: install Debian's \(kind.packages)")
        }
        if try store.service(kind, name) != nil { throw CommandError("\(kind.title) service \(name) already exists", kind: .conflict) }
        if let password, let problem = Self.passwordProblem(password) { throw CommandError(problem) }
        // A left-over directory of that name is not ours to reuse, nor to remove.
        if FileManager.default.fileExists(atPath: directory(name)) {
            throw CommandError("\(directory(name)) exists already (left from an earlier \(kind.rawValue) service?): move it away first")
        }
        let user = try ServiceUser.create(kind: kind, name: name, prefix: settings.userPrefix, store: store)
        var record = ServiceRecord(
            kind: kind, name: name, user: user, port: 0, password: password ?? Self.newPassword(), version: kind.version, createdAt: Date(),
            exposedPort: nil, memoryBytes: memoryBytes, stopped: false)
        do {
            record = try store.insertService(record, range: settings.portRange, isFree: Supervisor.isFree)
        } catch {
            ServiceUser.remove(user)
            throw error
        }
        do {
            try prepare(record)
            try start(record)
            if kind == .postgres { try createDatabase(record) }
        } catch {
            try? removeEverything(record)
            throw error
        }
        return record
    }

    /// A password a key holder chose (`--password`): it goes into URLs and a config file
    /// unescaped, so only URL-safe characters.
    static func passwordProblem(_ password: String) -> String? {
        guard (8...128).contains(password.utf8.count),
            password.utf8.allSatisfy({ (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0) || $0 == 45 || $0 == 95 || $0 == 46 || $0 == 126 })
        else { return "Invalid password: use 8 to 128 letters, digits, '-', '_', '.' or '~'" }
        return nil
    }

    /// 128 random bits as hex, as dokku-postgres makes its passwords.
    static func newPassword() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }

    /// Directories, the secrets file, and the server's own initialisation.
    private func prepare(_ record: ServiceRecord) throws {
        guard let ids = AppUser.uid(of: record.user) else { throw CommandError("user \(record.user) is missing") }
        let top = settings.paths.services + "/" + kind.rawValue
        for directory in [settings.paths.services, top] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            chown(directory, 0, 0)
            chmod(directory, 0o711)
        }
        let directory = directory(record.name), data = dataDirectory(record.name)
        // A left-over directory of that name is not reused: whatever is in it is not ours.
        guard mkdir(directory, 0o750) == 0 else { throw CommandError("cannot create \(directory): \(String(cString: strerror(errno)))") }
        chown(directory, 0, ids.gid)
        chmod(directory, 0o750)
        guard mkdir(data, 0o700) == 0 else { throw CommandError("cannot create \(data): \(String(cString: strerror(errno)))") }
        chown(data, ids.uid, ids.gid)
        try writeSecrets(record)
        switch kind {
        case .postgres:
            // initdb reads the superuser's password from a file: one the service's group may
            // read for the moment, in root's directory.
            let passwordFile = directory + "/initdb-password"
            try SecretFile.write(record.password + "\n", to: passwordFile, mode: 0o640, owner: (0, ids.gid))
            defer { unlink(passwordFile) }
            let result = try Subprocess.run("/usr/bin/setpriv", [
                "--reuid=\(ids.uid)", "--regid=\(ids.gid)", "--init-groups", "--", kind.binaries + "/initdb",
                "--pgdata=" + data, "--username=postgres", "--auth-host=scram-sha-256", "--auth-local=scram-sha-256",
                "--pwfile=" + passwordFile, "--encoding=UTF8", "--locale=C.UTF-8", "--no-instructions",
            ], directory: directory)
            guard result.status == 0 else {
                throw CommandError("initdb failed: \(result.stderr.split(separator: "\n").last ?? "")")
            }
            try ensureCertificate(record)
        case .redis:
            try writeRedisConfig(record, group: ids.gid)
        }
    }

    /// The backup passphrase as backup and restore units read it (root-only; only those
    /// units get it).
    func passphraseFile(_ name: ServiceName) -> String { directory(name) + "/BACKUP_ENV" }

    /// The client tools' credentials, and the backup passphrase, each root-only.
    func writeSecrets(_ record: ServiceRecord, passphrase: String? = nil) throws {
        let text: String
        switch kind {
        case .postgres: text = "PGPASSWORD=\(record.password)\nPGUSER=postgres\n"
        case .redis: text = "REDISCLI_AUTH=\(record.password)\n"
        }
        try SecretFile.write(text, to: secretsFile(record.name))
        try SecretFile.write(passphrase.map { ConfigVars.systemdEnvironmentFile([("DOKKULITE_BACKUP_PASSPHRASE", $0)]) } ?? "", to: passphraseFile(record.name))
    }

    /// Redis takes its password from its config file, never its command line (which every
    /// local user can read); the file is root's, readable by the service's group.
    private func writeRedisConfig(_ record: ServiceRecord, group: gid_t) throws {
        let text = """
            # Written by dokkulite for redis service \(record.name); changes are overwritten.
            bind 127.0.0.1
            port \(record.port)
            protected-mode yes
            requirepass \(record.password)
            dir \(dataDirectory(record.name))
            dbfilename dump.rdb
            daemonize no
            supervised no
            logfile ""
            save 3600 1 300 100 60 10000
            appendonly no

            """
        try SecretFile.write(text, to: redisConfig(record.name), mode: 0o640, owner: (0, group))
    }

    /// PostgreSQL's TLS certificate, self-signed, as dokku-postgres makes one: clients that
    /// require TLS (`sslmode=require`, Heroku's Django settings) connect as they do there.
    /// The key is root's, readable by the service's group (PostgreSQL accepts that), in
    /// root's directory; made once, before the server first starts.
    func certificatePaths(_ name: ServiceName) -> (certificate: String, key: String) {
        (directory(name) + "/server.crt", directory(name) + "/server.key")
    }

    func ensureCertificate(_ record: ServiceRecord) throws {
        let (certificate, key) = certificatePaths(record.name)
        if FileManager.default.fileExists(atPath: certificate), FileManager.default.fileExists(atPath: key) { return }
        guard let ids = AppUser.uid(of: record.user) else { throw CommandError("user \(record.user) is missing") }
        let work = directory(record.name) + "/.tls-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        guard mkdir(work, 0o700) == 0 else { throw CommandError("cannot create \(work): \(String(cString: strerror(errno)))") }
        defer { try? FileManager.default.removeItem(atPath: work) }
        let made = try Subprocess.run("/usr/bin/openssl", [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "3650",
            "-subj", "/CN=dokkulite-\(kind.rawValue)-\(record.name)", "-keyout", "server.key", "-out", "server.crt",
        ], directory: work)
        guard made.status == 0 else { throw CommandError("openssl req failed: \(made.stderr.trimmingCharacters(in: .whitespacesAndNewlines))") }
        for (name, mode, target) in [("server.key", mode_t(0o640), key), ("server.crt", mode_t(0o644), certificate)] {
            let path = work + "/" + name
            guard chown(path, 0, ids.gid) == 0, chmod(path, mode) == 0, rename(path, target) == 0 else {
                throw CommandError("cannot install \(target): \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Creates the service's database (named after it, as dokku-postgres does).
    private func createDatabase(_ record: ServiceRecord) throws {
        let result = try admin(record, "createdb", ["--", record.name.databaseName])
        guard result.status == 0 else { throw CommandError("createdb failed: \(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines))") }
    }

    /// Runs a PostgreSQL client tool as root against the service (over 127.0.0.1, with its
    /// password): for dokkulite's own fixed statements, never a key holder's SQL.
    func admin(_ record: ServiceRecord, _ tool: String, _ arguments: [String]) throws -> Subprocess.Result {
        try Subprocess.run(kind.binaries + "/" + tool, ["--host=127.0.0.1", "--port=\(record.port)", "--username=postgres", "--no-password"] + arguments,
            environment: ["PGPASSWORD": record.password, "PATH": "/usr/bin:/bin", "PGCONNECT_TIMEOUT": "10"])
    }

    /// The server's unit.
    func spec(_ record: ServiceRecord) -> ProcessSpec {
        let data = dataDirectory(record.name)
        let argv: [String]
        switch kind {
        case .postgres:
            let tls = certificatePaths(record.name)
            argv = [kind.serverProgram, "-D", data, "-c", "listen_addresses=127.0.0.1", "-c", "port=\(record.port)",
                "-c", "unix_socket_directories=", "-c", "logging_collector=off", "-c", "password_encryption=scram-sha-256",
                "-c", "ssl=on", "-c", "ssl_cert_file=\(tls.certificate)", "-c", "ssl_key_file=\(tls.key)"]
        case .redis:
            argv = [kind.serverProgram, redisConfig(record.name)]
        }
        var spec = ProcessSpec(
            unit: unit(record.name), slice: settings.rootSlice + ".slice", description: "dokkulite \(kind.rawValue) service \(record.name)",
            command: "", workingDirectory: data, identity: .user(record.user),
            restart: .init(mode: "always", maxStarts: nil, delaySeconds: 2), stopTimeoutSeconds: 60,
            limits: .init(memoryBytes: record.memoryBytes),
            sandbox: .init(
                hardened: true, readWritePaths: [data], inaccessiblePaths: hiddenPaths(except: record),
                ownPorts: [UInt16(record.port)], reservedPorts: settings.reservedPorts),
            syslogIdentifier: "\(kind.rawValue).\(record.name)", argv: argv)
        if kind == .postgres {
            spec.killSignal = SIGINT
            spec.killMainProcessFirst = true
        }
        return spec
    }

    /// What a service's server or tool may not see: dokkulite's state, every app, every
    /// other service.
    private func hiddenPaths(except record: ServiceRecord?) -> [String] {
        var hidden = ProcessManager.hiddenPaths(settings.paths).filter { $0 != settings.paths.services } + [settings.paths.apps]
        if let record {
            // Its own directory stays visible; the others of its kind and every other kind go.
            for other in (try? store.services()) ?? [] where other.kind != record.kind || other.name != record.name {
                hidden.append(ServiceManager(context, other.kind).directory(other.name))
            }
        } else {
            hidden.append(settings.paths.services)
        }
        return hidden
    }

    /// Whether its unit runs.
    func isRunning(_ record: ServiceRecord) throws -> Bool {
        try context.supervisor().status(of: unit(record.name))?.isRunning ?? false
    }

    /// Starts the unit (if it does not run) and waits until the server answers.
    func start(_ record: ServiceRecord, timeout: Duration = .seconds(60)) throws {
        let supervisor = try context.supervisor()
        if try !isRunning(record) {
            if kind == .postgres { try ensureCertificate(record) }
            try supervisor.start([spec(record)])
        }
        do {
            try supervisor.waitUntilListening(unit: unit(record.name), port: record.port, owner: AppUser.uid(of: record.user).map { UInt32($0.uid) }, timeout: timeout)
        } catch {
            throw CommandError("\(kind.title) service \(record.name) did not start: \(error)")
        }
        if kind == .postgres { try waitUntilAccepting(record, timeout: timeout) }
        try store.setServiceStopped(kind, record.name, false)
    }

    /// PostgreSQL listens before it has finished starting (or recovering): `pg_isready`.
    private func waitUntilAccepting(_ record: ServiceRecord, timeout: Duration) throws {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while true {
            let result = try Subprocess.run(kind.binaries + "/pg_isready", ["--host=127.0.0.1", "--port=\(record.port)", "--timeout=2", "--dbname=postgres"])
            if result.status == 0 { return }
            guard ContinuousClock.now < deadline else { throw CommandError("\(kind.title) service \(record.name) is not accepting connections") }
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    /// Stops the unit; `remember` keeps it stopped across `ps:restore`.
    func stop(_ record: ServiceRecord, remember: Bool = true) throws {
        try context.supervisor().stop([unit(record.name)])
        if remember { try store.setServiceStopped(kind, record.name, true) }
    }

    /// Starts every service that was not stopped on purpose (at boot, `ps:restore`).
    static func restoreAll(_ context: Context) -> Int {
        var failures = 0
        for record in (try? context.store().services()) ?? [] where !record.stopped {
            let manager = ServiceManager(context, record.kind)
            do {
                try manager.start(record)
                try ServiceBackups(context, record.kind).syncSchedule(record)
            } catch {
                context.output.warn("Error starting \(record.kind.rawValue) service \(record.name): \(error)")
                failures += 1
            }
        }
        return failures
    }

    /// Removes the unit, the backup timer, the directories, the user and the record.
    func removeEverything(_ record: ServiceRecord) throws {
        try? context.supervisor().stop([unit(record.name), ServiceBackups(context, kind).timerUnit(record.name)])
        let directory = directory(record.name)
        if FileManager.default.fileExists(atPath: directory) {
            do {
                try Beneath.removeTree(directory)
            } catch {
                throw CommandError("cannot remove \(directory): \(error)")
            }
        }
        try store.deleteService(kind, record.name)
        ServiceUser.remove(record.user)
    }

    // MARK: Tools

    /// A client tool run for a key holder (`connect`, `export`, `import`, backups): a
    /// one-off unit as a dynamic user in the apps' sandbox, seeing no state and no service's
    /// files, the password from the root-only secrets file. A shell escape (psql's `\!`)
    /// lands there, not in root's shell.
    /// `asOwner` runs it as the service's own user with its data directory writable (what
    /// replaces a Redis data file), still never as root.
    func toolSpec(_ record: ServiceRecord, purpose: String, argv: [String], environment: [String: String] = [:], asOwner: Bool = false, passphrase: Bool = false) -> ProcessSpec {
        let id = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        var spec = ProcessSpec(
            unit: "\(settings.rootSlice)-\(kind.rawValue)@\(UnitNames.escape(record.name.rawValue))-\(purpose)-\(id).service",
            slice: settings.rootSlice + ".slice", description: "dokkulite \(kind.rawValue) \(record.name) \(purpose)",
            command: "", workingDirectory: "/tmp", environment: ["HOME": "/tmp", "TERM": Self.terminal].merging(environment) { $1 },
            environmentFiles: [secretsFile(record.name)] + (passphrase ? [passphraseFile(record.name)] : []), identity: .dynamic(name: nil), restart: .init(mode: "no", maxStarts: nil),
            stopTimeoutSeconds: 10,
            sandbox: .init(hardened: true, inaccessiblePaths: hiddenPaths(except: nil), reservedPorts: settings.reservedPorts),
            syslogIdentifier: "\(kind.rawValue).\(record.name).\(purpose)", argv: argv)
        if asOwner {
            spec.identity = .user(record.user)
            spec.workingDirectory = dataDirectory(record.name)
            spec.sandbox.readWritePaths = [dataDirectory(record.name)]
            spec.sandbox.inaccessiblePaths = hiddenPaths(except: record)
        }
        return spec
    }

    /// The caller's `TERM` (over ssh, the key holder's client sends it) when it is a plain
    /// terminal name, as it goes into a unit property; else `dumb`.
    static var terminal: String {
        let term = ProcessInfo.processInfo.environment["TERM"] ?? ""
        let plain = (1...64).contains(term.utf8.count)
            && term.utf8.allSatisfy { (97...122).contains($0) || (65...90).contains($0) || (48...57).contains($0) || $0 == 45 || $0 == 46 || $0 == 95 || $0 == 43 }
        return plain ? term : "dumb"
    }

    /// Runs a tool attached to the given descriptors; its exit code.
    func runTool(_ spec: ProcessSpec, input: Int32 = 0, output: Int32 = 1, errors: Int32 = 2) throws -> Int32 {
        try context.supervisor().runAttached(spec, input: input, output: output, errors: errors)
    }

    /// The arguments every PostgreSQL tool connects with.
    func postgresConnection(_ record: ServiceRecord) -> [String] {
        ["--host=127.0.0.1", "--port=\(record.port)", "--username=postgres", "--no-password"]
    }

    /// The arguments every redis-cli connects with (the password comes in `REDISCLI_AUTH`).
    func redisConnection(_ record: ServiceRecord) -> [String] {
        ["-h", "127.0.0.1", "-p", String(record.port)]
    }
}

/// The system user a service runs as: `PREFIX-TAG-NAME` (`dl-pg-db`), lowercased, shortened
/// with a hash when too long or when taken; never an app's or another service's.
enum ServiceUser {
    static func create(kind: ServiceKind, name: ServiceName, prefix: String, store: Store) throws -> String {
        let taken = Set(try store.services().map(\.user))
        for attempt in 0..<64 {
            var candidate = "\(prefix)\(kind.userTag)-\(name.rawValue.lowercased())"
            if candidate.count > 32 || candidate != "\(prefix)\(kind.userTag)-\(name.rawValue)" || attempt > 0 {
                let hash = Fingerprint.hex(Array("\(kind.rawValue)/\(name.rawValue)#\(attempt)".utf8), bytes: 4)
                candidate = String(candidate.prefix(32 - 1 - hash.count)) + "-" + hash
            }
            if try taken.contains(candidate) || AppUser.uid(of: candidate) != nil || getgrnam(candidate) != nil || (try store.appOfUser(candidate) != nil) { continue }
            let result = try Subprocess.run("/usr/sbin/useradd", [
                "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
                "--shell", "/usr/sbin/nologin", "--comment", "dokkulite \(kind.rawValue) service \(name)", "--", candidate,
            ])
            guard result.status == 0 else {
                if AppUser.uid(of: candidate) != nil || getgrnam(candidate) != nil { continue }
                throw CommandError("cannot create user \(candidate) for \(kind.rawValue) service \(name): \(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
            return candidate
        }
        throw CommandError("cannot find a free user name for \(kind.rawValue) service \(name)")
    }

    static func remove(_ user: String) {
        AppUser.remove(user)
    }
}
