import ArgumentParser
import Foundation
import Supervisor

struct Logs: Command {
    static let configuration = CommandConfiguration(commandName: "logs", abstract: "Display recent log output")
    static let usage = "<app> [-t|--tail] [-n|--num NUM] [-p|--ps PROCESS] [-q|--quiet]"
    @Flag(name: [.customShort("t"), .customLong("tail")]) var follow = false
    @Option(name: [.customShort("n"), .customLong("num")]) var count = 100
    @Option(name: [.customShort("p"), .customLong("ps")]) var process: String?
    @Flag(name: [.customShort("q"), .customLong("quiet")]) var raw = false
    @Argument var app: String?

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        try LogFilter(app: app, processType: process).show(count: count, follow: follow, raw: raw, context: context)
    }
}

/// `run:logs`: the logs of one-off processes (`run`, `run:detached`), or of one of them.
struct RunLogs: Command {
    static let configuration = CommandConfiguration(commandName: "run:logs", abstract: "Display recent log output for run processes")
    static let usage = "<app|--container NAME> [-t|--tail] [-n|--num NUM] [-q|--quiet]"
    @Option(name: .customLong("container")) var container: String?
    @Flag(name: [.customShort("t"), .customLong("tail")]) var follow = false
    @Option(name: [.customShort("n"), .customLong("num")]) var count = 100
    @Flag(name: [.customShort("q"), .customLong("quiet")]) var raw = false
    @Argument var app: String?

    func run(in context: Context) throws {
        var filter: LogFilter
        if let container {
            // `APP.run.N`, as run:list names them.
            guard let range = container.range(of: ".run.", options: .backwards), let number = Int(container[range.upperBound...]) else {
                throw CommandError("Invalid container name: \(container) (run:list names them APP.run.N)")
            }
            filter = LogFilter(app: try context.existingApp(String(container[..<range.lowerBound])), processType: "run")
            filter.number = number
        } else {
            filter = LogFilter(app: try context.existingApp(app), processType: "run")
        }
        try filter.show(count: count, follow: follow, raw: raw, context: context)
    }
}

struct LogsFailed: Command {
    static let configuration = CommandConfiguration(commandName: "logs:failed", abstract: "Shows the last failed deploy logs")
    static let usage = "--all|<app>"
    @Flag var all = false
    @Argument var app: String?

    func run(in context: Context) throws {
        for app in try context.targets(app, all: all) {
            context.output.section("\(app) failed deploy logs")
            // The units a deploy started and then stopped when its checks failed
            // (`Deployer`); their lines stay in the journal under those unit names.
            let units = try context.store().property(.app(app), "logs", "failed-units")?.split(separator: "\n").map(String.init) ?? []
            let journal = try Journal()
            guard try journal.match(units: units) else {
                context.output.warn("No failed containers found")
                continue
            }
            journal.seekHead()
            let filter = LogFilter(app: app, processType: nil)
            while let entry = journal.next() { context.output.data(filter.line(entry)) }
        }
    }
}

/// Which journal identifiers belong to an app (and a process type): exactly `APP.TYPE.N`,
/// so app `foo` never picks up the logs of app `foo.bar`.
struct LogFilter {
    var app: AppName
    var processType: String?
    /// One process of the type only (`run:logs --container APP.run.N`).
    var number: Int?

    func matches(_ identifier: String) -> Bool {
        let prefix = "\(app)."
        guard identifier.hasPrefix(prefix) else { return false }
        let parts = identifier.dropFirst(prefix.count).split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let n = Int(parts[1]), !parts[0].isEmpty, !parts[0].contains(".") else { return false }
        return (processType.map { $0 == parts[0] } ?? true) && (number.map { $0 == n } ?? true)
    }

    /// Prints the last `count` matching journal lines, then, when following, new ones as
    /// they come (`TIME APP[web.1]: message`, or the message alone when `raw`).
    ///
    /// Any process can log under any identifier (through journald's socket or syslog), so
    /// an entry counts only when the app's own user logged it: app `a` cannot write lines
    /// into `b`'s logs by naming itself `b.web.1`.
    func show(count: Int, follow: Bool, raw: Bool, context: Context) throws {
        guard count >= 0 else { throw CommandError("Invalid value for --num: \(count)") }
        let journal = try Journal()
        let owner = try ProcessManager(context).userID(of: app)
        func print(_ entry: Journal.Entry) { context.output.data(raw ? entry.message : line(entry)) }
        for entry in try recent(count, in: journal, owner: owner) { print(entry) }
        guard follow else { return }
        try startFollowing(journal)
        while true {
            for entry in newEntries(journal, owner: owner) { print(entry) }
            journal.wait(timeout: .seconds(1))
        }
    }

    /// Whether the app's own user wrote the entry (when the app has a user).
    func written(_ entry: Journal.Entry, by owner: UInt32?) -> Bool {
        owner == nil || entry.uid == owner
    }

    /// The last `count` of the app's entries its user wrote, oldest first.
    func recent(_ count: Int, in journal: Journal, owner: UInt32?) throws -> [Journal.Entry] {
        let identifiers = try journal.identifiers(prefix: "\(app).").filter(matches)
        guard count > 0, try journal.match(identifiers: identifiers) else { return [] }
        journal.seekTail(back: count)
        var entries: [Journal.Entry] = []
        while let entry = journal.next() {
            if written(entry, by: owner) { entries.append(entry) }
        }
        return entries
    }

