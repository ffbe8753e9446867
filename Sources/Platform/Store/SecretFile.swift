import Foundation

/// Files that hold secrets (config vars, private keys): created 0600 (or tighter) by
/// `open` itself, so no reader ever finds them open to others, written whole beside their
/// place and renamed over it.
enum SecretFile {
    /// Writes `bytes` to `path` atomically with `mode`; `owner` (uid, gid) is given the file
    /// before it takes its place. Never follows a link at `path` or its temporary name.
    static func write(_ bytes: some Collection<UInt8>, to path: String, mode: mode_t = 0o600, owner: (uid: uid_t, gid: gid_t)? = nil) throws {
        let temporary = "\(path).tmp-\(getpid())"
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else { throw CommandError("cannot write \(path): \(String(cString: strerror(errno)))") }
        var failure: String?
        let data = Array(bytes)
        var written = 0
        while written < data.count, failure == nil {
            let count = data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, data.count - written) }
            if count < 0, errno != EINTR { failure = String(cString: strerror(errno)) } else if count > 0 { written += count }
        }
        if failure == nil, let owner, fchown(fd, owner.uid, owner.gid) != 0 { failure = String(cString: strerror(errno)) }
        if failure == nil, fsync(fd) != 0 { failure = String(cString: strerror(errno)) }
        close(fd)
        if failure == nil, rename(temporary, path) != 0 { failure = String(cString: strerror(errno)) }
        if let failure {
            unlink(temporary)
            throw CommandError("cannot write \(path): \(failure)")
        }
    }

    /// `write` of a string's UTF-8 bytes.
    static func write(_ text: String, to path: String, mode: mode_t = 0o600, owner: (uid: uid_t, gid: gid_t)? = nil) throws {
        try write(Array(text.utf8), to: path, mode: mode, owner: owner)
    }
}
