import ArgumentParser
import Foundation

struct AppsCreate: Command {
    static let configuration = CommandConfiguration(commandName: "apps:create", abstract: "Create a new app")
    @Argument var app: String?

    func run(in context: Context) throws {
        let app = try context.appName(app)
        try AppLifecycle(context).create(app)
    }
}

struct AppsDestroy: Command {
    static let configuration = CommandConfiguration(commandName: "apps:destroy", abstract: "Permanently destroy an app")
    @Flag var force = false
    @Argument var app: String?

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        // An app linked to services is refused unless forced; forced, it is unlinked.
        let links = try context.store().serviceLinks(app: app)
        if !links.isEmpty && !(force || context.force) {
            let names = links.map { "\($0.kind.rawValue) service \($0.name)" }.joined(separator: ", ")
            throw CommandError("Cannot destroy \(app): it is linked to \(names); unlink first, or use --force")
        }
        if !(force || context.force) {
            try Confirmation.require(app.rawValue, action: "destroy app \(app.rawValue).", output: context.output)
        }
        for link in links {
            context.output.detail("Unlinking from \(link.name)")
            try context.store().unlink(link.kind, link.name, app: app, variables: [])
        }
        try AppLifecycle(context).destroy(app)
    }
}

struct AppsList: Command {
    static let configuration = CommandConfiguration(commandName: "apps:list", abstract: "List your apps")
    static let usage = "[--format stdout|json]"
    static let takesApp = false
    @Option var format = "stdout"

    func run(in context: Context) throws {
        let names = try context.store().apps().map(\.name.rawValue)
        switch format {
        case "json":
            context.output.data(JSON.encode(names))
        case "stdout":
            context.output.section("My Apps")
            if names.isEmpty {
                context.output.warn("You haven't deployed any applications yet")
            }
            for name in names { context.output.data(name) }
        default:
            throw CommandError("Invalid --format value specified")
        }
    }
}

struct AppsExists: Command {
    static let configuration = CommandConfiguration(commandName: "apps:exists", abstract: "Checks if an app exists")
    @Argument var app: String?

    func run(in context: Context) throws {
        _ = try context.existingApp(app)
    }
}

struct AppsRename: Command {
    static let configuration = CommandConfiguration(commandName: "apps:rename", abstract: "Rename an app")
    static let usage = "<old-app> <new-app>"
    @Flag(name: .customLong("skip-deploy")) var skipDeploy = false
    @Argument var old: String?
    @Argument var new: String?

    func run(in context: Context) throws {
        let old = try context.existingApp(old)
        guard let new, !new.isEmpty else { throw CommandError("Please specify an new app name") }
        let newName = try AppName.parse(new)
        guard try !context.store().appExists(newName) else { throw CommandError("Name is already taken", kind: .conflict) }
        try AppLifecycle(context).rename(old, to: newName, deploy: !skipDeploy)
    }
}

struct AppsClone: Command {
    static let configuration = CommandConfiguration(commandName: "apps:clone", abstract: "Clones an app")
    static let usage = "[--skip-deploy] [--ignore-existing] <old-app> <new-app>"
    @Flag(name: .customLong("skip-deploy")) var skipDeploy = false
    @Flag(name: .customLong("ignore-existing")) var ignoreExisting = false
    @Argument var old: String?
    @Argument var new: String?

    func run(in context: Context) throws {
        guard let old, !old.isEmpty else { throw CommandError("Please specify an app to run the command on") }
        guard let new, !new.isEmpty else { throw CommandError("Please specify an new app name") }
        let source = try context.existingApp(old)
        let target = try AppName.parse(new)
        let store = try context.store()
        if try store.appExists(target) {
            guard ignoreExisting else { throw CommandError("Name is already taken", kind: .conflict) }
            context.output.warn("Name is already taken")
            return
        }
        context.output.step("Cloning \(source) to \(target)")
        try AppLifecycle(context).create(target)
        do {
            try store.copySettings(from: source, to: target)
            let repository = AppRepository(context: context, app: source)
            let copy = AppRepository(context: context, app: target)
            if FileManager.default.fileExists(atPath: repository.path) {
                try FileManager.default.copyItem(atPath: repository.path, toPath: copy.path)
                try copy.ensure()
            }
        } catch {
            // Nothing half-made: the new app goes again.
            try? AppLifecycle(context).destroy(target)
            throw CommandError("Cloning \(source) failed: \((error as? CommandError)?.message ?? "\(error)")")
        }
        guard !skipDeploy else { return }
        let copy = AppRepository(context: context, app: target)
        guard let revision = try copy.deployRevision() else { return }
        try GitDeploy(context: context, app: target).deploy(repository: copy.path, revision: revision, source: "git-push")
    }
}

struct AppsLock: Command {
    static let configuration = CommandConfiguration(commandName: "apps:lock", abstract: "Locks an app for deployment")
    @Argument var app: String?

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        try context.store().setLocked(app, true)
        context.output.step("Deploy lock created")
    }
}

