import Foundation
import Proxy

/// An app's TLS certificate and key, kept root-only under `$DOKKULITE_ROOT/certs/APP`.
struct Certificates {
    let context: Context

    init(_ context: Context) {
        self.context = context
    }

    func directory(_ app: AppName) -> String {
        "\(context.settings.paths.certs)/\(app.rawValue)"
    }

    /// A new directory only root can read, for certificate files on their way in; the
    /// caller removes it.
    static func workDirectory() throws -> String {
        let work = NSTemporaryDirectory() + "dokkulite-certs-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        return work
    }

    /// Whether the app has a certificate.
    func exists(_ app: AppName) throws -> Bool {
        FileManager.default.fileExists(atPath: directory(app) + "/server.crt")
    }

    /// Whether a certificate or a key is there (Dokku's test before generating one).
    func hasEither(_ app: AppName) -> Bool {
        ["server.crt", "server.key"].contains { FileManager.default.fileExists(atPath: directory(app) + "/" + $0) }
    }

    /// Checks that a certificate and key go together, then puts them (and a signing
    /// request, if any) in place, each file whole and root's alone from the start, and
    /// updates the app's routes. All are written beside their places first; the
    /// certificate, whose presence marks the app as having one, is renamed into place last.
    func install(_ app: AppName, certificate: [UInt8], key: [UInt8], request: [UInt8]? = nil) throws {
        try install(in: directory(app), certificate: certificate, key: key, request: request)
        try addHTTPSMaps(app)
        try RouteSync(context).update(app)
    }

    /// Writes `server.crt` and `server.key` (and `server.csr`) into `directory`, a
    /// directory only root can read beneath the certificates', once the proxy could use
    /// them together; nothing changes when it could not.
    func install(in directory: String, certificate: [UInt8], key: [UInt8], request: [UInt8]? = nil) throws {
        for path in [context.settings.paths.certs, directory] where mkdir(path, 0o700) != 0 && errno != EEXIST {
            throw CommandError("cannot create \(path): \(String(cString: strerror(errno)))")
        }
        var files = [(key, "server.key")]
        if let request { files.append((request, "server.csr")) }
        files.append((certificate, "server.crt"))
        for (bytes, name) in files {
            try SecretFile.write(bytes, to: directory + "/" + name + ".new")
        }
        do {
            try TLSCertificates.check(certificatePath: directory + "/server.crt.new", keyPath: directory + "/server.key.new")
        } catch {
            for (_, name) in files { unlink(directory + "/" + name + ".new") }
            throw CommandError("The certificate and key cannot be used together: \(error)")
        }
        for (_, name) in files {
            let target = directory + "/" + name
            guard rename(target + ".new", target) == 0 else { throw CommandError("cannot write \(target)") }
        }
    }

    /// As Dokku's ports plugin after a certificate arrives: explicit `http:80:N` maps get
    /// an `https:443:N` beside them, unless some `https:443` map is there already. (With no
    /// explicit maps, the detected ones include HTTPS once there is a certificate.)
    private func addHTTPSMaps(_ app: AppName) throws {
        let store = try context.store()
        let maps = try store.portMaps(app)
        guard !maps.contains(where: { $0.scheme == .https && $0.hostPort == 443 }) else { return }
        let added = maps.filter { $0.scheme == .http && $0.hostPort == 80 }.map { PortMap(scheme: .https, hostPort: 443, containerPort: $0.containerPort) }
        if !added.isEmpty { try store.addPortMaps(app, added) }
    }

    /// Takes the certificate away, with the `https:443` maps it brought, as Dokku does.
    func remove(_ app: AppName) throws {
        let store = try context.store()
        let https = try store.portMaps(app).filter { $0.scheme == .https && $0.hostPort == 443 }
        try FileManager.default.removeItem(atPath: directory(app))
        // Certificates got on demand went with the directory: so do their records.
        for name in try store.properties(.app(app), OnDemandCertificates.namespace).keys {
            try store.setProperty(.app(app), OnDemandCertificates.namespace, name, nil)
        }
        try store.removePortMaps(app, maps: https, hostPorts: [])
        try RouteSync(context).update(app)
    }
}
