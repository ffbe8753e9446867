import ArgumentParser
import Beneath
import Foundation
import Supervisor

/// Host directories bound into an app's processes (`storage:mount`), kept one per line as
/// `HOST:CONTAINER` in the `storage/mounts` property; they become `BindPaths=` on the app's
/// units at the next deploy or restart, as in Dokku.
/// The rules every storage mount is held to, and the colon form (`HOST:CONTAINER`) of
/// `storage:mount`. Mounts are attachments of named entries (`StorageRegistry`); they
/// become `BindPaths=` on the app's units at the next deploy or restart, as in Dokku.
enum StorageMounts {
    struct Mount: Equatable {
        var host_path: String
        var container_path: String
        var readonly = false
        var volume_options: String?

        var text: String { "\(host_path):\(container_path)" }
    }

    /// Parses `HOST:CONTAINER` (a trailing `:options` is accepted and ignored). HOST is a
    /// path, or a name (`[A-Za-z0-9_.-]`) as Docker's named volumes are: a directory of
    /// that name under the storage root.
    static func parse(_ text: String) throws -> Mount {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        func isName(_ word: String) -> Bool {
            !word.isEmpty && word.first != "." && word.utf8.allSatisfy { (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0) || $0 == 45 || $0 == 95 || $0 == 46 }
        }
        guard parts.count >= 2, parts[0].hasPrefix("/") || isName(parts[0]), parts[1].hasPrefix("/") else {
            throw CommandError("Storage path must be two valid paths divided by colon.")
        }
        // Lexically only: resolving links here would follow one an app planted.
        func clean(_ path: String) -> String {
            var parts: [Substring] = []
            for part in path.split(separator: "/") where part != "." {
                if part == ".." { _ = parts.popLast() } else { parts.append(part) }
            }
            return "/" + parts.joined(separator: "/")
        }
        var options = parts.count > 2 ? parts[2...].joined(separator: ":").split(separator: ",").map(String.init) : []
        let readonly = options.contains("ro")
        options.removeAll { $0 == "ro" }
        return Mount(
            host_path: parts[0].hasPrefix("/") ? clean(parts[0]) : parts[0], container_path: clean(parts[1]), readonly: readonly,
            volume_options: options.isEmpty ? nil : options.joined(separator: ","))
    }

    /// The directory on this machine a mount's host side names.
    static func hostDirectory(_ mount: Mount, paths: Paths) -> String {
        mount.host_path.hasPrefix("/") ? mount.host_path : paths.storage + "/" + mount.host_path
    }

    /// Top-level directories of the server a mount may not go into: systemd makes a missing
    /// mount point on the server's own filesystem, as root, so a mount there would have root
    /// create directories among the system's files. `/app` (the app's own tree) and new
    /// top-level names such as `/storage` or `/uploads` are where mounts go.
    static let systemDirectories: Set<String> = [
        "bin", "boot", "dev", "etc", "home", "lib", "lib32", "lib64", "libx32", "lost+found", "opt", "proc", "root", "run",
        "sbin", "snap", "sys", "tmp", "usr", "var",
    ]

    /// Why a mount's container side cannot be used, or nil.
    static func containerPathProblem(_ path: String) -> String? {
        let components = path.split(separator: "/")
        guard let first = components.first else { return "Container path \(path) is reserved" }
        if path == "/app" { return "Container path \(path) is reserved" }
        if components.contains(where: { $0 == ".." || $0 == "." }) { return "Container path \(path) must not contain . or .." }
        if systemDirectories.contains(String(first)) {
            return "Container path \(path) is reserved: mount under /app or a top-level directory of your own (such as /storage)"
        }
        return nil
    }

    /// Why the host side of a mount cannot be bound into an app's processes, or nil. systemd
    /// resolves the path as root when the process starts: a symbolic link, or a directory
    /// anyone but root could change, on the way would let someone else choose what is bound.
    static func hostPathProblem(_ host: String) -> String? {
        Beneath.isRootControlled(host, alsoTrusting: StorageRegistry.trustedOwners) ? nil
            : "Host path \(host) must be a directory reached through directories only root can change, without symbolic links (a directory under the storage root is)"
    }
}

struct StorageEnsureDirectory: Command {
    static let configuration = CommandConfiguration(commandName: "storage:ensure-directory", abstract: "[DEPRECATED] use storage:create instead")
    static let usage = "[--chown herokuish|heroku|paketo|root|false|UID|APP] <directory-name>"
    static let takesApp = false
    @Option(parsing: .unconditional) var chown = "herokuish"
    @Argument var name: String?

