import ArgumentParser
import Beneath
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
        // Lexically only: resolving links here would follow one an app planted.
        func clean(_ path: String) -> String {
            var parts: [Substring] = []
            for part in path.split(separator: "/") where part != "." {
                if part == ".." { _ = parts.popLast() } else { parts.append(part) }
            }
            return "/" + parts.joined(separator: "/")
        }
        return Mount(host_path: parts[0].hasPrefix("/") ? clean(parts[0]) : parts[0], container_path: clean(parts[1]))
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
        Beneath.isRootControlled(host) ? nil
            : "Host path \(host) must be a directory reached through directories only root can change, without symbolic links (a directory under the storage root is)"
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
        let storage = context.settings.paths.storage
        try FileManager.default.createDirectory(atPath: storage, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o711])
        chmod(storage, 0o711)
        let fd: CInt
        do {
            fd = try Beneath.makeDirectories(name, in: storage, mode: 0o750)
        } catch {
            throw CommandError("\(path) \(error.reason)")
        }
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
        let inStorage = inside(host, paths.storage) && host != paths.storage
        if inside(host, paths.root) && !inStorage {
            throw CommandError("Host path \(mount.host_path) lies inside dokkulite's own state (\(paths.root)); use a directory under \(paths.storage)")
        }
        if host == "/" {
            throw CommandError("Host path / cannot be mounted")
        }
        // Over ssh, server paths are not inputs: storage lives under the storage root.
        if context.settings.overSSH, !inStorage {
            throw CommandError("Host path \(mount.host_path) is outside the storage root \(paths.storage): over ssh, mount a directory there (storage:ensure-directory NAME) or a bare name")
        }
        // The app's own tree is /app, as on Heroku: a mount may go inside it
        // (`/app/storage`, Dokku's example), not over it.
        if let problem = StorageMounts.containerPathProblem(mount.container_path) {
            throw CommandError(problem)
        }
        let store = StorageMounts(context: context, app: app)
        var mounts = try store.list()
        guard !mounts.contains(mount) else { throw CommandError("Mount path already exists.") }
        let owner = try AppUser.name(of: app, store: context.store()).flatMap(AppUser.uid(of:))
        var created = false
        if inStorage {
            created = try ensureInStorage(host, paths: paths, owner: owner, context: context)
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
            if created { try? FileManager.default.removeItem(atPath: host) }
            throw CommandError(problem)
        }
        mounts.append(mount)
        do {
            try store.write(mounts)
        } catch {
            if created { try? FileManager.default.removeItem(atPath: host) }
            throw error
        }
    }

    /// Makes (or takes) `host`, a directory under the storage root, for the app: made
    /// without following links and given to the app's user, as `storage:ensure-directory
    /// --chown APP` would; one `storage:ensure-directory` made for a buildpack's user
    /// (Dokku's default, herokuish) becomes the app's own user's, the one its processes
    /// run as here. Returns whether it was made.
    private func ensureInStorage(_ host: String, paths: Paths, owner: (uid: uid_t, gid: gid_t)?, context: Context) throws -> Bool {
        if mkdir(paths.storage, 0o711) != 0, errno != EEXIST {
            throw CommandError("cannot create \(paths.storage): \(String(cString: strerror(errno)))")
        }
        let relative = String(host.dropFirst(paths.storage.count + 1))
        let existed = FileManager.default.fileExists(atPath: host)
        let fd: CInt
        do {
            fd = try Beneath.makeDirectories(relative, in: paths.storage, mode: 0o750)
        } catch {
            throw CommandError("Host path \(host) \(error.reason)")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw CommandError("Host path \(host) cannot be read") }
        if let owner, !existed || StorageEnsureDirectory.buildpackUsers.values.contains(info.st_uid) {
            if existed { context.output.detail("Setting directory ownership to \(owner.uid):\(owner.gid), the user \(app ?? "") runs as") }
            fchown(fd, owner.uid, owner.gid)
        }
        return !existed
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
