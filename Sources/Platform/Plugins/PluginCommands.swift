import ArgumentParser
import Builder
import Foundation

/// Installing plugins changes what runs as root: only root on the server may do it.
private func requirePluginAdmin(_ context: Context) throws {
    guard !context.settings.remoteCaller, getuid() == 0 else {
        throw CommandError("plugin:install, enable, disable and uninstall must be run as root on the server")
    }
}

struct PluginInstall: Command {
    static let configuration = CommandConfiguration(commandName: "plugin:install", abstract: "Install a plugin from a directory or a git URL")
    static let access = Access.serverRoot
    static let usage = "(<path>|<git-url>) [--committish REF] [--name NAME]"
    static let takesApp = false
    @Option var committish: String?
    @Option var name: String?
    @Argument var source: String?

    func run(in context: Context) throws {
        try requirePluginAdmin(context)
        guard let source, !source.isEmpty else { throw CommandError("Please specify a plugin path or git URL") }
        let plugins = Plugins(context)
        let staging = plugins.directory + "/.installing-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: plugins.directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        defer { try? FileManager.default.removeItem(atPath: staging) }
        var fetched: PluginSource?
        if source.hasPrefix("/") {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw CommandError("Plugin directory \(source) does not exist")
            }
            let copy = try Subprocess.run("/bin/cp", ["-a", source, staging])
            guard copy.status == 0 else { throw CommandError("cannot copy \(source): \(copy.stderr)") }
        } else {
            guard let reference = BuildpackReference(source), case .git(let url, let ref) = reference.source else {
                throw CommandError("Invalid plugin source: \(source) (a directory path or a git URL)")
            }
            fetched = PluginSource(url: url, ref: committish ?? ref)
            try fetched?.fetch(into: staging)
        }
        let toml = (try? String(contentsOfFile: staging + "/plugin.toml", encoding: .utf8)) ?? ""
        guard !toml.isEmpty else { throw CommandError("Not a plugin: \(source) has no plugin.toml") }
        let declared = toml.split(separator: "\n").compactMap { line -> String? in
            let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            return parts.count == 2 && parts[0] == "name" ? parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")) : nil
        }.first
        var pluginName = name ?? declared ?? URL(fileURLWithPath: source).lastPathComponent
        if pluginName.hasPrefix("dokku-") { pluginName.removeFirst(6) }
        if pluginName.hasSuffix(".git") { pluginName.removeLast(4) }
        guard PluginName.isValid(pluginName) else { throw CommandError("Invalid plugin name: \(pluginName)") }
        let target = plugins.directory + "/" + pluginName
        guard !FileManager.default.fileExists(atPath: target) else { throw CommandError("Plugin \(pluginName) is already installed") }
        try fetched?.record(in: staging)
        _ = try Subprocess.run("/bin/chmod", ["-R", "go-w", staging])
        guard rename(staging, target) == 0 else { throw CommandError("cannot install \(pluginName): \(String(cString: strerror(errno)))") }
        context.output.step("Plugin \(pluginName) installed")
        if FileManager.default.isExecutableFile(atPath: target + "/install") {
            let result = try PluginProcess.run(target + "/install", [], directory: target, input: nil, timeout: context.settings.pluginTimeout, environment: ProcessInfo.processInfo.environment)
            guard result.status == 0 else {
                try? FileManager.default.removeItem(atPath: target)
                throw CommandError("Plugin \(pluginName) failed to install: \(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
        }
    }
}

struct PluginList: Command {
    static let configuration = CommandConfiguration(commandName: "plugin:list", abstract: "List installed plugins")
    static let usage = ""
    static let takesApp = false

    func run(in context: Context) throws {
        for plugin in Plugins(context).installed() {
            let state = plugin.enabled ? "enabled" : "disabled"
            context.output.data("  \(plugin.name.padding(toLength: 24, withPad: " ", startingAt: 0)) \(plugin.version.padding(toLength: 10, withPad: " ", startingAt: 0)) \(state.padding(toLength: 9, withPad: " ", startingAt: 0)) \(plugin.description)")
        }
    }
}

/// `plugin:enable|disable|uninstall NAME`.
private func existingPlugin(_ name: String?, _ context: Context) throws -> Plugins.Plugin {
    guard let name, !name.isEmpty else { throw CommandError("Please specify a plugin") }
    guard let plugin = Plugins(context).installed().first(where: { $0.name == name }) else { throw CommandError("Plugin \(name) is not installed") }
    return plugin
}

struct PluginEnable: Command {
    static let configuration = CommandConfiguration(commandName: "plugin:enable", abstract: "Enable an installed plugin")
    static let access = Access.serverRoot
    static let usage = "<name>"
    static let takesApp = false
    @Argument var name: String?

    func run(in context: Context) throws {
        try requirePluginAdmin(context)
        let plugin = try existingPlugin(name, context)
        try? FileManager.default.removeItem(atPath: plugin.path + "/.disabled")
        context.output.step("Plugin \(plugin.name) enabled")
    }
}

struct PluginDisable: Command {
    static let configuration = CommandConfiguration(commandName: "plugin:disable", abstract: "Disable an installed plugin")
    static let access = Access.serverRoot
    static let usage = "<name>"
    static let takesApp = false
    @Argument var name: String?

