/// The kinds of service dokkulite runs for apps, with what differs between them: the
/// programs, the URL an app gets, the variable it comes in. Everything else (naming, links,
/// units, backups) is shared.
enum ServiceKind: String, CaseIterable, Sendable {
    case postgres
    case redis

    /// As dokku-postgres and dokku-redis print it (`Postgres container created: …`).
    var title: String {
        switch self {
        case .postgres: "Postgres"
        case .redis: "Redis"
        }
    }

    /// The config var a first link sets (`DATABASE_URL`, `REDIS_URL`), without `_URL`.
    var defaultAlias: String {
        switch self {
        case .postgres: "DATABASE"
        case .redis: "REDIS"
        }
    }

    /// The URL scheme.
    var scheme: String {
        switch self {
        case .postgres: "postgres"
        case .redis: "redis"
        }
    }

    /// A short tag for user names (`dl-pg-NAME`).
    var userTag: String {
        switch self {
        case .postgres: "pg"
        case .redis: "redis"
        }
    }

    /// The file extension of `export` output and backups.
    var dumpExtension: String {
        switch self {
        case .postgres: "dump"
        case .redis: "rdb"
        }
    }

    /// The major version dokkulite runs: Debian 12's packages.
    var version: String {
        switch self {
        case .postgres: "15"
        case .redis: "7.0"
        }
    }

    /// Where the server program and its tools are.
    var binaries: String {
        switch self {
        case .postgres: "/usr/lib/postgresql/15/bin"
        case .redis: "/usr/bin"
        }
    }

    /// The server program, which must be installed for any command that starts one.
    var serverProgram: String {
        switch self {
        case .postgres: binaries + "/postgres"
        case .redis: binaries + "/redis-server"
        }
    }

    /// The Debian packages that provide it.
    var packages: String {
        switch self {
        case .postgres: "postgresql-15 postgresql-client-15"
        case .redis: "redis-server redis-tools"
        }
    }
}

/// A validated service name, as dokku-postgres accepts them: letters, digits, `_` and `-`,
/// at most 63 characters (a unit name, a user name and a database name are made from it).
struct ServiceName: Hashable, Comparable, Sendable, CustomStringConvertible {
    let rawValue: String

    init?(_ raw: String) {
        guard (1...63).contains(raw.utf8.count),
            raw.utf8.allSatisfy({ (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0) || $0 == 45 || $0 == 95 })
        else { return nil }
        rawValue = raw
    }

    /// The name, or dokku-postgres's message for a missing or bad one.
    static func parse(_ raw: String?) throws -> ServiceName {
        guard let raw, !raw.isEmpty else { throw CommandError("Please specify a valid name for the service") }
        // dokku-postgres's words (its check also takes `-`).
        guard let name = ServiceName(raw) else {
            throw CommandError("Please specify a valid name for the service. Valid characters are: [A-Za-z0-9_]+")
        }
        return name
    }

    /// The database a Postgres service holds: the name with `-` and `.` as `_`, as
    /// dokku-postgres names it.
    var databaseName: String {
        rawValue.replacingOccurrences(of: "-", with: "_")
    }

    var description: String { rawValue }

    static func < (lhs: ServiceName, rhs: ServiceName) -> Bool { lhs.rawValue < rhs.rawValue }
}
