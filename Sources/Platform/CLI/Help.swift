/// `help`, `help --all` and `NAMESPACE:help`, generated from the command catalog and
/// grouped by namespace as Dokku's help is.
enum Help {
    /// Set by the command line so help can ask installed plugins for their commands.
    nonisolated(unsafe) static var pluginContext: Context?

    /// Each namespace's one-line description.
    static let namespaces: [String: String] = [
        "api": "Manage the HTTP API: its tokens, its host's certificate and its audit log",
        "app-json": "Manage app-json settings for an app",
        "apps": "Manage apps",
        "builder": "Manage builder settings for an app",
        "buildpacks": "Manage buildpacks settings for an app",
        "certs": "Manage SSL (TLS) certs",
        "checks": "Manage zero-downtime settings",
        "config": "Manage global and app-specific config vars",
        "cron": "Manage scheduled cron tasks",
        "domains": "Manage domains used by the proxy",
        "git": "Manage app deploys via git",
        "logs": "Manage log integration for an app",
        "nginx": "Manage the nginx proxy settings (kept for Dokku users; nginx:report --nginx-not-applicable lists those dokkulite's proxy does not apply)",
        "plugin": "Manage installed plugins",
        "ports": "Manage ports for an app",
        "proxy": "Manage the proxy integration for an app",
        "ps": "Manage app processes",
        "releases": "List and roll back an app's releases",
        "repo": "Manage the app's repo",
        "report": "Displays system and app information for one or all apps",
        "resource": "Manage resource settings for an app",
        "run": "Run a one-off process inside a container",
        "ssh-keys": "Manage public ssh keys used for deployment",
        "storage": "Manage mounted volumes",
        "letsencrypt": "Manage the letsencrypt integration",
        "url": "Show the first URL for an app",
        "urls": "Show all URLs for an app",
    ]

    static func printOverview(output: Output, all: Bool) {
        var lines = [
            "Usage: \(Program.name) [--quiet|--trace|--force] [--app APP] COMMAND <app> [command-specific-options]",
            "",
        ]
        let commands = CommandLineTool.commands.filter { $0.configuration.shouldDisplay }
        if all {
            lines.append("Commands:")
            lines.append("")
            let width = commands.map { "\($0.name) \($0.usage)".count }.max()! + 2
            for command in commands {
                lines.append(row("\(command.name) \(command.usage)", command.summary, width: width))
            }
        } else {
            lines.append("Primary help options, type \"\(Program.name) COMMAND:help\" for more details, or \(Program.name) help --all to see all commands.")
            lines.append("")
            lines.append("Commands:")
            lines.append("")
            let present = Set(commands.map { $0.namespace })
            for namespace in namespaces.keys.sorted() where present.contains(namespace) {
                lines.append(row(namespace, namespaces[namespace]!, width: 25))
            }
            for extra in ["help", "version"] {
                lines.append(row(extra, extra == "help" ? "Print the list of commands" : "Print dokkulite's version", width: 25))
            }
            if let context = Help.pluginContext {
                let community = Plugins(context).helpLines()
                if !community.isEmpty {
                    lines += ["", "Community plugin commands:", ""] + community
                }
            }
        }
        output.data(lines.joined(separator: "\n"))
    }

    /// Prints one namespace's commands; false when there is no such namespace.
    static func printNamespace(_ namespace: String, output: Output) -> Bool {
        let commands = CommandLineTool.commands.filter { $0.namespace == namespace && $0.configuration.shouldDisplay }
        guard !commands.isEmpty else { return false }
        var lines = [
            "Usage: \(Program.name) \(namespace)[:COMMAND]",
            "",
            namespaces[namespace] ?? "",
            "",
            "Additional commands:",
        ]
        let width = commands.map { "\($0.name) \($0.usage)".count }.max()! + 2
        for command in commands {
            lines.append(row("\(command.name) \(command.usage)", command.summary, width: width))
        }
        output.data(lines.joined(separator: "\n"))
        return true
    }

    private static func row(_ left: String, _ right: String, width: Int) -> String {
        let padded = left.count < width ? left + String(repeating: " ", count: width - left.count) : left + "  "
        return "    \(padded)\(right)"
    }
}
