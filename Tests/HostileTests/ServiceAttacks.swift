import Foundation
import TestSupport
import Testing

extension OnTheInstalledServer {
    /// Services over ssh and from their own clients: a key holder's tools are not root's, a
    /// backup goes nowhere but beneath the backup root, and a service's own superuser (every
    /// linked app is one, as with dokku-postgres) runs programs only as the service's user,
    /// in its sandbox.
    @Suite struct ServiceAttacks {
        /// A unique service name (service users are machine-wide).
        func newService(_ base: String) -> String { base + String(UUID().uuidString.prefix(6).lowercased()) }

        /// psql's `\!` runs a shell: it must not be root's, nor see dokkulite's state.
        @Test func connectShellEscapeIsNotRoot() throws {
            let server = try InstalledServer.get()
            let service = newService("esc")
            defer { _ = try? server.console("--force", "postgres:destroy", service) }
            let created = try server.ssh("postgres:create \(service)")
            #expect(created.status == 0, "\(created)")
            let script = "\\! id -u\n\\! cat \(InstalledServer.root)/dokkulite.db | head -c 6 | od -c | head -1\n\\! touch /etc/dokkulite-hostile-\(service) && echo touched\n"
            let connected = try server.ssh("postgres:connect \(service)", input: Data(script.utf8))
            let lines = connected.stdout.split(separator: "\n").map(String.init)
            let uid = try #require(lines.first.flatMap { Int($0) }, "\(connected)")
            #expect(uid != 0, "the shell escape runs as a dynamic user, not root")
            #expect(!connected.stdout.contains("S   Q   L"), "the state database is hidden: \(connected)")
            #expect(!connected.stdout.contains("touched") && !FileManager.default.fileExists(atPath: "/etc/dokkulite-hostile-\(service)"))
        }

        /// The database's superuser (a linked app has its credentials) runs programs as the
        /// service's user, in the sandbox: no root, no state, no other service's data.
        @Test func superuserProgramsStayInTheServiceSandbox() throws {
            let server = try InstalledServer.get()
            let (service, other) = (newService("su"), newService("other"))
            defer {
                _ = try? server.console("--force", "postgres:destroy", service)
                _ = try? server.console("--force", "postgres:destroy", other)
            }
            #expect(try server.ssh("postgres:create \(service)").status == 0)
            #expect(try server.ssh("postgres:create \(other)").status == 0)
            let url = try server.ssh("postgres:info \(service) --dsn").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let otherData = try server.console("postgres:info", other, "--data-dir").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let sql = """
                CREATE TABLE o (line text);
                COPY o FROM PROGRAM 'id -u';
                COPY o FROM PROGRAM 'cat \(InstalledServer.root)/dokkulite.db 2>&1 | head -c 20 | tr -dc "[:alnum:] " ; echo';
                COPY o FROM PROGRAM 'ls \(otherData) 2>&1 | head -1';
                COPY o FROM PROGRAM 'touch /etc/dokkulite-hostile-\(service) 2>&1; echo done';
                SELECT line FROM o;
                """
            let result = try Shell.which("psql", [url, "-X", "-q", "-tA", "-c", sql])
            let lines = result.stdout.split(separator: "\n").map(String.init)
            #expect(lines.count >= 4, "\(result)")
            #expect(lines.first.flatMap { Int($0) }.map { $0 != 0 } == true, "runs as the service's user: \(result)")
            #expect(!result.stdout.contains("SQLite"), "the state database is hidden: \(result)")
            #expect(!result.stdout.contains("PG_VERSION"), "another service's data is hidden: \(result)")
            #expect(!FileManager.default.fileExists(atPath: "/etc/dokkulite-hostile-\(service)"))
        }

        /// Backups are written beneath the backup root only, and restored only from there.
        @Test func backupsGoNowhereButTheBackupRoot() throws {
            let server = try InstalledServer.get()
            let service = newService("bk")
            defer { _ = try? server.console("--force", "postgres:destroy", service) }
            #expect(try server.ssh("postgres:create \(service)").status == 0)
            for target in ["file:///etc/cron.d", "/etc/cron.d", "file:///var/backups/dokkulite/../../../etc/cron.d", "../../etc"] {
                let result = try server.ssh("postgres:backup \(service) \(target)")
                #expect(result.status != 0 && result.stderr.contains("Invalid backup target"), "\(target): \(result)")
                let scheduled = try server.ssh("postgres:backup-schedule \(service) '* * * * *' \(target)")
                #expect(scheduled.status != 0, "\(target): \(scheduled)")
            }
            let cron = (try? FileManager.default.contentsOfDirectory(atPath: "/etc/cron.d")) ?? []
            #expect(!cron.contains { $0.contains(service) })
            let restore = try server.ssh("postgres:backup-restore \(service) /etc/shadow")
            #expect(restore.status != 0 && restore.stderr.contains("Invalid backup target"), "\(restore)")
            // What a key holder may do: beneath the root, 0600.
            let made = try server.ssh("postgres:backup \(service) file:///var/backups/dokkulite/hostile")
            #expect(made.status == 0, "\(made)")
            let file = try #require(made.stdout.split(separator: " ").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) })
            #expect(try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? NSNumber == 0o600)
            try? FileManager.default.removeItem(atPath: "/var/backups/dokkulite/hostile")
        }

        /// An app cannot read a service's files or secrets, linked or not.
        @Test func appsCannotReadServiceFiles() throws {
            let server = try InstalledServer.get()
            let app = server.newApp("svcpeek")
            let service = newService("peek")
            defer {
                server.cleanUp(app)
                _ = try? server.console("--force", "postgres:destroy", service)
            }
            #expect(try server.push(app, files: InstalledServer.webApp("peek")).status == 0)
            #expect(try server.ssh("postgres:create \(service)").status == 0)
            #expect(try server.ssh("postgres:link \(service) \(app)").status == 0)
            let directory = "\(InstalledServer.root)/services/postgres/\(service)"
            for attempt in ["cat \(directory)/ENV", "ls \(directory)/data", "cat \(directory)/data/PG_VERSION", "ls \(InstalledServer.root)/services"] {
                let result = try server.ssh("run \(app) \(attempt)")
                #expect(result.status != 0, "\(attempt): \(result)")
            }
        }
    }
}
