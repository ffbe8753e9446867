import ArgumentParser
import Builder
import Foundation

/// The app name in `git-receive-pack 'APP'` as git sends it over ssh: quotes, a leading
/// `/` and a trailing `.git` are dropped, then the name must be a valid app name.
func repositoryArgument(_ raw: String?) throws -> AppName {
    guard var text = raw, !text.isEmpty else { throw CommandError.missingApp }
    if text.count >= 2, text.first == "'", text.last == "'" { text = String(text.dropFirst().dropLast()) }
    if text.hasPrefix("/") { text.removeFirst() }
    if text.hasSuffix(".git") { text.removeLast(4) }
    return try AppName.parse(text)
}

/// The app's bare repository with its `pre-receive` hook, created on first use.
struct AppRepository {
    let context: Context
    let app: AppName

    var path: String { context.settings.paths.repository(app) }

    /// Creates the repository and (re)writes its hook so it calls this binary.
    @discardableResult
    func ensure() throws -> GitRepository {
        let repository = try GitRepository.initBare(path)
        let hook = path + "/hooks/pre-receive"
        try FileManager.default.createDirectory(atPath: path + "/hooks", withIntermediateDirectories: true)
        let script = """
            #!/usr/bin/env bash
            # Installed by dokkulite: builds and deploys pushes to the deploy branch.
            set -eo pipefail
            exec \(ConfigVars.singleQuoted(ReleaseBuilder.binaryPath)) git-hook \(ConfigVars.singleQuoted(app.rawValue))

            """
        try Data(script.utf8).write(to: URL(fileURLWithPath: hook))
        chmod(hook, 0o755)
        return repository
    }

    /// The revision the deploy branch points at; nil while nothing was pushed to it.
    func deployRevision() throws -> String? {
        let branch = try deployBranch() ?? "master"
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return try? GitRepository.open(path, environment: [:]).resolve("refs/heads/\(branch)")
    }

    /// The branch pushes deploy from: the app's setting, the global one, else `master`.
    func deployBranch() throws -> String? {
        let store = try context.store()
        return try store.computedProperty(app, "git", "deploy-branch")
    }
}

/// `git-receive-pack 'APP'`: what a push runs (through the ssh entry). Creates the app on
/// first push unless auto-creation is off, then hands over to git.
struct GitReceivePack: Command {
    static let configuration = CommandConfiguration(commandName: "git-receive-pack", abstract: "Receive a git push into an app's repository", shouldDisplay: false)
    static let usage = "'<app>'"
    @Argument var app: String?

    func run(in context: Context) throws {
        let app = try repositoryArgument(app)
        let store = try context.store()
        if try !store.appExists(app) {
            if try store.property(.global, "apps", "disable-autocreation") == "true" {
                throw CommandError("App auto-creation disabled.\nRe-enable app auto-creation or create an app with 'dokku apps:create \(app)'")
            }
            var quiet = context.output
            quiet.quiet = true
            let silent = Context(settings: context.settings, output: quiet)
            try AppLifecycle(silent).create(app)
        }
        let repository = AppRepository(context: context, app: app)
        try repository.ensure()
        try GitExec.replaceProcess("git-receive-pack", [repository.path])
    }
}

/// `git-upload-pack 'APP'`: clone or fetch an app's repository.
struct GitUploadPack: Command {
    static let configuration = CommandConfiguration(commandName: "git-upload-pack", abstract: "Serve an app's repository to git clone or fetch", shouldDisplay: false)
    static let usage = "'<app>'"
    @Argument var app: String?

    func run(in context: Context) throws {
        let app = try repositoryArgument(app)
        guard try context.store().appExists(app) else { throw CommandError.appNotFound(app.rawValue) }
        let repository = AppRepository(context: context, app: app)
        guard FileManager.default.fileExists(atPath: repository.path) else {
            throw CommandError("App \(app) has no git repository yet: push to it first")
        }
        try GitExec.replaceProcess("git-upload-pack", [repository.path])
    }
}

