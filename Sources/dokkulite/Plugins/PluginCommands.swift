import ArgumentParser
import Builder
import Foundation

/// Installing plugins changes what runs as root: only root on the server may do it.
private func requirePluginAdmin(_ context: Context) throws {
    guard !context.settings.overSSH, getuid() == 0 else {
        throw CommandError("plugin:install, enable, disable and uninstall must be run as root on the server")
    }
}

struct PluginInstall: Command {
    static let configuration = CommandConfiguration(commandName: "plugin:install", abstract: "Install a plugin from a directory or a git URL")
    static let access = Access.serverRoot
    static let usage = "(<path>|<git-url>) [--name NAME]"
    static let takesApp = false
    @Option var name: String?
    @Argument var source: String?

    func run(in context: Context) throws {
        try requirePluginAdmin(context)
        guard let source, !source.isEmpty else { throw CommandError("Please specify a plugin path or git URL") }
        let plugins = Plugins(context)
        let staging = plugins.directory + "/.installing-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: plugins.directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        defer { try? FileManager.default.removeItem(atPath: staging) }
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
            let clone = try GitRepository.clone(url, into: staging + ".git", bare: true)
            defer { try? FileManager.default.removeItem(atPath: staging + ".git") }
            try clone.extract(try clone.resolve(ref ?? "HEAD"), into: staging)
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
