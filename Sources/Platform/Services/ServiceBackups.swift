import Beneath
import Crypto
import Foundation
import S3
import Supervisor

/// Backups of a service to a directory on this server: `KIND-NAME-YYYYMMDD-HHMMSS.EXT`
/// (`.gpg` when encrypted), written under a hidden temporary name and renamed only once
/// the dump finished, so an interrupted backup never leaves a file that looks complete.
/// Schedules are systemd timers; restores run in one transaction (Postgres) or replace the
/// data file only after it checked out (Redis).
struct ServiceBackups {
    let context: Context
    let kind: ServiceKind

    init(_ context: Context, _ kind: ServiceKind) {
        self.context = context
        self.kind = kind
    }

    private var store: Store { get throws { try context.store() } }
    private var manager: ServiceManager { ServiceManager(context, kind) }

    /// The timer of a scheduled backup: `ROOT-KIND@NAME-backup.timer`.
    func timerUnit(_ name: ServiceName) -> String {
        "\(context.settings.rootSlice)-\(kind.rawValue)@\(UnitNames.escape(name.rawValue))-backup.timer"
    }

    // MARK: Targets

    /// Where backups go: a directory beneath the backup root (relative to it), or an S3
    /// bucket and key prefix.
    enum Target: Equatable {
        case directory(String)
        case bucket(String, prefix: String)
    }

    /// `file:///DIR` or `/DIR` (beneath the backup root), or, as dokku-postgres takes it,
    /// an S3 bucket: `BUCKET[/PREFIX]` or `s3://BUCKET[/PREFIX]`.
    func target(_ text: String) throws -> Target {
        if text.hasPrefix("file://") || text.hasPrefix("/") { return .directory(try targetDirectory(text)) }
        var rest = Substring(text)
        if rest.hasPrefix("s3://") { rest = rest.dropFirst(5) }
        let parts = rest.split(separator: "/", maxSplits: 1)
        let bucket = parts.first.map(String.init) ?? ""
        let prefix = parts.count > 1 ? String(parts[1]).trimmingCharacters(in: CharacterSet(charactersIn: "/")) : ""
        guard S3Client.isValidBucket(bucket), prefix.isEmpty || S3Client.isValidKey(prefix) else {
            throw CommandError("Invalid backup target \(text): file://\(context.settings.paths.backups)/DIR, or an S3 bucket (BUCKET[/PREFIX])")
        }
        return .bucket(bucket, prefix: prefix)
    }

    /// The S3 credentials `backup-auth` set, or dokku-postgres's message.
    func credentials(_ name: ServiceName) throws -> S3Client.Credentials {
        let store = try store
        guard let key = try store.serviceProperty(kind, name, "backup-aws-access-key-id"),
            let secret = try store.serviceProperty(kind, name, "backup-aws-secret-access-key")
        else { throw CommandError("Provide AWS credentials or use the --use-iam flag") }
        return S3Client.Credentials(
            accessKeyID: key, secretAccessKey: secret, region: try store.serviceProperty(kind, name, "backup-aws-region") ?? "us-east-1",
            endpoint: try store.serviceProperty(kind, name, "backup-endpoint-url"))
    }

    /// A backup target as a directory beneath the backup root, relative to it: `file:///DIR`
    /// or `/DIR`.
    func targetDirectory(_ text: String) throws -> String {
        let root = context.settings.paths.backups
        var path = text
        if path.hasPrefix("file://") { path.removeFirst("file://".count) }
        guard path.hasPrefix("/") else {
            throw CommandError("Invalid backup target \(text): use file://\(root)/DIR")
        }
        let parts = path.split(separator: "/")
        guard !parts.contains(".."), !parts.contains(".") else { throw CommandError("Invalid backup target \(text): no . or .. components") }
        // Plain names only: the path becomes an argument of a timer's unit.
        guard path.utf8.allSatisfy({ (97...122).contains($0) || (65...90).contains($0) || (48...57).contains($0) || $0 == 45 || $0 == 46 || $0 == 95 || $0 == 47 }) else {
            throw CommandError("Invalid backup target \(text): letters, digits, '.', '_', '-' and '/' only")
        }
        let clean = "/" + parts.joined(separator: "/")
        guard clean == root || clean.hasPrefix(root + "/") else {
            throw CommandError("Invalid backup target \(text): backups are written beneath \(root) (DOKKULITE_BACKUP_ROOT)")
        }
        return String(clean.dropFirst(root.count)).trimmingCharacters(in: CharacterSet(charactersIn: "/"))
    }

