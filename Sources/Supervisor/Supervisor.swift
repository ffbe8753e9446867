#if canImport(Glibc)
internal import Glibc
#endif
package import Logging

/// Runs and inspects app processes as transient systemd services. One instance owns one
/// bus connection; it is not thread-safe.
package final class Supervisor {
    package let bus: SystemdBus
    private let logger: Logger

    package init(address: BusAddress, logger: Logger = Logger(label: "dokkulite.supervisor")) throws(SupervisorError) {
        self.bus = try SystemdBus(address: address)
        self.logger = logger
    }

    /// Starts the processes and waits until systemd has started each one. All start calls
    /// go out first and the jobs are awaited together, so twenty instances start about as
    /// fast as one. A name left over from a failed run is reset and reused.
    package func start(_ specs: [ProcessSpec]) throws(SupervisorError) {
        var jobs: [(job: String, unit: String)] = []
        for spec in specs {
            do {
                jobs.append((try bus.startTransientUnit(spec.unit, properties: spec.unitProperties), spec.unit))
            } catch .unitExists(let unit) {
                // A leftover (failed, or on its way down): clear it, wait until it is gone.
                try? bus.resetFailedUnit(unit)
                if let job = try? bus.stopUnit(unit) { _ = try? bus.waitForJob(job, unit: unit) }
                try? bus.resetFailedUnit(unit)
                jobs.append((try bus.startTransientUnit(spec.unit, properties: spec.unitProperties), spec.unit))
            }
        }
        var failure: SupervisorError?
        for (job, unit) in jobs {
            do {
                try bus.finish(job, unit: unit)
            } catch {
                logger.error("start failed", metadata: ["unit": "\(unit)", "error": "\(error)"])
                failure = failure ?? (try? explainFailure(unit)) ?? error
            }
        }
        if let failure { throw failure }
    }

    /// Stops units and waits until they are gone. Units that are not loaded are skipped.
    package func stop(_ units: [String], timeout: Duration = .seconds(120)) throws(SupervisorError) {
        var jobs: [(job: String, unit: String)] = []
        for unit in units {
            do {
                jobs.append((try bus.stopUnit(unit), unit))
            } catch .noSuchUnit {
                continue
            }
        }
        for (job, unit) in jobs {
            _ = try bus.waitForJob(job, unit: unit, timeout: timeout)
            // A failed unit stays loaded until reset; clear it so the name is free.
            try? bus.resetFailedUnit(unit)
        }
    }

    /// Sends a signal to every process of the unit.
    package func kill(_ unit: String, signal: Int32) throws(SupervisorError) {
        try bus.killUnit(unit, signal: signal)
    }

    /// The loaded units matching glob patterns, with their live state.
    package func status(matching patterns: [String]) throws(SupervisorError) -> [UnitStatus] {
        try bus.listUnits(matching: patterns).map { listing throws(SupervisorError) in
            try status(of: listing)
        }
    }

    /// One unit's live state, or nil when systemd has no such unit.
    package func status(of unit: String) throws(SupervisorError) -> UnitStatus? {
        guard let listing = try bus.listUnits(matching: [unit]).first else { return nil }
        return try status(of: listing)
    }

    private func status(of listing: UnitListing) throws(SupervisorError) -> UnitStatus {
        var status = UnitStatus(unit: listing.name, activeState: listing.activeState, subState: listing.subState)
        status.description = listing.description
        guard listing.name.hasSuffix(".service") else { return status }
        let service: [String: BusValue]
        do {
            service = try bus.properties(path: listing.path, interface: "org.freedesktop.systemd1.Service", unit: listing.name)
        } catch .noSuchUnit {
            return status
        }
        status.mainPID = service["MainPID"]?.integerValue.map { Int32(truncatingIfNeeded: $0) } ?? 0
        if let memory = service["MemoryCurrent"]?.integerValue, memory != UInt64.max { status.memoryBytes = memory }
        status.restarts = service["NRestarts"]?.integerValue.map(Int.init) ?? 0
        if let cpu = service["CPUUsageNSec"]?.integerValue, cpu != UInt64.max { status.cpuNanoseconds = cpu }
        if let received = service["IPIngressBytes"]?.integerValue, received != UInt64.max { status.receivedBytes = received }
        if let sent = service["IPEgressBytes"]?.integerValue, sent != UInt64.max { status.sentBytes = sent }
        if let started = service["ExecMainStartTimestamp"]?.integerValue, started > 0 { status.startedAtMicroseconds = started }
        status.result = service["Result"]?.stringValue ?? ""
        status.exitStatus = service["ExecMainStatus"].flatMap { if case .int32(let v) = $0 { Int(v) } else { nil } }
        return status
    }

    /// Why a unit that should be running is not: its result and exit status.
    private func explainFailure(_ unit: String) throws(SupervisorError) -> SupervisorError? {
        guard let status = try status(of: unit) else { return nil }
        if status.result == "start-limit-hit" { return .startLimitHit(unit: unit) }
        return .processFailed(process: unit, reason: "failed to start (result \(status.result), exit status \(status.exitStatus ?? -1))")
    }

    /// Waits until the unit's process accepts TCP connections on `port` (the default health
    /// check), failing early when the process exits.
    ///
    /// With `owner`, the listening socket must be that user's: apps share the host's
    /// network, and a process of another user (another app) that took the port first must
    /// never be mistaken for the instance and routed to.
    package func waitUntilListening(unit: String, port: Int, owner: UInt32? = nil, timeout: Duration) throws(SupervisorError) {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        var delay = Duration.milliseconds(5)
        while true {
            if Self.canConnect(port: port) {
                guard let owner else { return }
                let owners = Self.listenerOwners(port: port)
                if let stranger = owners.first(where: { $0 != owner }) {
                    throw .portTaken(process: unit, port: port, uid: stranger)
                }
                if !owners.isEmpty { return }
            }
            guard let status = try status(of: unit), status.isRunning else {
                throw .processFailed(process: unit, reason: "exited before it listened on port \(port)")
            }
            if ContinuousClock.now >= deadline {
                throw .processFailed(process: unit, reason: "did not listen on port \(port) within \(timeout)")
            }
            Self.sleep(delay)
            delay = min(delay * 2, .milliseconds(100))
        }
    }

    /// True when something accepts TCP connections on 127.0.0.1:`port`.
    package static func canConnect(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        return result == 0
    }

    /// The users whose sockets listen on TCP `port` (any address, IPv4 or IPv6), from the
    /// kernel's socket tables.
    package static func listenerOwners(port: Int) -> [UInt32] {
        var owners: [UInt32] = []
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            guard let file = fopen(table, "r") else { continue }
            defer { fclose(file) }
            var line: UnsafeMutablePointer<CChar>?
            var capacity = 0
            defer { free(line) }
            _ = getline(&line, &capacity, file)  // the header
            while getline(&line, &capacity, file) > 0, let line {
                // sl local_address rem_address st tx:rx tr:when retrnsmt uid ...
                let fields = String(cString: line).split(separator: " ", omittingEmptySubsequences: true)
                guard fields.count > 7, fields[3] == "0A", let colon = fields[1].lastIndex(of: ":"),
                    Int(fields[1][fields[1].index(after: colon)...], radix: 16) == port, let uid = UInt32(fields[7])
                else { continue }
                owners.append(uid)
            }
        }
        return owners
    }

    /// True when nothing is bound to `port` on any local address.
    package static func isFree(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = INADDR_ANY
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    static func sleep(_ duration: Duration) {
        var request = timespec(tv_sec: Int(duration.components.seconds), tv_nsec: Int(duration.components.attoseconds / 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }
}

/// A unit's live state as systemd reports it.
package struct UnitStatus: Sendable, Equatable {
    package var unit: String
    package var activeState: String
    package var subState: String
    package var mainPID: Int32 = 0
    package var memoryBytes: UInt64?
    /// CPU time used by the unit's processes (cgroup accounting), when systemd counts it.
    package var cpuNanoseconds: UInt64?
    /// Bytes the unit's sockets received and sent (IP accounting), when systemd counts them.
    package var receivedBytes: UInt64?
    package var sentBytes: UInt64?
    package var restarts = 0
    /// CLOCK_REALTIME microseconds of the last start.
    package var startedAtMicroseconds: UInt64?
    package var result = ""
    package var exitStatus: Int?
    /// The unit's `Description`.
    package var description = ""

    package init(unit: String, activeState: String, subState: String) {
        self.unit = unit
        self.activeState = activeState
        self.subState = subState
    }

    /// The process is up (not waiting to restart, not stopping).
    package var isRunning: Bool {
        activeState == "active" || activeState == "reloading"
    }
}
