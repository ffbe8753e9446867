import ArgumentParser
import Builder

/// The app's buildpack list, one URL per line in the `buildpacks/list` property.
private struct BuildpackList {
    let context: Context
    let app: AppName

    func read() throws -> [String] {
        (try context.store().property(.app(app), "buildpacks", "list") ?? "").split(separator: "\n").map(String.init)
    }

    func write(_ urls: [String]) throws {
        try context.store().setProperty(.app(app), "buildpacks", "list", urls.isEmpty ? nil : urls.joined(separator: "\n"))
    }
}

/// Validates and expands a buildpack as Dokku does (`heroku/NAME` → its GitHub URL): the
/// `OWNER/NAME` shorthand or a URL with a host and a path; besides, `file://` and `ssh://`
/// URLs for root at the console. Over ssh, only buildpacks on the network: one on the
/// server's disk (another app's repository, say) or behind root's ssh keys is for root at
/// the console to name.
private func buildpackURL(_ text: String?, context: Context) throws -> String {
    guard let text, !text.isEmpty else { throw CommandError("Must specify a buildpack url or reference") }
    let serverURL = ["file://", "ssh://"].contains { text.lowercased().hasPrefix($0) }
    guard let reference = BuildpackReference(text), BuildpackReference.isDokkuForm(text) || serverURL else {
        throw CommandError("Invalid buildpack specified: \(text)")
    }
    if context.settings.remoteCaller, reference.reach == .server {
        throw CommandError("Invalid buildpack specified: \(text) (over ssh, a buildpack URL must use https, http or git)")
    }
    return reference.url
}

struct BuildpacksAdd: Command {
    static let configuration = CommandConfiguration(commandName: "buildpacks:add", abstract: "Add new app buildpack while inserting into list of buildpacks if necessary")
    static let usage = "[--index N] <app> <buildpack>"
    @Option var index: Int?
    @Argument var app: String?
    @Argument var buildpack: String?

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        let url = try buildpackURL(buildpack, context: context)
        let list = BuildpackList(context: context, app: app)
        var urls = try list.read()
        guard !urls.contains(url) else { throw CommandError("The buildpack \(url) is already in the list") }
        if let index {
            guard index >= 1 else { throw CommandError("Index must be 1 or more") }
            urls.insert(url, at: min(index - 1, urls.count))
        } else {
            urls.append(url)
        }
        try list.write(urls)
    }
}

struct BuildpacksSet: Command {
    static let configuration = CommandConfiguration(commandName: "buildpacks:set", abstract: "Set new app buildpack at a given position defaulting to the first buildpack if no index is specified")
    static let usage = "[--index N] <app> <buildpack>"
    @Option var index: Int?
    @Flag var replace = false
    @Argument var app: String?
    @Argument var buildpacks: [String] = []

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        let list = BuildpackList(context: context, app: app)
        if replace {
            guard index == nil else { throw CommandError("The --index flag cannot be used with --replace") }
            guard !buildpacks.isEmpty else { throw CommandError("Must specify at least one buildpack, use buildpacks:clear to remove all buildpacks") }
            try list.write(try buildpacks.map { try buildpackURL($0, context: context) })
            return
        }
        guard buildpacks.count <= 1 else { throw CommandError("Setting multiple buildpacks requires the --replace flag") }
        let url = try buildpackURL(buildpacks.first, context: context)
        var urls = try list.read()
        let position = (index ?? 1) - 1
        guard position >= 0 else { throw CommandError("Index must be 1 or more") }
        if position < urls.count { urls[position] = url } else { urls.append(url) }
        try list.write(urls)
    }
}

struct BuildpacksRemove: Command {
    static let configuration = CommandConfiguration(commandName: "buildpacks:remove", abstract: "Remove a buildpack set on the app")
    static let usage = "<app> (<buildpack>|--index N)"
    @Option var index: Int?
    @Argument var app: String?
    @Argument var buildpack: String?

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        guard (index == nil) != (buildpack == nil) else {
            throw CommandError(index == nil ? "Must specify a buildpack to remove, either by index or URL" : "Please choose either index or Buildpack, but not both")
        }
        let list = BuildpackList(context: context, app: app)
        var urls = try list.read()
        guard !urls.isEmpty else { throw CommandError("No buildpacks were found, next release on \(app) will detect buildpack normally") }
        if let index {
            guard (1...urls.count).contains(index) else { throw CommandError("Index not found") }
            context.output.step("Removing \(urls[index - 1])")
            urls.remove(at: index - 1)
        } else {
            let url = try buildpackURL(buildpack, context: context)
            guard let position = urls.firstIndex(of: url) else { throw CommandError("Value not found") }
            context.output.step("Removing \(url)")
            urls.remove(at: position)
        }
        try list.write(urls)
    }
}

struct BuildpacksClear: Command {
    static let configuration = CommandConfiguration(commandName: "buildpacks:clear", abstract: "Clear all buildpacks set on the app")
    @Argument var app: String?

    func run(in context: Context) throws {
        try BuildpackList(context: context, app: try context.existingApp(app)).write([])
    }
}

struct BuildpacksList: Command {
    static let configuration = CommandConfiguration(commandName: "buildpacks:list", abstract: "List all buildpacks for an app")
    @Argument var app: String?

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        context.output.step("\(app) buildpack urls")
        for url in try BuildpackList(context: context, app: app).read() {
            if context.output.quiet { context.output.data(url) } else { context.output.detail(url) }
        }
    }
}

struct BuildpacksReport: Command {
    static let configuration = CommandConfiguration(commandName: "buildpacks:report", abstract: "Displays a buildpack report for one or more apps")
    static let usage = "[<app>] [<flag>]"
    @Argument(parsing: .allUnrecognized) var words: [String] = []

    func run(in context: Context) throws {
        try context.printReports("buildpacks", words) { app in
            let values = [
                "--buildpacks-list": try BuildpackList(context: context, app: app).read().joined(separator: ","),
                "--buildpacks-stack": "",
                "--buildpacks-computed-stack": "heroku-22",
                "--buildpacks-global-stack": "",
            ]
            return values
        }
    }
}