    func run(in context: Context) throws {
        context.output.warn("Deprecated: please use 'storage:create' instead of 'storage:ensure-directory'")
        guard let name, !name.isEmpty else { throw CommandError("Please specify a directory to create") }
        guard name.utf8.allSatisfy({ (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0) || $0 == 45 || $0 == 95 }) else {
            throw CommandError("Directory can only contain the following set of characters: [A-Za-z0-9_-]")
        }
        let owner = try self.owner(context)
        let registry = StorageRegistry(context: context)
        context.output.step("Ensuring \(registry.defaultHostPath(name)) exists")
        let (fd, _) = try registry.makeInStorage(name, mode: 0o750)
        defer { close(fd) }
        if let owner {
            context.output.detail("Setting directory ownership to \(owner.uid):\(owner.gid)")
            fchown(fd, owner.uid, owner.gid)
        }
        context.output.detail("Directory ready for mounting")
    }

    /// The owner `--chown` asks for, nil for `false`: a Dokku name, a numeric id, or (as
    /// dokkulite adds) an app, whose processes run as its own user.
    private func owner(_ context: Context) throws -> (uid: uid_t, gid: gid_t)? {
        if chown == "false" { return nil }
        if let id = (try? StorageEntry.chownID(chown)) ?? nil { return (id, id) }
        guard let app = AppName(chown), try context.store().appExists(app),
            let user = try AppUser.name(of: app, store: context.store()), let ids = AppUser.uid(of: user)
        else { throw CommandError("Unsupported chown permissions") }
        return ids
    }
}

/// `key=value` words of a repeatable flag (`--annotation`, `--label`) as a map.
private func keyValuePairs(_ words: [String]) throws -> [String: String]? {
    guard !words.isEmpty else { return nil }
    var map: [String: String] = [:]
    for word in words {
        guard let equals = word.firstIndex(of: "="), equals != word.startIndex else { throw CommandError("expected key=value, got \"\(word)\"") }
        map[String(word[..<equals])] = String(word[word.index(after: equals)...])
    }
    return map
}

/// What storage:create and storage:set share: the checks of an entry's fields, and making
/// its directory as they ask.
extension StorageRegistry {
    /// Checks an entry before it is saved: only entries on this server's disk, and the
    /// directory flags only where dokkulite makes the directory (the default path).
    func validate(_ entry: StorageEntry) throws {
        if let problem = StorageEntry.nameProblem(entry.name, allowLegacy: entry.name.hasPrefix(StorageEntry.legacyPrefix)) {
            throw CommandError(problem)
        }
        guard entry.scheduler == StorageEntry.dockerLocal else {
            throw CommandError("storage entry \"\(entry.name)\" has unsupported scheduler \"\(entry.scheduler)\" (dokkulite keeps storage on this server: docker-local)")
        }
        if let policy = entry.reclaim_policy, policy != "Retain", policy != "Delete" {
            throw CommandError("storage entry \"\(entry.name)\" has unsupported reclaim policy \"\(policy)\"")
        }
        for (flag, value) in [("--size", entry.size), ("--storage-class-name", entry.storage_class), ("--access-mode", entry.access_mode)] where value != nil {
            throw CommandError("storage entry \"\(entry.name)\" (docker-local) does not accept \(flag)")
        }
        if let mode = entry.mode { _ = try StorageEntry.normalizedMode(mode) }
        if let chown = entry.chown { _ = try StorageEntry.chownID(chown) }
        let host = entry.host_path ?? ""
        guard host.hasPrefix("/") ? !host.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }) : StorageMounts.isVolumeName(host) else {
            throw CommandError("storage entry \"\(entry.name)\" host_path must be an absolute path or a docker named volume token, got \"\(host)\"")
        }
        let isDefault = host == defaultHostPath(entry.name)
        if entry.reclaim_policy == "Delete", !isDefault {
            throw CommandError("storage entry \"\(entry.name)\" (docker-local) only accepts --reclaim-policy Delete on the default host path (\(defaultHostPath(entry.name)))")
        }
        for (flag, used) in [("--chown", entry.chown.map { $0 != "false" } ?? false), ("--mode", entry.mode != nil)] where used && !isDefault {
            throw CommandError("\(flag) is only supported when the storage entry uses the default host path (\(defaultHostPath(entry.name))); omit \(flag) and manage \(host) manually")
        }
        // Over ssh, server paths are not inputs: an entry's directory is under the storage root.
        if context.settings.remoteCaller, host.hasPrefix("/"), relativeToStorage(host) == nil {
            throw CommandError("Host path \(host) is outside the storage root \(paths.storage): over ssh, an entry's directory is there (omit the path)")
        }
    }

    /// Makes the entry's directory when missing, then gives it the mode and owner the entry
    /// asks for, re-applied on every run so `storage:create` again converges it.
    func ensureDirectory(_ entry: StorageEntry) throws {
        let directory = hostDirectory(entry)
        if let relative = relativeToStorage(directory) {
            let (fd, created) = try makeInStorage(relative)
            defer { close(fd) }
            if created { context.output.detail("Created \(directory)") }
            if let mode = entry.mode {
                context.output.detail("Setting directory mode to \(mode)")
                fchmod(fd, mode_t(try StorageEntry.normalizedMode(mode), radix: 8) ?? 0o755)
            }
            if let chown = entry.chown, let id = try StorageEntry.chownID(chown) {
                context.output.detail("Setting directory ownership to \(id):\(id)")
                fchown(fd, id, id)
            }
            return
        }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw CommandError("storage entry path \(directory) exists but is not a directory") }
            return
        }
        // As Docker makes a missing bind source: root's, never handed to an app (a
        // directory elsewhere on the server is the administrator's to give away).
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        } catch {
            throw CommandError("unable to create \(directory): \(error.localizedDescription)")
        }
        context.output.detail("Created \(directory)")
    }
}

