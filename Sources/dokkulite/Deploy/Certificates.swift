import Foundation

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
}
