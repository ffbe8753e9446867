#if canImport(Glibc)
import Glibc
#endif
import CBeneath

/// Opening files in directories that someone less trusted can write (an app's tree, its
/// build metadata, an uploaded archive) without ever leaving them: the kernel resolves the
/// name under the directory (`openat2` with `RESOLVE_BENEATH`), so an absolute path, a
/// `..` or a symbolic link planted to lead elsewhere fails instead of being followed, even
/// if the tree changes while it is read. Only regular files are read, never a FIFO or a
/// device, and never more than the caller's cap.
package enum Beneath {
    /// What symbolic links under the directory may do.
    package enum Links: Sendable {
        /// Any link on the way fails the open.
        case refused
        /// Links are followed while they stay under the directory.
        case inside
    }

    /// Why a file under a directory was not opened.
    package struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// The name, as the caller gave it (relative to the directory).
        package var path: String
        /// What was wrong, for the end of a sentence: `is a symbolic link`.
        package var reason: String

        package init(path: String, reason: String) {
            self.path = path
            self.reason = reason
        }

        package var description: String { "\(path) \(reason)" }
    }

    /// Opens the directory at `path` (an absolute path that only root can change) to
    /// resolve names under it. The caller closes the descriptor.
    /// With `followingLink`, a link at the last component is followed (a root the caller
    /// chose by a name it trusts, such as a site's `public` under its own tree).
    package static func openDirectory(_ path: String, followingLink: Bool = false) throws(Failure) -> CInt {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | (followingLink ? 0 : O_NOFOLLOW))
        guard fd >= 0 else { throw Failure(path: path, reason: reason(errno, links: .refused)) }
        return fd
    }

    /// Opens `relative` under the directory `directory`; -1 with `errno` set on failure
    /// (`EXDEV`: the name leads out; `ELOOP`: a link where none may be).
    package static func open(_ relative: String, at directory: CInt, flags: CInt, mode: UInt32 = 0, links: Links) -> CInt {
        var resolve = UInt64(CBENEATH_RESOLVE_BENEATH | CBENEATH_RESOLVE_NO_MAGICLINKS)
        if links == .refused { resolve |= UInt64(CBENEATH_RESOLVE_NO_SYMLINKS) }
        // RESOLVE_NO_SYMLINKS covers the last name too (ELOOP); O_NOFOLLOW with O_DIRECTORY
        // would say ENOTDIR for a link instead.
        let flags = flags | O_CLOEXEC | O_NOCTTY
        let creates = flags & O_CREAT != 0
        // The kernel answers EAGAIN when a rename elsewhere raced the lookup: try again.
        for _ in 0..<8 {
            let fd = cbeneath_openat2(directory, relative, flags, creates ? UInt32(mode) : 0, resolve)
            if fd >= 0 || errno != EAGAIN {
                // systemd's RestrictSUIDSGID= answers ENOSYS to openat2 (its flags are out of
                // seccomp's sight): resolve one name at a time instead.
                if fd < 0, errno == ENOSYS { return walk(relative, at: directory, flags: flags, mode: mode, links: links) }
                return fd
            }
        }
        return -1
    }

    /// `open` without openat2: each name is opened under the directory before it with
    /// `O_NOFOLLOW`, a link is read and its target resolved the same way (never an absolute
    /// one), and `..` pops only directories this walk opened, never above `directory`.
    package static func walk(_ relative: String, at directory: CInt, flags: CInt, mode: UInt32, links: Links) -> CInt {
        var opened: [CInt] = []
        defer { for fd in opened { close(fd) } }
        var pending = relative.split(separator: "/", omittingEmptySubsequences: true).reversed().map(String.init)
        if relative.hasPrefix("/") { errno = EXDEV; return -1 }
        var hops = 0
        while let name = pending.popLast() {
            if name == "." { continue }
            if name == ".." {
                guard let last = opened.popLast() else { errno = EXDEV; return -1 }
                close(last)
                continue
            }
            let parent = opened.last ?? directory
            let isLast = pending.allSatisfy { $0 == "." }
            let fd = isLast
                ? openat(parent, name, flags | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, mode_t(mode))
                : openat(parent, name, CInt(CBENEATH_O_PATH) | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if fd >= 0 {
                if isLast { return fd }
                opened.append(fd)
                continue
            }
            // ELOOP from O_NOFOLLOW, or ENOTDIR from O_DIRECTORY: a link is there (or not a
            // directory, which reading the link tells apart).
            guard errno == ELOOP || errno == ENOTDIR else { return -1 }
            let code = errno
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let count = readlinkat(parent, name, &buffer, Int(PATH_MAX))
            guard count >= 0 else { errno = code; return -1 }
            guard links == .inside else { errno = ELOOP; return -1 }
            hops += 1
            guard hops <= 40 else { errno = ELOOP; return -1 }
            let target = String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            guard !target.hasPrefix("/") else { errno = EXDEV; return -1 }
            pending.append(contentsOf: target.split(separator: "/", omittingEmptySubsequences: true).reversed().map(String.init))
        }
        // Nothing left to open by name: the directory reached itself.
        return openat(opened.last ?? directory, ".", flags | O_CLOEXEC | O_NOCTTY, mode_t(mode))
    }

    /// The bytes of the regular file `relative` under `root`, or nil when there is no such
    /// file. Throws when the name leads out of `root`, meets a link where none may be, names
    /// something other than a regular file, or holds more than `limit` bytes.
    package static func read(_ relative: String, in root: String, limit: Int, links: Links = .inside) throws(Failure) -> [UInt8]? {
        let directory = try openDirectory(root)
        defer { close(directory) }
        return try read(relative, at: directory, limit: limit, links: links)
    }

    /// `read(_:in:limit:links:)` under an open directory.
    package static func read(_ relative: String, at directory: CInt, limit: Int, links: Links = .inside) throws(Failure) -> [UInt8]? {
        guard !relative.isEmpty else { return nil }
        // O_NONBLOCK: opening a FIFO someone planted must not hang; it is refused below.
        let fd = open(relative, at: directory, flags: O_RDONLY | O_NONBLOCK, links: links)
        if fd < 0 {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw Failure(path: relative, reason: reason(errno, links: links))
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw Failure(path: relative, reason: reason(errno, links: links)) }
        guard info.st_mode & S_IFMT == S_IFREG else { throw Failure(path: relative, reason: "is not a regular file") }
        // A hard link to someone else's file is that file (protected_hardlinks may be off).
        guard info.st_nlink == 1 else { throw Failure(path: relative, reason: "has other hard links") }
        guard info.st_size <= limit else { throw Failure(path: relative, reason: "is larger than \(limit) bytes") }
        // As large as the file, and one byte more to see it grow; never past the cap.
        let capacity = Int(info.st_size) + 1
        var bytes = [UInt8](repeating: 0, count: capacity)
        var count = 0
        while count < capacity {
            let got = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + count, capacity - count) }
            if got < 0 {
                if errno == EINTR { continue }
                throw Failure(path: relative, reason: reason(errno, links: links))
            }
            if got == 0 { break }
            count += got
        }
        // The file grew while it was read: what was read is not the file.
        guard count < capacity else { throw Failure(path: relative, reason: "changed while it was read") }
        return Array(bytes[..<count])
    }

    /// `read` decoded as UTF-8 (invalid sequences replaced).
    package static func readText(_ relative: String, in root: String, limit: Int, links: Links = .inside) throws(Failure) -> String? {
        try read(relative, in: root, limit: limit, links: links).map { String(decoding: $0, as: UTF8.self) }
    }

    /// What an `errno` from opening under a directory means, for a message.
    static func reason(_ code: CInt, links: Links) -> String {
        switch code {
        case EXDEV: "leads outside its directory (an absolute path, `..` or a symbolic link out)"
        case ELOOP: links == .refused ? "is or passes through a symbolic link" : "has too many levels of symbolic links"
        case ENOENT: "does not exist"
        case ENOTDIR: "has a part that is not a directory"
        case EACCES, EPERM: "is not accessible"
        default: String(cString: strerror(code))
        }
    }
}
