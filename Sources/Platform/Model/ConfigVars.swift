import Foundation
import Supervisor

/// Config var keys and the text formats config vars travel in.
enum ConfigVars {
    /// Dokku's key rule: `^[a-zA-Z_][a-zA-Z0-9_]*$`.
    static func isValidKey(_ key: String) -> Bool {
        let bytes = Array(key.utf8)
        guard let first = bytes.first else { return false }
        func letter(_ b: UInt8) -> Bool { (65...90).contains(b) || (97...122).contains(b) || b == 95 }
        return letter(first) && bytes.allSatisfy { letter($0) || (48...57).contains($0) }
    }

    /// Names dokkulite sets on every process itself: a config var of the name would take
    /// their place (the config file is read after them), so none may be set.
    static let reserved: Set<String> = [ProcessSpec.commandVariable]

    /// Throws Dokku's message unless `key` is valid.
    static func validate(key: String) throws {
        guard isValidKey(key) else { throw CommandError("Invalid key name: '\(key)'") }
        guard !reserved.contains(key) else { throw CommandError("Invalid key name: '\(key)' is dokkulite's own (the command every process runs)") }
    }

    /// Shell single-quoting: `'it'\''s'`.
    static func singleQuoted(_ value: String) -> String {
        "'" + value.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// `KEY:  value` rows with the values aligned, as Dokku's columnized listing.
    static func aligned(_ pairs: [(key: String, value: String)], prefix: String) -> [String] {
        let width = pairs.map { $0.key.count + 1 }.max() ?? 0
        return pairs.map { pair in
            let cell = (pair.key + ":").padding(toLength: width, withPad: " ", startingAt: 0)
            return prefix + cell + "  " + pair.value.trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    /// The `config:export` formats.
    enum ExportFormat: String, CaseIterable {
        case exports, envfile, shell, json
        case jsonList = "json-list"
        case dockerArgs = "docker-args"
        case dockerArgsKeys = "docker-args-keys"
        case packKeys = "pack-keys"
        case pretty
    }

    /// Renders config vars (sorted by key) in an export format, exactly as Dokku prints them.
    static func export(_ pairs: [(key: String, value: String)], as format: ExportFormat) -> String {
        switch format {
        case .exports:
            return pairs.map { "export \($0.key)=\(singleQuoted($0.value))" }.joined(separator: "\n") + "\n"
        case .shell:
            return pairs.map { "\($0.key)=\(singleQuoted($0.value)) " }.joined()
        case .envfile:
            return pairs.map { "\($0.key)=\(envfileValue($0.value))" }.joined(separator: "\n") + "\n"
        case .json:
            return JSON.encode(Dictionary(pairs.map { ($0.key, $0.value) }, uniquingKeysWith: { $1 })) + "\n"
        case .jsonList:
            if pairs.isEmpty { return "null\n" }
            return JSON.encode(pairs.map { ["name": $0.key, "value": $0.value] }) + "\n"
        case .dockerArgs:
            return pairs.map { "--env=\($0.key)=\(singleQuoted($0.value))" }.joined(separator: " ") + "\n"
        case .dockerArgsKeys:
            return pairs.map { "--env=\($0.key)" }.joined(separator: " ") + "\n"
        case .packKeys:
            return pairs.map { "--env \($0.key)" }.joined(separator: " ") + "\n"
        case .pretty:
            return aligned(pairs, prefix: "").joined(separator: "\n") + "\n"
        }
    }

    /// godotenv's value encoding: integers bare, everything else double-quoted with escapes.
    static func envfileValue(_ value: String) -> String {
        if let number = Int(value) { return String(number) }
        var out = "\""
        for char in value.unicodeScalars {
            switch char {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\"": out += "\\\""
            case "!": out += "\\!"
            case "$": out += "\\$"
            case "`": out += "\\`"
            default: out.unicodeScalars.append(char)
            }
        }
        return out + "\""
    }

    /// Parses an env file as `config:import` and `.env` readers do: `KEY=value`,
    /// `export KEY=value`, `KEY: value`, single or double quotes, `#` comments.
    static func parseEnvfile(_ text: String) throws -> [(key: String, value: String)] {
        var result: [(key: String, value: String)] = []
        var scalars = Array(text.unicodeScalars)[...]
        func skipBlanks() { while let c = scalars.first, c == " " || c == "\t" { scalars.removeFirst() } }
        func skipLine() { while let c = scalars.popFirst(), c != "\n" {} }
        while !scalars.isEmpty {
            skipBlanks()
            guard let first = scalars.first else { break }
            if first == "\n" || first == "\r" { scalars.removeFirst(); continue }
            if first == "#" { skipLine(); continue }
            var key = ""
            while let c = scalars.first, c != "=", c != ":", c != "\n" { key.unicodeScalars.append(c); scalars.removeFirst() }
            key = key.trimmingCharacters(in: .whitespaces)
            if key.hasPrefix("export ") { key = String(key.dropFirst(7)).trimmingCharacters(in: .whitespaces) }
            guard scalars.popFirst() != "\n", !key.isEmpty else { throw CommandError("Invalid env file line: \(key)") }
            skipBlanks()
            var value = ""
            switch scalars.first {
            case "'":
                scalars.removeFirst()
                while let c = scalars.popFirst(), c != "'" { value.unicodeScalars.append(c) }
                skipLine()
            case "\"":
                scalars.removeFirst()
                while let c = scalars.popFirst(), c != "\"" {
                    if c == "\\", let next = scalars.popFirst() {
                        switch next {
                        case "n": value += "\n"
                        case "r": value += "\r"
                        default: value.unicodeScalars.append(next)
                        }
                    } else {
                        value.unicodeScalars.append(c)
                    }
                }
                skipLine()
            default:
                while let c = scalars.first, c != "\n" { value.unicodeScalars.append(c); scalars.removeFirst() }
                if let comment = value.range(of: " #") { value = String(value[..<comment.lowerBound]) }
                value = value.trimmingCharacters(in: .whitespaces)
                if value.hasSuffix("\r") { value.removeLast() }
            }
            result.append((key, value))
        }
        return result
    }

    /// systemd `EnvironmentFile=` text: double-quoted values in which systemd's parser
    /// keeps every byte (`\`, `"`, `` ` `` and `$` escaped; newlines literal).
    static func systemdEnvironmentFile(_ pairs: [(key: String, value: String)]) -> String {
        pairs.map { pair in
            var out = "\(pair.key)=\""
            for char in pair.value.unicodeScalars {
                switch char {
                case "\\", "\"", "`", "$": out += "\\"; out.unicodeScalars.append(char)
                default: out.unicodeScalars.append(char)
                }
            }
            return out + "\"\n"
        }.joined()
    }
}
