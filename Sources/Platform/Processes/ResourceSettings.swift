import Supervisor

/// `resource:limit` and `resource:reserve` values, stored as Dokku stores them
/// (`TYPE.limit.KEY`, `TYPE.reserve.KEY`, with `_default_` for every process type) and
/// turned into cgroup settings: limits `cpu` (CPUQuota), `memory` (MemoryMax),
/// `memory-swap` (MemorySwapMax) and `tasks` (TasksMax); the `memory` reservation
/// (MemoryLow). The network and GPU options are kept and reported only: systemd has no
/// counterpart for them here.
struct ResourceSettings {
    let context: Context

    init(_ context: Context) {
        self.context = context
    }

    /// Dokku's resource options, and `tasks` (a process limit, dokkulite's own).
    static let keys = ["cpu", "memory", "memory-swap", "network", "network-ingress", "network-egress", "nvidia-gpu", "tasks"]
    /// The process type that stands for all of them.
    static let defaultType = "_default_"

    /// The settings for one process type: its own values over the `_default_` ones.
    func limits(_ app: AppName, processType: String) throws -> ProcessSpec.ResourceLimits {
        let properties = try context.store().properties(.app(app), "resource")
        func value(_ kind: String, _ key: String) -> String? {
            properties["\(processType).\(kind).\(key)"] ?? properties["\(Self.defaultType).\(kind).\(key)"]
        }
        return ProcessSpec.ResourceLimits(
            memoryBytes: value("limit", "memory").flatMap(Self.memoryBytes),
            memorySwapBytes: value("limit", "memory-swap").flatMap(Self.memoryBytes),
            cpuPercent: value("limit", "cpu").flatMap(Self.cpuPercent),
            tasks: value("limit", "tasks").flatMap { UInt64($0) },
            memoryReservedBytes: value("reserve", "memory").flatMap(Self.memoryBytes))
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
        guard let cpus = Double(text), cpus > 0, cpus <= 4096 else { return nil }
        return cpus * 100
    }

    /// Checks a value dokkulite applies before it is stored; the others are kept as given,
    /// as Dokku keeps them.
    static func validate(_ key: String, _ value: String) throws {
        let ok: Bool
        switch key {
        case "memory", "memory-swap": ok = memoryBytes(value).map { $0 > 0 } ?? false
        case "cpu": ok = cpuPercent(value) != nil
        case "tasks": ok = UInt64(value).map { $0 > 0 } ?? false
        default: ok = true
        }
        guard ok else { throw CommandError("Invalid \(key) value: \(value)") }
    }
}
