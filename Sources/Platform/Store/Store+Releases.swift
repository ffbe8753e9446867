import Foundation
import GRDB

/// A built release: a directory tree and the process types to run from it.
struct Release: Sendable, Equatable {
    /// Where a release is in its life.
    enum Status: String, Sendable {
        /// Being built.
        case building
        /// Built; not serving (an older or superseded release, a rollback target).
        case available
        /// The release that serves.
        case current
        /// The build or its deploy failed.
        case failed
    }

    var app: AppName
    var version: Int
    var status: Status
    var revision: String?
    var description: String
    var buildpacks: [String]
    /// Process type → command.
    var processTypes: [String: String]
    /// The app.json of the release, raw.
    var appJSON: String
    var createdAt: Date
    var buildSeconds: Double?
    var failure: String?
    /// `config_vars` from the buildpacks' `bin/release`: defaults under the app's config.
    var configVars: [String: String] = [:]
}

extension Store {
    /// The app's current release, if it was ever deployed.
    func currentRelease(_ app: AppName) throws -> Int? {
        try read { db in
            try Int.fetchOne(db, sql: "SELECT version FROM release WHERE app = ? AND status = 'current'", arguments: [app.rawValue])
        }
    }

    /// One release.
    func release(_ app: AppName, version: Int) throws -> Release? {
        try read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM release WHERE app = ? AND version = ?", arguments: [app.rawValue, version]).flatMap(Self.release)
        }
    }

    /// The current release, loaded.
    func currentReleaseRecord(_ app: AppName) throws -> Release? {
        try read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM release WHERE app = ? AND status = 'current'", arguments: [app.rawValue]).flatMap(Self.release)
        }
    }

    /// Every release of the app, newest first.
    func releases(_ app: AppName) throws -> [Release] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM release WHERE app = ? ORDER BY version DESC", arguments: [app.rawValue]).compactMap(Self.release)
        }
    }

    /// Records a new release being built and returns its version (one more than any before).
    func beginRelease(_ app: AppName, description: String) throws -> Int {
        try write { db in
            let version = (try Int.fetchOne(db, sql: "SELECT MAX(version) FROM release WHERE app = ?", arguments: [app.rawValue]) ?? 0) + 1
            try db.execute(
                sql: "INSERT INTO release (app, version, status, description, createdAt) VALUES (?, ?, 'building', ?, ?)",
                arguments: [app.rawValue, version, description, Date()])
            return version
        }
    }

    /// Stores what a finished build produced; the release becomes `available`.
    func finishRelease(_ release: Release) throws {
        try write { db in
            try db.execute(
                sql: """
                    UPDATE release SET status = ?, revision = ?, buildpacks = ?, processTypes = ?, appJSON = ?, buildSeconds = ?, failure = ?, configVars = ?
                    WHERE app = ? AND version = ?
                    """,
                arguments: [
                    release.status.rawValue, release.revision, JSON.encode(release.buildpacks), JSON.encode(release.processTypes),
                    release.appJSON, release.buildSeconds, release.failure, JSON.encode(release.configVars), release.app.rawValue, release.version,
                ])
        }
    }

    /// Marks a release failed with the reason.
    func failRelease(_ app: AppName, version: Int, reason: String) throws {
        try write { db in
            try db.execute(sql: "UPDATE release SET status = 'failed', failure = ? WHERE app = ? AND version = ?", arguments: [reason, app.rawValue, version])
        }
    }

    /// Makes `version` the current release; the previous current one becomes available.
    func makeCurrent(_ app: AppName, version: Int) throws {
        try write { db in
            try db.execute(sql: "UPDATE release SET status = 'available' WHERE app = ? AND status = 'current'", arguments: [app.rawValue])
            try db.execute(sql: "UPDATE release SET status = 'current', failure = NULL WHERE app = ? AND version = ?", arguments: [app.rawValue, version])
        }
    }

    /// Deletes release rows.
    func deleteReleases(_ app: AppName, versions: [Int]) throws {
        try write { db in
            for version in versions {
                try db.execute(sql: "DELETE FROM release WHERE app = ? AND version = ?", arguments: [app.rawValue, version])
            }
        }
    }

    private static func release(_ row: Row) -> Release? {
        guard let app = AppName(row["app"]), let status = Release.Status(rawValue: row["status"]) else { return nil }
        let buildpacks = (try? JSONDecoder().decode([String].self, from: Data((row["buildpacks"] as String).utf8))) ?? []
        let types = (try? JSONDecoder().decode([String: String].self, from: Data((row["processTypes"] as String).utf8))) ?? [:]
        let configVars = (try? JSONDecoder().decode([String: String].self, from: Data((row["configVars"] as String).utf8))) ?? [:]
        return Release(
            app: app, version: row["version"], status: status, revision: row["revision"], description: row["description"],
            buildpacks: buildpacks, processTypes: types, appJSON: row["appJSON"], createdAt: row["createdAt"],
            buildSeconds: row["buildSeconds"], failure: row["failure"], configVars: configVars)
    }
}

/// What the current release says about an app.
enum ReleaseInfo {
    /// The process types of the current release (empty before the first deploy).
    static func processTypes(_ app: AppName, context: Context) throws -> [String] {
        try context.store().currentReleaseRecord(app)?.processTypes.keys.sorted() ?? []
    }
}
