import GRDB

extension Store {
    /// The app's explicit port maps.
    func portMaps(_ app: AppName) throws -> [PortMap] {
        try read { db in try Self.portMaps(app, db) }
    }

    static func portMaps(_ app: AppName, _ db: Database) throws -> [PortMap] {
        try Row.fetchAll(db, sql: "SELECT * FROM portMap WHERE app = ?", arguments: [app.rawValue]).compactMap { row in
            guard let scheme = PortMap.Scheme(rawValue: row["scheme"]) else { return nil }
            return PortMap(scheme: scheme, hostPort: row["hostPort"], containerPort: row["containerPort"])
        }.sorted()
    }

    /// Adds maps (present ones are kept once).
    func addPortMaps(_ app: AppName, _ maps: [PortMap]) throws {
        try write { db in try Self.insert(app, maps, db) }
    }

    /// Replaces the app's maps.
    func setPortMaps(_ app: AppName, _ maps: [PortMap]) throws {
        try write { db in
            try db.execute(sql: "DELETE FROM portMap WHERE app = ?", arguments: [app.rawValue])
            try Self.insert(app, maps, db)
        }
    }

    /// Removes maps; a bare host port removes every map on that host port, as Dokku does.
    func removePortMaps(_ app: AppName, maps: [PortMap], hostPorts: [Int]) throws {
        try write { db in
            for map in maps {
                try db.execute(
                    sql: "DELETE FROM portMap WHERE app = ? AND scheme = ? AND hostPort = ? AND containerPort = ?",
                    arguments: [app.rawValue, map.scheme.rawValue, map.hostPort, map.containerPort])
            }
            for port in hostPorts {
                try db.execute(sql: "DELETE FROM portMap WHERE app = ? AND hostPort = ?", arguments: [app.rawValue, port])
            }
        }
    }

    /// Removes every map of the app.
    func clearPortMaps(_ app: AppName) throws {
        try write { db in try db.execute(sql: "DELETE FROM portMap WHERE app = ?", arguments: [app.rawValue]) }
    }

    private static func insert(_ app: AppName, _ maps: [PortMap], _ db: Database) throws {
        for map in maps {
            try db.execute(
                sql: "INSERT OR IGNORE INTO portMap (app, scheme, hostPort, containerPort) VALUES (?, ?, ?, ?)",
                arguments: [app.rawValue, map.scheme.rawValue, map.hostPort, map.containerPort])
        }
    }
}
