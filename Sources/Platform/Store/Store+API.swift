import Foundation
import GRDB

/// An API token as the store keeps it: its name and the SHA-256 of its secret, never the
/// secret itself (it is shown once, when made).
struct APITokenRecord: Sendable, Equatable {
    var name: String
    /// Lowercase hex SHA-256 of the token.
    var hash: String
    /// May read, not change.
    var readOnly: Bool
    var createdAt: Date
    var lastUsedAt: Date?
}

/// One line of the API's audit log: who changed what, and how it ended.
struct APIAuditRecord: Sendable, Equatable {
    var at: Date
    /// The token's name, or `console` for a command run at the server.
    var actor: String
    /// What was done, e.g. `POST /api/v1/apps` or `api:tokens:create`.
    var action: String
    var target: String
    var status: Int
}

extension Store {
    static func registerAPIMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v4-api") { db in
            try db.execute(sql: """
                CREATE TABLE apiToken (
                    name TEXT NOT NULL PRIMARY KEY,
                    hash TEXT NOT NULL UNIQUE,
                    readOnly BOOLEAN NOT NULL,
                    createdAt DATETIME NOT NULL,
                    lastUsedAt DATETIME
                );
                CREATE TABLE apiAudit (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    at DATETIME NOT NULL,
                    actor TEXT NOT NULL,
                    action TEXT NOT NULL,
                    target TEXT NOT NULL,
                    status INTEGER NOT NULL
                );
                """)
        }
    }

    static func registerMetricsMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v5-metrics") { db in
            // One row per app per interval: what happened in it (the proxy's counts and the
            // CPU time as differences; memory as it was at the end). Kept 24 hours.
            try db.execute(sql: """
                CREATE TABLE metricSample (
                    app TEXT NOT NULL,
                    at INTEGER NOT NULL,
                    seconds INTEGER NOT NULL,
                    requests INTEGER NOT NULL,
                    client_errors INTEGER NOT NULL,
                    server_errors INTEGER NOT NULL,
                    durations TEXT NOT NULL,
                    cpu_nanoseconds INTEGER NOT NULL,
                    memory_bytes INTEGER NOT NULL,
                    restarts INTEGER NOT NULL
                );
                CREATE INDEX metricSample_app_at ON metricSample(app, at);
                """)
        }
        migrator.registerMigration("v6-metrics-network") { db in
            try db.execute(sql: """
                ALTER TABLE metricSample ADD COLUMN received_bytes INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE metricSample ADD COLUMN sent_bytes INTEGER NOT NULL DEFAULT 0;
                """)
        }
    }

    /// Records a new token; false when the name is taken.
    func addAPIToken(_ token: APITokenRecord) throws -> Bool {
        try write { db in
            if try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM apiToken WHERE name = ?", arguments: [token.name]) ?? 0 > 0 { return false }
            try db.execute(
                sql: "INSERT INTO apiToken (name, hash, readOnly, createdAt) VALUES (?, ?, ?, ?)",
                arguments: [token.name, token.hash, token.readOnly, token.createdAt])
            return true
        }
    }

    func apiTokens() throws -> [APITokenRecord] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM apiToken ORDER BY name").map(Self.apiToken)
        }
    }

    /// The token whose secret hashes to `hash`, marked used now.
    func useAPIToken(hash: String, at date: Date = Date()) throws -> APITokenRecord? {
        try write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM apiToken WHERE hash = ?", arguments: [hash]) else { return nil }
            try db.execute(sql: "UPDATE apiToken SET lastUsedAt = ? WHERE hash = ?", arguments: [date, hash])
            var token = Self.apiToken(row)
            token.lastUsedAt = date
            return token
        }
    }

    /// Deletes a token; false when there is none of that name.
    func revokeAPIToken(_ name: String) throws -> Bool {
        try write { db in
            try db.execute(sql: "DELETE FROM apiToken WHERE name = ?", arguments: [name])
            return db.changesCount > 0
        }
    }

    func addAPIAudit(_ entry: APIAuditRecord) throws {
        try write { db in
            try db.execute(
                sql: "INSERT INTO apiAudit (at, actor, action, target, status) VALUES (?, ?, ?, ?, ?)",
                arguments: [entry.at, entry.actor, entry.action, entry.target, entry.status])
        }
    }

    /// The last `count` audit entries, oldest first.
    func apiAudit(last count: Int) throws -> [APIAuditRecord] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM (SELECT * FROM apiAudit ORDER BY id DESC LIMIT ?) ORDER BY id", arguments: [count]).map { row in
                APIAuditRecord(at: row["at"], actor: row["actor"], action: row["action"], target: row["target"], status: row["status"])
            }
        }
    }

    private static func apiToken(_ row: Row) -> APITokenRecord {
        APITokenRecord(name: row["name"], hash: row["hash"], readOnly: row["readOnly"], createdAt: row["createdAt"], lastUsedAt: row["lastUsedAt"])
    }
}

