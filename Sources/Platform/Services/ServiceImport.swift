import Foundation
import Supervisor

/// Loads a dump into a service (`import`, restoring a backup) so that a failure leaves it
/// as it was: Postgres restores in one transaction, which rolls back whole; Redis checks
/// the new data file before it replaces the old one, and puts the old one back if the
/// server does not start with it.
struct ServiceImport {
    let context: Context
    let kind: ServiceKind

    init(_ context: Context, _ kind: ServiceKind) {
        self.context = context
        self.kind = kind
    }

    private var manager: ServiceManager { ServiceManager(context, kind) }

    /// Restores from the descriptor `input`; `decrypt` is a shell stage put before the
    /// restore (gpg), reading the input.
    func restore(_ record: ServiceRecord, from input: Int32, decrypt: String? = nil) throws {
        guard try manager.isRunning(record) else { throw CommandError("Service \(record.name) is not running") }
        switch kind {
        case .postgres:
            let restore = ([kind.binaries + "/pg_restore", "--single-transaction", "--clean", "--if-exists", "--no-owner", "--no-acl", "--exit-on-error"]
                + manager.postgresConnection(record) + ["--dbname=" + record.name.databaseName]).joined(separator: " ")
            let line = decrypt.map { "set -o pipefail; \($0) | \(restore)" } ?? restore
            let status = try manager.runTool(manager.toolSpec(record, purpose: "import", argv: ["/bin/bash", "-c", line], passphrase: decrypt != nil), input: input)
            guard status == 0 else {
                throw CommandError("Import into \(record.name) failed (exit status \(status)); it was one transaction, so the database is as it was")
            }
        case .redis:
            try restoreRedis(record, from: input, decrypt: decrypt)
        }
    }

    private func restoreRedis(_ record: ServiceRecord, from input: Int32, decrypt: String?) throws {
        // As the service's user, in its data directory: the file comes in, then is checked.
        let write = "umask 077; rm -f import.rdb.new; \(decrypt.map { "set -o pipefail; \($0) |" } ?? "") cat > import.rdb.new && /usr/bin/redis-check-rdb import.rdb.new >/dev/null"
        let status = try manager.runTool(manager.toolSpec(record, purpose: "import", argv: ["/bin/bash", "-c", write], asOwner: true, passphrase: decrypt != nil), input: input)
        let data = manager.dataDirectory(record.name)
        let directory = open(data, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard directory >= 0 else { throw CommandError("cannot open \(data): \(String(cString: strerror(errno)))") }
        defer { close(directory) }
        guard status == 0 else {
            unlinkat(directory, "import.rdb.new", 0)
            throw CommandError("Import into \(record.name) failed: the data is not a valid RDB file; the service is unchanged")
        }
        // The server writes its data on the way down; the new file replaces that after.
        try manager.stop(record, remember: false)
        renameat(directory, "dump.rdb", directory, "dump.rdb.previous")
        guard renameat(directory, "import.rdb.new", directory, "dump.rdb") == 0 else {
            renameat(directory, "dump.rdb.previous", directory, "dump.rdb")
            try manager.start(record)
            throw CommandError("Import into \(record.name) failed: \(String(cString: strerror(errno)))")
        }
        do {
            try manager.start(record)
            unlinkat(directory, "dump.rdb.previous", 0)
        } catch {
            try? manager.stop(record, remember: false)
            renameat(directory, "dump.rdb.previous", directory, "dump.rdb")
            try manager.start(record)
            throw CommandError("Import into \(record.name) failed: the server did not start with the new data; the old data is back")
        }
    }
}
