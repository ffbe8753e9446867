import Beneath
import Builder
import Foundation
import Supervisor

/// Source → release: extracts the code into a new release tree, picks buildpacks, runs
/// them as the app's user in a transient unit (tree at `/app`, memory-limited), and records
/// the release with its process types. Output streams to this process's stdout.
struct ReleaseBuilder {
    let context: Context

    init(_ context: Context) {
        self.context = context
    }

    /// Where the code comes from.
    enum Source {
        /// A revision of the app's repository.
        case git(repository: String, revision: String)
        /// A directory with the code (an unpacked archive).
        case directory(String)
    }

    /// Builds a new release and returns it (status `available`). On failure the release is
    /// recorded as failed, its tree removed, and the error says which step failed.
    func build(_ app: AppName, source: Source, description: String) throws -> Release {
        let store = try context.store()
        let paths = context.settings.paths
        let started = Date()
        try BuilderSettings.checkSelected(app, store: store)
        let version = try store.beginRelease(app, description: description)
        let tree = paths.slug(app, version: version)
        do {
            context.output.step("Building \(app) from buildpacks")
            let user = try AppUser.name(of: app, store: store)
            let owner = user.flatMap(AppUser.uid)
            try prepare(app: app, version: version, owner: owner)
            var revision: String?
            switch source {
            case .git(let repository, let rev):
                let repo = try GitRepository.open(repository)
                revision = try repo.resolve(rev)
                try repo.extract(revision!, into: tree, submoduleCache: paths.app(app) + "/submodules")
                if try store.computedProperty(app, "git", "keep-git-dir") == "true" {
                    try keepGitDirectory(repository: repository, revision: revision!, in: tree)
                }
            case .directory(let directory):
                try copyTree(directory, to: tree)
            }
            try SourceLayout.apply(app, tree: tree, store: store)
            if let owner { try chownTree(tree, owner) }
            let outcome = try runBuildpacks(app: app, version: version, revision: revision, identity: user)
            context.output.step("Discovering process types")
            if !outcome.procfileTypes.isEmpty {
                context.output.detail("Procfile declares types -> \(outcome.procfileTypes.joined(separator: ", "))")
            }
            if let last = outcome.buildpacks.last, !outcome.defaultTypes.isEmpty {
                context.output.detail("Default types for \(last.name) -> \(outcome.defaultTypes.joined(separator: ", "))")
            }
            guard !outcome.processTypes.isEmpty else {
                throw CommandError("No process types found: add a Procfile (e.g. \"web: ./start\")")
            }
            let release = Release(
                app: app, version: version, status: .available, revision: revision, description: description,
                buildpacks: outcome.buildpacks.map(\.source), processTypes: outcome.processTypes, appJSON: outcome.appJSONText,
                createdAt: started, buildSeconds: Date().timeIntervalSince(started), failure: nil, configVars: outcome.configVars)
            try store.finishRelease(release)
            try store.setProperty(.app(app), "builder", "detected", BuilderSettings.builders[0])
            return release
        } catch {
            let reason = (error as? CommandError)?.message ?? "\(error)"
            try? store.failRelease(app, version: version, reason: reason)
            try? Beneath.removeTree(paths.release(app, version: version))
            throw CommandError(reason)
        }
    }

    /// `git:set APP keep-git-dir true`: the tree built is also a repository at the
    /// revision, as Dokku leaves it (`.git` in the build context).
    private func keepGitDirectory(repository: String, revision: String, in tree: String) throws {
        let git = GitClient()
        try git.run(["init", "--quiet", tree])
        try git.fetch(revision, from: repository, into: tree + "/.git")
        try git.run(["-C", tree, "update-ref", "HEAD", revision])
        try git.run(["-C", tree, "reset", "--quiet"])
    }

    /// The buildpacks to run: `BUILDPACK_URL`, then `buildpacks:set`, then `.buildpacks`,
    /// then app.json's; nil means detect among the built-ins. What the push or its config
    /// names is fetched from the network only: a path or `file://` URL there would have
    /// root copy files of the server (another app's repository) out for the build to read.
    func chosenBuildpacks(_ app: AppName, tree: String) throws -> [BuildpackReference]? {
        let store = try context.store()
        var urls: [String] = []
        var setByRoot = false
        if let url = try store.mergedConfig(app).first(where: { $0.key == "BUILDPACK_URL" })?.value, !url.isEmpty {
            urls = [url]
        } else if let list = try store.property(.app(app), "buildpacks", "list"), !list.isEmpty {
            // Checked when set: over ssh, network ones only.
            urls = list.split(separator: "\n").map(String.init)
            setByRoot = true
        } else if let text = try AppFiles.text(".buildpacks", in: tree, limit: AppFiles.smallLimit) {
            urls = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
        } else if let text = try AppFiles.text("app.json", in: tree, limit: AppFiles.appJSONLimit), let appJSON = try? AppJSON(parsing: Data(text.utf8)), !appJSON.buildpacks.isEmpty {
            urls = appJSON.buildpacks
        }
        guard !urls.isEmpty else { return nil }
        return try urls.map { url in
            guard let reference = BuildpackReference(url) else { throw CommandError("Invalid buildpack specified: \(url)") }
            if !setByRoot, reference.reach == .server {
                throw CommandError("Invalid buildpack specified: \(url) (an app may name buildpacks by https, http or git URL only)")
            }
            return reference
        }
    }

