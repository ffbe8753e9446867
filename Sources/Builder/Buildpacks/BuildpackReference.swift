/// A buildpack as a user names it: a git URL (optionally `#ref`), a tarball URL, a local
/// path, a `heroku/NAME` shorthand, or one of dokkulite's built-in buildpacks.
package struct BuildpackReference: Sendable, Equatable, CustomStringConvertible {
    /// What the reference points at.
    package enum Source: Sendable, Equatable {
        /// One of the buildpacks shipped with dokkulite.
        case builtin(BuiltinBuildpack)
        /// A git repository, at a ref when `#ref` was given.
        case git(url: String, ref: String?)
        /// A `.tgz` / `.tar.gz` archive.
        case tarball(url: String)
    }

    /// The text the user gave, after `heroku/NAME` expansion.
    package var url: String
    package var source: Source

    package var description: String { url }

    /// What fetching the buildpack reaches.
    package enum Reach: Sendable, Equatable {
        /// Nothing: it ships with dokkulite.
        case builtin
        /// The network, over https, http or git.
        case network
        /// This server: its disk (`file://`, a path) or root's ssh keys (`ssh://`, `git@`).
        /// Fetched as root, so only root at the server's console may name one.
        case server
    }

    /// What fetching this buildpack reaches.
    package var reach: Reach {
        switch source {
        case .builtin: return .builtin
        case .git(let url, _), .tarball(let url):
            return NetworkURL.isNetwork(url) ? .network : .server
        }
    }

    /// Parses a reference; nil when it is none of the accepted forms.
    package init?(_ text: String) {
        var text = text.trimmingSpaces()
        guard !text.isEmpty, !text.contains(" ") else { return nil }
        if let builtin = BuiltinBuildpack(rawValue: text) {
            url = text
            source = .builtin(builtin)
            return
        }
        // Dokku's shorthand: OWNER/NAME → https://github.com/OWNER/heroku-buildpack-NAME.git
        // (heroku-community stands for heroku).
        if let (owner, name) = Self.shorthand(text) {
            text = "https://github.com/\(owner == "heroku-community" ? "heroku" : owner)/heroku-buildpack-\(name).git"
        }
        url = text
        let parts = text.split(separator: "#", maxSplits: 1).map(String.init)
        let base = parts[0]
        let ref = parts.count > 1 ? parts[1] : nil
        if let builtin = BuiltinBuildpack.forUpstream(base) {
            source = .builtin(builtin)
            return
        }
        let lower = base.lowercased()
        if (lower.hasSuffix(".tgz") || lower.hasSuffix(".tar.gz")) && (lower.hasPrefix("http://") || lower.hasPrefix("https://") || lower.hasPrefix("file://")) {
            source = .tarball(url: base)
            return
        }
        let schemes = ["https://", "http://", "git://", "file://", "ssh://", "git@"]
        guard schemes.contains(where: { lower.hasPrefix($0) }) || base.hasPrefix("/") else { return nil }
        source = .git(url: base, ref: ref)
    }
}

extension BuildpackReference {
    /// Whether `text` is written as Dokku's buildpacks commands accept it: the `OWNER/NAME`
    /// shorthand, or an http, https or git URL (`git@HOST:` too) with a host, an owner and
    /// a name. Paths, `file://` and bare names are not.
    package static func isDokkuForm(_ text: String) -> Bool {
        shorthand(text) != nil
            || text.wholeMatch(of: /(http|https|git)(:\/\/|@)[^\/:]+[\/:][^\/:]+\/.+/) != nil
    }

    /// The owner and name of Dokku's `OWNER/NAME` shorthand (word characters and dashes).
    static func shorthand(_ text: String) -> (owner: Substring, name: Substring)? {
        guard let match = text.wholeMatch(of: /([\w-]+)\/([\w-]+)/) else { return nil }
        return (match.1, match.2)
    }
}

/// The buildpacks shipped with dokkulite, in detection order. They need no download at
/// build time: they use the server's python3, node and npm.
package enum BuiltinBuildpack: String, CaseIterable, Sendable {
    /// The app's own `bin/compile` (and `bin/release`), as heroku-buildpack-inline runs them.
    case inline
    case python
    case nodejs
    case `static`
    /// Apps that need no build: a Procfile and the code as pushed.
    case procfile

    /// The upstream buildpacks each built-in stands in for (no network needed).
    static func forUpstream(_ url: String) -> BuiltinBuildpack? {
        var key = url.lowercased()
        if key.hasSuffix(".git") { key.removeLast(4) }
        if key.hasSuffix("/") { key.removeLast() }
        switch key {
        case "https://github.com/heroku/heroku-buildpack-python": return .python
        case "https://github.com/heroku/heroku-buildpack-nodejs": return .nodejs
        case "https://github.com/kr/heroku-buildpack-inline", "https://github.com/heroku/heroku-buildpack-inline": return .inline
        case "https://github.com/heroku/heroku-buildpack-static", "https://github.com/dokku/heroku-buildpack-static", "https://github.com/dokku/buildpack-nginx": return .static
        case "https://github.com/dokku/heroku-buildpack-null", "https://github.com/ryandotsmith/null-buildpack": return .procfile
        default: return nil
        }
    }
}