/// `git-hook APP`: the `pre-receive` hook. Reads `OLD NEW REF` lines; a push to the deploy
/// branch is built and deployed inside the push, and a failure rejects it.
struct GitHook: Command {
    static let configuration = CommandConfiguration(commandName: "git-hook", abstract: "Build and deploy a pushed revision (pre-receive hook)", shouldDisplay: false)
    static let access = Access.serverRoot
    @Argument var app: String?

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        let repository = AppRepository(context: context, app: app)
        var updates: [(new: String, branch: String)] = []
        while let line = readLine() {
            let parts = line.split(separator: " ").map(String.init)
            guard parts.count == 3, parts[2].hasPrefix("refs/heads/") else { continue }
            if parts[1].allSatisfy({ $0 == "0" }) { continue }
            updates.append((parts[1], String(parts[2].dropFirst("refs/heads/".count))))
        }
        for update in updates {
            try Plugins(context).fire("pre-receive-app", [app.rawValue, "buildpacks", repository.path, update.new])
            var deployBranch = try repository.deployBranch()
            if deployBranch == nil {
                if update.branch != "master", try context.store().releases(app).isEmpty {
                    try context.store().setProperty(.app(app), "git", "deploy-branch", update.branch)
                    context.output.step("Set \(update.branch) as deploy-branch")
                    deployBranch = update.branch
                } else {
                    deployBranch = "master"
                }
            }
            guard update.branch == deployBranch else {
                context.output.step("WARNING: deploy did not complete, you must push to \(deployBranch!).")
                context.output.step("for example, try 'git push <dokku> \(update.branch):\(deployBranch!)'")
                continue
            }
            try GitDeploy(context: context, app: app).deploy(repository: repository.path, revision: update.new, source: "git-push")
        }
    }
}

/// Deploying a revision of an app's repository (push, rebuild, sync, archive).
struct GitDeploy {
    let context: Context
    let app: AppName

    func deploy(repository: String, revision: String, source: String, metadata: String? = nil) throws {
        let store = try context.store()
        let short = String(revision.prefix(7))
        if try store.property(.app(app), "git", "rev-env-var") != "" {
            let name = try store.property(.app(app), "git", "rev-env-var") ?? "GIT_REV"
            try store.setConfig(.app(app), [(name, revision)])
        }
        try store.setProperty(.app(app), "apps", "deploy-source", source)
        try store.setProperty(.app(app), "apps", "deploy-source-metadata", metadata ?? revision)
        try Deployer(context).buildAndDeploy(app, source: .git(repository: repository, revision: revision), description: "\(source) \(short)")
    }
}

struct GitSet: Command {
    static let configuration = CommandConfiguration(commandName: "git:set", abstract: "Set or clear a git property for an app")
    static let usage = "(<app>|--global) <key> [<value>]"
    @Flag var global = false
    @Argument var words: [String] = []

    func run(in context: Context) throws {
        var words = words[...]
        let scope: Scope = global ? .global : .app(try context.existingApp(words.popFirst()))
        guard let key = words.popFirst(), !key.isEmpty else { throw CommandError("No key specified") }
        let keys = ["archive-max-files", "archive-max-size", "deploy-branch", "keep-git-dir", "rev-env-var", "source-image"]
        guard keys.contains(key) else { throw CommandError("Invalid key specified, valid keys include: \(keys.joined(separator: ", "))") }
        let value = words.joined(separator: " ")
        if key == "deploy-branch", !value.isEmpty, !Self.isValidBranch(value) {
            throw CommandError("Invalid branch name '\(value)' specified via deploy-branch setting.")
        }
        if key == "rev-env-var", !value.isEmpty { try ConfigVars.validate(key: value) }
        if key.hasPrefix("archive-max-"), !value.isEmpty, (Int(value) ?? 0) <= 0 {
            throw CommandError("Invalid \(key) value: \(value) (expected a positive integer)")
        }
        if value.isEmpty {
            context.output.section("Unsetting \(key)")
            // An empty rev-env-var disables GIT_REV, as in Dokku.
            try context.store().setProperty(scope, "git", key, key == "rev-env-var" ? "" : nil)
        } else {
            context.output.section("Setting \(key) to \(value)")
            try context.store().setProperty(scope, "git", key, value)
        }
    }

