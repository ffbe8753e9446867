import Foundation
import GRDB

/// dokkulite's state: one SQLite database (WAL, busy timeout, versioned migrations) that
/// several `dokkulite` processes may write at once. Every write is one IMMEDIATE
/// transaction, so concurrent writers queue instead of losing updates.
final class Store: Sendable {
    let pool: DatabasePool

    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    init(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(30)
        configuration.label = "dokkulite"
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // Config vars are secrets: the database and SQLite's side files (`-wal`, `-shm`,
        // made on first use) are root's alone from the moment they exist, and files an
        // older version made readable are closed again.
        let previous = umask(0o077)
        defer { umask(previous) }
        for file in [path, path + "-wal", path + "-shm"] { chmod(file, 0o600) }
        pool = try DatabasePool(path: path, configuration: configuration)
        let migrator = Self.migrator
        if try pool.read({ try !migrator.hasCompletedMigrations($0) }) {
            try migrator.migrate(pool)
        }
    }

    /// Runs `body` in one IMMEDIATE write transaction.
    func write<T>(_ body: (Database) throws -> T) throws -> T {
        try pool.write(body)
    }

    /// Runs `body` with a consistent read snapshot: inside `snapshot`, the snapshot's own.
    func read<T>(_ body: (Database) throws -> T) throws -> T {
        try pool.unsafeReentrantRead { db in
            if db.isInsideTransaction { return try body(db) }
            var result: T?
            try db.inTransaction(.deferred) {
                result = try body(db)
                return .commit
            }
            return result!
        }
    }

    /// Runs `body`, whose reads of this store (`read`, directly or through the store's
    /// methods) all share one read transaction: a list or a page that makes many small
    /// reads sees one state and opens one transaction. Snapshots nest.
    func snapshot<T>(_ body: () throws -> T) throws -> T {
        try read { _ in try body() }
    }
}

/// Where a setting applies: one app, or every app (`--global`).
enum Scope: Sendable, Hashable {
    case app(AppName)
    case global

    /// The app, when there is one.
    var app: AppName? {
        if case .app(let app) = self { return app }
        return nil
    }
}
