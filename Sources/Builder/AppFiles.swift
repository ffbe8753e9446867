package import Beneath

/// Reading the files an app supplies or its build writes (Procfile, app.json, CHECKS,
/// `.buildpacks`, the build's metadata) as root. Everything there is the app's to write,
/// at build time and at run time, so each file is opened under its directory without
/// leaving it (`Beneath`), must be a regular file, and is read up to a cap.
package enum AppFiles {
    /// `.buildpacks`, CHECKS, a build's small metadata files.
    package static let smallLimit = 64 * 1024
    /// A Procfile.
    package static let procfileLimit = 256 * 1024
    /// app.json, a buildpack's `bin/release` output.
    package static let appJSONLimit = 1 << 20

    /// The text of `relative` under `root` (links followed only while they stay inside it),
    /// or nil when there is no such file.
    package static func text(_ relative: String, in root: String, limit: Int, links: Beneath.Links = .inside) throws(BuildError) -> String? {
        do {
            return try Beneath.readText(relative, in: root, limit: limit, links: links)
        } catch {
            throw .refusedFile(path: relative, reason: error.reason)
        }
    }
}
