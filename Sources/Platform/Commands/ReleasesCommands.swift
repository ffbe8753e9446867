import ArgumentParser
import Beneath
import Builder
import Foundation

struct Releases: Command {
    static let configuration = CommandConfiguration(commandName: "releases", abstract: "List an app's releases")
    static let usage = "<app> [--format stdout|json]"
    @Option var format = "stdout"
    @Argument var app: String?

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        let releases = try context.store().releases(app)
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        formatter.timeZone = TimeZone(identifier: "UTC")
        switch format {
        case "json":
            context.output.data(JSON.encode(releases.map { release in
                ReleaseRow(
                    version: release.version, status: release.status.rawValue, revision: release.revision ?? "",
                    created_at: ISO8601DateFormatter().string(from: release.createdAt), build_seconds: release.buildSeconds,
                    buildpacks: release.buildpacks, process_types: release.processTypes.keys.sorted(),
                    description: release.description, failure: release.failure)
            }))
        case "stdout":
            context.output.section("\(app) releases")
            guard !releases.isEmpty else {
                context.output.warn("No releases yet: push code with git push")
                return
            }
            let rows = [["Version", "Status", "Created (UTC)", "Revision", "Build", "Description"]] + releases.map { release in
                [
                    "v\(release.version)", release.status.rawValue, formatter.string(from: release.createdAt),
                    String((release.revision ?? "").prefix(7)), release.buildSeconds.map { String(format: "%.1fs", $0) } ?? "",
                    release.failure.map { "\(release.description) (failed: \($0))" } ?? release.description,
                ]
            }
            context.output.table(rows)
        default:
            throw CommandError("Invalid --format value specified")
        }
    }

    private struct ReleaseRow: Encodable {
        var version: Int
        var status: String
        var revision: String
        var created_at: String
        var build_seconds: Double?
        var buildpacks: [String]
        var process_types: [String]
        var description: String
        var failure: String?
    }
}

struct ReleasesRollback: Command {
    static let configuration = CommandConfiguration(commandName: "releases:rollback", abstract: "Make an earlier release current again, without rebuilding")
    static let usage = "<app> [<version>]"
    @Argument var app: String?
    @Argument var version: String?

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        var number: Int?
        if let version {
            guard let parsed = Int(version.hasPrefix("v") ? String(version.dropFirst()) : version), parsed > 0 else {
                throw CommandError("Invalid release version: \(version) (expected vN)")
            }
            number = parsed
        }
        try Deployer(context).rollback(app, to: number)
    }
}

struct PSRebuild: Command {
    static let configuration = CommandConfiguration(commandName: "ps:rebuild", abstract: "Rebuild an app from its git repository")
    static let usage = "[--parallel count] [--all|<app>]"
    @Flag var all = false
    /// Accepted as Dokku takes it; apps are rebuilt one after another here.
    @Option var parallel: Int?
    @Argument var app: String?

    func run(in context: Context) throws {
        let apps = try context.targets(app, all: all)
        var built = true
        for app in apps {
            let repository = AppRepository(context: context, app: app)
            guard let revision = try repository.deployRevision() else {
                // As Dokku's git plugin answers a rebuild with nothing to build: a failure,
                // printed whatever --quiet says.
                context.output.data("-----> WARNING: Cannot build from '\(try repository.deployBranch() ?? "master")' as there are no commits stored at that branch.")
                built = false
                continue
            }
            try GitDeploy(context: context, app: app).deploy(repository: repository.path, revision: revision, source: try context.store().property(.app(app), "apps", "deploy-source") ?? "git-push")
        }
        if !built { throw ExitCode.failure }
    }
}

