package import Foundation

/// The parts of `app.json` dokkulite acts on, as Dokku reads them: deploy scripts, health
/// checks, formation, cron, env and buildpacks. Unknown keys are ignored; malformed JSON
/// is an error that names the file.
package struct AppJSON: Sendable, Equatable {
    package var predeploy: String?
    package var postdeploy: String?
    /// Process type → checks.
    package var healthchecks: [String: [Healthcheck]]
    /// Process type → quantity.
    package var formation: [String: Int]
    package var cron: [CronEntry]
    /// Declared env vars with a default value.
    package var env: [String: String]
    package var buildpacks: [String]

    package init() {
        healthchecks = [:]
        formation = [:]
        cron = []
        env = [:]
        buildpacks = []
    }

    /// One health check (Dokku's `healthchecks` entry).
    package struct Healthcheck: Sendable, Equatable {
        /// `startup`, `liveness` or `readiness`; dokkulite runs startup and readiness checks
        /// during deploys.
        package var type: String
        package var name: String
        /// An HTTP path; nil for a plain uptime / listening check.
        package var path: String?
        /// Text the response body must contain.
        package var content: String?
        package var attempts: Int
        /// Seconds per attempt.
        package var timeout: Double
        /// Seconds between attempts (Dokku's default is 5; dokkulite takes 1 when none is
        /// given, since a process is usually up within a second).
        package var wait: Double
        /// Seconds before the first attempt (`initialDelay`).
        package var initialDelay: Double = 0
        /// Seconds the process must stay up.
        package var uptime: Double?
        /// The port to check instead of the process's `PORT`.
        package var port: Int?
        /// A command to run instead of an HTTP request.
        package var command: [String]?
        /// Send the request with this scheme (`http`).
        package var scheme: String
        /// Extra request headers (`Host` and friends).
        package var headers: [String: String]
    }

    /// One `cron` entry.
    package struct CronEntry: Sendable, Equatable {
        package var command: String
        package var schedule: String
        /// In maintenance: kept, but not run on its schedule.
        package var maintenance = false
    }

    /// Parses app.json text; `file` names the file in errors.
    package init(parsing data: Data, file: String = "app.json") throws(BuildError) {
        self.init()
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Self.standardized(data))
        } catch {
            throw .invalidAppJSON(file: file, reason: "malformed JSON (\(Self.describe(error)))")
        }
        guard let root = object as? [String: Any] else {
            throw .invalidAppJSON(file: file, reason: "the top level must be an object")
        }
        if let scripts = root["scripts"] as? [String: Any], let dokku = scripts["dokku"] as? [String: Any] {
            predeploy = dokku["predeploy"] as? String
            postdeploy = dokku["postdeploy"] as? String
        }
        if let checks = root["healthchecks"] as? [String: Any] {
            for (type, list) in checks {
                guard let list = list as? [[String: Any]] else {
                    throw .invalidAppJSON(file: file, reason: "healthchecks.\(type) must be a list")
                }
                healthchecks[type] = try list.enumerated().map { index, entry throws(BuildError) in
                    try Self.healthcheck(entry, index: index, file: file, processType: type)
                }
            }
        }
        if let formation = root["formation"] as? [String: Any] {
            for (type, entry) in formation {
                if let quantity = (entry as? [String: Any])?["quantity"] as? Int, quantity >= 0 {
                    // Root starts what the app asks for: within reason (ps:scale goes further).
                    guard quantity <= Self.formationLimit else {
                        throw .invalidAppJSON(file: file, reason: "formation.\(type).quantity \(quantity) is more than \(Self.formationLimit)")
                    }
                    self.formation[type] = quantity
                }
            }
        }
        if let cron = root["cron"] as? [[String: Any]] {
            for (index, entry) in cron.enumerated() {
                guard let command = entry["command"] as? String, let schedule = entry["schedule"] as? String else {
                    throw .invalidAppJSON(file: file, reason: "cron[\(index)] needs a command and a schedule")
                }
                self.cron.append(CronEntry(command: command, schedule: schedule, maintenance: entry["maintenance"] as? Bool ?? false))
            }
        }
        if let env = root["env"] as? [String: Any] {
            for (key, value) in env {
                if let string = value as? String {
                    self.env[key] = string
                } else if let value = (value as? [String: Any])?["value"] as? String {
                    self.env[key] = value
                }
            }
        }
        if let buildpacks = root["buildpacks"] as? [[String: Any]] {
            self.buildpacks = buildpacks.compactMap { $0["url"] as? String }
        }
    }

    /// The most instances of one process type app.json may ask for.
    package static let formationLimit = 100

    private static func healthcheck(_ entry: [String: Any], index: Int, file: String, processType: String) throws(BuildError) -> Healthcheck {
        func number(_ key: String) -> Double? {
            (entry[key] as? NSNumber)?.doubleValue ?? (entry[key] as? String).flatMap(Double.init)
        }
        let command: [String]?
        if let list = entry["command"] as? [String] {
            command = list
        } else if let string = entry["command"] as? String {
            command = ["/bin/sh", "-c", string]
        } else {
            command = nil
        }
        let at = "healthchecks.\(processType)[\(index)]"
        // Root runs the checks, holding the app's deploy: every number finite and bounded,
        // and what goes into the request free of line breaks and controls.
        func seconds(_ key: String, default value: Double?, upTo limit: Double) throws(BuildError) -> Double? {
            guard let given = number(key) else { return value }
            guard given.isFinite, (0...limit).contains(given) else {
                throw .invalidAppJSON(file: file, reason: "\(at).\(key) must be between 0 and \(Int(limit)) seconds")
            }
            return given
        }
        let attemptsGiven = number("attempts") ?? 3
        guard attemptsGiven.isFinite, (1...100).contains(attemptsGiven) else {
            throw .invalidAppJSON(file: file, reason: "\(at).attempts must be between 1 and 100")
        }
        let attempts = Int(attemptsGiven)
        let port = number("port")
        if let port, !(port.isFinite && (1...65535).contains(port)) {
            throw .invalidAppJSON(file: file, reason: "\(at).port must be a port number")
        }
        let path = entry["path"] as? String
        if let path, !Healthcheck.isRequestTarget(path) {
            throw .invalidAppJSON(file: file, reason: "\(at).path must start with / and hold no spaces or control characters")
        }
        let headerList = (entry["httpHeaders"] as? [[String: Any]]) ?? []
        for header in headerList {
            let name = header["name"] as? String ?? "", value = header["value"] as? String ?? ""
            guard !name.isEmpty, name.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F && $0 != ":" }),
                !value.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
            else { throw .invalidAppJSON(file: file, reason: "\(at).httpHeaders has a name or value that cannot go in a request") }
        }
        let timeout = try seconds("timeout", default: 5, upTo: 600)!
        let wait = try seconds("wait", default: 1, upTo: 600)!
        let initialDelay = try seconds("initialDelay", default: 0, upTo: 600)!
        let uptime = try seconds("uptime", default: nil, upTo: 600)
        return Healthcheck(
            type: entry["type"] as? String ?? "startup",
            name: entry["name"] as? String ?? (entry["path"] != nil ? "path check \(index + 1)" : "check \(index + 1)"),
            path: path,
            content: entry["content"] as? String,
            attempts: attempts,
            timeout: timeout,
            wait: wait,
            initialDelay: initialDelay,
            uptime: uptime,
            port: port.map { Int($0) },
            command: command,
            scheme: entry["scheme"] as? String ?? "http",
            headers: Dictionary(headerList.compactMap { header in
                guard let name = header["name"] as? String, let value = header["value"] as? String else { return nil }
                return (name, value)
            }, uniquingKeysWith: { $1 }))
    }

    /// JSON with comments and trailing commas (as Dokku reads app.json, through hujson)
    /// made plain JSON: `//` and `/* */` comments become spaces, a comma before `}` or `]`
    /// is dropped; strings are left as they are.
    static func standardized(_ data: Data) -> Data {
        let bytes = [UInt8](data)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        var pendingComma: Int?
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                pendingComma = nil
                out.append(byte)
                index += 1
                while index < bytes.count {
                    out.append(bytes[index])
                    if bytes[index] == UInt8(ascii: "\\"), index + 1 < bytes.count {
                        out.append(bytes[index + 1])
                        index += 2
                        continue
                    }
                    index += 1
                    if bytes[index - 1] == UInt8(ascii: "\"") { break }
                }
                continue
            }
            if byte == UInt8(ascii: "/"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "/") {
                while index < bytes.count, bytes[index] != UInt8(ascii: "\n") { out.append(UInt8(ascii: " ")); index += 1 }
                continue
            }
            if byte == UInt8(ascii: "/"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "*") {
                out += [UInt8(ascii: " "), UInt8(ascii: " ")]
                index += 2
                while index < bytes.count, !(bytes[index] == UInt8(ascii: "*") && index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "/")) {
                    out.append(bytes[index] == UInt8(ascii: "\n") ? UInt8(ascii: "\n") : UInt8(ascii: " "))
                    index += 1
                }
                if index < bytes.count { out += [UInt8(ascii: " "), UInt8(ascii: " ")]; index += 2 }
                continue
            }
            if byte == UInt8(ascii: ",") {
                pendingComma = out.count
            } else if byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") {
                if let comma = pendingComma { out[comma] = UInt8(ascii: " ") }
                pendingComma = nil
            } else if !(byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D) {
                pendingComma = nil
            }
            out.append(byte)
            index += 1
        }
        return Data(out)
    }

    private static func describe(_ error: any Error) -> String {
        let text = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? error.localizedDescription
        return text.replacingOccurrences(of: "\n", with: " ")
    }
}