extension StorageMounts {
    /// A Docker named-volume token (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`): a directory of that
    /// name under the storage root.
    static func isVolumeName(_ word: String) -> Bool {
        let bytes = Array(word.utf8)
        func alphanumeric(_ byte: UInt8) -> Bool { (48...57).contains(byte) || (65...90).contains(byte) || (97...122).contains(byte) }
        return bytes.count >= 2 && alphanumeric(bytes[0]) && bytes.dropFirst().allSatisfy { alphanumeric($0) || $0 == 95 || $0 == 46 || $0 == 45 }
    }
}

struct StorageCreate: Command {
    static let configuration = CommandConfiguration(commandName: "storage:create", abstract: "Register a named storage entry")
    static let usage = "<name> [<path>] [flags]"
    static let takesApp = false
    @Option var scheduler = StorageEntry.dockerLocal
    @Option var size: String?
    @Option(name: .customLong("access-mode")) var accessMode: String?
    @Option(name: .customLong("storage-class-name")) var storageClass: String?
    @Option var namespace: String?
    @Option(parsing: .unconditional) var chown: String?
    @Option(parsing: .unconditional) var mode: String?
    @Option(name: .customLong("reclaim-policy")) var reclaimPolicy: String?
    @Option(parsing: .unconditionalSingleValue) var annotation: [String] = []
    @Option(parsing: .unconditionalSingleValue) var label: [String] = []
    @Argument var name: String?
    @Argument var path: String?

    func run(in context: Context) throws {
        let name = name ?? ""
        if let problem = StorageEntry.nameProblem(name) { throw CommandError(problem) }
        let registry = StorageRegistry(context: context)
        var entry = StorageEntry(name: name, hostPath: path.map { StorageMounts.isVolumeName($0) ? $0 : (try? StorageMounts.parse($0 + ":/x").host_path) ?? $0 } ?? registry.defaultHostPath(name))
        entry.scheduler = scheduler
        entry.size = size
        entry.access_mode = accessMode
        entry.storage_class = storageClass
        entry.namespace = namespace
        entry.chown = chown
        entry.mode = try mode.map(StorageEntry.normalizedMode)
        entry.reclaim_policy = reclaimPolicy
        entry.annotations = try keyValuePairs(annotation)
        entry.labels = try keyValuePairs(label)
        try registry.validate(entry)
        if let existing = try registry.entry(name) {
            if existing.host_path != entry.host_path, !(try registry.appsUsing(name).isEmpty) {
                throw CommandError("storage entry \"\(name)\" is mounted with the path \(existing.host_path ?? ""); unmount it before giving it another")
            }
            context.output.step("Storage entry \(name) already exists, leaving in place")
        }
        try registry.ensureDirectory(entry)
        try registry.save(entry)
        context.output.step("Storage entry \(name) created")
    }
}

struct StorageDestroy: Command {
    static let configuration = CommandConfiguration(commandName: "storage:destroy", abstract: "Remove a named storage entry (must be unmounted from every app first)")
    static let usage = "<name> [--force] [--destroy-host-dir]"
    static let takesApp = false
    @Flag var force = false
    @Flag(name: .customLong("destroy-host-dir")) var destroyHostDirectory = false
    @Argument var name: String?

    func run(in context: Context) throws {
        let registry = StorageRegistry(context: context)
        let entry = try registry.existingEntry(name)
        let using = try registry.appsUsing(entry.name)
        guard using.isEmpty else {
            throw CommandError("storage entry \"\(entry.name)\" is still mounted by app(s): \(using.joined(separator: ", "))")
        }
        let directory = registry.hostDirectory(entry)
        let isDefault = entry.host_path == registry.defaultHostPath(entry.name)
        var removeDirectory = false
        if destroyHostDirectory || entry.reclaim_policy == "Delete" {
            if isDefault {
                removeDirectory = true
            } else if destroyHostDirectory {
                throw CommandError("--destroy-host-dir is only supported when the storage entry uses the default host path (\(registry.defaultHostPath(entry.name))); omit --destroy-host-dir and manage \(directory) manually")
            } else {
                context.output.warn("Leaving \(directory) in place; reclaim policy Delete only removes the default host path")
            }
        }
        if !(force || context.force) {
            if removeDirectory {
                context.output.warn("Storage entry \(entry.name) is backed by \(directory), which will be removed along with its contents.")
            }
            try Confirmation.require(entry.name, action: "destroy storage entry \(entry.name).", output: context.output)
        }
        if removeDirectory {
            do {
                try Beneath.removeTree(directory)
            } catch {
                throw CommandError("unable to remove \(directory): \(error.reason)")
            }
            context.output.detail("Removed \(directory)")
        }
        try registry.delete(entry.name)
        context.output.step("Storage entry \(entry.name) destroyed")
    }
}

