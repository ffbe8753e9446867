#if canImport(Glibc)
import Glibc
#endif

extension Beneath {
    /// Removes `path` and everything under it without following a single symbolic link:
    /// each directory is opened with `O_NOFOLLOW` and emptied through its descriptor, so a
    /// directory swapped for a link while this runs is removed as a link, not followed.
    /// Names are used as the bytes they are (not decoded), and a tree nested deeper than
    /// the descriptors at hand is flattened as it goes (a deep subtree is renamed up to the
    /// top, within the tree). Nothing there is not success.
    package static func removeTree(_ path: String) throws(Failure) {
        let (parentPath, name) = split(path)
        let parent = Glibc.open(parentPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)
        guard parent >= 0 else {
            if errno == ENOENT { return }
            throw Failure(path: path, reason: reason(errno, links: .refused))
        }
        defer { close(parent) }
        let top = openat(parent, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)
        if top < 0 {
            switch errno {
            case ENOENT: return
            case ENOTDIR, ELOOP:
                guard unlinkat(parent, name, 0) == 0 || errno == ENOENT else { throw Failure(path: path, reason: reason(errno, links: .refused)) }
                return
            default: throw Failure(path: path, reason: reason(errno, links: .refused))
            }
        }
        defer { close(top) }
        var deep = 0
        try empty(top, top: top, depth: 0, moved: &deep, shown: path)
        guard unlinkat(parent, name, AT_REMOVEDIR) == 0 || errno == ENOENT else {
            throw Failure(path: path, reason: reason(errno, links: .refused))
        }
    }

    /// Removes everything in the directory `path` and keeps the directory itself (its owner
    /// and mode stay), as `removeTree` removes: no link followed, names as bytes.
    package static func emptyDirectory(_ path: String) throws(Failure) {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else {
            if errno == ENOENT { return }
            throw Failure(path: path, reason: reason(errno, links: .refused))
        }
        defer { close(fd) }
        var deep = 0
        try empty(fd, top: fd, depth: 0, moved: &deep, shown: path)
    }

    /// How deep `removeTree` goes before it moves a subtree up to the top.
    static let flattenDepth = 64

    /// Removes every entry of the open directory `fd` (which stays open). Subtrees below
    /// `flattenDepth` are renamed into `top` and emptied from there.
    private static func empty(_ fd: CInt, top: CInt, depth: Int, moved: inout Int, shown: String) throws(Failure) {
        while true {
            let names = try entries(fd, shown: shown)
            if names.isEmpty { return }
            for name in names {
                let child = name.withUnsafeBufferPointer { openat(fd, $0.baseAddress!, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW) }
                if child < 0 {
                    let code = errno
                    if code == ENOENT { continue }
                    guard code == ENOTDIR || code == ELOOP else { throw Failure(path: shown, reason: reason(code, links: .refused)) }
                    // A file, a link or anything else that is not a directory: unlink the name.
                    let unlinked = name.withUnsafeBufferPointer { unlinkat(fd, $0.baseAddress!, 0) }
                    guard unlinked == 0 || errno == ENOENT else { throw Failure(path: shown, reason: reason(errno, links: .refused)) }
                    continue
                }
                if depth + 1 >= flattenDepth, fd != top {
                    close(child)
                    moved += 1
                    let renamed = name.withUnsafeBufferPointer { renameat(fd, $0.baseAddress!, top, ".dokkulite-deep-\(moved)") }
                    guard renamed == 0 else { throw Failure(path: shown, reason: reason(errno, links: .refused)) }
                    continue
                }
                do {
                    try empty(child, top: top, depth: depth + 1, moved: &moved, shown: shown)
                } catch {
                    close(child)
                    throw error
                }
                close(child)
                let removed = name.withUnsafeBufferPointer { unlinkat(fd, $0.baseAddress!, AT_REMOVEDIR) }
                guard removed == 0 || errno == ENOENT else { throw Failure(path: shown, reason: reason(errno, links: .refused)) }
            }
            // At the top, subtrees moved up while this ran are read on the next pass.
            if fd != top { return }
        }
    }

    /// The names in an open directory, as NUL-terminated bytes, `.` and `..` aside.
    private static func entries(_ fd: CInt, shown: String) throws(Failure) -> [[CChar]] {
        let copy = dup(fd)
        guard copy >= 0, let stream = fdopendir(copy) else {
            if copy >= 0 { close(copy) }
            throw Failure(path: shown, reason: reason(errno, links: .refused))
        }
        defer { closedir(stream) }
        rewinddir(stream)
        var names: [[CChar]] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw -> [CChar] in
                Array(raw.prefix { $0 != 0 }.map { CChar(bitPattern: $0) }) + [0]
            }
            if name != [46, 0] && name != [46, 46, 0] { names.append(name) }
        }
        return names
    }

    /// Creates the directories of `relative` under `root` that are missing (with `mode`),
    /// never following a link, and returns the last one open for reading. The caller
    /// closes it (and may `fchown` it: the descriptor is the directory that was checked).
    package static func makeDirectories(_ relative: String, in root: String, mode: UInt32) throws(Failure) -> CInt {
        var current = try openDirectory(root)
        for component in relative.split(separator: "/") where component != "." {
            let name = String(component)
            if mkdirat(current, name, mode) != 0, errno != EEXIST {
                let code = errno
                close(current)
                throw Failure(path: relative, reason: reason(code, links: .refused))
            }
            let next = open(name, at: current, flags: O_RDONLY | O_DIRECTORY, links: .refused)
            let code = errno
            close(current)
            guard next >= 0 else { throw Failure(path: relative, reason: reason(code, links: .refused)) }
            current = next
        }
        return current
    }

    /// Whether nobody but root can change what `path` names: every component is a real
    /// directory (no symbolic link anywhere), and every directory that holds a component
    /// belongs to root and is writable by root alone, or, like /tmp, is sticky and holds a
    /// component of root's (which the sticky bit keeps others from renaming or removing).
    /// A bind mount of such a path cannot be redirected by a link someone else plants. The
    /// last component itself may belong to anyone (an app's own storage directory) where
    /// its holder is root's alone. Users in `trusted` count as root (the installation's
    /// own system user, which owns Dokku's `/var/lib/dokku/data`).
    package static func isRootControlled(_ path: String, alsoTrusting trusted: Set<UInt32> = []) -> Bool {
        guard path.hasPrefix("/") else { return false }
        var current = Glibc.open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard current >= 0 else { return false }
        defer { close(current) }
        for component in path.split(separator: "/") {
            guard component != ".", component != ".." else { return false }
            var holder = stat()
            guard fstat(current, &holder) == 0, holder.st_uid == 0 || trusted.contains(holder.st_uid) else { return false }
            let next = open(String(component), at: current, flags: O_RDONLY | O_DIRECTORY, links: .refused)
            guard next >= 0 else { return false }
            close(current)
            current = next
            if holder.st_mode & 0o022 != 0 {
                var entry = stat()
                guard holder.st_mode & S_ISVTX != 0, fstat(current, &entry) == 0, entry.st_uid == 0 || trusted.contains(entry.st_uid) else { return false }
            }
        }
        return true
    }

    /// The parent directory and the last component of an absolute path.
    static func split(_ path: String) -> (parent: String, name: String) {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return (".", String(trimmed)) }
        let parent = trimmed[..<slash]
        return (parent.isEmpty ? "/" : String(parent), String(trimmed[trimmed.index(after: slash)...]))
    }
}
