import Foundation

/// Names of the directories fetched things are kept in (buildpack mirrors and checkouts,
/// tarballs, submodule clones): the hash of the URL, and beside each a record of the URL it
/// holds, written by root. A hash alone could be made to collide (FNV-1a is no
/// cryptographic hash): a URL that hashes like another is given the next free name, never
/// the other's directory, so one app's buildpack is never run in another's build.
package enum CacheSlot {
    /// The directory under `parent` for `url` (`KEY`, `KEY-1`, …, plus `suffix`), whose
    /// record says `url`, or the first free one, recorded for it now.
    package static func directory(in parent: String, for url: String, suffix: String = "") throws(BuildError) -> String {
        let key = String(StableHash.fnv1a(url), radix: 16)
        for attempt in 0..<32 {
            let name = "\(parent)/\(key)\(attempt == 0 ? "" : "-\(attempt)")"
            let record = name + ".source"
            if let recorded = FileManager.default.contents(atPath: record) {
                if recorded == Data(url.utf8) { return name + suffix }
                continue
            }
            // A directory without a record (an older version's) is left alone.
            if FileManager.default.fileExists(atPath: name + suffix) { continue }
            let fd = open(record, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard fd >= 0 else { continue }
            let bytes = Array(url.utf8)
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
            guard written == bytes.count else { unlink(record); throw .io(path: record, reason: "cannot record the URL") }
            return name + suffix
        }
        throw .io(path: parent, reason: "no free cache directory for \(url)")
    }
}
