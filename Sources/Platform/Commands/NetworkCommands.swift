import ArgumentParser

/// Dokku's `network:*` settings. Dokku attaches an app's containers to Docker networks;
/// dokkulite's processes share the host's network and listen on loopback ports, so these
/// are kept and reported for users and scripts that set them. The report's
/// `web-listeners` are the loopback addresses the app's web processes serve on.
enum NetworkSettings {
    static let report = SettingsReport(
        namespace: "network",
        keys: [
            .init(name: "attach-post-create"), .init(name: "attach-post-deploy"),
            .init(name: "bind-all-interfaces", fallback: "false"), .init(name: "initial-network"), .init(name: "tld"),
        ],
        appOnly: ["static-web-listener"],
        extra: { app, context in
            let listeners = try context.store().instances(app)
                .filter { $0.state == .running && $0.processType == "web" }
                .compactMap(\.port).map { "127.0.0.1:\($0)" }
            return ["--network-web-listeners": listeners.joined(separator: " ")]
        })

    /// Networks Docker reserves: Dokku refuses them for the attach properties.
    static func validate(_ key: String, _ value: String) throws {
        guard key.hasPrefix("attach-") else { return }
        for network in value.split(separator: ",") where network == "host" || network == "bridge" {
            throw CommandError("Invalid network name specified for attach: \(network)")
        }
    }
}

struct NetworkSet: Command {
    static let configuration = CommandConfiguration(commandName: "network:set", abstract: "Set or clear a network property for an app (kept and reported)")
    static let usage = "[--global|<app>] <key> [<value>...]"
    @Argument(parsing: .allUnrecognized) var words: [String] = []

    func run(in context: Context) throws {
        var (appWord, global, key, value) = SettingWords.split(words)
        // As Dokku: several networks to attach are given as words and kept comma-separated.
        let values = words.dropFirst(2)
        if key.hasPrefix("attach-"), !values.isEmpty { value = values.joined(separator: ",") }
        let setter = PropertySetter(
            namespace: "network",
            properties: [
                "attach-post-create": true, "attach-post-deploy": true, "bind-all-interfaces": true,
                "initial-network": true, "static-web-listener": false, "tld": true,
            ],
            validate: NetworkSettings.validate)
        try setter.set(context: context, appWord: appWord, global: global, key: key, value: value)
    }
}

struct NetworkReport: Command {
    static let configuration = CommandConfiguration(commandName: "network:report", abstract: "Displays a network report for one or more apps")
    static let usage = "[<app>|--global] [<flag>]"
    @Argument(parsing: .allUnrecognized) var words: [String] = []

    func run(in context: Context) throws {
        try NetworkSettings.report.run(words, context: context)
    }
}