    /// Opens (making it, root-only) the target directory without following any link.
    private func openTarget(_ relative: String) throws -> CInt {
        let root = context.settings.paths.backups
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        do {
            return try Beneath.makeDirectories(relative.isEmpty ? "." : relative, in: root, mode: 0o700)
        } catch {
            throw CommandError("Invalid backup target \(root)/\(relative): \(error.reason)")
        }
    }

    /// The name prefix of this service's backup files.
    private func prefix(_ name: ServiceName) -> String { Self.prefix(kind, name) }

    private static func prefix(_ kind: ServiceKind, _ name: ServiceName) -> String { "\(kind.rawValue)-\(name.rawValue)-" }

    // MARK: Backup

    /// Writes one backup into `target`; keeps the newest `keep` (all when nil). Returns the
    /// file's path.
    @discardableResult
    func backup(_ record: ServiceRecord, target text: String, keep: Int?) throws -> String {
        let target = try target(text)
        guard try manager.isRunning(record) else { throw CommandError("Service \(record.name) is not running") }
        guard case .directory(let relative) = target else { return try backupToBucket(record, target: target, keep: keep) }
        let passphrase = try store.serviceProperty(kind, record.name, "backup-passphrase")
        let final = fileName(record.name, encrypted: passphrase != nil)
        let partial = "." + final + ".partial"
        let directory = try openTarget(relative)
        defer { close(directory) }
        let file = openat(directory, partial, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard file >= 0 else { throw CommandError("cannot create \(partial): \(String(cString: strerror(errno)))") }
        var ok = false
        defer {
            close(file)
            if !ok { unlinkat(directory, partial, 0) }
        }
        try dump(record, encrypted: passphrase != nil, into: file)
        guard fsync(file) == 0, renameat(directory, partial, directory, final) == 0 else {
            throw CommandError("cannot complete \(final): \(String(cString: strerror(errno)))")
        }
        fsync(directory)
        ok = true
        removeAbandoned(record.name, directory: directory)
        if let keep { try prune(record.name, directory: directory, keep: keep) }
        let root = context.settings.paths.backups
        return relative.isEmpty ? "\(root)/\(final)" : "\(root)/\(relative)/\(final)"
    }

    /// Runs the dump (encrypted when asked) as a tool unit writing into `file`.
    private func dump(_ record: ServiceRecord, encrypted: Bool, into file: Int32) throws {
        let dump = dumpCommand(record)
        let line = encrypted ? "set -o pipefail; \(dump) | \(Self.gpg("--symmetric --cipher-algo AES256 --output -"))" : dump
        let spec = manager.toolSpec(record, purpose: "backup", argv: ["/bin/bash", "-c", line], passphrase: true)
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { close(null) }
        let status = try manager.runTool(spec, input: null, output: file, errors: 2)
        guard status == 0 else { throw CommandError("Backup of \(record.name) failed (exit status \(status))") }
    }

    /// A root-only file with no name, in dokkulite's state: gone with the process, whatever
    /// happens to it.
    func scratchFile() throws -> Int32 {
        let directory = context.settings.paths.services
        // O_TMPFILE (Glibc does not export it): __O_TMPFILE | O_DIRECTORY.
        let file = open(directory, 0o20_000_000 | O_DIRECTORY | O_RDWR | O_CLOEXEC, 0o600)
        guard file >= 0 else { throw CommandError("cannot make a scratch file in \(directory): \(String(cString: strerror(errno)))") }
        return file
    }

    /// A backup to S3: dumped into a scratch file, then uploaded whole (an object appears in
    /// the bucket only once complete), then the oldest beyond `keep` removed.
    private func backupToBucket(_ record: ServiceRecord, target: Target, keep: Int?) throws -> String {
        guard case .bucket(let bucket, let keyPrefix) = target else { return "" }
        let client = S3Client(try credentials(record.name))
        let passphrase = try store.serviceProperty(kind, record.name, "backup-passphrase")
        let file = try scratchFile()
        defer { close(file) }
        try dump(record, encrypted: passphrase != nil, into: file)
        let length = Int(lseek(file, 0, SEEK_END))
        var hasher = SHA256()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var offset = 0
        while offset < length {
            let read = buffer.withUnsafeMutableBytes { pread(file, $0.baseAddress, $0.count, off_t(offset)) }
            guard read > 0 else { throw CommandError("cannot read the backup back: \(String(cString: strerror(errno)))") }
            hasher.update(data: buffer[0..<read])
            offset += read
        }
        let digest = hasher.finalize().map { String(format: "%02x", $0) }.joined()
        let key = (keyPrefix.isEmpty ? "" : keyPrefix + "/") + fileName(record.name, encrypted: passphrase != nil)
        let kind = kind
        let existing = try onS3("Backup of \(record.name) to S3 failed") {
            try await client.put(bucket: bucket, key: key, descriptor: file, length: length, sha256: digest)
            return keep == nil ? [] : try await Self.bucketBackups(client, bucket: bucket, prefix: keyPrefix, kind: kind, name: record.name)
        }
        if let keep {
            let old = Array(existing.dropLast(max(keep, 1)))
            try onS3("Backup of \(record.name) to S3 failed") {
                for key in old { try await client.delete(bucket: bucket, key: key) }
            }
        }
        return "s3://\(bucket)/\(key)"
    }

    /// This service's backups in a bucket under `prefix`, oldest first, as keys.
    private static func bucketBackups(_ client: S3Client, bucket: String, prefix keyPrefix: String, kind: ServiceKind, name: ServiceName) async throws -> [String] {
        let base = keyPrefix.isEmpty ? "" : keyPrefix + "/"
        return try await client.list(bucket: bucket, prefix: base + prefix(kind, name)).filter { isBackupName(String($0.dropFirst(base.count)), name, kind: kind) }
    }

    /// Runs S3 requests from this synchronous command; their failures in one line.
    private func onS3<T: Sendable>(_ what: String, _ body: @escaping @Sendable () async throws -> T) throws -> T {
        do {
            return try BlockingTask.value(body)
        } catch let failure as S3Client.Failure {
            throw CommandError("\(what): \(failure)")
        } catch let failure as CommandError {
            throw failure
        } catch {
            throw CommandError("\(what): \(error)")
        }
    }

    /// `KIND-NAME-YYYYMMDD-HHMMSS.EXT[.gpg]` for now.
    private func fileName(_ name: ServiceName, encrypted: Bool) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        return prefix(name) + formatter.string(from: Date()) + "." + kind.dumpExtension + (encrypted ? ".gpg" : "")
    }

