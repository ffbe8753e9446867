/// URLs root fetches for someone else (a push's buildpacks and submodules, a key holder's
/// archive or remote): one of the network schemes, something after it, and nothing a
/// program could read as a second word or an option. One rule for every such fetch.
package enum NetworkURL {
    /// What git fetches (libgit2): no `ssh://` or `git@`, which would use root's keys, and no
    /// path or `file://`, which would copy the server's own files out.
    package static let gitSchemes = ["https://", "http://", "git://"]
    /// What curl downloads.
    package static let httpSchemes = ["https://", "http://"]

    /// Whether `url` starts with one of `schemes`, has something after it, and holds no
    /// space or control character.
    package static func isNetwork(_ url: String, schemes: [String] = gitSchemes) -> Bool {
        let lower = url.lowercased()
        guard let scheme = schemes.first(where: { lower.hasPrefix($0) }), url.utf8.count > scheme.utf8.count else { return false }
        return !url.unicodeScalars.contains { $0.value < 0x21 || $0.value == 0x7F }
    }
}
