import Beneath
import Foundation

/// The `dokku` user's home, where Dokku keeps what git uses for the server (`.netrc`,
/// `.ssh/known_hosts`, the deploy key `.ssh/id_ed25519.pub`): the directory holding the
/// `.ssh` of `DOKKULITE_AUTHORIZED_KEYS`, else the `dokku` user's home from the system.
struct DokkuHome {
    let path: String

    init(_ settings: Settings) {
        let keys = URL(fileURLWithPath: settings.authorizedKeys).deletingLastPathComponent()
        if keys.lastPathComponent == ".ssh" {
            path = keys.deletingLastPathComponent().path
        } else if let entry = getpwnam("dokku"), let directory = entry.pointee.pw_dir {
            path = String(cString: directory)
        } else {
            path = "/home/dokku"
        }
    }

    /// The home's owner (the dokku user), whom files made in it are given to.
    func owner() throws -> (uid: uid_t, gid: gid_t) {
        var info = stat()
        guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            throw CommandError("The dokku user's home \(path) is not a directory")
        }
        return (info.st_uid, info.st_gid)
    }

    /// Reads a file of the home (`.netrc`, `.ssh/…`) without following any link; nil when
    /// it is not there.
    func read(_ relative: String, limit: Int = 1 << 20) throws -> String? {
        do {
            return try Beneath.readText(relative, in: path, limit: limit, links: .refused)
        } catch {
            throw CommandError("Cannot read \(path)/\(relative): \(error.reason)")
        }
    }
}
