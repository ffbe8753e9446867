/// What can go wrong while talking to systemd or running an app's processes. Each case
/// carries what the person at the terminal needs to act: the address, unit, app or process.
package enum SupervisorError: Error, CustomStringConvertible, Equatable {
    /// The manager could not be reached at all.
    case busUnreachable(address: String, reason: String)
    /// A method call failed; `name` is the D-Bus error name systemd answered with.
    case callFailed(method: String, unit: String?, name: String, message: String)
    /// A unit by that name already exists.
    case unitExists(unit: String)
    /// No unit by that name is loaded.
    case noSuchUnit(unit: String)
    /// The caller may not manage units on this manager.
    case accessDenied(unit: String?, message: String)
    /// systemd refused to start the unit because it restarted too often.
    case startLimitHit(unit: String)
    /// A start or stop job finished with a result other than `done`.
    case jobFailed(unit: String, result: String)
    /// Waiting for systemd took longer than allowed.
    case timedOut(unit: String, waitingFor: String)
    /// A process did not come up.
    case processFailed(process: String, reason: String)
    /// A process of another user listens on the port handed to `process` (apps share the
    /// host's network): it is never taken for the instance.
    case portTaken(process: String, port: Int, uid: UInt32)
    /// No free port was left in the configured range.
    case portsExhausted(range: ClosedRange<Int>)
    /// The journal could not be read.
    case journal(reason: String)

    /// What `portTaken` says after the process's name.
    package static func portTakenReason(port: Int, uid: UInt32) -> String {
        "cannot use port \(port): a process of another user (uid \(uid)) listens on it"
    }

    package var description: String {
        switch self {
        case .busUnreachable(let address, let reason):
            "cannot reach systemd at \(address): \(reason)"
        case .callFailed(let method, let unit, let name, let message):
            "systemd \(method)\(unit.map { " for \($0)" } ?? "") failed: \(message) (\(name))"
        case .unitExists(let unit):
            "unit \(unit) already exists"
        case .noSuchUnit(let unit):
            "unit \(unit) is not loaded"
        case .accessDenied(let unit, let message):
            "access denied by systemd\(unit.map { " for \($0)" } ?? ""): \(message)"
        case .startLimitHit(let unit):
            "unit \(unit) restarted too often and hit its start limit"
        case .jobFailed(let unit, let result):
            "unit \(unit) job finished with result \"\(result)\""
        case .timedOut(let unit, let what):
            "timed out waiting for \(unit) to \(what)"
        case .processFailed(let process, let reason):
            "\(process) \(reason)"
        case .portTaken(let process, let port, let uid):
            "\(process) \(Self.portTakenReason(port: port, uid: uid))"
        case .portsExhausted(let range):
            "no free port left in \(range.lowerBound)-\(range.upperBound)"
        case .journal(let reason):
            "cannot read the journal: \(reason)"
        }
    }
}