    /// gpg as a stage of a tool's pipeline: no agent prompts, the passphrase (from the
    /// service's root-only secrets file) on descriptor 3, never on a command line.
    static func gpg(_ arguments: String) -> String {
        "{ [ -n \"$DOKKULITE_BACKUP_PASSPHRASE\" ] || { echo 'no backup passphrase' >&2; exit 1; }; mkdir -p -m 700 /tmp/gnupg && gpg --homedir /tmp/gnupg --batch --yes --quiet --pinentry-mode loopback --passphrase-fd 3 \(arguments) 3<<<\"$DOKKULITE_BACKUP_PASSPHRASE\"; }"
    }

    /// The shell line that writes a dump of the service to standard output.
    func dumpCommand(_ record: ServiceRecord) -> String {
        switch kind {
        case .postgres:
            return ([kind.binaries + "/pg_dump", "--format=custom", "--no-acl", "--no-owner"] + manager.postgresConnection(record) + ["--dbname=" + record.name.databaseName]).joined(separator: " ")
        case .redis:
            // redis-cli --rdb asks the server for a fresh snapshot over the connection.
            return (["redis-cli"] + manager.redisConnection(record) + ["--no-auth-warning", "--rdb", "/tmp/dump.rdb", ">&2", "&&", "cat", "/tmp/dump.rdb"]).joined(separator: " ")
        }
    }

