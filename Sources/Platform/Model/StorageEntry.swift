import Foundation

/// A named storage entry (`storage:create`, Dokku 0.38's storage registry): a directory on
/// this machine that apps attach at a path of their own. Encoded as Dokku encodes its entry
/// files, so `storage:info --format json` reads the same.
struct StorageEntry: Codable, Equatable {
    var name: String
    var scheduler = Self.dockerLocal
    var host_path: String?
    var size: String?
    var access_mode: String?
    var storage_class: String?
    var namespace: String?
    var chown: String?
    var mode: String?
    var reclaim_policy: String?
    var annotations: [String: String]?
    var labels: [String: String]?
    var schema_version = 1

    /// Dokku's name for entries on the server's own disk, the only kind dokkulite has.
    static let dockerLocal = "docker-local"
    /// Names the colon form of `storage:mount` makes up; nobody else may use the prefix.
    static let legacyPrefix = "legacy-"
    static let maxNameLength = 45

    init(name: String, hostPath: String?) {
        self.name = name
        self.host_path = hostPath
    }

    /// Why `name` cannot name an entry, or nil: a DNS label of at most 45 characters, as
    /// Dokku requires.
    static func nameProblem(_ name: String, allowLegacy: Bool = false) -> String? {
        if name.isEmpty { return "storage entry name is required" }
        if name.utf8.count > maxNameLength {
            return "storage entry name \"\(name)\" is too long (max \(maxNameLength) characters)"
        }
        let bytes = Array(name.utf8)
        let allowed = bytes.allSatisfy { (97...122).contains($0) || (48...57).contains($0) || $0 == 45 }
        if !allowed || bytes.first == 45 || bytes.last == 45 {
            return "storage entry name \"\(name)\" must be a DNS-1123 label (lowercase letters, digits, and dashes; cannot start or end with a dash)"
        }
        if !allowLegacy, name.hasPrefix(legacyPrefix) {
            return "storage entry name \"\(name)\" must not start with reserved prefix \"\(legacyPrefix)\""
        }
        return nil
    }

    /// A 3 or 4 digit octal mode in its 4 digit form (`750` is `0750`).
    static func normalizedMode(_ text: String) throws -> String {
        guard (3...4).contains(text.utf8.count), text.utf8.allSatisfy({ (48...55).contains($0) }) else {
            throw CommandError("Unsupported directory mode \"\(text)\". Value must be a 3 or 4 digit octal mode, such as 0755")
        }
        return text.count == 3 ? "0" + text : text
    }

    /// Dokku's `--chown` names for the user a buildpack image runs as.
    static let buildpackUsers: [String: uid_t] = ["herokuish": 32767, "heroku": 1000, "paketo": 2000, "packeto": 2000]

    /// The owner a `--chown` value gives a directory: nil for `false`, else a Dokku name or
    /// a numeric id below 65536.
    static func chownID(_ text: String) throws -> uid_t? {
        if text == "false" { return nil }
        if text == "root" { return 0 }
        if let id = buildpackUsers[text] { return id }
        guard let id = UInt16(text) else { throw CommandError("Unsupported chown permissions") }
        return uid_t(id)
    }

    /// The entry the colon form `HOST:CONTAINER` makes for HOST: named after HOST, so the
    /// same directory mounted twice (or by two apps) is one entry.
    static func legacy(host: String) -> StorageEntry {
        // 128 bits of SHA-256: stable across runs and machines, and no other path's.
        let name = legacyPrefix + Fingerprint.hex(Array((host.hasPrefix("/") ? host : "vol:" + host).utf8), bytes: 16)
        return StorageEntry(name: name, hostPath: host)
    }
}

/// How an app uses a storage entry: one entry bound at one path of the app's processes.
struct StorageAttachment: Codable, Equatable {
    var entry_name: String
    var container_path: String
    var phases: [String]
    var process_type: String?
    var subpath: String?
    var readonly: Bool?
    var volume_options: String?
    var volume_chown: String?

    static let phases = ["deploy", "run"]
    /// Every process type.
    static let anyProcessType = "_default_"

    /// Whether the attachment applies to `phase` (`deploy`: the app's processes; `run`:
    /// its one-off processes) for processes of `processType`.
    func applies(to phase: String, processType: String? = nil) -> Bool {
        guard phases.contains(phase) else { return false }
        guard let processType, let own = process_type, own != Self.anyProcessType else { return true }
        return own == processType
    }

    /// The same mount: same entry, same path, same process type.
    func sameMount(as other: StorageAttachment) -> Bool {
        entry_name == other.entry_name && container_path == other.container_path
            && (process_type ?? Self.anyProcessType) == (other.process_type ?? Self.anyProcessType)
    }

    /// The mount options Docker would be given (`ro` first), or "".
    var optionsText: String {
        var options: [String] = readonly == true ? ["ro"] : []
        if let volume_options, !volume_options.isEmpty { options.append(volume_options) }
        return options.joined(separator: ",")
    }
}