/// One app's interval in the metrics history (`metricSample`).
struct MetricSample: Sendable, Equatable {
    var app: String
    /// Unix time of the interval's end.
    var at: Int
    var seconds: Int
    var requests: UInt64
    var clientErrors: UInt64
    var serverErrors: UInt64
    /// Requests per duration bucket (`AppTraffic.bounds`, then over the largest).
    var durations: [UInt64]
    var cpuNanoseconds: UInt64
    var memoryBytes: UInt64
    var restarts: Int
    /// Bytes the app's processes received and sent over the network in the interval.
    var receivedBytes: UInt64 = 0
    var sentBytes: UInt64 = 0
}

extension Store {
    /// Adds one interval's samples and drops those older than `keep` seconds.
    func addMetricSamples(_ samples: [MetricSample], keep: Int = 86_400) throws {
        try write { db in
            for sample in samples {
                try db.execute(
                    sql: """
                        INSERT INTO metricSample (app, at, seconds, requests, client_errors, server_errors, durations, cpu_nanoseconds, memory_bytes, restarts, received_bytes, sent_bytes)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        sample.app, sample.at, sample.seconds, Int64(clamping: sample.requests), Int64(clamping: sample.clientErrors), Int64(clamping: sample.serverErrors),
                        sample.durations.map(String.init).joined(separator: " "), Int64(clamping: sample.cpuNanoseconds), Int64(clamping: sample.memoryBytes), sample.restarts,
                        Int64(clamping: sample.receivedBytes), Int64(clamping: sample.sentBytes),
                    ])
            }
            if let last = samples.map(\.at).max() {
                try db.execute(sql: "DELETE FROM metricSample WHERE at < ?", arguments: [last - keep])
            }
        }
    }

    /// An app's samples since `since` (Unix time), oldest first.
    func metricSamples(_ app: AppName, since: Int) throws -> [MetricSample] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM metricSample WHERE app = ? AND at > ? ORDER BY at", arguments: [app.rawValue, since]).map { row in
                MetricSample(
                    app: row["app"], at: row["at"], seconds: row["seconds"], requests: UInt64(max(0, row["requests"] as Int64)),
                    clientErrors: UInt64(max(0, row["client_errors"] as Int64)), serverErrors: UInt64(max(0, row["server_errors"] as Int64)),
                    durations: (row["durations"] as String).split(separator: " ").compactMap { UInt64($0) },
                    cpuNanoseconds: UInt64(max(0, row["cpu_nanoseconds"] as Int64)), memoryBytes: UInt64(max(0, row["memory_bytes"] as Int64)), restarts: row["restarts"],
                    receivedBytes: UInt64(max(0, row["received_bytes"] as Int64)), sentBytes: UInt64(max(0, row["sent_bytes"] as Int64)))
            }
        }
    }
}