    private func runBuildpacks(app: AppName, version: Int, revision: String?, identity user: String?) throws -> BuildOutcome {
        let paths = context.settings.paths
        let tree = paths.slug(app, version: version)
        let meta = paths.release(app, version: version) + "/meta"
        let envDirectory = paths.release(app, version: version) + "/env"
        let store = BuildpackStore(directory: paths.buildpacks)
        let chosen = try chosenBuildpacks(app, tree: tree)
        let buildpackPaths = try chosen.map { try $0.map { try store.path(for: $0) } } ?? store.builtinsInDetectionOrder()
        try writeEnvDirectory(app, envDirectory)
        defer { try? Beneath.removeTree(envDirectory) }

        let unit = UnitNames.instanceUnit(root: context.settings.rootSlice, app: app.rawValue, processType: "build", number: version, generation: 0)
        var environment = [
            "HOME": ProcessManager.appMount,
            "STACK": "heroku-22",
            "DOKKULITE_DETECT": chosen == nil ? "1" : "0",
            "DOKKU_APP_NAME": app.rawValue,
        ]
        if let revision { environment["SOURCE_VERSION"] = revision }
        let spec = ProcessSpec(
            unit: unit,
            slice: UnitNames.appSlice(root: context.settings.rootSlice, app: app.rawValue),
            description: "dokkulite \(app) build of v\(version)",
            command: "",
            workingDirectory: ProcessManager.appMount,
            environment: environment,
            identity: user.map { .user($0) } ?? .dynamic(name: nil),
            restart: .init(mode: "no", maxStarts: nil),
            stopTimeoutSeconds: 10,
            limits: .init(memoryBytes: context.settings.buildMemoryBytes),
            sandbox: .init(
                hardened: true,
                readWritePaths: [paths.cache(app), meta],
                inaccessiblePaths: ProcessManager.hiddenPaths(paths),
                bindPaths: [BindPath(source: tree, destination: ProcessManager.appMount)],
                readOnlyBindPaths: [try HelperScripts.buildDriver(paths)],
                reservedPorts: context.settings.reservedPorts),
            syslogIdentifier: "\(app).build.\(version)",
            argv: BuildDriver.argv(build: ProcessManager.appMount, cache: paths.cache(app), env: envDirectory, meta: meta, buildpacks: buildpackPaths))
        let status = try context.supervisor().runAttached(spec)
        switch status {
        case 0:
            break
        case BuildDriver.noBuildpackStatus:
            throw CommandError("Unable to select a buildpack: no built-in buildpack detected this app (add a Procfile, requirements.txt, package.json or index.html, or set one with buildpacks:set)")
        case BuildDriver.incompatibleStatus:
            let url = (try? AppFiles.text("incompatible", in: meta, limit: AppFiles.smallLimit))??.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
            throw CommandError("App not compatible with buildpack: \(url)")
        default:
            let failed = (try? AppFiles.text("failed", in: meta, limit: AppFiles.smallLimit))??.split(separator: "\t").map(String.init) ?? []
            let name = failed.count > 1 ? failed[1] : "build"
            throw CommandError("\(name) build failed (exit status \(status)): the running release is untouched")
        }
        let procfilePath = try context.store().property(.app(app), "ps", "procfile-path") ?? "Procfile"
        return try BuildOutcome.read(meta: meta, tree: tree, procfilePath: procfilePath)
    }

    /// The release directory, the tree the build writes (owned by the app), and the
    /// metadata directory the driver writes.
    private func prepare(app: AppName, version: Int, owner: (uid: uid_t, gid: gid_t)?) throws {
        let paths = context.settings.paths
        let fm = FileManager.default
        let release = paths.release(app, version: version)
        try? Beneath.removeTree(release)
        try fm.createDirectory(atPath: release, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        for directory in [paths.slug(app, version: version), release + "/meta"] {
            try fm.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        }
        try fm.createDirectory(atPath: paths.buildpacks, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        if let owner {
            chown(release, 0, owner.gid)
            chown(release + "/meta", owner.uid, owner.gid)
        }
    }

    /// ENV_DIR: one file per config var (global under app), readable by the app only.
    private func writeEnvDirectory(_ app: AppName, _ directory: String) throws {
        try? Beneath.removeTree(directory)
        guard mkdir(directory, 0o700) == 0 else { throw CommandError("cannot create \(directory): \(String(cString: strerror(errno)))") }
        let owner = try AppUser.name(of: app, store: context.store()).flatMap(AppUser.uid(of:))
        for (key, value) in try context.store().mergedConfig(app) {
            // Keys are validated when set: names of files in this directory.
            try SecretFile.write(value, to: directory + "/" + key, mode: 0o400, owner: owner)
        }
        if let owner { chown(directory, owner.uid, owner.gid) }
    }

    private func copyTree(_ source: String, to destination: String) throws {
        let result = try Subprocess.run("/bin/cp", ["-a", source + "/.", destination])
        guard result.status == 0 else { throw CommandError("cannot copy the code: \(result.stderr)") }
    }

    private func chownTree(_ path: String, _ owner: (uid: uid_t, gid: gid_t)) throws {
        let result = try Subprocess.run("/bin/chown", ["-R", "\(owner.uid):\(owner.gid)", path])
        guard result.status == 0 else { throw CommandError("cannot hand \(path) to the app's user: \(result.stderr)") }
    }

    /// This executable's path, for process types that run dokkulite itself (static sites).
    static let binaryPath: String = {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }()
}