    func run(in context: Context) throws {
        try requirePluginAdmin(context)
        let plugin = try existingPlugin(name, context)
        FileManager.default.createFile(atPath: plugin.path + "/.disabled", contents: nil)
        context.output.step("Plugin \(plugin.name) disabled")
    }
}

struct PluginUninstall: Command {
    static let configuration = CommandConfiguration(commandName: "plugin:uninstall", abstract: "Uninstall a plugin")
    static let access = Access.serverRoot
    static let usage = "<name>"
    static let takesApp = false
    @Argument var name: String?

    func run(in context: Context) throws {
        try requirePluginAdmin(context)
        let plugin = try existingPlugin(name, context)
        if FileManager.default.isExecutableFile(atPath: plugin.path + "/uninstall") {
            _ = try PluginProcess.run(plugin.path + "/uninstall", [], directory: plugin.path, input: nil, timeout: context.settings.pluginTimeout, environment: ProcessInfo.processInfo.environment)
        }
        try FileManager.default.removeItem(atPath: plugin.path)
        context.output.step("Plugin \(plugin.name) uninstalled")
    }
}

struct PluginInstalled: Command {
    static let configuration = CommandConfiguration(commandName: "plugin:installed", abstract: "Checks if a plugin is installed (exit status)")
    static let usage = "<name>"
    static let takesApp = false
    @Argument var name: String?

    func run(in context: Context) throws {
        // As Dokku: the answer is the exit status alone.
        guard let name, Plugins(context).installed().contains(where: { $0.name == name }) else { throw ExitCode(1) }
    }
}

struct PluginUpdate: Command {
    static let configuration = CommandConfiguration(commandName: "plugin:update", abstract: "Optionally update named plugin from git (and pin to the specified branch/commit/tag) & run update trigger for active plugins")
    static let access = Access.serverRoot
    static let usage = "[<name> [<committish>]]"
    static let takesApp = false
    @Argument var name: String?
    @Argument var committish: String?

    func run(in context: Context) throws {
        try requirePluginAdmin(context)
        let plugins = Plugins(context)
        if let name {
            guard name.wholeMatch(of: /[0-9a-zA-Z_-]+/) != nil else { throw CommandError("Invalid plugin name specified") }
            if Help.namespaces[name] != nil, !plugins.installed().contains(where: { $0.name == name }) {
                throw CommandError("Cannot trigger plugin:update against core plugin, please update dokkulite instead")
            }
            guard let plugin = plugins.enabled.first(where: { $0.name == name }) else {
                throw CommandError("Specified plugin not enabled or installed")
            }
            guard var source = PluginSource.recorded(in: plugin.path) else {
                throw CommandError("Plugin \(name) was installed from a directory, not from git: install it again to update it")
            }
            if let committish { source.ref = committish }
            try replace(plugin, from: source, plugins: plugins, context: context)
        } else {
            for plugin in plugins.enabled {
                guard let source = PluginSource.recorded(in: plugin.path) else { continue }
                try replace(plugin, from: source, plugins: plugins, context: context)
            }
        }
        try plugins.fire("update", [])
    }

    /// Fetches the plugin again and puts the new tree in place of the old one.
    private func replace(_ plugin: Plugins.Plugin, from source: PluginSource, plugins: Plugins, context: Context) throws {
        let staging = plugins.directory + "/.updating-\(UUID().uuidString.prefix(8))"
        let old = staging + "-old"
        defer {
            try? FileManager.default.removeItem(atPath: staging)
            try? FileManager.default.removeItem(atPath: old)
        }
        try source.fetch(into: staging)
        guard FileManager.default.fileExists(atPath: staging + "/plugin.toml") else {
            throw CommandError("Not a plugin: \(source.url) has no plugin.toml")
        }
        try source.record(in: staging)
        _ = try Subprocess.run("/bin/chmod", ["-R", "go-w", staging])
        guard rename(plugin.path, old) == 0 else { throw CommandError("cannot update \(plugin.name): \(String(cString: strerror(errno)))") }
        guard rename(staging, plugin.path) == 0 else {
            let reason = String(cString: strerror(errno))
            rename(old, plugin.path)
            throw CommandError("cannot update \(plugin.name): \(reason)")
        }
        context.output.step("Plugin \(plugin.name) updated")
    }
}

struct PluginTrigger: Command {
    static let configuration = CommandConfiguration(commandName: "plugin:trigger", abstract: "Fire a trigger by hand (for debugging plugins)")
    static let access = Access.serverRoot
    static let usage = "<trigger> [<args>...]"
    static let takesApp = false
    @Argument var trigger: String?
    @Argument(parsing: .allUnrecognized) var arguments: [String] = []

    func run(in context: Context) throws {
        guard let trigger, !trigger.isEmpty else { throw CommandError("Please specify a trigger") }
        try CoreTriggers.run(trigger, arguments, in: context)
        try Plugins(context).fire(trigger, arguments)
    }
}
