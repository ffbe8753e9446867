import GRDB

extension Store {
    /// A plugin-style property (`ps` / `restart-policy`, `checks` / `wait-to-retire`, …) of
    /// a scope, or nil when unset.
    func property(_ scope: Scope, _ namespace: String, _ key: String) throws -> String? {
        try read { db in try Self.property(scope, namespace, key, db) }
    }

    /// The app's property, else the global one: the value in effect, before any default.
    func computedProperty(_ app: AppName, _ namespace: String, _ key: String) throws -> String? {
        try property(.app(app), namespace, key) ?? property(.global, namespace, key)
    }

    static func property(_ scope: Scope, _ namespace: String, _ key: String, _ db: Database) throws -> String? {
        switch scope {
        case .app(let app):
            try String.fetchOne(db, sql: "SELECT value FROM property WHERE app = ? AND namespace = ? AND key = ?", arguments: [app.rawValue, namespace, key])
        case .global:
            try String.fetchOne(db, sql: "SELECT value FROM globalProperty WHERE namespace = ? AND key = ?", arguments: [namespace, key])
        }
    }

    /// Every property of a namespace in a scope.
    func properties(_ scope: Scope, _ namespace: String) throws -> [String: String] {
        try read { db in
            let rows: [Row]
            switch scope {
            case .app(let app):
                rows = try Row.fetchAll(db, sql: "SELECT key, value FROM property WHERE app = ? AND namespace = ?", arguments: [app.rawValue, namespace])
            case .global:
                rows = try Row.fetchAll(db, sql: "SELECT key, value FROM globalProperty WHERE namespace = ?", arguments: [namespace])
            }
            return Dictionary(rows.map { ($0["key"], $0["value"]) }, uniquingKeysWith: { $1 })
        }
    }

    /// Sets a property; nil removes it (back to the default).
    func setProperty(_ scope: Scope, _ namespace: String, _ key: String, _ value: String?) throws {
        try write { db in try Self.setProperty(scope, namespace, key, value, db) }
    }

    static func setProperty(_ scope: Scope, _ namespace: String, _ key: String, _ value: String?, _ db: Database) throws {
        switch (scope, value) {
        case (.app(let app), let value?):
            try db.execute(
                sql: "INSERT INTO property (app, namespace, key, value) VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET value = excluded.value",
                arguments: [app.rawValue, namespace, key, value])
        case (.app(let app), nil):
            try db.execute(sql: "DELETE FROM property WHERE app = ? AND namespace = ? AND key = ?", arguments: [app.rawValue, namespace, key])
        case (.global, let value?):
            try db.execute(
                sql: "INSERT INTO globalProperty (namespace, key, value) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET value = excluded.value",
                arguments: [namespace, key, value])
        case (.global, nil):
            try db.execute(sql: "DELETE FROM globalProperty WHERE namespace = ? AND key = ?", arguments: [namespace, key])
        }
    }
}
