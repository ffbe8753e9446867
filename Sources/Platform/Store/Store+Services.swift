import Foundation
import GRDB

/// One service (`postgres:create`, `redis:create`): who it runs as, where it listens, its
/// password. The password is a secret like config vars, in the root-only database.
struct ServiceRecord: Sendable, Equatable {
    var kind: ServiceKind
    var name: ServiceName
    /// The system user the server runs as.
    var user: String
    /// Its port on 127.0.0.1, from the app port range, never given to an app.
    var port: Int
    var password: String
    var version: String
    var createdAt: Date
    /// The public port the proxy forwards to it (`expose`), if any.
    var exposedPort: Int?
    /// The memory limit (`create --memory`, `set S memory`), if any.
    var memoryBytes: UInt64?
    /// Stopped by `stop`: `ps:restore` leaves it stopped.
    var stopped: Bool
}

/// An app linked to a service: the config var that holds the service's URL.
struct ServiceLinkRecord: Sendable, Equatable {
    var kind: ServiceKind
    var name: ServiceName
    var app: AppName
    /// The variable, e.g. `DATABASE_URL` or `DOKKU_POSTGRES_AQUA_URL`.
    var variable: String
}

extension Store {
    static func registerServiceMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v3-services") { db in
            try db.execute(sql: """
                CREATE TABLE service (
                    kind TEXT NOT NULL,
                    name TEXT NOT NULL,
                    user TEXT NOT NULL UNIQUE,
                    port INTEGER NOT NULL UNIQUE,
                    password TEXT NOT NULL,
                    version TEXT NOT NULL,
                    createdAt DATETIME NOT NULL,
                    exposedPort INTEGER UNIQUE,
                    memoryBytes INTEGER,
                    stopped BOOLEAN NOT NULL DEFAULT 0,
                    PRIMARY KEY (kind, name)
                );
                CREATE TABLE serviceLink (
                    kind TEXT NOT NULL,
                    name TEXT NOT NULL,
                    app TEXT NOT NULL REFERENCES app(name) ON DELETE CASCADE ON UPDATE CASCADE,
                    variable TEXT NOT NULL,
                    PRIMARY KEY (kind, name, app),
                    FOREIGN KEY (kind, name) REFERENCES service(kind, name) ON DELETE CASCADE
                );
                CREATE TABLE serviceProperty (
                    kind TEXT NOT NULL,
                    name TEXT NOT NULL,
                    key TEXT NOT NULL,
                    value TEXT NOT NULL,
                    PRIMARY KEY (kind, name, key),
                    FOREIGN KEY (kind, name) REFERENCES service(kind, name) ON DELETE CASCADE
                );
                """)
        }
    }

    private static func service(_ row: Row) -> ServiceRecord {
        ServiceRecord(
            kind: ServiceKind(rawValue: row["kind"])!, name: ServiceName(row["name"])!, user: row["user"], port: row["port"],
            password: row["password"], version: row["version"], createdAt: row["createdAt"], exposedPort: row["exposedPort"],
            memoryBytes: (row["memoryBytes"] as Int64?).map { UInt64($0) }, stopped: row["stopped"])
    }

    func service(_ kind: ServiceKind, _ name: ServiceName) throws -> ServiceRecord? {
        try read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM service WHERE kind = ? AND name = ?", arguments: [kind.rawValue, name.rawValue]).map(Self.service)
        }
    }

    func services(_ kind: ServiceKind? = nil) throws -> [ServiceRecord] {
        try read { db in
            let rows = try Row.fetchAll(db, sql: "SELECT * FROM service ORDER BY kind, name")
            return rows.map(Self.service).filter { kind == nil || $0.kind == kind }
        }
    }

    /// Records a new service on a free port of `range`, in one transaction with the port
    /// choice so two creates never share one. The record is returned with its port.
    func insertService(_ record: ServiceRecord, range: ClosedRange<Int>, isFree: (Int) -> Bool) throws -> ServiceRecord {
        try write { db in
            var taken = Set(try Int.fetchAll(db, sql: "SELECT port FROM instance WHERE port IS NOT NULL"))
            taken.formUnion(try Int.fetchAll(db, sql: "SELECT port FROM service"))
            guard let port = range.first(where: { !taken.contains($0) && isFree($0) }) else {
                throw CommandError("no free port left in \(range.lowerBound)-\(range.upperBound) (DOKKULITE_PORT_RANGE)")
            }
            var record = record
            record.port = port
            try db.execute(
                sql: "INSERT INTO service (kind, name, user, port, password, version, createdAt, memoryBytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                arguments: [record.kind.rawValue, record.name.rawValue, record.user, port, record.password, record.version, record.createdAt, record.memoryBytes.map { Int64(clamping: $0) }])
            return record
        }
    }

    func deleteService(_ kind: ServiceKind, _ name: ServiceName) throws {
        try write { db in
            try db.execute(sql: "DELETE FROM service WHERE kind = ? AND name = ?", arguments: [kind.rawValue, name.rawValue])
        }
    }

    func setServiceStopped(_ kind: ServiceKind, _ name: ServiceName, _ stopped: Bool) throws {
        try write { db in
            try db.execute(sql: "UPDATE service SET stopped = ? WHERE kind = ? AND name = ?", arguments: [stopped, kind.rawValue, name.rawValue])
        }
    }

    func setServiceMemory(_ kind: ServiceKind, _ name: ServiceName, _ bytes: UInt64?) throws {
        try write { db in
            try db.execute(sql: "UPDATE service SET memoryBytes = ? WHERE kind = ? AND name = ?", arguments: [bytes.map { Int64(clamping: $0) }, kind.rawValue, name.rawValue])
        }
    }

    /// Sets or clears the public port; a port another service exposes is refused.
    func setServiceExposedPort(_ kind: ServiceKind, _ name: ServiceName, _ port: Int?) throws {
        try write { db in
            if let port, let other = try Row.fetchOne(db, sql: "SELECT kind, name FROM service WHERE exposedPort = ?", arguments: [port]) {
                throw CommandError("Port \(port) is already exposed by \(other["kind"] as String) service \(other["name"] as String)")
            }
            try db.execute(sql: "UPDATE service SET exposedPort = ? WHERE kind = ? AND name = ?", arguments: [port, kind.rawValue, name.rawValue])
        }
    }

    private static func link(_ row: Row) -> ServiceLinkRecord {
        ServiceLinkRecord(kind: ServiceKind(rawValue: row["kind"])!, name: ServiceName(row["name"])!, app: AppName(row["app"])!, variable: row["variable"])
    }

    /// The apps linked to a service.
    func serviceLinks(_ kind: ServiceKind, _ name: ServiceName) throws -> [ServiceLinkRecord] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM serviceLink WHERE kind = ? AND name = ? ORDER BY app", arguments: [kind.rawValue, name.rawValue]).map(Self.link)
        }
    }

    /// The services an app is linked to.
    func serviceLinks(app: AppName) throws -> [ServiceLinkRecord] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM serviceLink WHERE app = ? ORDER BY kind, name", arguments: [app.rawValue]).map(Self.link)
        }
    }

    /// Records a link and sets the app's config var in one transaction.
    func link(_ record: ServiceLinkRecord, url: String) throws {
        try write { db in
            try db.execute(
                sql: "INSERT INTO serviceLink (kind, name, app, variable) VALUES (?, ?, ?, ?)",
                arguments: [record.kind.rawValue, record.name.rawValue, record.app.rawValue, record.variable])
            try Self.setConfig(.app(record.app), [(record.variable, url)], db)
        }
    }

    /// Forgets a link and removes the config vars that hold the service's URL.
    func unlink(_ kind: ServiceKind, _ name: ServiceName, app: AppName, variables: [String]) throws {
        try write { db in
            try db.execute(sql: "DELETE FROM serviceLink WHERE kind = ? AND name = ? AND app = ?", arguments: [kind.rawValue, name.rawValue, app.rawValue])
            try Self.unsetConfig(.app(app), keys: variables, db)
        }
    }

    func serviceProperty(_ kind: ServiceKind, _ name: ServiceName, _ key: String) throws -> String? {
        try read { db in
            try String.fetchOne(db, sql: "SELECT value FROM serviceProperty WHERE kind = ? AND name = ? AND key = ?", arguments: [kind.rawValue, name.rawValue, key])
        }
    }

    /// Sets a service's property; nil removes it.
    func setServiceProperty(_ kind: ServiceKind, _ name: ServiceName, _ key: String, _ value: String?) throws {
        try write { db in
            if let value {
                try db.execute(
                    sql: "INSERT INTO serviceProperty (kind, name, key, value) VALUES (?, ?, ?, ?) ON CONFLICT (kind, name, key) DO UPDATE SET value = excluded.value",
                    arguments: [kind.rawValue, name.rawValue, key, value])
            } else {
                try db.execute(sql: "DELETE FROM serviceProperty WHERE kind = ? AND name = ? AND key = ?", arguments: [kind.rawValue, name.rawValue, key])
            }
        }
    }
}
