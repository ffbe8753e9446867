/// Every on-disk location dokkulite uses, derived from one root (`DOKKULITE_ROOT`,
/// default `/var/lib/dokkulite`). Paths under an app are only built from an `AppName`.
struct Paths: Sendable {
    /// The state root.
    let root: String

    init(root: String) {
        self.root = root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root
    }

    /// The SQLite database.
    var database: String { "\(root)/dokkulite.db" }
    /// All apps' directories.
    var apps: String { "\(root)/apps" }
    /// Installed buildpacks (fetched ones; built-in ones ship with the binary).
    var buildpacks: String { "\(root)/buildpacks" }
    /// Certificates and keys, root-only.
    var certs: String { "\(root)/certs" }
    /// Host directories made for `storage:mount` (`storage:ensure-directory`).
    var storage: String { "\(root)/storage" }
    /// Plugins.
    var plugins: String { "\(root)/plugins" }

    /// One app's directory.
    func app(_ app: AppName) -> String { "\(apps)/\(app.rawValue)" }
    /// The app's bare git repository.
    func repository(_ app: AppName) -> String { "\(self.app(app))/repo.git" }
    /// The buildpack CACHE_DIR, kept between builds.
    func cache(_ app: AppName) -> String { "\(self.app(app))/cache" }
    /// All releases of the app.
    func releases(_ app: AppName) -> String { "\(self.app(app))/releases" }
    /// One release's directory; its `app` subdirectory is the built tree.
    func release(_ app: AppName, version: Int) -> String { "\(releases(app))/v\(version)" }
    /// The built tree of a release, where processes run.
    func slug(_ app: AppName, version: Int) -> String { "\(release(app, version: version))/app" }
    /// The root-only file holding the app's config vars for systemd's `EnvironmentFile=`.
    func environmentFile(_ app: AppName) -> String { "\(self.app(app))/ENV" }
    /// The persistent data directory that survives deploys.
    func data(_ app: AppName) -> String { "\(self.app(app))/data" }
}
