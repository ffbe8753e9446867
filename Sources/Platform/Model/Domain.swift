#if canImport(Glibc)
import Glibc
#endif

/// Domain validation as Dokku's `is_valid_hostname`: lowercased, the name is `_` or
/// matches `^[a-z0-9.*-]*[a-z0-9*-]$` (wildcards like `*.example.com` included).
enum Domains {
    static func isValid(_ domain: String) -> Bool {
        let lower = Array(domain.lowercased().utf8)
        if lower == [UInt8(ascii: "_")] { return true }
        guard let last = lower.last, lower.count <= 253 else { return false }
        func allowed(_ b: UInt8) -> Bool { (97...122).contains(b) || (48...57).contains(b) || b == 42 || b == 45 }
        return allowed(last) && lower.allSatisfy { allowed($0) || $0 == 46 }
    }

    /// An app's default domains, as Dokku's `get_default_vhosts`: `APP.GLOBAL` for each
    /// global domain that is not an IP address, or the app's own name when it holds a dot
    /// (app `shop.example.com` is served at `shop.example.com`).
    static func defaults(app: String, globals: [String]) -> [String] {
        var names: [String] = []
        for global in globals where !isIPAddress(global) {
            let name = app.contains(".") ? app : "\(app).\(global)"
            if !names.contains(name) { names.append(name) }
        }
        return names
    }

    static func isIPAddress(_ text: String) -> Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
    }

    /// Throws Dokku's message for the first invalid domain; nothing is written before.
    static func validate(_ domains: [String]) throws {
        if let bad = domains.first(where: { !isValid($0) }) {
            throw CommandError("\(bad) is invalid. exiting...")
        }
    }
}
