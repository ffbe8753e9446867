/// A `.netrc` as `git:auth` keeps it: `machine HOST login USER password PASS` entries, each
/// written on three lines as Dokku's netrc tool writes them. Other entries (a `default`,
/// an `account`) are kept as they were.
struct Netrc: Equatable {
    /// One entry: the tokens after `machine HOST` (or `default`), in order.
    struct Entry: Equatable {
        var machine: String?
        var tokens: [String]

        /// The value after `key` (`login`, `password`).
        func value(_ key: String) -> String? {
            var iterator = tokens.makeIterator()
            while let token = iterator.next() {
                let value = iterator.next()
                if token == key { return value }
            }
            return nil
        }
    }

    var entries: [Entry]

    /// Parses netrc text: whitespace-separated tokens, `machine NAME` or `default` opening
    /// an entry (`macdef` bodies are not understood: git has no use for them).
    init(_ text: String) {
        entries = []
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }).map(String.init)
        var index = 0
        while index < words.count {
            let word = words[index]
            if word == "machine", index + 1 < words.count {
                entries.append(Entry(machine: words[index + 1], tokens: []))
                index += 2
            } else if word == "default" {
                entries.append(Entry(machine: nil, tokens: []))
                index += 1
            } else {
                if entries.isEmpty { entries.append(Entry(machine: nil, tokens: [])) }
                entries[entries.count - 1].tokens.append(word)
                index += 1
            }
        }
    }

    /// `login:password` for `host`, as Dokku's `netrc get` prints it.
    func credentials(_ host: String) -> String? {
        guard let entry = entries.first(where: { $0.machine == host }) else { return nil }
        return "\(entry.value("login") ?? ""):\(entry.value("password") ?? "")"
    }

    /// Sets (or, with nil, removes) the entry for `host`.
    mutating func set(_ host: String, login: String?, password: String?) {
        let entry = login.map { Entry(machine: host, tokens: ["login", $0, "password", password ?? ""]) }
        if let position = entries.firstIndex(where: { $0.machine == host }) {
            entries.remove(at: position)
            if let entry { entries.insert(entry, at: position) }
        } else if let entry {
            entries.append(entry)
        }
    }

    /// The file's text.
    var text: String {
        entries.map { entry in
            var lines = [entry.machine.map { "machine \($0)" } ?? "default"]
            var iterator = entry.tokens.makeIterator()
            while let key = iterator.next() {
                lines.append("  \(key)" + (iterator.next().map { " \($0)" } ?? ""))
            }
            return lines.joined(separator: "\n") + "\n"
        }.joined()
    }

    /// Whether `value` can be one netrc token: no whitespace or control character, not empty.
    static func isToken(_ value: String) -> Bool {
        !value.isEmpty && !value.unicodeScalars.contains { $0.value <= 0x20 || $0.value == 0x7F }
    }
}
