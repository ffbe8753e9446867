import Beneath
import Foundation
import GRDB

/// Named storage entries and the apps' attachments to them. Entries are global properties
/// (`storage-entries`, one JSON object per name); an app's attachments are its
/// `storage/attachments` property, one JSON object per line, as Dokku keeps them.
struct StorageRegistry {
    let context: Context

    static let entriesNamespace = "storage-entries"

    var paths: Paths { context.settings.paths }

    // MARK: Entries

    func entry(_ name: String) throws -> StorageEntry? {
        try context.store().property(.global, Self.entriesNamespace, name).flatMap(Self.decode)
    }

    /// The entry, or Dokku's "does not exist" failure.
    func existingEntry(_ name: String?) throws -> StorageEntry {
        guard let name, !name.isEmpty else { throw CommandError("storage entry name is required") }
        guard let entry = try entry(name) else { throw CommandError("storage entry \"\(name)\" does not exist", kind: .notFound) }
        return entry
    }

    /// Every entry, by name.
    func entries() throws -> [StorageEntry] {
        try context.store().properties(.global, Self.entriesNamespace).values.compactMap(Self.decode).sorted { $0.name < $1.name }
    }

    func save(_ entry: StorageEntry) throws {
        try context.store().setProperty(.global, Self.entriesNamespace, entry.name, JSON.encode(entry))
    }

    func delete(_ name: String) throws {
        try context.store().setProperty(.global, Self.entriesNamespace, name, nil)
    }

    private static func decode(_ text: String) -> StorageEntry? {
        try? JSONDecoder().decode(StorageEntry.self, from: Data(text.utf8))
    }

    /// Where an entry's directory is when it is not given one: `STORAGE_ROOT/NAME`.
    func defaultHostPath(_ name: String) -> String { paths.storage + "/" + name }

    /// The directory on this machine an entry names: its path, or a bare name (Docker's
    /// named volume) as a directory of that name under the storage root.
    func hostDirectory(_ entry: StorageEntry) -> String {
        let host = entry.host_path ?? entry.name
        return host.hasPrefix("/") ? host : paths.storage + "/" + host
    }

    /// The entry's directory relative to the storage root, when it is there.
    func relativeToStorage(_ directory: String) -> String? {
        guard directory.hasPrefix(paths.storage + "/") else { return nil }
        let relative = String(directory.dropFirst(paths.storage.count + 1))
        return relative.isEmpty ? nil : relative
    }

    // MARK: Attachments

    /// The app's attachments. Mounts kept as `HOST:CONTAINER` lines by an earlier version
    /// become entries and attachments here, once.
    func attachments(_ app: AppName) throws -> [StorageAttachment] {
        let store = try context.store()
        if try store.property(.app(app), "storage", "mounts") != nil {
            try store.write { db in
                guard let text = try Store.property(.app(app), "storage", "mounts", db) else { return }
                var attachments = try Self.attachments(app, db)
                for line in text.split(separator: "\n") {
                    let parts = line.split(separator: ":", maxSplits: 1).map(String.init)
                    guard parts.count == 2 else { continue }
                    let entry = StorageEntry.legacy(host: parts[0])
                    if try Store.property(.global, Self.entriesNamespace, entry.name, db) == nil {
                        try Store.setProperty(.global, Self.entriesNamespace, entry.name, JSON.encode(entry), db)
                    }
                    let attachment = StorageAttachment(
                        entry_name: entry.name, container_path: parts[1], phases: StorageAttachment.phases,
                        process_type: StorageAttachment.anyProcessType)
                    if !attachments.contains(where: { $0.sameMount(as: attachment) }) { attachments.append(attachment) }
                }
                try Store.setProperty(.app(app), "storage", "attachments", Self.encode(attachments), db)
                try Store.setProperty(.app(app), "storage", "mounts", nil, db)
            }
        }
        return try store.read { db in try Self.attachments(app, db) }
    }

    private static func attachments(_ app: AppName, _ db: Database) throws -> [StorageAttachment] {
        let text = try Store.property(.app(app), "storage", "attachments", db) ?? ""
        return text.split(separator: "\n").compactMap { try? JSONDecoder().decode(StorageAttachment.self, from: Data($0.utf8)) }
    }

    private static func encode(_ attachments: [StorageAttachment]) -> String? {
        attachments.isEmpty ? nil : attachments.map(JSON.encode).joined(separator: "\n")
    }