    /// Moves to the journal's end for `newEntries`. New processes (a scale-up, a deploy)
    /// log under identifiers unknown now, so every new entry is read and filtered here.
    func startFollowing(_ journal: Journal) throws {
        _ = try journal.match(identifiers: [])
        journal.seekTail(back: 0)
    }

    /// The app's entries its user wrote since the last call.
    func newEntries(_ journal: Journal, owner: UInt32?) -> [Journal.Entry] {
        var entries: [Journal.Entry] = []
        while let entry = journal.next() {
            if matches(entry.identifier), written(entry, by: owner) { entries.append(entry) }
        }
        return entries
    }

    /// `web.1` for `APP.web.1`.
    func dyno(_ identifier: String) -> String {
        String(identifier.dropFirst(app.rawValue.count + 1))
    }

    /// A journal entry as `logs` prints it: `TIME APP[web.1]: message`.
    func line(_ entry: Journal.Entry) -> String {
        "\(Journal.rfc3339(entry.timestamp)) \(app)[\(dyno(entry.identifier))]: \(entry.message)"
    }
}

/// Dokku's `logs:*` settings. Dokku hands them to Docker's log driver and to its vector
/// container; dokkulite's processes log to the journal, whose size journald bounds for
/// the whole server, so they are kept and reported for users and scripts that set them.
enum LogsSettings {
    static let sinks = ["vector-cron-sink", "vector-sink"]
    static let report = SettingsReport(
        namespace: "logs",
        keys: [
            .init(name: "app-label-alias", fallback: "com.dokku.app-name"), .init(name: "max-size", fallback: "10m"),
            .init(name: "vector-cron-sink"), .init(name: "vector-sink"),
            .init(name: "vector-image", globalOnly: true), .init(name: "vector-networks", globalOnly: true),
        ],
        shown: { values, arguments in
            // As Dokku: a sink's options may hold credentials, so a printed report shows
            // only its type, unless the raw value was asked for by its own flag.
            guard arguments.format != "json" else { return }
            for (flag, value) in values where sinks.contains(where: { flag.hasSuffix("-" + $0) }) && !value.isEmpty {
                let asked = arguments.infoFlag == flag && !flag.contains("-computed-")
                if !asked { values[flag] = (value.components(separatedBy: "://").first ?? value) + "://redacted" }
            }
        })

    static func validate(_ key: String, _ value: String) throws {
        switch key {
        case "app-label-alias":
            guard value.wholeMatch(of: /[A-Za-z0-9][A-Za-z0-9_.-]*/) != nil else {
                throw CommandError("Invalid app-label-alias value, must start with a letter or number and contain only letters, numbers, and any of [_, ., -]")
            }
        case "max-size":
            guard value != "unlimited" else { return }
            guard let unit = value.last, "kmg".contains(unit) else {
                throw CommandError("Invalid max-size unit measure, value must end in any of [k, m, g]")
            }
            guard value.count >= 2 else {
                throw CommandError("Invalid max-size value, must be a number followed by a unit of measure [k, m, g]")
            }
            guard Int(value.dropLast()) != nil else {
                throw CommandError("Invalid max-size value, unable to convert number to int: \(value.dropLast())")
            }
        case "vector-networks":
            for entry in value.split(separator: ",", omittingEmptySubsequences: false) {
                if entry.isEmpty { throw CommandError("Invalid vector-networks value, empty entry in comma-separated list") }
                if entry == "bridge" { throw CommandError("Invalid vector-networks value, \"bridge\" is not a valid entry for vector-networks") }
            }
        case "vector-cron-sink", "vector-sink":
            guard let range = value.range(of: "://"), !value[..<range.lowerBound].isEmpty else {
                throw CommandError("Invalid \(key) value: \(value) (expected a sink as TYPE://[?OPTIONS])")
            }
        default:
            break
        }
    }
}

struct LogsSet: Command {
    static let configuration = CommandConfiguration(commandName: "logs:set", abstract: "Set or clear a logs property for an app")
    static let usage = "[--global|<app>] <key> <value>"
    @Argument(parsing: .allUnrecognized) var words: [String] = []

    func run(in context: Context) throws {
        let (appWord, global, key, value) = SettingWords.split(words)
        let setter = PropertySetter(
            namespace: "logs",
            properties: ["app-label-alias": true, "max-size": true, "vector-cron-sink": true, "vector-image": true, "vector-networks": true, "vector-sink": true],
            globalOnly: Dictionary(uniqueKeysWithValues: ["vector-image", "vector-networks"].map { ($0, "\($0) may only be set globally with --global") }),
            validate: LogsSettings.validate)
        try setter.set(context: context, appWord: appWord, global: global, key: key, value: value)
    }
}

struct LogsReport: Command {
    static let configuration = CommandConfiguration(commandName: "logs:report", abstract: "Displays a logs report for one or more apps")
    static let usage = "[<app>] [<flag>]"
    @Argument(parsing: .allUnrecognized) var words: [String] = []

    func run(in context: Context) throws {
        try LogsSettings.report.run(words, context: context)
    }
}
