import Foundation
import GRDB

/// Who holds an app's deploy lock.
struct DeployLock: Sendable, Equatable {
    var pid: Int32
    /// The holder's identity: boot ID and process start time, so a reused PID is not
    /// mistaken for the holder.
    var identity: String
    var startedAt: Date
    var operation: String
}

extension Store {
    /// The current deploy lock of an app, if any (stale or not).
    func deployLock(_ app: AppName) throws -> DeployLock? {
        try read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM deployLock WHERE app = ?", arguments: [app.rawValue]).map {
                DeployLock(pid: $0["pid"], identity: $0["bootID"], startedAt: $0["startedAt"], operation: $0["operation"])
            }
        }
    }

    /// Takes the app's deploy lock for this process. A lock whose holder is gone is cleared
    /// first; a live holder makes this return that holder instead.
    func acquireDeployLock(_ app: AppName, operation: String) throws -> DeployLock? {
        try write { db in
            if let row = try Row.fetchOne(db, sql: "SELECT * FROM deployLock WHERE app = ?", arguments: [app.rawValue]) {
                let holder = DeployLock(pid: row["pid"], identity: row["bootID"], startedAt: row["startedAt"], operation: row["operation"])
                if ProcessIdentity.isAlive(pid: holder.pid, identity: holder.identity) { return holder }
                try db.execute(sql: "DELETE FROM deployLock WHERE app = ?", arguments: [app.rawValue])
            }
            let me = ProcessIdentity.current
            try db.execute(
                sql: "INSERT INTO deployLock (app, pid, bootID, startedAt, operation) VALUES (?, ?, ?, ?, ?)",
                arguments: [app.rawValue, me.pid, me.identity, Date(), operation])
            return nil
        }
    }

    /// Releases the app's deploy lock.
    func releaseDeployLock(_ app: AppName) throws {
        try write { db in
            try db.execute(sql: "DELETE FROM deployLock WHERE app = ?", arguments: [app.rawValue])
        }
    }
}

/// A process's identity that survives PID reuse: boot ID plus the process start time.
enum ProcessIdentity {
    static var current: (pid: Int32, identity: String) {
        let pid = getpid()
        return (pid, identity(of: pid) ?? "")
    }

    /// True when `pid` still runs and is the same process that recorded `identity`.
    static func isAlive(pid: Int32, identity: String) -> Bool {
        guard let now = self.identity(of: pid) else { return false }
        return now == identity
    }

    static func identity(of pid: Int32) -> String? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        // Fields after the command name; the start time is field 22 of the whole line.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 19 else { return nil }
        let boot = (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        return "\(boot):\(fields[19])"
    }
}
