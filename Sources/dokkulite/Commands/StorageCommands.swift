import ArgumentParser
import Foundation
import Supervisor

/// Host directories bound into an app's processes (`storage:mount`), kept one per line as
/// `HOST:CONTAINER` in the `storage/mounts` property; they become `BindPaths=` on the app's
/// units at the next deploy or restart, as in Dokku.
struct StorageMounts {
    let context: Context
    let app: AppName

    struct Mount: Equatable, Encodable {
        var host_path: String
        var container_path: String

        var text: String { "\(host_path):\(container_path)" }
    }

    func list() throws -> [Mount] {
        (try context.store().property(.app(app), "storage", "mounts") ?? "").split(separator: "\n").compactMap { line in
            let parts = line.split(separator: ":", maxSplits: 1).map(String.init)
            return parts.count == 2 ? Mount(host_path: parts[0], container_path: parts[1]) : nil
        }
    }

    func write(_ mounts: [Mount]) throws {
        try context.store().setProperty(.app(app), "storage", "mounts", mounts.isEmpty ? nil : mounts.map(\.text).joined(separator: "\n"))
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
        func clean(_ path: String) -> String {
            let standard = (path as NSString).standardizingPath
            return standard.count > 1 && standard.hasSuffix("/") ? String(standard.dropLast()) : standard
        }
        return Mount(host_path: parts[0].hasPrefix("/") ? clean(parts[0]) : parts[0], container_path: clean(parts[1]))
    }

    /// The directory on this machine a mount's host side names.
    static func hostDirectory(_ mount: Mount, paths: Paths) -> String {
        mount.host_path.hasPrefix("/") ? mount.host_path : paths.storage + "/" + mount.host_path
    }
}

struct StorageEnsureDirectory: Command {
    static let configuration = CommandConfiguration(commandName: "storage:ensure-directory", abstract: "Creates a persistent storage directory in the recommended storage path")
    static let usage = "[--chown herokuish|heroku|paketo|root|false|UID|APP] <directory-name>"
    static let takesApp = false
    @Option var chown = "herokuish"
    @Argument var name: String?

    /// Dokku's `--chown` names for the user a buildpack image runs as. A directory owned by
    /// one of them is meant for whichever app mounts it: `storage:mount` gives it to that
    /// app's own user, the one its processes run as here.
    static let buildpackUsers: [String: uid_t] = ["herokuish": 32767, "heroku": 1000, "paketo": 2000, "packeto": 2000]

    func run(in context: Context) throws {
        guard let name, !name.isEmpty else { throw CommandError("Please specify a directory to create") }
        guard name.utf8.allSatisfy({ (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0) || $0 == 45 || $0 == 95 }) else {
            throw CommandError("Directory can only contain the following set of characters: [A-Za-z0-9_-]")
        }
        let owner = try self.owner(context)
        let path = context.settings.paths.storage + "/" + name
        context.output.step("Ensuring \(path) exists")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        chmod(context.settings.paths.storage, 0o711)
        if let owner {
            context.output.detail("Setting directory ownership to \(owner.uid):\(owner.gid)")
            Glibc.chown(path, owner.uid, owner.gid)
        }
        context.output.detail("Directory ready for mounting")
    }

    /// The owner `--chown` asks for, nil for `false`: a Dokku name, a numeric id, or (as
    /// dokkulite adds) an app, whose processes run as its own user.
    private func owner(_ context: Context) throws -> (uid: uid_t, gid: gid_t)? {
        if chown == "false" { return nil }
        if chown == "root" { return (0, 0) }
        if let id = Self.buildpackUsers[chown] ?? UInt16(chown).map(uid_t.init) { return (id, id) }
        guard let app = AppName(chown), try context.store().appExists(app),
            let user = try AppUser.name(of: app, store: context.store()), let ids = AppUser.uid(of: user)
        else { throw CommandError("Unsupported chown permissions") }
        return ids
    }
}