struct AppsUnlock: Command {
    static let configuration = CommandConfiguration(commandName: "apps:unlock", abstract: "Unlocks an app for deployment")
    @Argument var app: String?

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        let store = try context.store()
        let held = try store.deployLock(app)
        guard try store.app(app)?.locked == true || held != nil else {
            throw CommandError("Unable to remove deploy lock")
        }
        if held != nil {
            context.output.warn("A deploy may be in progress.")
            context.output.warn("Removing the app lock will not stop in progress deploys.")
            try store.releaseDeployLock(app)
        }
        try store.setLocked(app, false)
        context.output.step("Deploy lock removed")
    }
}

struct AppsLocked: Command {
    static let configuration = CommandConfiguration(commandName: "apps:locked", abstract: "Checks if an app is locked for deployment")
    @Argument var app: String?

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        let store = try context.store()
        guard try store.app(app)?.locked == true || store.deployLock(app) != nil else {
            throw CommandError("Deploy lock does not exist", kind: .notFound)
        }
        if !context.output.quiet { context.output.data("Deploy lock exists") }
    }
}

struct AppsReport: Command {
    static let configuration = CommandConfiguration(commandName: "apps:report", abstract: "Display report about an app")
    static let usage = "[<app>] [<flag>]"
    @Argument(parsing: .allUnrecognized) var words: [String] = []

    func run(in context: Context) throws {
        let store = try context.store()
        let disableAutocreation = try store.property(.global, "apps", "disable-autocreation") ?? ""
        let global = ["--app-global-disable-autocreation": disableAutocreation]
        try context.printReports("app", words, global: { global }) { app in
            guard let record = try store.app(app) else { return nil }
            let locked = try record.locked || store.deployLock(app) != nil
            let source = try store.property(.app(app), "apps", "deploy-source") ?? ""
            let metadata = try store.property(.app(app), "apps", "deploy-source-metadata") ?? ""
            let values = [
                "--app-created-at": String(Int(record.createdAt.timeIntervalSince1970)),
                "--app-deploy-source": source,
                "--app-deploy-source-metadata": metadata,
                "--app-dir": context.settings.paths.app(app),
                "--app-global-disable-autocreation": disableAutocreation,
                "--app-locked": locked ? "true" : "false",
            ]
            return values
        }
    }
}

struct AppsSet: Command {
    static let configuration = CommandConfiguration(commandName: "apps:set", abstract: "Set or clear an apps property for an app")
    static let usage = "[--global|<app>] <key> (<value>)"
    @Flag var global = false
    @Argument var words: [String] = []

    func run(in context: Context) throws {
        var words = words[...]
        let appWord = global ? nil : words.popFirst()
        let key = words.popFirst() ?? ""
        let value = words.isEmpty ? nil : words.joined(separator: " ")
        // As Dokku: disable-autocreation is global only, the deploy-source ones per app.
        try PropertySetter(
            namespace: "apps", properties: ["deploy-source": false, "deploy-source-metadata": false, "disable-autocreation": true],
            globalOnly: ["disable-autocreation": "Property can only be specified globally"]
        ).set(context: context, appWord: appWord, global: global, key: key, value: value)
    }
}

/// Dokku's confirmation prompt for destructive commands.
enum Confirmation {
    /// Asks the user to type `expected`; throws unless they do.
    static func require(_ expected: String, action: String, output: Output) throws {
        output.warn("WARNING: Potentially Destructive Action")
        output.warn("This command will \(action)")
        output.warn("To proceed, type \"\(expected)\"")
        output.raw("> ")
        let answer = readLine(strippingNewline: true)?.trimmingCharacters(in: .whitespaces)
        guard answer == expected else {
            FileHandle.standardError.write(Data("Confirmation did not match \(expected). Aborted.\n".utf8))
            throw CommandError("", exitCode: 1)
        }
    }
}

extension Context {
    /// The apps a report covers: the named one, or all of them.
    /// `NS:report [<app>] [<flag>]`: the report of the app named, or of every app, each
    /// built by `values` (nil: nothing to report for that app).
    /// With `--global`, the one report is `global` (nil: the namespace's global properties
    /// as `--TYPE-global-KEY`).
    func printReports(_ type: String, _ words: [String], global: (() throws -> [String: String])? = nil, _ values: (AppName) throws -> [String: String]?) throws {
        let arguments = try ReportArguments(words)
        if arguments.global {
            guard arguments.app == nil else { throw CommandError("Cannot specify both --global and an app") }
            let values = try global?() ?? Dictionary(uniqueKeysWithValues: try store().properties(.global, type).map { ("--\(type)-global-\($0.key)", $0.value) })
            try Report(type: type, values: values).print(subject: "--global", arguments: arguments, output: output)
            return
        }
        for app in try reportApps(arguments) {
            guard let values = try values(app) else { continue }
            try Report(type: type, values: values).print(subject: app.rawValue, arguments: arguments, output: output)
        }
    }

    func reportApps(_ arguments: ReportArguments) throws -> [AppName] {
        if let app = arguments.app { return [try existingApp(app)] }
        let apps = try store().apps().map(\.name)
        if apps.isEmpty { output.warn("You haven't deployed any applications yet") }
        return apps
    }
}