struct StorageInfo: Command {
    static let configuration = CommandConfiguration(commandName: "storage:info", abstract: "Show details for one storage entry")
    static let usage = "<name> [--format text|json]"
    static let takesApp = false
    @Option var format = "text"
    @Argument var name: String?

    func run(in context: Context) throws {
        let entry = try StorageRegistry(context: context).existingEntry(name)
        switch format {
        case "json":
            context.output.data(JSON.encode(entry))
        case "text":
            context.output.step("Storage entry \(entry.name)")
            let rows: [(String, String?)] = [
                ("Scheduler", entry.scheduler), ("Host path", entry.host_path), ("Chown", entry.chown), ("Mode", entry.mode),
                ("Reclaim policy", entry.reclaim_policy), ("Namespace", entry.namespace),
            ]
            for case let (label, value?) in rows {
                context.output.detail((label + ":").padding(toLength: 18, withPad: " ", startingAt: 0) + value)
            }
        default:
            throw CommandError("Invalid --format value specified")
        }
    }
}

struct StorageListEntries: Command {
    static let configuration = CommandConfiguration(commandName: "storage:list-entries", abstract: "List registered storage entries")
    static let usage = "[--scheduler s] [--format text|json]"
    static let takesApp = false
    @Option var scheduler: String?
    @Option var format = "text"

    func run(in context: Context) throws {
        let entries = try StorageRegistry(context: context).entries().filter { scheduler == nil || $0.scheduler == scheduler }
        switch format {
        case "json":
            context.output.data(JSON.encode(entries))
        case "text":
            guard !entries.isEmpty else {
                context.output.step("No storage entries registered")
                return
            }
            context.output.step("Storage entries:")
            for entry in entries {
                context.output.detail("\(entry.name)\t\(entry.scheduler)\t\(entry.host_path ?? "")")
            }
        default:
            throw CommandError("Invalid --format value specified")
        }
    }
}

struct StorageSet: Command {
    static let configuration = CommandConfiguration(commandName: "storage:set", abstract: "Update a storage entry in place")
    static let usage = "<name> <property> [<value>]"
    static let takesApp = false
    @Option var size: String?
    @Option(name: .customLong("access-mode")) var accessMode: String?
    @Option(name: .customLong("storage-class-name")) var storageClass: String?
    @Option var namespace: String?
    @Option(parsing: .unconditional) var chown: String?
    @Option(parsing: .unconditional) var mode: String?
    @Option(name: .customLong("reclaim-policy")) var reclaimPolicy: String?
    @Option(parsing: .unconditionalSingleValue) var annotation: [String] = []
    @Option(parsing: .unconditionalSingleValue) var label: [String] = []
    @Argument var name: String?
    @Argument var property: String?
    @Argument var value: String?

    static let properties = ["access-mode", "chown", "mode", "namespace", "reclaim-policy", "size", "storage-class-name"]

    func run(in context: Context) throws {
        var changes: [(String, String)] = [
            ("access-mode", accessMode), ("chown", chown), ("mode", mode), ("namespace", namespace), ("reclaim-policy", reclaimPolicy),
            ("size", size), ("storage-class-name", storageClass),
        ].compactMap { key, value in value.map { (key, $0) } }
        let usedMapFlags = !annotation.isEmpty || !label.isEmpty
        let usedFlags = !changes.isEmpty || usedMapFlags
        if let property, !property.isEmpty, usedFlags {
            throw CommandError("storage:set accepts either a property and a value or flags, not both")
        }
        if (property ?? "").isEmpty, !usedFlags { throw CommandError("No property specified") }
        if !changes.isEmpty { context.output.warn("Deprecated: please use 'storage:set <name> <property> [<value>]' instead of flags") }
        if usedMapFlags {
            context.output.warn("Deprecated: please use 'storage:annotations:set' and 'storage:labels:set' instead of --annotation and --label")
        }
        if let property, !property.isEmpty { changes = [(property, value ?? "")] }

        let registry = StorageRegistry(context: context)
        var entry = try registry.existingEntry(name)
        var touchesDirectory = false
        for (property, value) in changes {
            let value: String? = value.isEmpty ? nil : value
            switch property {
            case "access-mode", "storage-class-name":
                guard value == (property == "access-mode" ? entry.access_mode : entry.storage_class) else {
                    throw CommandError("storage:set cannot change \(property) in place; recreate the entry")
                }
            case "size": entry.size = value
            case "namespace": entry.namespace = value
            case "chown": entry.chown = value
            case "mode": entry.mode = try value.map(StorageEntry.normalizedMode)
            case "reclaim-policy": entry.reclaim_policy = value
            default:
                throw CommandError("Invalid property specified, valid properties include: \(Self.properties.joined(separator: ", "))")
            }
            touchesDirectory = touchesDirectory || property == "chown" || property == "mode"
        }
        if usedMapFlags {
            entry.annotations = try keyValuePairs(annotation)
            entry.labels = try keyValuePairs(label)
        }
        try registry.validate(entry)
        if touchesDirectory { try registry.ensureDirectory(entry) }
        try registry.save(entry)
        context.output.step("Storage entry \(entry.name) updated")
    }
}

