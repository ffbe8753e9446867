import ArgumentParser
import Beneath
import Foundation

struct RepoGC: Command {
    static let configuration = CommandConfiguration(commandName: "repo:gc", abstract: "Runs 'git gc --aggressive' against the application's repo")
    static let usage = "<app>"
    @Argument var app: String?

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        let repository = context.settings.paths.repository(app)
        // An app not pushed to yet has no repository, and nothing to collect.
        guard FileManager.default.fileExists(atPath: repository) else { return }
        let result = try Subprocess.run("/usr/bin/git", ["--git-dir", repository, "gc", "--aggressive", "--quiet"], environment: GitClient().environment)
        guard result.status == 0 else {
            throw CommandError("Unable to run git gc: \(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }
}

struct RepoPurgeCache: Command {
    static let configuration = CommandConfiguration(commandName: "repo:purge-cache", abstract: "Deletes the contents of the build cache stored in the repository")
    static let usage = "<app>"
    @Argument var app: String?

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        let cache = context.settings.paths.cache(app)
        // The directory stays, with its owner (the app's user): the next build fills it.
        do {
            try Beneath.emptyDirectory(cache)
        } catch {
            throw CommandError("Unable to purge the build cache of \(app): \(error)")
        }
    }
}
