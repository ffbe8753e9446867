import Builder
import Foundation

/// The git URL (and ref) a plugin was installed from, kept in its directory so that
/// `plugin:update` can fetch it again. Plugins installed from a directory have none.
struct PluginSource: Equatable {
    var url: String
    var ref: String?

    /// The file in the plugin's directory that holds `URL` and, on a second line, the ref.
    static let fileName = ".dokkulite-source"

    /// The source recorded in `directory`, if any.
    static func recorded(in directory: String) -> PluginSource? {
        guard let text = try? String(contentsOfFile: directory + "/" + fileName, encoding: .utf8) else { return nil }
        let lines = text.split(separator: "\n").map(String.init)
        guard let url = lines.first, !url.isEmpty else { return nil }
        return PluginSource(url: url, ref: lines.count > 1 ? lines[1] : nil)
    }

    /// Records this source in `directory`.
    func record(in directory: String) throws {
        let text = url + "\n" + (ref.map { $0 + "\n" } ?? "")
        guard FileManager.default.createFile(atPath: directory + "/" + Self.fileName, contents: Data(text.utf8), attributes: [.posixPermissions: 0o644]) else {
            throw CommandError("cannot write \(directory)/\(Self.fileName)")
        }
    }

    /// Checks out the source at its ref (else the remote's HEAD) into `staging`, which must
    /// not exist; the clone beside it is removed.
    func fetch(into staging: String) throws {
        let clone = try GitRepository.clone(url, into: staging + ".git", bare: true)
        defer { try? FileManager.default.removeItem(atPath: staging + ".git") }
        try clone.extract(try clone.resolve(ref ?? "HEAD"), into: staging)
    }
}
