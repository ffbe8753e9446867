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
        guard count >= 0 else { throw CommandError("Invalid value for --num: \(count)") }
        let journal = try Journal()
        let filter = LogFilter(app: app, processType: process)
        let identifiers = try journal.identifiers(prefix: "\(app).").filter(filter.matches)
        if try journal.match(identifiers: identifiers) {
            journal.seekTail(back: count)
            while let entry = journal.next() { print(entry, filter: filter, context: context) }
        } else if !follow {
            return
        }
        guard follow else { return }
        // New processes (a scale-up, a deploy) log under identifiers unknown at the start,
        // so following reads every new entry and filters here.
        _ = try journal.match(identifiers: [])
        journal.seekTail(back: 0)
        while true {
            while let entry = journal.next() {
                if filter.matches(entry.identifier) { print(entry, filter: filter, context: context) }
            }
            journal.wait(timeout: .seconds(1))
        }
    }

    private func print(_ entry: Journal.Entry, filter: LogFilter, context: Context) {
        context.output.data(raw ? entry.message : filter.line(entry))
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

    func matches(_ identifier: String) -> Bool {
        let prefix = "\(app)."
        guard identifier.hasPrefix(prefix) else { return false }
        let parts = identifier.dropFirst(prefix.count).split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, Int(parts[1]) != nil, !parts[0].isEmpty, !parts[0].contains(".") else { return false }
        return processType.map { $0 == parts[0] } ?? true
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