/// `storage:annotations:*` and `storage:labels:*`: free-form key/value maps on an entry
/// (Kubernetes metadata in Dokku; kept and reported here, for the tools that read them).
enum StorageEntryMap: String {
    case annotations, labels

    var singular: String { self == .annotations ? "annotation" : "label" }
    var reportType: String { "storage-\(rawValue)" }
    var rowLabel: String { self == .annotations ? "Annotation" : "Label" }

    func get(_ entry: StorageEntry) -> [String: String] { (self == .annotations ? entry.annotations : entry.labels) ?? [:] }

    func set(_ entry: inout StorageEntry, _ map: [String: String]) {
        if self == .annotations { entry.annotations = map.isEmpty ? nil : map } else { entry.labels = map.isEmpty ? nil : map }
    }

    func set(name: String?, key: String?, value: String?, context: Context) throws {
        guard let name, !name.isEmpty else { throw CommandError("storage entry name is required") }
        guard let key, !key.isEmpty else { throw CommandError("No \(singular) key specified") }
        let registry = StorageRegistry(context: context)
        var entry = try registry.existingEntry(name)
        var map = get(entry)
        if let value, !value.isEmpty {
            map[key] = value
            context.output.section("Setting \(singular) \(key) to \(value)")
        } else {
            map[key] = nil
            context.output.section("Unsetting \(singular) \(key)")
        }
        set(&entry, map)
        try registry.save(entry)
    }

    func report(_ words: [String], context: Context) throws {
        let arguments = try ReportArguments(words)
        let format = arguments.format ?? "stdout"
        guard ["stdout", "text", "json"].contains(format) else { throw CommandError("Invalid format: \(format)") }
        if format == "json", arguments.infoFlag != nil {
            throw CommandError("--format flag cannot be specified when specifying an info flag")
        }
        let registry = StorageRegistry(context: context)
        if let name = arguments.app {
            try render(try registry.existingEntry(name), format: format, infoFlag: arguments.infoFlag, context: context)
            return
        }
        if arguments.infoFlag != nil {
            throw CommandError("storage:\(rawValue):report requires a storage entry name when an info flag is specified")
        }
        let entries = try registry.entries()
        if entries.isEmpty { context.output.step("No storage entries registered") }
        for entry in entries { try render(entry, format: format, infoFlag: nil, context: context) }
    }

    private func render(_ entry: StorageEntry, format: String, infoFlag: String?, context: Context) throws {
        let map = get(entry)
        let keys = map.keys.sorted()
        if let infoFlag {
            let flags = keys.map { "--\(reportType).\($0)" }
            guard let index = flags.firstIndex(of: infoFlag) else {
                throw CommandError("Invalid flag passed, valid flags: \(flags.joined(separator: ", "))")
            }
            context.output.data(map[keys[index]] ?? "")
            return
        }
        if format == "json" {
            context.output.data(JSON.encode(map))
            return
        }
        context.output.section("\(entry.name) \(rawValue) information")
        let labels = keys.map { "\(rowLabel) \($0):" }
        let width = max(31, labels.map(\.count).max() ?? 0)
        for (label, key) in zip(labels, keys) {
            context.output.detail(label.padding(toLength: width, withPad: " ", startingAt: 0) + (map[key] ?? ""))
        }
    }
}

struct StorageAnnotationsSet: Command {
    static let configuration = CommandConfiguration(commandName: "storage:annotations:set", abstract: "Set or clear an annotation on a storage entry")
    static let usage = "<name> <key> [<value>]"
    static let takesApp = false
    @Argument var name: String?
    @Argument var key: String?
    @Argument var value: String?

    func run(in context: Context) throws { try StorageEntryMap.annotations.set(name: name, key: key, value: value, context: context) }
}

struct StorageLabelsSet: Command {
    static let configuration = CommandConfiguration(commandName: "storage:labels:set", abstract: "Set or clear a label on a storage entry")
    static let usage = "<name> <key> [<value>]"
    static let takesApp = false
    @Argument var name: String?
    @Argument var key: String?
    @Argument var value: String?

    func run(in context: Context) throws { try StorageEntryMap.labels.set(name: name, key: key, value: value, context: context) }
}

struct StorageAnnotationsReport: Command {
    static let configuration = CommandConfiguration(commandName: "storage:annotations:report", abstract: "Displays annotations for one or more storage entries")
    static let usage = "[<name>] [<flag>]"
    static let takesApp = false
    @Argument(parsing: .allUnrecognized) var words: [String] = []

