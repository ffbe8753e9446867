/// Every on-disk location dokkulite uses, derived from one root (`DOKKULITE_ROOT`,
/// default `/var/lib/dokkulite`). Paths under an app are only built from an `AppName`.
struct Paths: Sendable {
    /// The state root.
    let root: String
    /// The storage root: the directories of named storage entries (`storage:create`) and of
    /// `storage:ensure-directory`, and where a mount's bare name points. Dokku's own
    /// (`/var/lib/dokku/data/storage`) unless `DOKKULITE_STORAGE_ROOT` names another, so
    /// the data of an app moved from Dokku, and the scripts that back it up, stay where they
    /// were.
    let storage: String

    /// Where service backups (`postgres:backup S file:///…`) may be written: a `file://`
    /// target must be beneath it (`DOKKULITE_BACKUP_ROOT`, default `/var/backups/dokkulite`),
    /// so a key holder cannot have root write a dump into the server's own directories.
    let backups: String

    /// Dokku's storage directory.
    static let dokkuStorage = "/var/lib/dokku/data/storage"
    /// The default backup root.
    static let defaultBackups = "/var/backups/dokkulite"

    init(root: String, storage: String? = nil, backups: String? = nil) {
        func trimmed(_ path: String) -> String { path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path }
        self.root = trimmed(root)
        self.storage = trimmed(storage ?? Self.dokkuStorage)
        self.backups = trimmed(backups ?? Self.defaultBackups)
    }

    /// The SQLite database.
    var database: String { "\(root)/dokkulite.db" }
    /// All apps' directories.
    var apps: String { "\(root)/apps" }
    /// Installed buildpacks (fetched ones; built-in ones ship with the binary).
    var buildpacks: String { "\(root)/buildpacks" }
    /// Certificates and keys, root-only.
    var certs: String { "\(root)/certs" }
    /// Plugins.
    var plugins: String { "\(root)/plugins" }
    /// Let's Encrypt: account keys and the state of each app's certificate, root-only.
    var letsencrypt: String { "\(root)/letsencrypt" }
    /// ACME HTTP-01 answers the proxy serves while a certificate is being issued.
    var acmeChallenges: String { "\(root)/acme-challenges" }

    /// Services (`postgres:create`, `redis:create`): `services/KIND/NAME`.
    var services: String { "\(root)/services" }

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
