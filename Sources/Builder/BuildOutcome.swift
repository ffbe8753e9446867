import Foundation
import Yams

/// What a finished build produced, read from the build's metadata directory and tree.
package struct BuildOutcome: Sendable, Equatable {
    /// The buildpacks that ran, with the names their detect printed.
    package var buildpacks: [(source: String, name: String)]
    /// Process type → command: the Procfile over the buildpacks' default types.
    package var processTypes: [String: String]
    /// Where the types came from, for the build output.
    package var procfileTypes: [String]
    package var defaultTypes: [String]
    /// `config_vars` from `bin/release`, used as defaults under the app's own config.
    package var configVars: [String: String]
    /// The app's app.json, parsed, and its raw text.
    package var appJSON: AppJSON
    package var appJSONText: String

    package static func == (lhs: BuildOutcome, rhs: BuildOutcome) -> Bool {
        lhs.buildpacks.map(\.source) == rhs.buildpacks.map(\.source) && lhs.processTypes == rhs.processTypes
            && lhs.configVars == rhs.configVars && lhs.appJSON == rhs.appJSON
    }

    /// Reads the outcome: `meta` holds the driver's files, `tree` is the built app.
    package static func read(meta: String, tree: String, procfilePath: String = "Procfile") throws(BuildError) -> BuildOutcome {
        // The driver writes `meta` as the app's user: plain files, never links.
        let used = try AppFiles.text("buildpacks", in: meta, limit: AppFiles.smallLimit, links: .refused) ?? ""
        let buildpacks = used.split(separator: "\n").map { line -> (String, String) in
            let parts = line.split(separator: "\t", maxSplits: 1).map(String.init)
            return (parts[0], parts.count > 1 ? parts[1] : parts[0])
        }
        var defaults: [String: String] = [:]
        var configVars: [String: String] = [:]
        for index in 0..<buildpacks.count {
            guard let text = try AppFiles.text("release.\(index).yml", in: meta, limit: AppFiles.appJSONLimit, links: .refused) else { continue }
            let release = try parseRelease(text, buildpack: buildpacks[index].1)
            defaults.merge(release.types) { $1 }
            configVars.merge(release.configVars) { $1 }
        }
        var types = defaults
        var procfileTypes: [String] = []
        if let text = try AppFiles.text(procfilePath, in: tree, limit: AppFiles.procfileLimit) {
            let procfile = try Procfile(parsing: text, file: procfilePath)
            for entry in procfile.entries { types[entry.type] = entry.command }
            procfileTypes = procfile.types
        }
        var appJSON = AppJSON()
        var appJSONText = "{}"
        if let text = try AppFiles.text("app.json", in: tree, limit: AppFiles.appJSONLimit) {
            appJSON = try AppJSON(parsing: Data(text.utf8))
            appJSONText = text
        }
        return BuildOutcome(
            buildpacks: buildpacks, processTypes: types, procfileTypes: procfileTypes,
            defaultTypes: defaults.keys.sorted(), configVars: configVars, appJSON: appJSON, appJSONText: appJSONText)
    }

    /// Parses `bin/release` YAML: `default_process_types` and `config_vars`. The text is
    /// the build's (app code's) and root parses it: it is composed into nodes, which share
    /// an alias's target rather than copy it, and only scalar values are taken, so a YAML
    /// alias bomb costs no more than its text.
    package static func parseRelease(_ text: String, buildpack: String) throws(BuildError) -> (types: [String: String], configVars: [String: String]) {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            throw .buildpackFailed(buildpack: buildpack, phase: "release (invalid YAML: \(error))", status: 1)
        }
        guard let root = node?.mapping else { return ([:], [:]) }
        func strings(_ key: String) -> [String: String] {
            guard let map = root[key]?.mapping else { return [:] }
            var values: [String: String] = [:]
            for (name, value) in map {
                guard let name = name.scalar?.string, let scalar = value.scalar, value.null == nil else { continue }
                values[name] = scalar.string
            }
            return values
        }
        return (strings("default_process_types"), strings("config_vars"))
    }
}
