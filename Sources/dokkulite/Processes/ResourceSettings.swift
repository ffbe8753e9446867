import Supervisor

/// `resource:limit` values, stored as Dokku stores them (`TYPE.limit.KEY`, with
/// `_default_` for every process type) and turned into cgroup limits.
struct ResourceSettings {
    let context: Context

    init(_ context: Context) {
        self.context = context
    }

    /// The limit keys dokkulite applies.
    static let keys = ["cpu", "memory", "tasks"]
    /// The process type that stands for all of them.
    static let defaultType = "_default_"

    /// The limits for one process type: its own values over the `_default_` ones.
    func limits(_ app: AppName, processType: String) throws -> ProcessSpec.ResourceLimits {
        let properties = try context.store().properties(.app(app), "resource")
        func value(_ key: String) -> String? {
            properties["\(processType).limit.\(key)"] ?? properties["\(Self.defaultType).limit.\(key)"]
        }
        return ProcessSpec.ResourceLimits(
            memoryBytes: value("memory").flatMap(Self.memoryBytes),
            cpuPercent: value("cpu").flatMap(Self.cpuPercent),
            tasks: value("tasks").flatMap { UInt64($0) })
    }

    /// Docker's memory syntax as Dokku passes it: a number with an optional `b`, `k`, `m`
    /// or `g` unit; a bare number means megabytes.
    static func memoryBytes(_ text: String) -> UInt64? {
        let lower = text.lowercased()
        let units: [Character: UInt64] = ["b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30]
        if let last = lower.last, let unit = units[last] {
            return UInt64(lower.dropLast()).map { $0 * unit }
        }
        return UInt64(lower).map { $0 << 20 }
    }

    /// Docker's `--cpus`: a number of CPUs (`0.5`, `2`), as a percentage of one CPU.
    static func cpuPercent(_ text: String) -> Double? {
        guard let cpus = Double(text), cpus > 0, cpus.isFinite else { return nil }
        return cpus * 100
    }

    /// Checks a value before it is stored.
    static func validate(_ key: String, _ value: String) throws {
        let ok: Bool
        switch key {
        case "memory": ok = memoryBytes(value).map { $0 > 0 } ?? false
        case "cpu": ok = cpuPercent(value) != nil
        case "tasks": ok = UInt64(value).map { $0 > 0 } ?? false
        default: ok = false
        }
        guard ok else { throw CommandError("Invalid \(key) value: \(value)") }
    }
}
