import ArgumentParser

/// `checks:disable|enable|skip APP [TYPES]`: lists of process types (or `_all_`) kept in
/// the `checks/disabled` and `checks/skipped` properties.
private struct ChecksLists {
    let context: Context
    let app: AppName

    func get(_ key: String) throws -> [String] {
        (try context.store().property(.app(app), "checks", key) ?? "").split(separator: ",").map(String.init)
    }

    func set(_ key: String, _ values: [String]) throws {
        try context.store().setProperty(.app(app), "checks", key, values.isEmpty ? nil : values.joined(separator: ","))
    }
}

private func types(_ text: String?) -> [String] {
    (text ?? "").split(separator: ",").map(String.init).filter { !$0.isEmpty }
}

extension ChecksLists {
    /// Puts process types (all of them when none are given) on one list (`disabled` or
    /// `skipped`) and off the other, with Dokku's message (`verb`: Disabling, Skipping).
    func mark(_ list: String, clearing other: String, types chosen: [String], verb: String, output: Output) throws {
        if chosen.isEmpty {
            output.step("\(verb) zero downtime for app (\(app))")
            try set(list, ["_all_"])
            try set(other, [])
        } else {
            output.step("\(verb) zero downtime for app's (\(app)) proctypes (\(chosen.joined(separator: ",")))")
            let current = try get(list).filter { $0 != "_all_" }
            // In the order given, after those already there (Dokku's checks.bats reads it back).
            var merged = current
            for type in chosen where !merged.contains(type) { merged.append(type) }
            try set(list, merged)
            try set(other, try get(other).filter { !chosen.contains($0) })
        }
    }
}

struct ChecksDisable: Command {
    static let configuration = CommandConfiguration(commandName: "checks:disable", abstract: "Disable zero-downtime deployment for all processes (or comma-separated process-type list)")
    static let usage = "<app> [process-type(s)|TYPE.INDEX]"
    @Argument var app: String?
    @Argument var processTypes: String?

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        try ChecksLists(context: context, app: app).mark("disabled", clearing: "skipped", types: types(processTypes), verb: "Disabling", output: context.output)
    }
}

struct ChecksEnable: Command {
    static let configuration = CommandConfiguration(commandName: "checks:enable", abstract: "Enable zero-downtime deployment for all processes (or comma-separated process-type list)")
    static let usage = "<app> [process-type(s)|TYPE.INDEX]"
    @Argument var app: String?
    @Argument var processTypes: String?

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        let lists = ChecksLists(context: context, app: app)
        let chosen = types(processTypes)
        if chosen.isEmpty {
            context.output.step("Enabling zero downtime for app's (\(app))")
            try lists.set("disabled", [])
            try lists.set("skipped", [])
        } else {
            context.output.step("Enabling zero downtime for app's (\(app)) proctypes (\(chosen.joined(separator: ",")))")
            try lists.set("disabled", try lists.get("disabled").filter { !chosen.contains($0) })
            try lists.set("skipped", try lists.get("skipped").filter { !chosen.contains($0) })
        }
    }
}

struct ChecksSkip: Command {
    static let configuration = CommandConfiguration(commandName: "checks:skip", abstract: "Skip zero-downtime checks for all processes (or comma-separated process-type list)")
    static let usage = "<app> [process-type(s)|TYPE.INDEX]"
    @Argument var app: String?
    @Argument var processTypes: String?

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        try ChecksLists(context: context, app: app).mark("skipped", clearing: "disabled", types: types(processTypes), verb: "Skipping", output: context.output)
    }
}

struct ChecksRun: Command {
    static let configuration = CommandConfiguration(commandName: "checks:run", abstract: "Runs zero-downtime checks for all processes (or comma-separated process-type list)")
    static let usage = "<app> [process-type(s)|TYPE.INDEX]"
    @Argument var app: String?
    @Argument var processTypes: String?

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        guard let release = try context.store().currentReleaseRecord(app) else { throw CommandError("App \(app) has not been deployed") }
        let running = try context.store().instances(app).filter { $0.state == .running }
        // Each word is a process type (`web`) or one instance of it (`web.2`), as in Dokku.
        let words = types(processTypes)
        var chosen = Set<String>()
        for word in words {
            let found = running.filter { word.contains(".") ? $0.dyno == word : $0.processType == word }
            guard !found.isEmpty else {
                throw CommandError(word.contains(".") ? "Invalid container index specified (\(app).\(word))" : "Invalid process type specified (\(app).\(word))")
            }
            chosen.formUnion(found.map(\.unit))
        }
        try HealthChecks(context).verify(app, release: release, instances: words.isEmpty ? running : running.filter { chosen.contains($0.unit) })
    }
}

struct ChecksSet: Command {
    static let configuration = CommandConfiguration(commandName: "checks:set", abstract: "Set or clear a checks property for an app")
    static let usage = "(<app>|--global) <key> [<value>]"
    @Flag var global = false
    @Argument var words: [String] = []

    static let keys = ["attempts", "timeout", "wait", "wait-to-retire"]

    func run(in context: Context) throws {
        var words = words[...]
        let appWord = global ? nil : words.popFirst()
        let setter = PropertySetter(
            namespace: "checks", properties: Dictionary(uniqueKeysWithValues: Self.keys.map { ($0, true) }),
            noun: ("key", "keys"), listed: Self.keys,
            validate: { key, value in
                // Bounded: a day at most (an infinite wait would stop a deploy midway).
                guard let number = Double(value), number.isFinite, (0...86_400).contains(number) else {
                    throw CommandError("Invalid \(key) value: \(value) (expected a number of seconds up to 86400)")
                }
            })
        try setter.set(context: context, appWord: appWord, global: global, key: words.popFirst() ?? "", value: words.first)
    }
}

struct ChecksReport: Command {
    static let configuration = CommandConfiguration(commandName: "checks:report", abstract: "Displays a checks report for one or more apps")
    static let usage = "[<app>] [<flag>]"
    @Argument(parsing: .allUnrecognized) var words: [String] = []

    func run(in context: Context) throws {
        let store = try context.store()
        let global = try store.properties(.global, "checks")
        try context.printReports("checks", words, global: {
            var values: [String: String] = [:]
            for key in ChecksSet.keys { values["--checks-global-\(key)"] = global[key] ?? "" }
            values["--checks-computed-wait-to-retire"] = global["wait-to-retire"] ?? "60"
            return values
        }) { app in
            let props = try store.properties(.app(app), "checks")
            var values = [
                "--checks-disabled-list": props["disabled"] ?? "none",
                "--checks-skipped-list": props["skipped"] ?? "none",
            ]
            for key in ChecksSet.keys {
                values["--checks-\(key)"] = props[key] ?? ""
                values["--checks-global-\(key)"] = global[key] ?? ""
            }
            values["--checks-computed-wait-to-retire"] = props["wait-to-retire"] ?? global["wait-to-retire"] ?? "60"
            return values
        }
    }
}