    /// Removes this service's `.partial` files untouched for a day: what a backup killed
    /// part-way left (a running one writes to its file all along).
    private func removeAbandoned(_ name: ServiceName, directory: CInt) {
        // Its own open file description: a dup would share (and move) the read position.
        let copy = openat(directory, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard copy >= 0, let stream = fdopendir(copy) else { if copy >= 0 { close(copy) }; return }
        defer { closedir(stream) }
        let cutoff = time(nil) - 86_400
        while let entry = readdir(stream) {
            let file = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard file.hasPrefix("." + prefix(name)), file.hasSuffix(".partial") else { continue }
            var info = stat()
            if fstatat(directory, file, &info, AT_SYMLINK_NOFOLLOW) == 0, (info.st_mode & S_IFMT) == S_IFREG, info.st_mtim.tv_sec < cutoff {
                unlinkat(directory, file, 0)
            }
        }
    }

    /// Removes the oldest of this service's backups in the directory beyond `keep`.
    private func prune(_ name: ServiceName, directory: CInt, keep: Int) throws {
        let files = try backupFiles(name, directory: directory)
        for file in files.dropLast(max(keep, 1)) { unlinkat(directory, file, 0) }
    }

    /// This service's completed backups in a directory, oldest first.
    private func backupFiles(_ name: ServiceName, directory: CInt) throws -> [String] {
        // Its own open file description: a dup would share (and move) the read position.
        let copy = openat(directory, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard copy >= 0, let stream = fdopendir(copy) else { if copy >= 0 { close(copy) }; return [] }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let file = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard entry.pointee.d_type == UInt8(DT_REG), isBackupName(file, name) else { continue }
            names.append(file)
        }
        return names.sorted()
    }

    /// Whether a file name is one of this service's backups: `KIND-NAME-` then
    /// exactly `YYYYMMDD-HHMMSS.EXT[.gpg]`.
    private func isBackupName(_ file: String, _ name: ServiceName) -> Bool { Self.isBackupName(file, name, kind: kind) }

    private static func isBackupName(_ file: String, _ name: ServiceName, kind: ServiceKind) -> Bool {
        let prefix = prefix(kind, name)
        guard file.hasPrefix(prefix) else { return false }
        let rest = Array(file.utf8.dropFirst(prefix.utf8.count))
        // Exactly YYYYMMDD-HHMMSS, ASCII digits: `db`'s pattern must not take `db-2`'s files.
        guard rest.count > 15, rest[8] == UInt8(ascii: "-"),
            rest[0..<8].allSatisfy({ (48...57).contains($0) }), rest[9..<15].allSatisfy({ (48...57).contains($0) })
        else { return false }
        let suffix = String(decoding: rest[15...], as: UTF8.self)
        return suffix == "." + kind.dumpExtension || suffix == "." + kind.dumpExtension + ".gpg"
    }

    /// The backups in a target, oldest first, as paths (`s3://BUCKET/KEY` in a bucket).
    func list(_ record: ServiceRecord, target text: String) throws -> [String] {
        let target = try target(text)
        if case .bucket(let bucket, let keyPrefix) = target {
            let client = S3Client(try credentials(record.name))
            let kind = kind
            return try onS3("Listing bucket \(bucket) failed") {
                try await Self.bucketBackups(client, bucket: bucket, prefix: keyPrefix, kind: kind, name: record.name).map { "s3://\(bucket)/\($0)" }
            }
        }
        guard case .directory(let relative) = target else { return [] }
        let directory = try openTarget(relative)
        defer { close(directory) }
        let root = context.settings.paths.backups + (relative.isEmpty ? "" : "/" + relative)
        return try backupFiles(record.name, directory: directory).map { root + "/" + $0 }
    }

    // MARK: Restore

    /// Restores the service from a backup file beneath the backup root (decrypting a
    /// `.gpg` one with the service's passphrase).
    func restore(_ record: ServiceRecord, file text: String) throws {
        if text.hasPrefix("s3://") { return try restoreFromBucket(record, text) }
        let relative = try targetDirectory(text)
        let root = context.settings.paths.backups
        let directory = try Beneath.openDirectory(root)
        defer { close(directory) }
        let file = Beneath.open(relative, at: directory, flags: O_RDONLY | O_CLOEXEC, links: .refused)
        guard file >= 0 else { throw CommandError("Unable to open backup \(text): \(String(cString: strerror(errno)))") }
        defer { close(file) }
        var info = stat()
        guard fstat(file, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { throw CommandError("Backup \(text) is not a file") }
        try restore(record, from: file, named: text)
    }

    /// Restores from an open backup, decrypting it when its name ends in `.gpg`.
    private func restore(_ record: ServiceRecord, from file: Int32, named text: String) throws {
        var decrypt: String?
        if text.hasSuffix(".gpg") {
            guard try store.serviceProperty(kind, record.name, "backup-passphrase") != nil else {
                throw CommandError("Backup \(text) is encrypted and \(record.name) has no passphrase: \(kind.rawValue):backup-set-encryption first")
            }
            decrypt = Self.gpg("--decrypt")
        }
        try ServiceImport(context, kind).restore(record, from: file, decrypt: decrypt)
    }

    /// Restores from `s3://BUCKET/KEY`: downloaded into a scratch file, then as a file.
    private func restoreFromBucket(_ record: ServiceRecord, _ text: String) throws {
        guard case .bucket(let bucket, let key) = try target(text), !key.isEmpty else {
            throw CommandError("Invalid backup \(text): s3://BUCKET/KEY")
        }
        let file = try scratchFile()
        defer { close(file) }
        let client = S3Client(try credentials(record.name))
        try onS3("Download of \(text) failed") { try await client.get(bucket: bucket, key: key, into: file) }
        lseek(file, 0, SEEK_SET)
        try restore(record, from: file, named: text)
    }

    // MARK: Schedule

    /// Starts (or replaces, or removes) the service's backup timer from its recorded
    /// schedule. The timer runs `KIND:backup NAME TARGET` as root.
    func syncSchedule(_ record: ServiceRecord) throws {
        let supervisor = try context.supervisor()
        let timer = timerUnit(record.name)
        try supervisor.stop([timer])
        guard let text = try store.serviceProperty(kind, record.name, "backup-schedule"),
            let schedule = CronSchedule(text),
            let target = try store.serviceProperty(kind, record.name, "backup-target")
        else { return }
        var arguments = [ReleaseBuilder.binaryPath, "\(kind.rawValue):backup", record.name.rawValue, target]
        if let keep = try store.serviceProperty(kind, record.name, "backup-keep") { arguments += ["--keep", keep] }
        var environment = Settings.forwardedEnvironment()
        environment["DOKKULITE_ROOT"] = context.settings.paths.root
        environment["DOKKULITE_BACKUP_ROOT"] = context.settings.paths.backups
        let spec = ProcessSpec(
            unit: timer.replacingOccurrences(of: ".timer", with: ".service"), slice: context.settings.rootSlice + ".slice",
            description: "dokkulite \(kind.rawValue) \(record.name) backup", command: "", workingDirectory: "/", environment: environment,
            identity: .root, restart: .init(mode: "no", maxStarts: nil), sandbox: .init(hardened: false),
            syslogIdentifier: "\(kind.rawValue).\(record.name).backup", argv: arguments)
        try supervisor.startTimer(timer, calendar: schedule.calendar, description: "dokkulite \(kind.rawValue) \(record.name) backup: \(schedule.text)", service: spec)
    }
}
