import Foundation
import GRDB

extension Store {
    /// Config vars of a scope, sorted by key. Values are bytes-exact strings.
    func config(_ scope: Scope) throws -> [(key: String, value: String)] {
        try read { db in try Self.config(scope, db) }
    }

    static func config(_ scope: Scope, _ db: Database) throws -> [(key: String, value: String)] {
        let rows: [Row]
        switch scope {
        case .app(let app):
            rows = try Row.fetchAll(db, sql: "SELECT key, value FROM configVar WHERE app = ? ORDER BY key", arguments: [app.rawValue])
        case .global:
            rows = try Row.fetchAll(db, sql: "SELECT key, value FROM globalConfigVar ORDER BY key")
        }
        return rows.map { row in
            let data: Data = row["value"]
            return (row["key"], String(decoding: data, as: UTF8.self))
        }
    }

    /// The environment a process of the app sees from config: global vars overridden by the app's.
    func mergedConfig(_ app: AppName) throws -> [(key: String, value: String)] {
        try read { db in
            var merged: [String: String] = [:]
            for (key, value) in try Self.config(.global, db) { merged[key] = value }
            for (key, value) in try Self.config(.app(app), db) { merged[key] = value }
            return merged.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        }
    }

    /// Sets config vars in one transaction; `replacing` first removes every other var.
    func setConfig(_ scope: Scope, _ pairs: [(key: String, value: String)], replacing: Bool = false) throws {
        try write { db in
            if replacing { try Self.clearConfig(scope, db) }
            try Self.setConfig(scope, pairs, db)
        }
    }

    /// Sets config vars inside a transaction the caller holds (a service link with its record).
    static func setConfig(_ scope: Scope, _ pairs: [(key: String, value: String)], _ db: Database) throws {
        for (key, value) in pairs {
            // Keys name files (a build's ENV_DIR) and lines of systemd's EnvironmentFile:
            // whatever the caller checked, none other than Dokku's shape is stored.
            try ConfigVars.validate(key: key)
            let bytes = Data(value.utf8)
            switch scope {
            case .app(let app):
                try db.execute(
                    sql: "INSERT INTO configVar (app, key, value) VALUES (?, ?, ?) ON CONFLICT (app, key) DO UPDATE SET value = excluded.value",
                    arguments: [app.rawValue, key, bytes])
            case .global:
                try db.execute(
                    sql: "INSERT INTO globalConfigVar (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    arguments: [key, bytes])
            }
        }
    }

    /// Removes the given keys; returns the ones that existed.
    @discardableResult
    func unsetConfig(_ scope: Scope, keys: [String]) throws -> [String] {
        try write { db in try Self.unsetConfig(scope, keys: keys, db) }
    }

    /// Removes the given keys inside a transaction the caller holds; the ones that existed.
    @discardableResult
    static func unsetConfig(_ scope: Scope, keys: [String], _ db: Database) throws -> [String] {
        var removed: [String] = []
        for key in keys {
            switch scope {
            case .app(let app):
                try db.execute(sql: "DELETE FROM configVar WHERE app = ? AND key = ?", arguments: [app.rawValue, key])
            case .global:
                try db.execute(sql: "DELETE FROM globalConfigVar WHERE key = ?", arguments: [key])
            }
            if db.changesCount > 0 { removed.append(key) }
        }
        return removed
    }

    /// Removes every config var of the scope.
    func clearConfig(_ scope: Scope) throws {
        try write { db in try Self.clearConfig(scope, db) }
    }

    private static func clearConfig(_ scope: Scope, _ db: Database) throws {
        switch scope {
        case .app(let app): try db.execute(sql: "DELETE FROM configVar WHERE app = ?", arguments: [app.rawValue])
        case .global: try db.execute(sql: "DELETE FROM globalConfigVar")
        }
    }
}