extension AppJSON.Healthcheck {
    /// Parses Dokku's deprecated `CHECKS` file: `WAIT=`, `TIMEOUT=`, `ATTEMPTS=` settings and
    /// `PATH [CONTENT]` lines (`//host/path` keeps only the path).
    /// A request path that can go on a request line as it is: `/…`, no spaces or controls.
    package static func isRequestTarget(_ path: String) -> Bool {
        path.hasPrefix("/") && !path.unicodeScalars.contains { $0.value <= 0x20 || $0.value == 0x7F }
    }

    package static func parseChecksFile(_ text: String) -> [AppJSON.Healthcheck] {
        var wait = 5.0, timeout = 30.0, attempts = 5
        func bounded(_ value: Double?, _ current: Double) -> Double {
            guard let value, value.isFinite else { return current }
            return min(max(value, 0), 600)
        }
        var checks: [(String, String?)] = []
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("WAIT=") { wait = bounded(Double(line.dropFirst(5)), wait); continue }
            if line.hasPrefix("TIMEOUT=") { timeout = bounded(Double(line.dropFirst(8)), timeout); continue }
            if line.hasPrefix("ATTEMPTS=") { attempts = min(max(Int(line.dropFirst(9)) ?? attempts, 1), 100); continue }
            let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
            var path = parts[0]
            if path.hasPrefix("//") {
                path = "/" + path.dropFirst(2).split(separator: "/", maxSplits: 1).dropFirst().joined()
            }
            // A line that is no request path is no check.
            guard isRequestTarget(path) else { continue }
            checks.append((path, parts.count > 1 ? parts[1] : nil))
        }
        return checks.enumerated().map { index, check in
            AppJSON.Healthcheck(
                type: "startup", name: "CHECKS \(index + 1)", path: check.0, content: check.1, attempts: attempts,
                timeout: timeout, wait: wait, initialDelay: index == 0 ? wait : 0, uptime: nil, port: nil, command: nil, scheme: "http", headers: [:])
        }
    }
}
