import Foundation
import GRDB

/// One process instance dokkulite runs: its unit, port and place in a deploy.
struct InstanceRecord: Sendable, Equatable {
    /// Where an instance is in its life. A deploy records new instances as `starting`
    /// before their units exist, so a crash at any point leaves a record to converge from.
    enum State: String, Sendable {
        case starting, running, retiring
    }

    var unit: String
    var app: AppName
    var release: Int
    var processType: String
    var number: Int
    var generation: Int
    var port: Int?
    var state: State

    /// `web.1`.
    var dyno: String { "\(processType).\(number)" }
}

extension Store {
    /// The app's instances, ordered by type and number.
    func instances(_ app: AppName) throws -> [InstanceRecord] {
        try read { db in try Self.instances(app, db) }
    }

    static func instances(_ app: AppName, _ db: Database) throws -> [InstanceRecord] {
        try Row.fetchAll(db, sql: "SELECT * FROM instance WHERE app = ? ORDER BY processType, number, generation", arguments: [app.rawValue])
            .compactMap(instance)
    }

    /// Every instance of every app.
    func allInstances() throws -> [InstanceRecord] {
        try read { db in try Row.fetchAll(db, sql: "SELECT * FROM instance ORDER BY app, processType, number").compactMap(Self.instance) }
    }

    /// Records new instances, giving each one that needs it a free port from `range`:
    /// unique across apps and instances and not bound by anything else on the machine.
    func reserveInstances(_ planned: [InstanceRecord], needsPort: (InstanceRecord) -> Bool, range: ClosedRange<Int>, isFree: (Int) -> Bool) throws -> [InstanceRecord] {
        try write { db in
            // Services' ports come from the same range and are never handed to an app.
            var taken = Set(try Int.fetchAll(db, sql: "SELECT port FROM instance WHERE port IS NOT NULL UNION SELECT port FROM service"))
            var cursor = range.lowerBound
            var result: [InstanceRecord] = []
            for var instance in planned {
                if needsPort(instance) {
                    var found: Int?
                    while cursor <= range.upperBound {
                        let port = cursor
                        cursor += 1
                        if !taken.contains(port) && isFree(port) {
                            found = port
                            break
                        }
                    }
                    guard let port = found else { throw CommandError("no free port left in \(range.lowerBound)-\(range.upperBound) (DOKKULITE_PORT_RANGE)") }
                    taken.insert(port)
                    instance.port = port
                }
                try db.execute(
                    sql: "INSERT INTO instance (unit, app, release, processType, number, port, state, generation) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    arguments: [instance.unit, instance.app.rawValue, instance.release, instance.processType, instance.number, instance.port, instance.state.rawValue, instance.generation])
                result.append(instance)
            }
            return result
        }
    }

    /// Moves instances to a new state.
    func setInstanceState(_ units: [String], _ state: InstanceRecord.State) throws {
        try write { db in
            for unit in units {
                try db.execute(sql: "UPDATE instance SET state = ? WHERE unit = ?", arguments: [state.rawValue, unit])
            }
        }
    }

    /// Forgets instances (their ports become free).
    func deleteInstances(_ units: [String]) throws {
        try write { db in
            for unit in units {
                try db.execute(sql: "DELETE FROM instance WHERE unit = ?", arguments: [unit])
            }
        }
    }

    /// The next deploy generation of an app (a counter that only grows).
    func nextGeneration(_ app: AppName) throws -> Int {
        try write { db in
            let current = Int(try Self.property(.app(app), "ps", "generation", db) ?? "0") ?? 0
            try Self.setProperty(.app(app), "ps", "generation", String(current + 1), db)
            return current + 1
        }
    }

    private static func instance(_ row: Row) -> InstanceRecord? {
        guard let app = AppName(row["app"]), let state = InstanceRecord.State(rawValue: row["state"]) else { return nil }
        return InstanceRecord(
            unit: row["unit"], app: app, release: row["release"], processType: row["processType"],
            number: row["number"], generation: row["generation"], port: row["port"], state: state)
    }
}
