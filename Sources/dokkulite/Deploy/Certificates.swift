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

    /// Whether the app has a certificate.
    func exists(_ app: AppName) throws -> Bool {
        FileManager.default.fileExists(atPath: directory(app) + "/server.crt")
    }

    /// Checks that a certificate and key go together, then puts them (and a signing
    /// request, if any) in place, each file whole, and updates the app's routes.
    func install(_ app: AppName, certificate: String, key: String, request: String? = nil) throws {
        do {
            try TLSCertificates.check(certificatePath: certificate, keyPath: key)
        } catch {
            throw CommandError("The certificate and key cannot be used together: \(error)")
        }
        let directory = directory(app)
        try FileManager.default.createDirectory(atPath: context.settings.paths.certs, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        var files = [(certificate, "server.crt"), (key, "server.key")]
        if let request { files.append((request, "server.csr")) }
        for (source, name) in files {
            let target = directory + "/" + name
            try? FileManager.default.removeItem(atPath: target + ".tmp")
            try FileManager.default.copyItem(atPath: source, toPath: target + ".tmp")
            chmod(target + ".tmp", 0o600)
            guard rename(target + ".tmp", target) == 0 else { throw CommandError("cannot write \(target)") }
        }
        try RouteSync(context).update(app)
    }
}
