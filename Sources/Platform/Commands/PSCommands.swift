import ArgumentParser
import Builder

/// The process formation with Dokku's defaults applied: web 1, other known types 0
/// (`release` included, as Dokku lists every Procfile type).
func effectiveFormation(_ app: AppName, knownTypes: [String], context: Context) throws -> [(type: String, quantity: Int)] {
    var scale = try context.store().formation(app)
    if scale["web"] == nil { scale["web"] = 1 }
    for type in knownTypes where scale[type] == nil { scale[type] = 0 }
    return scale.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
}

struct PSScale: Command {
    static let configuration = CommandConfiguration(commandName: "ps:scale", abstract: "Get/Set how many instances of a given process to run")
    static let usage = "[--skip-deploy] <app> <proc>=<count> [<proc>=<count>...]"
    @Flag(name: .customLong("skip-deploy")) var skipDeploy = false
    @Option var format = "stdout"
    @Argument var app: String?
    @Argument var pairs: [String] = []

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        if pairs.isEmpty {
            let formation = try effectiveFormation(app, knownTypes: try ReleaseInfo.processTypes(app, context: context), context: context)
            switch format {
            case "json":
                context.output.data(JSON.encode(formation.map { ScaleRow(process_type: $0.type, quantity: $0.quantity) }))
            case "stdout":
                context.output.step("Scaling for \(app)")
                if !context.output.quiet {
                    context.output.data("proctype: qty")
                    context.output.data("--------: ---")
                }
                for row in formation {
                    context.output.data((row.type + ":").padding(toLength: max(5, row.type.count + 1), withPad: " ", startingAt: 0) + " \(row.quantity)")
                }
            default:
                throw CommandError("Invalid --format value specified")
            }
            return
        }
        if try context.store().property(.app(app), "ps", "can-scale") == "false" {
            throw CommandError("App \(app) contains an app.json file with a formations key and cannot be manually scaled")
        }
        context.output.data("-----> Scaling \(app) processes: \(pairs.joined(separator: " "))")
        var scale: [(type: String, quantity: Int)] = []
        let known = try ReleaseInfo.processTypes(app, context: context)
        for pair in pairs {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let type = String(parts[0]).trimmingCharacters(in: .whitespaces)
            guard parts.count == 2 else { throw CommandError("Missing count for process type \(type)") }
            guard let quantity = Int(parts[1].trimmingCharacters(in: .whitespaces)), quantity >= 0 else {
                throw CommandError("Invalid count for process type \(parts[0])")
            }
            guard Procfile.isValidType(type) else { throw CommandError("\(type) is not a valid process name to scale up") }
            if !known.isEmpty, !known.contains(type), quantity != 0 {
                throw CommandError("\(type) is not a valid process name to scale up")
            }
            if !scale.contains(where: { $0.type == type }) { scale.append((type, quantity)) }
        }
        try context.store().setFormation(app, scale)
        if !skipDeploy {
            try Restarter(context).applyFormation(app)
        }
    }
}

private struct ScaleRow: Encodable {
    var process_type: String
    var quantity: Int
}

struct PSSet: Command {
    static let configuration = CommandConfiguration(commandName: "ps:set", abstract: "Set or clear a ps property for an app")
    static let usage = "(<app>|--global) <key> [<value>]"
    @Flag var global = false
    @Argument var words: [String] = []

    /// Properties and whether each may be set globally.
    static let properties: [String: Bool] = [
        "dockerfile-start-cmd": false, "procfile-path": true, "restart-policy": true, "restore": false,
        "skip-deploy": true, "start-cmd": false, "stop-timeout-seconds": true,
    ]

    func run(in context: Context) throws {
        var words = words[...]
        let scopeWord = global ? nil : words.popFirst()
        let key = words.popFirst() ?? ""
        let value = words.isEmpty ? nil : words.joined(separator: " ")
        if key == "restart-policy", let value, RestartPolicy(value) == nil {
            throw CommandError("Invalid restart-policy specified")
        }
        if key == "stop-timeout-seconds", let value, Int(value) == nil || !(0...86_400).contains(Int(value)!) {
            throw CommandError("Invalid stop-timeout-seconds specified: \(value) is not a number of seconds")
        }
        try PropertySetter(namespace: "ps", properties: Self.properties)
            .set(context: context, appWord: scopeWord, global: global, key: key, value: value)
    }
}

/// Dokku's `*:set` property rules: scope, validation order, and messages.
struct PropertySetter {
    var namespace: String
    /// Property → may be set with `--global`.
    var properties: [String: Bool]
    /// What the namespace's messages call a property (`checks:set` and `nginx:set` say key).
    var noun = (one: "property", many: "properties")
    /// The properties in the order the error message lists them (default: sorted).
    var listed: [String]?
    /// Properties set with `--global` only, and what setting one for an app says (Dokku's
    /// plugins word it differently).
    var globalOnly: [String: String] = [:]
    /// Checks a value being set, after the key is known to be valid.
    var validate: (_ key: String, _ value: String) throws -> Void = { _, _ in }

    func set(context: Context, appWord: String?, global: Bool, key: String, value: String?) throws {
        if !global, let message = globalOnly[key] { throw CommandError(message) }
        let scope: Scope = global ? .global : .app(try context.existingApp(appWord))
        if global, properties[key] == false { throw CommandError("Property cannot be specified globally") }
        guard !key.isEmpty else { throw CommandError("No \(noun.one) specified") }
        guard properties[key] != nil else {
            let names = (listed ?? properties.keys.sorted()).joined(separator: ", ")
            throw CommandError("Invalid \(noun.one) specified, valid \(noun.many) include: \(names)")
        }
        if let value, !value.isEmpty { try validate(key, value) }
        if let value, !value.isEmpty {
            context.output.section("Setting \(key) to \(value)")
            try context.store().setProperty(scope, namespace, key, value)
        } else {
            context.output.section("Unsetting \(key)")
            try context.store().setProperty(scope, namespace, key, nil)
        }
    }
}
