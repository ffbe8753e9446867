import ArgumentParser
import Foundation

/// Dokku's `builder:*` settings. dokkulite builds with buildpacks, as Dokku's herokuish
/// builder does: `selected` may be empty or `herokuish`; `build-dir` names the
/// subdirectory of the pushed code that is built, as in a monorepo.
enum BuilderSettings {
    static let builders = ["herokuish"]
    static let report = SettingsReport(
        namespace: "builder",
        keys: [.init(name: "build-dir"), .init(name: "selected"), .init(name: "skip-cleanup", fallback: "false")],
        appOnly: ["detected"])

    /// The subdirectory of the code to build, without leading or trailing slashes; nil
    /// for the whole tree.
    static func buildDirectory(_ app: AppName, store: Store) throws -> String? {
        guard let value = try store.computedProperty(app, "builder", "build-dir") else { return nil }
        let trimmed = value.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        return trimmed.isEmpty ? nil : trimmed
    }

    /// Checks that the app's selected builder is one dokkulite has.
    static func checkSelected(_ app: AppName, store: Store) throws {
        guard let selected = try store.computedProperty(app, "builder", "selected"), !selected.isEmpty else { return }
        guard builders.contains(selected) else {
            throw CommandError("Invalid builder selected: \(selected) (dokkulite builds with buildpacks, the herokuish builder)")
        }
    }
}

struct BuilderSet: Command {
    static let configuration = CommandConfiguration(commandName: "builder:set", abstract: "Set or clear a builder property for an app")
    static let usage = "<app> <property> (<value>)"
    @Argument(parsing: .allUnrecognized) var words: [String] = []

    func run(in context: Context) throws {
        let (appWord, global, key, value) = SettingWords.split(words)
        if key == "detected" {
            context.output.warn("detected is a read-only property")
            return
        }
        let setter = PropertySetter(
            namespace: "builder", properties: ["build-dir": true, "detected": false, "selected": true, "skip-cleanup": true],
            validate: { key, value in
                if key == "skip-cleanup", !["true", "false"].contains(value) {
                    throw CommandError("Invalid value for skip-cleanup: must be true or false")
                }
            })
        try setter.set(context: context, appWord: appWord, global: global, key: key, value: value)
    }
}

struct BuilderReport: Command {
    static let configuration = CommandConfiguration(commandName: "builder:report", abstract: "Displays a builder report for one or more apps")
    static let usage = "[<app>] [<flag>]"
    @Argument(parsing: .allUnrecognized) var words: [String] = []

    func run(in context: Context) throws {
        try BuilderSettings.report.run(words, context: context)
    }
}

/// Dokku's `app-json:*` settings: `appjson-path` names the file read as app.json,
/// relative to the code that is built.
enum AppJSONSettings {
    static let report = SettingsReport(namespace: "app-json", keys: [.init(name: "appjson-path", fallback: "app.json")])

    static func path(_ app: AppName, store: Store) throws -> String {
        let value = try store.computedProperty(app, "app-json", "appjson-path") ?? ""
        let trimmed = value.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        return trimmed.isEmpty ? "app.json" : trimmed
    }
}

struct AppJSONSet: Command {
    static let configuration = CommandConfiguration(commandName: "app-json:set", abstract: "Set or clear a app-json property for an app")
    static let usage = "<app> <property> (<value>)"
    @Argument(parsing: .allUnrecognized) var words: [String] = []

    func run(in context: Context) throws {
        let (appWord, global, key, value) = SettingWords.split(words)
        let setter = PropertySetter(namespace: "app-json", properties: ["appjson-path": true])
        try setter.set(context: context, appWord: appWord, global: global, key: key, value: value)
    }
}

struct AppJSONReport: Command {
    static let configuration = CommandConfiguration(commandName: "app-json:report", abstract: "Displays a app-json report for one or more apps")
    static let usage = "[<app>] [<flag>]"
    @Argument(parsing: .allUnrecognized) var words: [String] = []

    func run(in context: Context) throws {
        try AppJSONSettings.report.run(words, context: context)
    }
}

/// The words of `NS:set [--global|APP] KEY [VALUE]`.
enum SettingWords {
    static func split(_ words: [String]) -> (app: String?, global: Bool, key: String, value: String?) {
        var rest = words[...]
        let global = rest.first == "--global"
        let app = global ? nil : rest.first
        rest = rest.dropFirst()
        let key = rest.popFirst() ?? ""
        return (app, global, key, rest.first)
    }
}