    func run(in context: Context) throws { try StorageEntryMap.annotations.report(words, context: context) }
}

struct StorageLabelsReport: Command {
    static let configuration = CommandConfiguration(commandName: "storage:labels:report", abstract: "Displays labels for one or more storage entries")
    static let usage = "[<name>] [<flag>]"
    static let takesApp = false
    @Argument(parsing: .allUnrecognized) var words: [String] = []

    func run(in context: Context) throws { try StorageEntryMap.labels.report(words, context: context) }
}

struct StorageMount: Command {
    static let configuration = CommandConfiguration(commandName: "storage:mount", abstract: "Create a new bind mount (applied at the next deploy or restart)")
    static let usage = "<app> <host-dir:container-dir>"
    @Option(name: .customLong("container-dir")) var containerDirectory: String?
    @Option var phase: [String] = []
    @Option(name: .customLong("process-type")) var processType: String?
    @Option(name: .customLong("volume-subpath")) var subpath: String?
    @Flag(name: .customLong("volume-readonly")) var readonly = false
    @Option(name: .customLong("volume-chown")) var volumeChown: String?
    @Option(name: .customLong("volume-options")) var volumeOptions: String?
    @Argument var app: String?
    @Argument var mount: String?

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        let registry = StorageRegistry(context: context)
        let word = mount ?? ""
        if word.contains(":") || word.isEmpty {
            try mountColonForm(app, word, registry: registry, context: context)
            return
        }
        guard let entry = try registry.entry(word) else {
            throw CommandError("storage entry \"\(word)\" does not exist; create it first with `dokku storage:create`", kind: .notFound)
        }
        guard let containerDirectory, !containerDirectory.isEmpty else {
            throw CommandError("--container-dir is required when mounting a named storage entry")
        }
        // Over ssh, storage lives under the storage root: an entry the administrator made
        // elsewhere is mounted from the console.
        if context.settings.remoteCaller, registry.relativeToStorage(registry.hostDirectory(entry)) == nil {
            throw CommandError("storage entry \"\(entry.name)\" is outside the storage root \(context.settings.paths.storage): mount it from the server's console")
        }
        let container = try StorageMounts.parse("/x:" + containerDirectory).container_path
        if let problem = StorageMounts.containerPathProblem(container) { throw CommandError(problem) }
        let phases = phase.isEmpty ? StorageAttachment.phases : phase.flatMap { $0.split(separator: ",").map(String.init) }
        for phase in phases where !StorageAttachment.phases.contains(phase) {
            throw CommandError("attachment phase \"\(phase)\" is not supported (must be \"deploy\" or \"run\")")
        }
        if let subpath, !subpath.isEmpty, subpath.hasPrefix("/") || subpath.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }) {
            throw CommandError("--volume-subpath \(subpath) must be a path inside the entry, without . or ..")
        }
        if let volumeChown { _ = try StorageEntry.chownID(volumeChown) }
        try prepare(registry.hostDirectory(entry), for: app, registry: registry, context: context)
        let attachment = StorageAttachment(
            entry_name: entry.name, container_path: container, phases: Array(Set(phases)).sorted(),
            process_type: processType.flatMap { $0.isEmpty ? nil : $0 } ?? StorageAttachment.anyProcessType,
            subpath: subpath.flatMap { $0.isEmpty ? nil : $0 }, readonly: readonly ? true : nil,
            volume_options: volumeOptions.flatMap { $0.isEmpty ? nil : $0 }, volume_chown: volumeChown)
        var attachments = try registry.attachments(app)
        if let index = attachments.firstIndex(where: { $0.sameMount(as: attachment) }) {
            attachments[index] = attachment
            try registry.saveAttachments(app, attachments)
            context.output.step("Storage entry \(entry.name) mount at \(container) on \(app) updated")
        } else {
            attachments.append(attachment)
            try registry.saveAttachments(app, attachments)
            context.output.step("Storage entry \(entry.name) mounted at \(container) on \(app)")
        }
    }

    /// `HOST:CONTAINER[:OPTIONS]`: the entry Dokku makes up for HOST, attached at CONTAINER.
    private func mountColonForm(_ app: AppName, _ word: String, registry: StorageRegistry, context: Context) throws {
        let mount = try StorageMounts.parse(word)
        let paths = context.settings.paths
        let host = mount.host_path.hasPrefix("/") ? mount.host_path : paths.storage + "/" + mount.host_path
        func inside(_ path: String, _ root: String) -> Bool { path == root || path.hasPrefix(root + "/") }
        let inStorage = inside(host, paths.storage) && host != paths.storage
        if inside(host, paths.root) && !inStorage {
            throw CommandError("Host path \(mount.host_path) lies inside dokkulite's own state (\(paths.root)); use a directory under \(paths.storage)")
        }
        if host == "/" {
            throw CommandError("Host path / cannot be mounted")
        }
        // Over ssh, server paths are not inputs: storage lives under the storage root.
        if context.settings.remoteCaller, !inStorage {
            throw CommandError("Host path \(mount.host_path) is outside the storage root \(paths.storage): over ssh, mount a directory there (storage:create NAME) or a bare name")
        }
        // The app's own tree is /app, as on Heroku: a mount may go inside it
        // (`/app/storage`, Dokku's example), not over it.
        if let problem = StorageMounts.containerPathProblem(mount.container_path) {
            throw CommandError(problem)
        }
        let entry = StorageEntry.legacy(host: mount.host_path)
        if let existing = try registry.entry(entry.name), existing.host_path != entry.host_path {
            throw CommandError("storage entry \(entry.name) names another path (\(existing.host_path ?? "")); not mounting \(mount.host_path)")
        }
        let attachment = StorageAttachment(
            entry_name: entry.name, container_path: mount.container_path, phases: StorageAttachment.phases,
            process_type: StorageAttachment.anyProcessType, readonly: mount.readonly ? true : nil, volume_options: mount.volume_options)
        var attachments = try registry.attachments(app)
        guard !attachments.contains(where: { $0.sameMount(as: attachment) }) else { throw CommandError("Mount path already exists.") }
        let created = try prepare(host, for: app, registry: registry, context: context)
        do {
            if try registry.entry(entry.name) == nil { try registry.save(entry) }
            attachments.append(attachment)
            try registry.saveAttachments(app, attachments)
        } catch {
            // Only the empty directory just made, never a tree: rmdir follows no link.
            if created { rmdir(host) }
            throw error
        }
    }

    /// Makes (or takes) the directory a mount binds, and checks that nobody but root can
    /// change what it names. One under the storage root is made without following links
    /// and given to the app's user; one made for a buildpack's user (Dokku's `--chown
    /// herokuish`) becomes the app's own user's, the one its processes run as here.
    /// Returns whether it was made.
    @discardableResult
    private func prepare(_ host: String, for app: AppName, registry: StorageRegistry, context: Context) throws -> Bool {
        var created = false
        if let relative = registry.relativeToStorage(host) {
            let owner = try AppUser.name(of: app, store: context.store()).flatMap(AppUser.uid(of:))
            let (fd, made) = try registry.makeInStorage(relative, mode: 0o750)
            defer { close(fd) }
            created = made
            var info = stat()
            guard fstat(fd, &info) == 0 else { throw CommandError("Host path \(host) cannot be read") }
            if let owner, made || StorageEntry.buildpackUsers.values.contains(info.st_uid) {
                if !made { context.output.detail("Setting directory ownership to \(owner.uid):\(owner.gid), the user \(app) runs as") }
                fchown(fd, owner.uid, owner.gid)
            }
        } else {
            var isDirectory: ObjCBool = false
            if !FileManager.default.fileExists(atPath: host, isDirectory: &isDirectory) {
                // As Docker makes a missing bind source: root's, never handed to the app (a
                // directory elsewhere on the server is the administrator's to give away).
                do {
                    try FileManager.default.createDirectory(atPath: host, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
                    created = true
                } catch {
                    throw CommandError("Host path \(host) could not be created: \(error.localizedDescription)")
                }
            } else if !isDirectory.boolValue {
                throw CommandError("Host path \(host) is not a directory")
            }
        }
        if let problem = StorageMounts.hostPathProblem(host) {
            if created { rmdir(host) }
            throw CommandError(problem)
        }
        return created
    }
}