struct StorageMount: Command {
    static let configuration = CommandConfiguration(commandName: "storage:mount", abstract: "Create a new persistent storage mount (applied at the next deploy or restart)")
    static let usage = "<app> <host-dir>:<container-dir>"
    @Argument var app: String?
    @Argument var mount: String?

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        let mount = try StorageMounts.parse(mount ?? "")
        let paths = context.settings.paths
        let host = StorageMounts.hostDirectory(mount, paths: paths)
        func inside(_ path: String, _ root: String) -> Bool { path == root || path.hasPrefix(root + "/") }
        if inside(host, paths.root) && !inside(host, paths.storage) {
            throw CommandError("Host path \(mount.host_path) lies inside dokkulite's own state (\(paths.root)); use a directory under \(paths.storage)")
        }
        if host == "/" {
            throw CommandError("Host path / cannot be mounted")
        }
        // The app's own tree is /app, as on Heroku: a mount may go inside it
        // (`/app/storage`, Dokku's example), not over it.
        if ["/app", "/", "/proc", "/sys", "/dev"].contains(mount.container_path) {
            throw CommandError("Container path \(mount.container_path) is reserved")
        }
        let store = StorageMounts(context: context, app: app)
        var mounts = try store.list()
        guard !mounts.contains(mount) else { throw CommandError("Mount path already exists.") }
        // A host directory that is not there yet is made, as Docker makes a bind source, and
        // given to the app's user, as `storage:ensure-directory --chown APP` would.
        var isDirectory: ObjCBool = false
        var created = false
        if !FileManager.default.fileExists(atPath: host, isDirectory: &isDirectory) {
            do {
                try FileManager.default.createDirectory(atPath: host, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
                created = true
            } catch {
                throw CommandError("Host path \(host) could not be created: \(error.localizedDescription)")
            }
            if let user = try AppUser.name(of: app, store: context.store()), let owner = AppUser.uid(of: user) {
                Glibc.chown(host, owner.uid, owner.gid)
            }
        } else if !isDirectory.boolValue {
            throw CommandError("Host path \(host) is not a directory")
        } else if host.hasPrefix(context.settings.paths.storage + "/"), let owner = try AppUser.name(of: app, store: context.store()).flatMap(AppUser.uid(of:)) {
            // Made by `storage:ensure-directory` for a buildpack's user (Dokku's default,
            // herokuish): here that user is the app's own.
            var info = stat()
            if stat(host, &info) == 0, StorageEnsureDirectory.buildpackUsers.values.contains(info.st_uid) {
                context.output.detail("Setting directory ownership to \(owner.uid):\(owner.gid), the user \(app) runs as")
                Glibc.chown(host, owner.uid, owner.gid)
            }
        }
        mounts.append(mount)
        do {
            try store.write(mounts)
        } catch {
            if created { try? FileManager.default.removeItem(atPath: host) }
            throw error
        }
    }
}

struct StorageUnmount: Command {
    static let configuration = CommandConfiguration(commandName: "storage:unmount", abstract: "Remove an existing storage mount")
    static let usage = "<app> <host-dir>:<container-dir>"
    @Argument var app: String?
    @Argument var mount: String?

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        let mount = try StorageMounts.parse(mount ?? "")
        let store = StorageMounts(context: context, app: app)
        var mounts = try store.list()
        guard mounts.contains(mount) else { throw CommandError("Mount path does not exist.") }
        mounts.removeAll { $0 == mount }
        try store.write(mounts)
    }
}

struct StorageList: Command {
    static let configuration = CommandConfiguration(commandName: "storage:list", abstract: "List an app's persistent storage mounts")
    static let usage = "<app> [--format text|json]"
    @Option var format = "text"
    @Argument var app: String?

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        let mounts = try StorageMounts(context: context, app: app).list()
        switch format {
        case "json":
            context.output.data(JSON.encode(mounts))
        case "text":
            context.output.step("\(app) volume bind-mounts:")
            for mount in mounts {
                if context.output.quiet { context.output.data(mount.text) } else { context.output.detail(mount.text) }
            }
        default:
            throw CommandError("Invalid --format value specified")
        }
    }
}

struct StorageReport: Command {
    static let configuration = CommandConfiguration(commandName: "storage:report", abstract: "Displays a storage report for one or more apps")
    static let usage = "[<app>] [<flag>]"
    @Argument(parsing: .allUnrecognized) var words: [String] = []

    func run(in context: Context) throws {
        try context.printReports("storage", words) { app in
            let mounts = try StorageMounts(context: context, app: app).list().map { "-v \($0.text)" }.joined(separator: " ")
            let values = [
                "--storage-build-mounts": "",
                "--storage-deploy-mounts": mounts,
                "--storage-run-mounts": mounts,
                "--storage-data-dir": context.settings.paths.data(app),
            ]
            return values
        }
    }
}
