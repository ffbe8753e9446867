import Foundation

/// Dokku's `*:report` output: a `=====> APP TYPE information` header and one padded row
/// per flag, or a single flag's raw value, or JSON.
struct Report {
    /// The report type in the header (`app`, `domains`, `ps`, …).
    var type: String
    /// Flag (with `--`) → value.
    var values: [String: String]
    /// JSON keys drop the `--TYPE-` prefix, as Dokku's TrimPrefix reports do.
    var trimPrefix = true

    /// JSON also carries the untrimmed key (`ports-map` beside `map`), as the reports of
    /// these Dokku plugins do (their `EmitLegacyPrefix`); the others give trimmed keys only.
    static let typesWithLegacyKeys: Set<String> = ["app", "app-json", "builder", "buildpacks", "builds", "cron", "docker-options", "logs", "network", "ports", "proxy", "ps", "registry", "scheduler", "storage"]
    var legacyKeys: Bool { Self.typesWithLegacyKeys.contains(type) }

    /// The JSON object's keys for `values`: `--ps-can-scale` is `can-scale`, and also
    /// `ps-can-scale` where Dokku keeps the legacy key.
    func jsonKeys(_ flag: String) -> [String] {
        let name = String(flag.dropFirst(2))
        guard trimPrefix, name.hasPrefix("\(type)-") else { return [name] }
        let trimmed = String(name.dropFirst(type.count + 1))
        return legacyKeys ? [trimmed, name] : [trimmed]
    }

    /// Prints the report for `subject` (an app name or `--global`) as `arguments` ask.
    func print(subject: String, arguments: ReportArguments, output: Output) throws {
        if let flag = arguments.infoFlag {
            guard arguments.format == nil else {
                throw CommandError("--format flag cannot be specified when specifying an info flag")
            }
            guard let value = values[flag] else {
                throw CommandError("Invalid flag passed, valid flags: \(values.keys.sorted().joined(separator: ", "))")
            }
            output.data(value)
            return
        }
        switch arguments.format ?? "stdout" {
        case "stdout":
            output.section("\(subject) \(type) information")
            let width = max(31, values.keys.map(\.count).max() ?? 0)
            for key in values.keys.sorted() {
                var label = key.dropFirst(2).replacingOccurrences(of: "-", with: " ").replacingOccurrences(of: ".", with: " ")
                label = label.prefix(1).uppercased() + label.dropFirst()
                let cell = label + ":"
                output.data("       " + cell.padding(toLength: max(width, cell.count), withPad: " ", startingAt: 0) + (values[key] ?? ""))
            }
        case "json":
            var object: [String: String] = [:]
            for (key, value) in values {
                for name in jsonKeys(key) { object[name] = value }
            }
            output.data(JSON.encode(object))
        case let other:
            throw CommandError("Format must be \"stdout\" or \"json\": \"\(other)\"")
        }
    }
}

/// The arguments every report takes: `[APP|--global] [--format stdout|json] [--FLAG]`.
struct ReportArguments {
    var app: String?
    var global = false
    var format: String?
    var infoFlag: String?

    /// Parses the raw words after the command name.
    init(_ words: [String]) throws {
        var words = words[...]
        while let word = words.popFirst() {
            if word == "--global" {
                global = true
            } else if word == "--format" {
                guard let value = words.popFirst() else { throw CommandError("--format requires a value") }
                format = value
            } else if word.hasPrefix("--format=") {
                format = String(word.dropFirst("--format=".count))
            } else if word.hasPrefix("--") {
                guard infoFlag == nil else { throw CommandError("Only one info flag may be given") }
                infoFlag = word
            } else if app == nil {
                app = word
            } else {
                throw CommandError("Unexpected argument: \(word)")
            }
        }
    }
}

/// JSON encoding with sorted keys, as Dokku's Go output has them.
enum JSON {
    static func encode<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(value) else { return "null" }
        return String(decoding: data, as: UTF8.self)
    }
}
