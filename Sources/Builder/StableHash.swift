/// A hash that stays the same across runs and builds (Swift's `Hasher` is seeded per
/// process), for names kept on disk or in systemd: cache directories, cron task ids.
package enum StableHash {
    /// 64-bit FNV-1a of the text's UTF-8 bytes.
    package static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 14_695_981_039_346_656_037
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 1_099_511_628_211 }
        return hash
    }
}