struct StorageUnmount: Command {
    static let configuration = CommandConfiguration(commandName: "storage:unmount", abstract: "Remove an existing bind mount")
    static let usage = "<app> <host-dir:container-dir>"
    @Option(name: .customLong("container-dir")) var containerDirectory: String?
    @Argument var app: String?
    @Argument var mount: String?

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        let registry = StorageRegistry(context: context)
        var attachments = try registry.attachments(app)
        let word = mount ?? ""
        if word.contains(":") || word.isEmpty {
            let mount = try StorageMounts.parse(word)
            let name = StorageEntry.legacy(host: mount.host_path).name
            guard let index = attachments.firstIndex(where: { $0.entry_name == name && $0.container_path == mount.container_path }) else {
                throw CommandError("Mount path does not exist.")
            }
            attachments.remove(at: index)
            try registry.saveAttachments(app, attachments)
            return
        }
        let container = containerDirectory.flatMap { $0.isEmpty ? nil : $0 }
        let matches = attachments.filter { $0.entry_name == word && (container == nil || $0.container_path == container) }
        if matches.isEmpty {
            throw CommandError("storage entry \"\(word)\" is not mounted\(container.map { " at \"\($0)\"" } ?? "") on app \"\(app)\"")
        }
        if matches.count > 1, container == nil {
            let paths = matches.map(\.container_path).sorted().joined(separator: ", ")
            throw CommandError("storage entry \"\(word)\" is mounted at multiple paths on app \"\(app)\" (\(paths)); pass --container-dir to disambiguate")
        }
        attachments.removeAll { $0.entry_name == word && (container == nil || $0.container_path == container) }
        try registry.saveAttachments(app, attachments)
        context.output.step("Storage entry \(word) unmounted from \(app)")
    }
}

