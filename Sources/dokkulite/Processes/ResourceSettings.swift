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

    /// Docker's memory syntax as Dokku passes it (go-units' RAMInBytes): a number, with an
    /// optional unit `b`, `k`, `m`, `g` or `t`, optionally followed by `i` and/or `b`
    /// (`512m`, `512MB`, `1GiB`, `1.5g`), units of 1024; a bare number means megabytes.
    static func memoryBytes(_ text: String) -> UInt64? {
        var rest = Substring(text.lowercased())
        let number = rest.prefix { $0.isNumber || $0 == "." }
        rest = rest.dropFirst(number.count)
        guard let amount = Double(number), amount.isFinite else { return nil }
        if rest.first == " " { rest = rest.dropFirst() }
        let units: [Character: Double] = ["k": 0x1p10, "m": 0x1p20, "g": 0x1p30, "t": 0x1p40]
        var multiplier: Double = 0x1p20
        if let first = rest.first, let unit = units[first] {
            multiplier = unit
            rest = rest.dropFirst()
            if rest.first == "i" { rest = rest.dropFirst() }
            if rest.first == "b" { rest = rest.dropFirst() }
        } else if rest.first == "b" {
            multiplier = 1
            rest = rest.dropFirst()
        }
        guard rest.isEmpty else { return nil }
        let bytes = amount * multiplier
        guard bytes < 1.8e19 else { return nil }
        return UInt64(bytes)
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
