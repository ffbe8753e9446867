import Foundation

extension Sandbox {
    /// Installs a release directory by hand, as the builder would leave one, and makes it
    /// the app's current release: `files` (path → content) under `releases/vN/app`, readable
    /// by the app's user, with `processTypes` as its Procfile.
    public func installRelease(app: String, version: Int = 1, files: [String: String], processTypes: [String: String]) throws {
        let slug = "\(root)/apps/\(app)/releases/v\(version)/app"
        for (path, content) in files {
            let full = "\(slug)/\(path)"
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try content.write(toFile: full, atomically: true, encoding: .utf8)
        }
        try FileManager.default.createDirectory(atPath: slug, withIntermediateDirectories: true)
        let user = try sql("SELECT value FROM property WHERE app = '\(app)' AND namespace = 'apps' AND key = 'user'")
        if !user.isEmpty {
            try Shell.which("chown", ["-R", "root:\(user)", "\(root)/apps/\(app)/releases/v\(version)"])
            try Shell.which("chmod", ["-R", "g+rX", "\(root)/apps/\(app)/releases/v\(version)"])
        }
        let types = String(decoding: try JSONSerialization.data(withJSONObject: processTypes), as: UTF8.self).replacingOccurrences(of: "'", with: "''")
        _ = try sql("UPDATE release SET status = 'available' WHERE app = '\(app)' AND status = 'current'")
        _ = try sql("INSERT INTO release (app, version, status, description, processTypes, createdAt) VALUES ('\(app)', \(version), 'current', 'fixture', '\(types)', datetime('now'))")
    }
}

/// A tiny HTTP server for fixtures: answers every GET with `BODY` (after expanding
/// `{DYNO}` and `{GREETING}` from the environment), `/crash` makes it exit 1.
public let fixtureServer = """
    import http.server, os, sys
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/crash":
                os._exit(1)
            body = os.environ.get("BODY", "ok").replace("{DYNO}", os.environ.get("DYNO", "")).replace("{GREETING}", os.environ.get("GREETING", "")).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *args):
            pass
    print("listening on", os.environ["PORT"], flush=True)
    http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
    """
