/// A validated app name: lowercase letters, digits, dots and dashes, starting with a letter
/// or digit, at most 63 characters. Every path, unit name and database key derived from an
/// app goes through this type, so a name like `../x` can never reach the filesystem.
struct AppName: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The longest accepted name; it keeps unit, user and domain names within their limits.
    static let maximumLength = 63

    let rawValue: String

    /// Fails for names Dokku would reject and for names that could escape a directory.
    init?(_ raw: String) {
        guard (1...Self.maximumLength).contains(raw.utf8.count) else { return nil }
        let bytes = Array(raw.utf8)
        guard Self.isAlphanumeric(bytes[0]) else { return nil }
        guard bytes.allSatisfy({ Self.isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }) else {
            return nil
        }
        self.rawValue = raw
    }

    /// Validates `raw`, throwing Dokku's message for a bad name.
    static func parse(_ raw: String) throws(CommandError) -> AppName {
        guard let name = AppName(raw) else { throw .invalidAppName(raw) }
        return name
    }

    var description: String { rawValue }

    static func < (lhs: AppName, rhs: AppName) -> Bool { lhs.rawValue < rhs.rawValue }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }
}
