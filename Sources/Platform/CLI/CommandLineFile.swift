import Foundation

/// Files named on the command line at the server's console (`config:import FILE`,
/// `certs:add CRT KEY`), read with the dokku user's rights: Dokku's `dokku` runs these
/// commands as that user, so a file only root may read is refused there too. Over ssh no
/// such file is read at all (the commands refuse first). Without a dokku user on the
/// system, root at the console reads it as root.
enum CommandLineFile {
    /// The file's bytes, or a one-line refusal naming the file; at most `limit` bytes.
    static func read(_ path: String, limit: Int) throws -> [UInt8] {
        guard let user = getpwnam("dokku") else {
            guard let data = FileManager.default.contents(atPath: path) else { throw CommandError("Unable to read file \(path)") }
            guard data.count <= limit else { throw CommandError("File \(path) is larger than \(limit) bytes") }
            return Array(data)
        }
        // head, not cat: a device or a huge file stops at the limit.
        let uid = user.pointee.pw_uid, gid = user.pointee.pw_gid
        let result = try Subprocess.run("/usr/bin/setpriv", [
            "--reuid=\(uid)", "--regid=\(gid)", "--init-groups", "--", "/usr/bin/head", "--bytes=\(limit + 1)", "--", path,
        ])
        guard result.status == 0 else {
            // head says "cannot open 'FILE' for reading: REASON"; the reason is enough.
            let reason = result.stderr.split(separator: "\n").first?.components(separatedBy: ": ").last ?? "cannot be read"
            throw CommandError("Unable to read file \(path) as the dokku user: \(reason)")
        }
        let bytes = Array(result.stdout.utf8)
        guard bytes.count <= limit else { throw CommandError("File \(path) is larger than \(limit) bytes") }
        return bytes
    }
}