struct GitFromArchive: Command {
    static let configuration = CommandConfiguration(commandName: "git:from-archive", abstract: "Build an app from an archive (URL, or -- for stdin)")
    static let usage = "[--archive-type tar|tar.gz|zip] <app> (<archive-url>|--)"
    @Option(name: .customLong("archive-type")) var archiveType = "tar"
    @Argument var app: String?
    @Argument(parsing: .allUnrecognized) var source: [String] = []

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        guard ["tar", "tar.gz", "zip"].contains(archiveType) else {
            throw CommandError("Invalid archive type specified, valid archive types include: tar, tar.gz, zip")
        }
        guard let location = source.first else {
            throw CommandError("Please specify an archive url or -- to fetch the archive from stdin")
        }
        if location != "--", location != "-" {
            try RemoteSource.check(location, what: "archive url", allowingFiles: !context.settings.remoteCaller)
        }
        // Root's alone while the archive is unpacked in it.
        let work = NSTemporaryDirectory() + "dokkulite-archive-\(UUID().uuidString)"
        guard mkdir(work, 0o700) == 0, mkdir(work + "/code", 0o700) == 0 else {
            throw CommandError("cannot create \(work): \(String(cString: strerror(errno)))")
        }
        defer { try? Beneath.removeTree(work) }
        let archive = work + "/archive"
        if location == "--" || location == "-" {
            context.output.step("Fetching \(archiveType) file from stdin")
            let data = FileHandle.standardInput.readDataToEndOfFile()
            guard !data.isEmpty else { throw CommandError("No archive data received on stdin") }
            FileManager.default.createFile(atPath: archive, contents: data)
        } else {
            context.output.step("Downloading \(archiveType) file from \(location)")
            let download = try Subprocess.run("/usr/bin/curl", RemoteSource.curlArguments(output: archive, url: location, allowingFiles: !context.settings.remoteCaller))
            guard download.status == 0 else { throw CommandError("Unable to download \(location): \(download.stderr.trimmingCharacters(in: .whitespacesAndNewlines))") }
        }
        try ArchiveCheck.before(archive: archive, type: archiveType, limits: ArchiveCheck.limits(app, store: context.store()))
        context.output.step("Generating build context")
        let unpack: Subprocess.Result
        switch archiveType {
        case "zip": unpack = try Subprocess.run("/usr/bin/unzip", ["-q", archive, "-d", work + "/code"])
        case "tar.gz": unpack = try Subprocess.run("/bin/tar", ["--extract", "--gzip", "--no-same-owner", "--no-same-permissions", "--file", archive, "--directory", work + "/code"])
        default: unpack = try Subprocess.run("/bin/tar", ["--extract", "--no-same-owner", "--no-same-permissions", "--file", archive, "--directory", work + "/code"])
        }
        guard unpack.status == 0 else { throw CommandError("Unable to extract the \(archiveType) archive: \(unpack.stderr.trimmingCharacters(in: .whitespacesAndNewlines))") }
        try ArchiveCheck.links(in: work + "/code")
        var root = work + "/code"
        let entries = try FileManager.default.contentsOfDirectory(atPath: root)
        var isDirectory: ObjCBool = false
        if entries.count == 1, FileManager.default.fileExists(atPath: root + "/" + entries[0], isDirectory: &isDirectory), isDirectory.boolValue {
            context.output.detail("Stripping top-level archive folder components")
            root += "/" + entries[0]
        }
        context.output.step("Updating git repository with specified build context")
        let repository = AppRepository(context: context, app: app)
        let git = try repository.ensure()
        let branch = try repository.deployBranch() ?? "master"
        let revision = try git.commitDirectory(root, branch: branch, message: "Deploy from \(archiveType) archive")
        try git.setHead(branch: branch)
        try GitDeploy(context: context, app: app).deploy(repository: repository.path, revision: revision, source: archiveType, metadata: location == "--" ? "stdin" : location)
    }
}

/// Dokku's checks on an uploaded archive: its size and entry count within the `git`
/// `archive-max-*` limits, no absolute or `..` paths, no symbolic link leading out.
enum ArchiveCheck {
    static func limits(_ app: AppName, store: Store) throws -> (size: Int, files: Int) {
        let size = Int(try store.computedProperty(app, "git", "archive-max-size") ?? "") ?? 1_073_741_824
        let files = Int(try store.computedProperty(app, "git", "archive-max-files") ?? "") ?? 10_000
        return (size, files)
    }

    /// Before unpacking: what the archive's listing shows.
    static func before(archive: String, type: String, limits: (size: Int, files: Int)) throws {
        let size = (try? FileManager.default.attributesOfItem(atPath: archive)[.size] as? Int) ?? 0
        if size > limits.size { throw CommandError("Archive exceeds maximum allowed size of \(limits.size) bytes") }
        let listing = switch type {
        case "zip": try Subprocess.run("/usr/bin/unzip", ["-Z1", archive])
        case "tar.gz": try Subprocess.run("/bin/tar", ["--list", "--gzip", "--file", archive])
        default: try Subprocess.run("/bin/tar", ["--list", "--file", archive])
        }
        guard listing.status == 0 else { throw CommandError("Unable to read the \(type) archive: \(listing.stderr.trimmingCharacters(in: .whitespacesAndNewlines))") }
        let names = listing.stdout.split(separator: "\n")
        if names.count > limits.files { throw CommandError("Archive contains \(names.count) entries which exceeds the maximum of \(limits.files)") }
        if names.contains(where: { $0.hasPrefix("/") }) { throw CommandError("Archive contains entries with absolute paths") }
        if names.contains(where: { $0.split(separator: "/").contains("..") }) { throw CommandError("Archive contains entries with parent directory traversal") }
    }

