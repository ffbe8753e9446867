import GRDB

extension Store {
    /// The schema, one migration per version. Never edit a shipped migration; add one.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE app (
                    name TEXT PRIMARY KEY NOT NULL,
                    createdAt DATETIME NOT NULL,
                    locked BOOLEAN NOT NULL DEFAULT 0
                );
                CREATE TABLE configVar (
                    app TEXT NOT NULL REFERENCES app(name) ON DELETE CASCADE ON UPDATE CASCADE,
                    key TEXT NOT NULL,
                    value BLOB NOT NULL,
                    PRIMARY KEY (app, key)
                );
                CREATE TABLE globalConfigVar (
                    key TEXT PRIMARY KEY NOT NULL,
                    value BLOB NOT NULL
                );
                CREATE TABLE domain (
                    app TEXT NOT NULL REFERENCES app(name) ON DELETE CASCADE ON UPDATE CASCADE,
                    name TEXT NOT NULL,
                    position INTEGER NOT NULL,
                    PRIMARY KEY (app, name)
                );
                CREATE TABLE globalDomain (
                    name TEXT PRIMARY KEY NOT NULL,
                    position INTEGER NOT NULL
                );
                CREATE TABLE portMap (
                    app TEXT NOT NULL REFERENCES app(name) ON DELETE CASCADE ON UPDATE CASCADE,
                    scheme TEXT NOT NULL,
                    hostPort INTEGER NOT NULL,
                    containerPort INTEGER NOT NULL,
                    PRIMARY KEY (app, scheme, hostPort, containerPort)
                );
                CREATE TABLE formation (
                    app TEXT NOT NULL REFERENCES app(name) ON DELETE CASCADE ON UPDATE CASCADE,
                    processType TEXT NOT NULL,
                    quantity INTEGER NOT NULL CHECK (quantity >= 0),
                    PRIMARY KEY (app, processType)
                );
                CREATE TABLE property (
                    app TEXT NOT NULL REFERENCES app(name) ON DELETE CASCADE ON UPDATE CASCADE,
                    namespace TEXT NOT NULL,
                    key TEXT NOT NULL,
                    value TEXT NOT NULL,
                    PRIMARY KEY (app, namespace, key)
                );
                CREATE TABLE globalProperty (
                    namespace TEXT NOT NULL,
                    key TEXT NOT NULL,
                    value TEXT NOT NULL,
                    PRIMARY KEY (namespace, key)
                );
                CREATE TABLE deployLock (
                    app TEXT PRIMARY KEY NOT NULL REFERENCES app(name) ON DELETE CASCADE ON UPDATE CASCADE,
                    pid INTEGER NOT NULL,
                    bootID TEXT NOT NULL,
                    startedAt DATETIME NOT NULL,
                    operation TEXT NOT NULL
                );
                CREATE TABLE release (
                    app TEXT NOT NULL REFERENCES app(name) ON DELETE CASCADE ON UPDATE CASCADE,
                    version INTEGER NOT NULL,
                    status TEXT NOT NULL,
                    revision TEXT,
                    description TEXT NOT NULL DEFAULT '',
                    buildpacks TEXT NOT NULL DEFAULT '[]',
                    processTypes TEXT NOT NULL DEFAULT '{}',
                    appJSON TEXT NOT NULL DEFAULT '{}',
                    configVars TEXT NOT NULL DEFAULT '{}',
                    createdAt DATETIME NOT NULL,
                    buildSeconds DOUBLE,
                    failure TEXT,
                    PRIMARY KEY (app, version)
                );
                CREATE TABLE instance (
                    unit TEXT PRIMARY KEY NOT NULL,
                    app TEXT NOT NULL REFERENCES app(name) ON DELETE CASCADE ON UPDATE CASCADE,
                    release INTEGER NOT NULL,
                    processType TEXT NOT NULL,
                    number INTEGER NOT NULL,
                    port INTEGER UNIQUE,
                    state TEXT NOT NULL,
                    generation INTEGER NOT NULL
                );
                CREATE INDEX instance_app ON instance(app);
                """)
        }
        migrator.registerMigration("v2-one-user-per-app") { db in
            // No two apps may run as one user. An older install that recorded one user for
            // two apps keeps working without the index; new users are checked in code too.
            let shared = try Int.fetchOne(db, sql: """
                SELECT COUNT(*) FROM (SELECT value FROM property WHERE namespace = 'apps' AND key = 'user' GROUP BY value HAVING COUNT(*) > 1)
                """) ?? 0
            if shared == 0 {
                try db.execute(sql: "CREATE UNIQUE INDEX app_user ON property(value) WHERE namespace = 'apps' AND key = 'user'")
            }
        }
        registerServiceMigration(&migrator)
        registerAPIMigration(&migrator)
        registerMetricsMigration(&migrator)
        return migrator
    }
}
