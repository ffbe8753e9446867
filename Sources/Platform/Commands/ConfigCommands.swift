import ArgumentParser
import Foundation

/// `(APP|--global) REST...`: splits a config command's words into its scope and the rest.
private func scopeAndRest(_ words: [String], global: Bool, context: Context) throws -> (Scope, [String]) {
    if global { return (.global, words) }
    return (.app(try context.existingApp(words.first)), Array(words.dropFirst()))
}

struct ConfigSet: Command {
    static let configuration = CommandConfiguration(commandName: "config:set", abstract: "Set one or more config vars")
    static let usage = "[--encoded] [--no-restart] (<app>|--global) KEY1=VALUE1 [KEY2=VALUE2 ...]"
    @Flag var global = false
    @Flag var encoded = false
    @Flag(name: .customLong("no-restart")) var noRestart = false
    @Argument(parsing: .allUnrecognized) var words: [String] = []

    func run(in context: Context) throws {
        let (scope, pairs) = try scopeAndRest(words, global: global, context: context)
        guard !pairs.isEmpty else { throw CommandError("At least one env pair must be given") }
        var parsed: [(key: String, value: String)] = []
        for pair in pairs {
            guard let equals = pair.firstIndex(of: "=") else { throw CommandError("Invalid env pair: \(pair)") }
            let key = String(pair[..<equals])
            var value = String(pair[pair.index(after: equals)...])
            try ConfigVars.validate(key: key)
            if encoded {
                guard let data = Data(base64Encoded: value) else {
                    throw CommandError("illegal base64 data for key '\(key)'")
                }
                value = String(decoding: data, as: UTF8.self)
            }
            parsed.removeAll { $0.key == key }
            parsed.append((key, value))
        }
        try context.store().setConfig(scope, parsed)
        try Plugins(context).fire("post-config-update", [scope.app?.rawValue ?? "--global", "set"] + parsed.map(\.key))
        context.output.step("Setting config vars")
        for line in ConfigVars.aligned(parsed.sorted { $0.key < $1.key }, prefix: "       ") where !context.output.quiet {
            context.output.data(line)
        }
        if case .app(let app) = scope, !noRestart {
            try Restarter(context).restartAfterConfigChange(app)
        }
    }
}

struct ConfigUnset: Command {
    static let configuration = CommandConfiguration(commandName: "config:unset", abstract: "Unset one or more config vars")
    static let usage = "[--no-restart] (<app>|--global) KEY1 [KEY2 ...]"
    @Flag var global = false
    @Flag(name: .customLong("no-restart")) var noRestart = false
    @Argument(parsing: .allUnrecognized) var words: [String] = []

    func run(in context: Context) throws {
        let (scope, keys) = try scopeAndRest(words, global: global, context: context)
        guard !keys.isEmpty else { throw CommandError("At least one key must be given") }
        for key in keys { try ConfigVars.validate(key: key) }
        let removed = Set(try context.store().unsetConfig(scope, keys: keys))
        for key in keys {
            if removed.contains(key) {
                context.output.step("Unsetting \(key)")
            } else {
                context.output.step("Skipping \(key), it is not set in the environment")
            }
        }
        if case .app(let app) = scope, !noRestart, !removed.isEmpty {
            try Restarter(context).restartAfterConfigChange(app)
        }
    }
}

struct ConfigGet: Command {
    static let configuration = CommandConfiguration(commandName: "config:get", abstract: "Display a config value for an app")
    static let usage = "[--quoted] (<app>|--global) KEY"
    @Flag var global = false
    @Flag var quoted = false
    @Argument(parsing: .allUnrecognized) var words: [String] = []

    func run(in context: Context) throws {
        let (scope, keys) = try scopeAndRest(words, global: global, context: context)
        guard let key = keys.first else { throw CommandError("Expected: key") }
        guard keys.count == 1 else { throw CommandError("Unexpected argument(s): [\(keys.dropFirst().joined(separator: " "))]") }
        guard let value = try context.store().config(scope).first(where: { $0.key == key })?.value else {
            throw CommandError("", exitCode: 1)
        }
        context.output.data(quoted ? ConfigVars.singleQuoted(value) : value)
    }
}

struct ConfigShow: Command {
    static let configuration = CommandConfiguration(commandName: "config:show", abstract: "Display all global or app-specific config vars")
    static let usage = "[--merged] (<app>|--global)"
    @Flag var global = false
    @Flag var merged = false
    @Argument var app: String?

    func run(in context: Context) throws {
        let (scope, _) = try scopeAndRest(app.map { [$0] } ?? [], global: global, context: context)
        let pairs = try vars(scope, merged: merged, context: context)
        context.output.section("\(scope.app?.rawValue ?? "global") env vars")
        context.output.data(ConfigVars.aligned(pairs, prefix: "").joined(separator: "\n"))
    }
}