struct StorageList: Command {
    static let configuration = CommandConfiguration(commandName: "storage:list", abstract: "List bind mounts for app's container(s) (host:container)")
    static let usage = "<app> [--format text|json]"
    @Option var format = "text"
    @Argument var app: String?

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        guard format == "text" || format == "json" else { throw CommandError("Invalid --format value specified") }
        let rows = try StorageRegistry(context: context).rows(app, phase: "deploy")
        if format == "json" {
            context.output.data(JSON.encode(rows))
            return
        }
        context.output.step("\(app) volume bind-mounts:")
        for row in rows {
            if context.output.quiet { context.output.data(row.text) } else { context.output.detail(row.text) }
        }
    }
}

struct StorageReport: Command {
    static let configuration = CommandConfiguration(commandName: "storage:report", abstract: "Displays a storage report for one or more apps")
    static let usage = "[<app>] [<flag>]"
    @Argument(parsing: .allUnrecognized) var words: [String] = []

    /// The global report, as Dokku's: every entry and the apps that mount it.
    private struct EntryUse: Encodable {
        var entry: StorageEntry
        var mounted_by: [String]
    }

    func run(in context: Context) throws {
        let registry = StorageRegistry(context: context)
        let arguments = try ReportArguments(words)
        if arguments.global, arguments.app == nil, arguments.infoFlag == nil {
            let rows = try registry.entries().map { EntryUse(entry: $0, mounted_by: try registry.appsUsing($0.name)) }
            if arguments.format == "json" {
                context.output.data(JSON.encode(rows))
            } else if rows.isEmpty {
                context.output.step("No storage entries registered")
            } else {
                context.output.step("Storage report (global):")
                for row in rows {
                    context.output.detail("\(row.entry.name)\t\(row.entry.scheduler)\tmounted by: \(row.mounted_by.isEmpty ? "—" : row.mounted_by.joined(separator: ", "))")
                }
            }
            return
        }
        try context.printReports("storage", words) { app in
            func mounts(_ phase: String) throws -> String {
                try registry.rows(app, phase: phase).map { "-v \($0.text)" }.joined(separator: " ")
            }
            var values = [
                "--storage-build-mounts": "",
                "--storage-deploy-mounts": try mounts("deploy"),
                "--storage-run-mounts": try mounts("run"),
                "--storage-data-dir": context.settings.paths.data(app),
            ]
            var index = 0
            for attachment in try registry.attachments(app) {
                guard let entry = try registry.entry(attachment.entry_name) else {
                    context.output.warn("Skipping attachment on \"\(app)\": missing entry \"\(attachment.entry_name)\"")
                    continue
                }
                index += 1
                let prefix = "--storage-attachment.\(index)."
                values[prefix + "entry-name"] = entry.name
                values[prefix + "host-path"] = entry.host_path ?? entry.name
                values[prefix + "container-path"] = attachment.container_path
                values[prefix + "phases"] = attachment.phases.joined(separator: ",")
                values[prefix + "process-type"] = attachment.process_type ?? StorageAttachment.anyProcessType
                values[prefix + "subpath"] = attachment.subpath ?? ""
                values[prefix + "readonly"] = String(attachment.readonly == true)
                values[prefix + "volume-options"] = attachment.volume_options ?? ""
                values[prefix + "volume-chown"] = attachment.volume_chown ?? ""
            }
            return values
        }
    }
}

struct StorageMigrate: Command {
    static let configuration = CommandConfiguration(commandName: "storage:migrate", abstract: "Re-run the legacy mount migration for an app")
    static let usage = "[<app>|--all]"
    static let takesApp = false
    @Flag var all = false
    @Argument var app: String?

    func run(in context: Context) throws {
        let registry = StorageRegistry(context: context)
        if all {
            guard app == nil else { throw CommandError("storage:migrate accepts either an app name or --all, not both") }
            let apps = try context.store().apps().map(\.name)
            for app in apps { _ = try registry.attachments(app) }
            context.output.step("Re-migrated \(apps.count) app(s)")
            return
        }
        guard let app, !app.isEmpty else { throw CommandError("storage:migrate requires an app name (or --all)") }
        let name = try context.existingApp(app)
        _ = try registry.attachments(name)
        context.output.step("Re-migrated \(name)")
    }
}

struct StorageWait: Command {
    static let configuration = CommandConfiguration(commandName: "storage:wait", abstract: "Wait for a storage entry to be ready")
    static let usage = "<name>"
    static let takesApp = false
    @Argument var name: String?

    func run(in context: Context) throws {
        let registry = StorageRegistry(context: context)
        let entry = try registry.existingEntry(name)
        let directory = registry.hostDirectory(entry)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CommandError("storage entry \"\(entry.name)\" host path \(directory) is not present")
        }
    }
}
