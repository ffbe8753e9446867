import Foundation
import GRDB

/// One app's row.
struct AppRecord: Sendable, Equatable {
    var name: AppName
    var createdAt: Date
    var locked: Bool
}

extension Store {
    /// Creates an app; false when the name is taken. New apps get `APP.DOMAIN` for each
    /// global domain, as Dokku's vhost setup does.
    func createApp(_ app: AppName, at date: Date = Date()) throws -> Bool {
        try write { db in
            if try Self.appExists(app, db) { return false }
            try db.execute(sql: "INSERT INTO app (name, createdAt) VALUES (?, ?)", arguments: [app.rawValue, date])
            let globals = try String.fetchAll(db, sql: "SELECT name FROM globalDomain ORDER BY position")
            for (index, domain) in Domains.defaults(app: app.rawValue, globals: globals).enumerated() {
                try db.execute(
                    sql: "INSERT OR IGNORE INTO domain (app, name, position) VALUES (?, ?, ?)",
                    arguments: [app.rawValue, domain, index])
            }
            return true
        }
    }

    /// Copies an app's settings to another (new) app, as Dokku's `apps:clone`: config vars,
    /// port maps, scale and properties (not its system user, deploy-source record, domains
    /// or releases).
    func copySettings(from old: AppName, to new: AppName) throws {
        try write { db in
            let from = old.rawValue, to = new.rawValue
            try db.execute(sql: "INSERT OR REPLACE INTO configVar (app, key, value) SELECT ?, key, value FROM configVar WHERE app = ?", arguments: [to, from])
            try db.execute(sql: "INSERT OR IGNORE INTO portMap (app, scheme, hostPort, containerPort) SELECT ?, scheme, hostPort, containerPort FROM portMap WHERE app = ?", arguments: [to, from])
            try db.execute(sql: "INSERT OR REPLACE INTO formation (app, processType, quantity) SELECT ?, processType, quantity FROM formation WHERE app = ?", arguments: [to, from])
            try db.execute(
                sql: "INSERT OR REPLACE INTO property (app, namespace, key, value) SELECT ?, namespace, key, value FROM property WHERE app = ? AND NOT (namespace = 'apps' AND (key = 'user' OR key LIKE 'deploy-source%')) AND NOT (namespace = 'domains' AND key = 'disabled')",
                arguments: [to, from])
            // The clone has the services' URLs in its config: it is linked to them too, as
            // dokku-postgres's post-app-clone-setup records it.
            try db.execute(sql: "INSERT OR IGNORE INTO serviceLink (kind, name, app, variable) SELECT kind, name, ?, variable FROM serviceLink WHERE app = ?", arguments: [to, from])
        }
    }

    /// Whether the app exists.
    func appExists(_ app: AppName) throws -> Bool {
        try read { try Self.appExists(app, $0) }
    }

    static func appExists(_ app: AppName, _ db: Database) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT 1 FROM app WHERE name = ?", arguments: [app.rawValue]) ?? false
    }

    /// One app's row, or nil.
    func app(_ app: AppName) throws -> AppRecord? {
        try read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM app WHERE name = ?", arguments: [app.rawValue]).map(Self.appRecord)
        }
    }

    /// Every app, by name.
    func apps() throws -> [AppRecord] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM app ORDER BY name").map(Self.appRecord)
        }
    }

    /// Deletes the app and, through foreign keys, everything recorded for it.
    func deleteApp(_ app: AppName) throws {
        try write { db in
            try db.execute(sql: "DELETE FROM app WHERE name = ?", arguments: [app.rawValue])
        }
    }

    /// Renames an app; its settings follow through `ON UPDATE CASCADE`. Domains that were
    /// the old default (`OLD.GLOBAL`) become the new default.
    func renameApp(_ old: AppName, to new: AppName) throws {
        try write { db in
            try db.execute(sql: "UPDATE app SET name = ? WHERE name = ?", arguments: [new.rawValue, old.rawValue])
            let globals = try String.fetchAll(db, sql: "SELECT name FROM globalDomain ORDER BY position")
            let was = Domains.defaults(app: old.rawValue, globals: globals)
            let kept = try String.fetchAll(db, sql: "SELECT name FROM domain WHERE app = ? ORDER BY position", arguments: [new.rawValue])
            guard kept.contains(where: was.contains) else { return }
            // The old defaults go; the new defaults come in their place, first.
            for name in was {
                try db.execute(sql: "DELETE FROM domain WHERE app = ? AND name = ?", arguments: [new.rawValue, name])
            }
            let position = try Int.fetchOne(db, sql: "SELECT min(position) FROM domain WHERE app = ?", arguments: [new.rawValue]) ?? 0
            for (index, name) in Domains.defaults(app: new.rawValue, globals: globals).enumerated() {
                try db.execute(
                    sql: "INSERT OR IGNORE INTO domain (app, name, position) VALUES (?, ?, ?)",
                    arguments: [new.rawValue, name, position - 100 + index])
            }
        }
    }

    /// Locks or unlocks deploys of the app (`apps:lock`).
    func setLocked(_ app: AppName, _ locked: Bool) throws {
        try write { db in
            try db.execute(sql: "UPDATE app SET locked = ? WHERE name = ?", arguments: [locked, app.rawValue])
        }
    }

    private static func appRecord(_ row: Row) -> AppRecord {
        AppRecord(name: AppName(row["name"])!, createdAt: row["createdAt"], locked: row["locked"])
    }

    /// The app whose processes run as the system user `name`, if any.
    func appOfUser(_ name: String) throws -> AppName? {
        try read { db in
            try String.fetchOne(db, sql: "SELECT app FROM property WHERE namespace = 'apps' AND key = 'user' AND value = ?", arguments: [name]).flatMap(AppName.init)
        }
    }

    /// Records the app's system user; fails if another app has it (a unique index holds it).
    func recordUser(_ name: String, of app: AppName) throws {
        try write { db in
            if let other = try String.fetchOne(db, sql: "SELECT app FROM property WHERE namespace = 'apps' AND key = 'user' AND value = ? AND app != ?", arguments: [name, app.rawValue]) {
                throw CommandError("user \(name) belongs to the app \(other) already")
            }
            try Self.setProperty(.app(app), "apps", "user", name, db)
        }
    }
}