    /// After unpacking into `root`: symbolic links stay inside it.
    static func links(in root: String) throws {
        let base = URL(fileURLWithPath: root).standardizedFileURL.path
        for case let path as String in FileManager.default.enumerator(atPath: root) ?? NSEnumerator() {
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: root + "/" + path) else { continue }
            if target.hasPrefix("/") { throw CommandError("Archive contains symlinks with absolute targets") }
            let resolved = URL(fileURLWithPath: target, relativeTo: URL(fileURLWithPath: root + "/" + path).deletingLastPathComponent()).standardizedFileURL.path
            if resolved != base, !resolved.hasPrefix(base + "/") { throw CommandError("Archive contains symlinks pointing outside extraction directory") }
        }
    }
}

struct GitSync: Command {
    static let configuration = CommandConfiguration(commandName: "git:sync", abstract: "Clone or fetch an app from a remote git repository")
    static let usage = "[--build|--build-if-changes] [--skip-deploy-branch] <app> <repository> [<git-ref>]"
    @Flag var build = false
    @Flag(name: .customLong("build-if-changes")) var buildIfChanges = false
    @Flag(name: .customLong("skip-deploy-branch")) var skipDeployBranch = false
    @Argument var app: String?
    @Argument var remote: String?
    @Argument var ref: String?

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        guard let remote, !remote.isEmpty else { throw CommandError("Missing GIT_REMOTE parameter") }
        try RemoteSource.check(remote, what: "git remote", allowingFiles: !context.settings.remoteCaller, schemes: RemoteSource.gitSchemes)
        let repository = AppRepository(context: context, app: app)
        let git = try repository.ensure()
        let before = try repository.deployRevision()
        // The remote is mirrored beside the app's repository; its commits then go into the
        // app's deploy branch unchanged, so the branch holds the remote's revision.
        let mirror = context.settings.paths.app(app) + "/sync.git"
        let clone: GitRepository
        if !FileManager.default.fileExists(atPath: mirror) {
            clone = try GitRepository.clone(remote, into: mirror, bare: true)
        } else {
            clone = try GitRepository.open(mirror, environment: [:])
            try clone.fetchOrigin()
        }
        // Root's alone: its config holds the remote's URL, credentials and all, and the app's
        // group may enter the app's directory.
        chmod(mirror, 0o700)
        let remoteBranch = ref.flatMap { try? clone.resolve("refs/remotes/origin/\($0)") }
        if before == nil {
            context.output.step("Cloning \(app) from \(remote)#\(ref ?? "")")
            if let ref, remoteBranch != nil {
                if skipDeployBranch {
                    context.output.detail("Detected branch \(ref), skipping deploy-branch setting")
                } else {
                    context.output.detail("Detected branch, setting deploy-branch to \(ref)")
                    try context.store().setProperty(.app(app), "git", "deploy-branch", ref)
                }
            }
        } else {
            context.output.detail("Fetching remote code for \(app) from \(remote)#\(ref ?? "")")
        }
        let revision = try remoteBranch ?? ref.map { try clone.resolve($0) } ?? (try? clone.resolve("refs/remotes/origin/HEAD")) ?? clone.resolve("HEAD")
        let branch = try repository.deployBranch() ?? "master"
        try GitClient().fetch(revision, from: mirror, into: repository.path, as: "refs/heads/\(branch)")
        try git.setHead(branch: branch)
        try context.store().setProperty(.app(app), "apps", "deploy-source", "git-sync")
        try context.store().setProperty(.app(app), "apps", "deploy-source-metadata", "\(remote)#\(revision)")
        if buildIfChanges, before == revision {
            context.output.detail("Skipping build as no changes were detected")
            return
        }
        if build || buildIfChanges {
            try GitDeploy(context: context, app: app).deploy(repository: repository.path, revision: revision, source: "git-sync", metadata: "\(remote)#\(revision)")
        }
    }

}
