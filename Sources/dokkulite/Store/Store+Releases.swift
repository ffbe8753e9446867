import Foundation
import GRDB

extension Store {
    /// The version of the app's current release, if it was ever deployed.
    func currentRelease(_ app: AppName) throws -> Int? {
        try read { db in
            try Int.fetchOne(db, sql: "SELECT version FROM release WHERE app = ? AND status = 'current'", arguments: [app.rawValue])
        }
    }
}

/// What the current release says about an app.
enum ReleaseInfo {
    /// The process types of the current release (empty before the first deploy).
    static func processTypes(_ app: AppName, context: Context) throws -> [String] {
        try context.store().read { db in
            guard let json = try String.fetchOne(db, sql: "SELECT processTypes FROM release WHERE app = ? AND status = 'current'", arguments: [app.rawValue]),
                let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: String]
            else { return [] }
            return object.keys.sorted()
        }
    }
}