    func saveAttachments(_ app: AppName, _ attachments: [StorageAttachment]) throws {
        try context.store().setProperty(.app(app), "storage", "attachments", Self.encode(attachments))
    }

    /// The apps with an attachment to the entry, by name.
    func appsUsing(_ name: String) throws -> [String] {
        try context.store().apps().map(\.name).filter { app in
            try attachments(app).contains { $0.entry_name == name }
        }.map(\.rawValue).sorted()
    }

    /// A mount as Dokku lists it: the entry's host path (as given), the container path and
    /// the options.
    struct Row: Encodable, Equatable {
        var entry_name: String?
        var host_path: String
        var container_path: String
        var readonly: Bool?
        var volume_options: String?

        var text: String {
            var options: [String] = readonly == true ? ["ro"] : []
            if let volume_options, !volume_options.isEmpty { options.append(volume_options) }
            return "\(host_path):\(container_path)" + (options.isEmpty ? "" : ":" + options.joined(separator: ","))
        }
    }

    /// The app's mounts for a phase, sorted by entry and path as Dokku sorts them.
    func rows(_ app: AppName, phase: String) throws -> [Row] {
        try attachments(app).filter { $0.phases.contains(phase) }
            .sorted { ($0.entry_name, $0.container_path) < ($1.entry_name, $1.container_path) }
            .compactMap { attachment in
                guard let entry = try entry(attachment.entry_name) else { return nil }
                return Row(
                    entry_name: entry.name, host_path: entry.host_path ?? entry.name, container_path: attachment.container_path,
                    readonly: attachment.readonly == true ? true : nil,
                    volume_options: attachment.volume_options.flatMap { $0.isEmpty ? nil : $0 })
            }
    }

    /// A bind mount of one of the app's processes.
    struct Bind: Equatable {
        var host: String
        var container: String
        var readOnly: Bool
        var text: String
    }

    /// What the app's processes of `processType` bind in `phase` (`deploy` for its
    /// processes, `run` for one-offs).
    func binds(_ app: AppName, phase: String, processType: String?) throws -> [Bind] {
        try attachments(app).filter { $0.applies(to: phase, processType: processType) }.compactMap { attachment in
            guard let entry = try entry(attachment.entry_name) else { return nil }
            var host = hostDirectory(entry)
            if let subpath = attachment.subpath, !subpath.isEmpty { host += "/" + subpath }
            return Bind(
                host: host, container: attachment.container_path, readOnly: attachment.readonly == true,
                text: "\(entry.name) at \(attachment.container_path)")
        }
    }

    // MARK: Directories

    /// Makes the storage root (root's, 0711: apps reach only what is bound into them) and
    /// its parents, when missing.
    func ensureStorageRoot() throws {
        var info = stat()
        if lstat(paths.storage, &info) == 0 { return }
        let parent = (paths.storage as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        } catch {
            throw CommandError("cannot create \(parent): \(error.localizedDescription)")
        }
        if mkdir(paths.storage, 0o711) != 0, errno != EEXIST {
            throw CommandError("cannot create \(paths.storage): \(String(cString: strerror(errno)))")
        }
        chmod(paths.storage, 0o711)
    }

    /// Makes `relative` under the storage root without following links, and returns it
    /// open, with whether it was made.
    func makeInStorage(_ relative: String, mode: mode_t = 0o755) throws -> (fd: CInt, created: Bool) {
        try ensureStorageRoot()
        var info = stat()
        let existed = fstatat(AT_FDCWD, paths.storage + "/" + relative, &info, AT_SYMLINK_NOFOLLOW) == 0
        do {
            let fd = try Beneath.makeDirectories(relative, in: paths.storage, mode: UInt32(mode))
            if !existed { fchmod(fd, mode) }
            return (fd, !existed)
        } catch {
            throw CommandError("\(paths.storage)/\(relative) \(error.reason)")
        }
    }

    /// Owners besides root whose directories may hold a bind mount's source: the
    /// installation's `dokku` user, which owns Dokku's `/var/lib/dokku/data` on a server
    /// moved from Dokku and only ever runs the ssh entry's forced command.
    static var trustedOwners: Set<uid_t> {
        guard let user = getpwnam("dokku") else { return [] }
        return [user.pointee.pw_uid]
    }
}