    /// The common rules of `git check-ref-format --branch`.
    static func isValidBranch(_ name: String) -> Bool {
        guard !name.isEmpty, !name.hasPrefix("-"), !name.hasPrefix("/"), !name.hasSuffix("/"), !name.hasSuffix(".lock"),
            !name.hasSuffix("."), !name.contains(".."), !name.contains("@{"), !name.contains("//")
        else { return false }
        return !name.unicodeScalars.contains { $0.value < 0x20 || $0 == " " || $0 == "~" || $0 == "^" || $0 == ":" || $0 == "?" || $0 == "*" || $0 == "[" || $0 == "\\" || $0 == "\u{7f}" }
    }
}

struct GitReport: Command {
    static let configuration = CommandConfiguration(commandName: "git:report", abstract: "Displays a git report for one or more apps")
    static let usage = "[<app>|--global] [<flag>]"
    @Argument(parsing: .allUnrecognized) var words: [String] = []

    /// Dokku's git settings with the defaults it computes, and what the app's repository says.
    static let report = SettingsReport(
        namespace: "git",
        keys: [
            .init(name: "archive-max-files", fallback: "10000"), .init(name: "archive-max-size", fallback: "1073741824"),
            .init(name: "deploy-branch", fallback: "master"), .init(name: "keep-git-dir", fallback: "false"),
        ],
        appOnly: ["source-image"],
        extra: { app, context in
            let repository = AppRepository(context: context, app: app)
            let branch = try repository.deployBranch() ?? "master"
            return [
                "--git-rev-env-var": try context.store().property(.app(app), "git", "rev-env-var") ?? "GIT_REV",
                "--git-sha": try repository.deployRevision() ?? "",
                "--git-last-updated-at": lastUpdated(repository.path, branch: branch),
            ]
        })

    /// When the deploy branch last moved (its ref's modification time), as Dokku reports.
    static func lastUpdated(_ repository: String, branch: String) -> String {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: "\(repository)/refs/heads/\(branch)"),
            let date = attributes[.modificationDate] as? Date
        else { return "" }
        return String(Int(date.timeIntervalSince1970))
    }

    func run(in context: Context) throws {
        try Self.report.run(words, context: context)
    }
}

/// The git client, for what libgit2 is not used for here: moving one commit between
/// repositories. It runs without the `GIT_` variables of a push's hook, which would point
/// it at the pushed repository.
struct GitClient {
    let environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("GIT_") }.merging(GitExec.rootConfiguration) { $1 }

    func run(_ arguments: [String]) throws {
        let result = try Subprocess.run("/usr/bin/git", arguments, environment: environment)
        guard result.status == 0 else {
            throw CommandError("git \(arguments.first { !$0.hasPrefix("-") && !$0.hasPrefix("/") } ?? "") failed: \(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }

    /// Fetches `revision` of `source` into the repository at `gitDirectory` (as `ref`, when
    /// given): any commit, not only a ref's tip. Inside a push the new objects are still in
    /// git's quarantine, which only the hook's environment shows: the upload side gets that
    /// part of it, the receiving repository never does.
    func fetch(_ revision: String, from source: String, into gitDirectory: String, as ref: String? = nil) throws {
        let inherited = ProcessInfo.processInfo.environment
        let quarantine = ["GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_QUARANTINE_PATH"]
            .compactMap { key in inherited[key].map { "\(key)='\($0.replacingOccurrences(of: "'", with: "'\\''"))'" } }
        let uploadPack = (["env"] + quarantine + ["git", "-c", "uploadpack.allowAnySHA1InWant=true", "upload-pack"]).joined(separator: " ")
        try run(["--git-dir", gitDirectory, "fetch", "--quiet", "--no-tags", "--upload-pack", uploadPack, source, ref.map { "+\(revision):\($0)" } ?? revision])
    }
}

/// Replacing this process with a git program keeps the ssh channel's stdio as is.
enum GitExec {
    /// The git client runs as root here: it reads no configuration but the repository's
    /// own (root's `~/.gitconfig` or `~/.config/git/config` could name hooks or programs to
    /// run, and a path someone else once wrote there must never matter).
    static let rootConfiguration = ["GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_TERMINAL_PROMPT": "0"]

    static func replaceProcess(_ program: String, _ arguments: [String]) throws -> Never {
        for (key, value) in rootConfiguration { setenv(key, value, 1) }
        let argv = [program] + arguments
        var cArgs = argv.map { strdup($0) }
        cArgs.append(nil)
        execvp(program, &cArgs)
        throw CommandError("cannot run \(program): \(String(cString: strerror(errno)))")
    }
}
