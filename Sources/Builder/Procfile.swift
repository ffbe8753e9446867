/// The process types of an app, parsed from a Procfile: `type: command` per line, `#`
/// comments and blank lines ignored. Types follow Dokku's rule
/// (`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`, at most 63 characters) and appear once.
package struct Procfile: Sendable, Equatable {
    /// One process type and its command, in file order.
    package struct Entry: Sendable, Equatable {
        package var type: String
        package var command: String

        package init(type: String, command: String) {
            self.type = type
            self.command = command
        }
    }

    package var entries: [Entry]

    package init(entries: [Entry]) {
        self.entries = entries
    }

    /// The command of a type, if present.
    package subscript(type: String) -> String? {
        entries.first { $0.type == type }?.command
    }

    /// The process types, in file order.
    package var types: [String] { entries.map(\.type) }

    /// Parses Procfile text; `file` names the source in errors.
    package init(parsing text: String, file: String = "Procfile") throws(BuildError) {
        var entries: [Entry] = []
        var seen = Set<String>()
        for (index, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = rawLine
            let trimmed = line.drop(while: { $0 == " " || $0 == "\t" })
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            guard let colon = trimmed.firstIndex(of: ":") else {
                throw .invalidProcfile(file: file, line: index + 1, reason: "expected \"type: command\"")
            }
            let type = String(trimmed[..<colon]).trimmingSpaces()
            let command = String(trimmed[trimmed.index(after: colon)...]).trimmingSpaces()
            guard Self.isValidType(type) else {
                throw .invalidProcfile(file: file, line: index + 1, reason: "invalid process type \"\(type)\" (lowercase letters, digits and dashes, at most 63 characters)")
            }
            guard !command.isEmpty else {
                throw .invalidProcfile(file: file, line: index + 1, reason: "process type \"\(type)\" has no command")
            }
            guard seen.insert(type).inserted else {
                throw .invalidProcfile(file: file, line: index + 1, reason: "process type \"\(type)\" is defined twice")
            }
            entries.append(Entry(type: type, command: command))
        }
        self.entries = entries
    }

    /// Dokku's process type rule.
    package static func isValidType(_ type: String) -> Bool {
        let bytes = Array(type.utf8)
        guard (1...63).contains(bytes.count) else { return false }
        func alnum(_ b: UInt8) -> Bool { (97...122).contains(b) || (48...57).contains(b) }
        guard alnum(bytes.first!), alnum(bytes.last!) else { return false }
        return bytes.allSatisfy { alnum($0) || $0 == UInt8(ascii: "-") }
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}
