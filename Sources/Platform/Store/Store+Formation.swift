import GRDB

extension Store {
    /// The recorded formation: process type → quantity. Types never scaled are absent;
    /// callers apply the defaults (web 1, others 0).
    func formation(_ app: AppName) throws -> [String: Int] {
        try read { db in try Self.formation(app, db) }
    }

    static func formation(_ app: AppName, _ db: Database) throws -> [String: Int] {
        let rows = try Row.fetchAll(db, sql: "SELECT processType, quantity FROM formation WHERE app = ?", arguments: [app.rawValue])
        return Dictionary(rows.map { ($0["processType"], $0["quantity"]) }, uniquingKeysWith: { $1 })
    }

    /// Records quantities for the given types.
    func setFormation(_ app: AppName, _ scale: [(type: String, quantity: Int)]) throws {
        try write { db in
            for (type, quantity) in scale {
                try db.execute(
                    sql: "INSERT INTO formation (app, processType, quantity) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET quantity = excluded.quantity",
                    arguments: [app.rawValue, type, quantity])
            }
        }
    }
}
