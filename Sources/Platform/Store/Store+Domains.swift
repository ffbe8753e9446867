import GRDB

extension Store {
    /// Domains of a scope, in the order they were added.
    func domains(_ scope: Scope) throws -> [String] {
        try read { db in try Self.domains(scope, db) }
    }

    static func domains(_ scope: Scope, _ db: Database) throws -> [String] {
        switch scope {
        case .app(let app):
            try String.fetchAll(db, sql: "SELECT name FROM domain WHERE app = ? ORDER BY position, name", arguments: [app.rawValue])
        case .global:
            try String.fetchAll(db, sql: "SELECT name FROM globalDomain ORDER BY position, name")
        }
    }

    /// Adds domains not yet present, keeping order.
    func addDomains(_ scope: Scope, _ names: [String]) throws {
        try write { db in try Self.addDomains(scope, names, db) }
    }

    /// Removes the given domains.
    func removeDomains(_ scope: Scope, _ names: [String]) throws {
        try write { db in
            for name in names {
                switch scope {
                case .app(let app): try db.execute(sql: "DELETE FROM domain WHERE app = ? AND name = ?", arguments: [app.rawValue, name])
                case .global: try db.execute(sql: "DELETE FROM globalDomain WHERE name = ?", arguments: [name])
                }
            }
        }
    }

    /// Replaces the scope's domains with `names`.
    func setDomains(_ scope: Scope, _ names: [String]) throws {
        try write { db in
            try Self.clearDomains(scope, db)
            try Self.addDomains(scope, names, db)
        }
    }

    /// Removes every domain of the scope.
    func clearDomains(_ scope: Scope) throws {
        try write { db in try Self.clearDomains(scope, db) }
    }

    private static func clearDomains(_ scope: Scope, _ db: Database) throws {
        switch scope {
        case .app(let app): try db.execute(sql: "DELETE FROM domain WHERE app = ?", arguments: [app.rawValue])
        case .global: try db.execute(sql: "DELETE FROM globalDomain")
        }
    }

    private static func addDomains(_ scope: Scope, _ names: [String], _ db: Database) throws {
        var position: Int
        switch scope {
        case .app(let app):
            position = try Int.fetchOne(db, sql: "SELECT COALESCE(MAX(position) + 1, 0) FROM domain WHERE app = ?", arguments: [app.rawValue]) ?? 0
        case .global:
            position = try Int.fetchOne(db, sql: "SELECT COALESCE(MAX(position) + 1, 0) FROM globalDomain") ?? 0
        }
        for name in names {
            switch scope {
            case .app(let app):
                try db.execute(sql: "INSERT OR IGNORE INTO domain (app, name, position) VALUES (?, ?, ?)", arguments: [app.rawValue, name, position])
            case .global:
                try db.execute(sql: "INSERT OR IGNORE INTO globalDomain (name, position) VALUES (?, ?)", arguments: [name, position])
            }
            position += 1
        }
    }
}