/// `dokku config APP`: the same as `config:show`.
struct ConfigBare: Command {
    static let configuration = CommandConfiguration(commandName: "config", abstract: "Display all global or app-specific config vars")
    static let usage = "(<app>|--global)"
    @Flag var global = false
    @Flag var merged = false
    @Argument var app: String?

    func run(in context: Context) throws {
        var show = ConfigShow()
        show.global = global
        show.merged = merged
        show.app = app
        try show.run(in: context)
    }
}

struct ConfigKeys: Command {
    static let configuration = CommandConfiguration(commandName: "config:keys", abstract: "Display the config keys of an app")
    static let usage = "[--merged] (<app>|--global)"
    @Flag var global = false
    @Flag var merged = false
    @Argument var app: String?

    func run(in context: Context) throws {
        let (scope, _) = try scopeAndRest(app.map { [$0] } ?? [], global: global, context: context)
        for pair in try vars(scope, merged: merged, context: context) { context.output.data(pair.key) }
    }
}

struct ConfigClear: Command {
    static let configuration = CommandConfiguration(commandName: "config:clear", abstract: "Clear all config vars of an app")
    static let usage = "[--no-restart] (<app>|--global)"
    @Flag var global = false
    @Flag(name: .customLong("no-restart")) var noRestart = false
    @Argument var app: String?

    func run(in context: Context) throws {
        let (scope, _) = try scopeAndRest(app.map { [$0] } ?? [], global: global, context: context)
        let store = try context.store()
        let keys = try store.config(scope).map(\.key)
        try store.clearConfig(scope)
        for key in keys { context.output.step("Unsetting \(key)") }
        if case .app(let app) = scope, !noRestart, !keys.isEmpty {
            try Restarter(context).restartAfterConfigChange(app)
        }
    }
}

struct ConfigExport: Command {
    static let configuration = CommandConfiguration(commandName: "config:export", abstract: "Export a global or app environment")
    static let usage = "[--format exports|envfile|shell|json|json-list|docker-args] [--merged] (<app>|--global)"
    @Flag var global = false
    @Flag var merged = false
    @Option var format = "exports"
    @Argument var app: String?

    func run(in context: Context) throws {
        let (scope, _) = try scopeAndRest(app.map { [$0] } ?? [], global: global, context: context)
        guard let format = ConfigVars.ExportFormat(rawValue: format) else {
            throw CommandError("Unknown export format: \(format)")
        }
        context.output.raw(ConfigVars.export(try vars(scope, merged: merged, context: context), as: format))
    }
}

struct ConfigImport: Command {
    static let configuration = CommandConfiguration(commandName: "config:import", abstract: "Import environment variables from a file or stdin")
    static let usage = "[--replace] [--no-restart] [--format envfile|json] (<app>|--global) [FILE|-]"
    @Flag var global = false
    @Flag var replace = false
    @Flag(name: .customLong("no-restart")) var noRestart = false
    @Option var format = "envfile"
    @Argument(parsing: .allUnrecognized) var words: [String] = []

    func run(in context: Context) throws {
        let (scope, rest) = try scopeAndRest(words, global: global, context: context)
        let source = rest.first ?? "-"
        let data: Data
        if source == "-" {
            context.output.step("Reading config vars from stdin")
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard !context.settings.remoteCaller else {
                throw CommandError("config:import reads a file on the server only for root at its console; over ssh, send it on stdin: config:import APP < .env", kind: .forbidden)
            }
            data = Data(try CommandLineFile.read(source, limit: 1 << 20))
        }
        var pairs: [(key: String, value: String)]
        switch format {
        case "envfile":
            pairs = try ConfigVars.parseEnvfile(String(decoding: data, as: UTF8.self))
        case "json":
            guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw CommandError("Invalid JSON: expected a flat object of string values")
            }
            pairs = try object.map { key, value in
                if let string = value as? String { return (key, string) }
                if let number = value as? NSNumber { return (key, number.stringValue) }
                throw CommandError("Invalid JSON value for key '\(key)': expected a string")
            }
        default:
            throw CommandError("Unknown format: \(format)")
        }
        pairs.sort { $0.key < $1.key }
        guard !pairs.isEmpty else { throw CommandError("No config vars to set") }
        for pair in pairs { try ConfigVars.validate(key: pair.key) }
        try context.store().setConfig(scope, pairs, replacing: replace)
        context.output.step("Setting config vars")
        for line in ConfigVars.aligned(pairs, prefix: "       ") where !context.output.quiet {
            context.output.data(line)
        }
        if case .app(let app) = scope, !noRestart {
            try Restarter(context).restartAfterConfigChange(app)
        }
    }
}

private func vars(_ scope: Scope, merged: Bool, context: Context) throws -> [(key: String, value: String)] {
    if merged, case .app(let app) = scope { return try context.store().mergedConfig(app) }
    return try context.store().config(scope)
}
