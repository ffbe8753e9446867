import Builder

/// URLs a key holder gives for dokkulite to fetch as root (`git:from-archive`,
/// `git:sync`): a network URL by the rule every fetch for someone else follows
/// (`NetworkURL`), never an option of the program that fetches, and a file on the server
/// only for root at its console.
enum RemoteSource {
    /// What `git:from-archive` downloads with curl.
    static let archiveSchemes = NetworkURL.httpSchemes
    /// What `git:sync` clones.
    static let gitSchemes = NetworkURL.gitSchemes

    /// Throws a one-line refusal unless `url` is a network URL of one of `schemes` (or, when
    /// allowed, names a file on the server: `file://` or an absolute path).
    static func check(_ url: String, what: String, allowingFiles: Bool, schemes: [String] = archiveSchemes) throws {
        if NetworkURL.isNetwork(url, schemes: schemes) { return }
        if allowingFiles, url.lowercased().hasPrefix("file:///") || (url.hasPrefix("/") && schemes == gitSchemes) {
            return
        }
        let allowed = schemes.map { String($0.dropLast(3)) }.joined(separator: ", ")
        throw CommandError("Invalid \(what) \(url): use \(allowed)\(allowingFiles ? " or file://" : "") (files on the server only for root at its console)", kind: .invalid)
    }

    /// curl's arguments to download `url` to `output`: the URL after `--`, and only the
    /// checked protocols, for redirects too.
    static func curlArguments(output: String, url: String, allowingFiles: Bool) -> [String] {
        let protocols = allowingFiles ? "=http,https,file" : "=http,https"
        return ["--fail", "--silent", "--show-error", "--location", "--max-time", "300", "--proto", protocols, "--proto-redir", "=http,https", "--output", output, "--", url]
    }
}
