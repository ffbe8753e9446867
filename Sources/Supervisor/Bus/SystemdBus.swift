internal import CSystemd
#if canImport(Glibc)
internal import Glibc
#endif

/// A connection to a systemd manager over sd-bus, and the Manager methods dokkulite uses.
///
/// Not thread-safe: one connection belongs to one task. `JobRemoved` signals are collected
/// from the moment the connection opens, so a job that finishes before its caller starts
/// waiting is never missed.
package final class SystemdBus {
    package let address: BusAddress
    private let bus: OpaquePointer
    private var slot: OpaquePointer?
    private let jobs = JobLedger()

    private static let destination = "org.freedesktop.systemd1"
    private static let managerPath = "/org/freedesktop/systemd1"
    private static let managerInterface = "org.freedesktop.systemd1.Manager"

    /// Opens and starts a connection; fails with one line naming the address.
    package init(address: BusAddress) throws(SupervisorError) {
        self.address = address
        var bus: OpaquePointer?
        do {
            switch address {
            case .system:
                try check(sd_bus_open_system(&bus), "open")
            case .direct(let string):
                try check(sd_bus_new(&bus), "create connection")
                try check(string.withCString { sd_bus_set_address(bus, $0) }, "set address")
                try check(sd_bus_start(bus), "connect")
            }
        } catch {
            if let bus { sd_bus_flush_close_unref(bus) }
            throw .busUnreachable(address: address.description, reason: error.description)
        }
        self.bus = bus!
        do {
            try installJobWatch()
        } catch {
            throw .busUnreachable(address: address.description, reason: error.description)
        }
    }

    deinit {
        if let slot { sd_bus_slot_unref(slot) }
        sd_bus_flush_close_unref(bus)
    }

    // MARK: Manager methods

    /// Starts a transient unit and returns its job's object path. `mode` is systemd's job
    /// mode (`fail`, `replace`).
    package func startTransientUnit(_ name: String, properties: [(String, BusValue)], aux: [(String, [(String, BusValue)])] = [], mode: String = "fail") throws(SupervisorError) -> String {
        let reply = try call("StartTransientUnit", unit: name) { m throws(BusFailure) in
            try m.append(.string(name))
            try m.append(.string(mode))
            try m.appendProperties(properties)
            // Auxiliary units created with it (the service a transient timer starts).
            try m.open("a", "(sa(sv))")
            for (auxName, auxProperties) in aux {
                try m.open("r", "sa(sv)")
                try m.append(.string(auxName))
                try m.appendProperties(auxProperties)
                try m.close()
            }
            try m.close()
        }
        return try decode("StartTransientUnit", name) { () throws(BusFailure) in try reply.readObjectPath() }
    }

    /// Asks systemd to stop a unit; returns the job path.
    package func stopUnit(_ name: String, mode: String = "replace") throws(SupervisorError) -> String {
        let reply = try call("StopUnit", unit: name) { m throws(BusFailure) in
            try m.append(.string(name))
            try m.append(.string(mode))
        }
        return try decode("StopUnit", name) { () throws(BusFailure) in try reply.readObjectPath() }
    }

    /// Starts an existing unit (e.g. a timer's service); returns the job path.
    package func startUnit(_ name: String, mode: String = "replace") throws(SupervisorError) -> String {
        let reply = try call("StartUnit", unit: name) { m throws(BusFailure) in
            try m.append(.string(name))
            try m.append(.string(mode))
        }
        return try decode("StartUnit", name) { () throws(BusFailure) in try reply.readObjectPath() }
    }

    /// Sends a signal to a unit's processes (`who`: `main` or `all`).
    package func killUnit(_ name: String, signal: Int32, who: String = "all") throws(SupervisorError) {
        _ = try call("KillUnit", unit: name) { m throws(BusFailure) in
            try m.append(.string(name))
            try m.append(.string(who))
            try m.append(.int32(signal))
        }
    }

    /// Changes properties of a loaded unit (`runtime`: until the next reboot).
    package func setUnitProperties(_ name: String, runtime: Bool, _ properties: [(String, BusValue)]) throws(SupervisorError) {
        _ = try call("SetUnitProperties", unit: name) { m throws(BusFailure) in
            try m.append(.string(name))
            try m.append(.bool(runtime))
            try m.appendProperties(properties)
        }
    }

    /// Clears a unit's failed state so its name can be reused.
    package func resetFailedUnit(_ name: String) throws(SupervisorError) {
        _ = try call("ResetFailedUnit", unit: name) { m throws(BusFailure) in
            try m.append(.string(name))
        }
    }

    /// The object path of a loaded unit, or nil when systemd has no such unit (inactive).
    package func unitPath(_ name: String) throws(SupervisorError) -> String? {
        do {
            let reply = try call("GetUnit", unit: name) { m throws(BusFailure) in try m.append(.string(name)) }
            return try decode("GetUnit", name) { () throws(BusFailure) in try reply.readObjectPath() }
        } catch .noSuchUnit {
            return nil
        }
    }

    /// Loaded units whose names match any of the glob `patterns` (and any of `states`, if given).
    package func listUnits(matching patterns: [String], states: [String] = []) throws(SupervisorError) -> [UnitListing] {
        let reply = try call("ListUnitsByPatterns", unit: nil) { m throws(BusFailure) in
            try m.append(.strings(states))
            try m.append(.strings(patterns))
        }
        return try decode("ListUnitsByPatterns", nil) { () throws(BusFailure) in
            var units: [UnitListing] = []
            try reply.enter("a", "(ssssssouso)")
            while try reply.enterIfPresent("r", "ssssssouso") {
                let name = try reply.readString()
                let description = try reply.readString()
                let load = try reply.readString()
                let active = try reply.readString()
                let sub = try reply.readString()
                _ = try reply.readString()  // following
                let path = try reply.readObjectPath()
                try reply.skip("uso")
                try reply.exit()
                units.append(UnitListing(name: name, description: description, loadState: load, activeState: active, subState: sub, path: path))
            }
            try reply.exit()
            return units
        }
    }

    /// All properties of one interface of a unit object (`org.freedesktop.systemd1.Unit`,
    /// `.Service`, `.Timer`, …).
    package func properties(path: String, interface: String, unit: String? = nil) throws(SupervisorError) -> [String: BusValue] {
        let reply = try rawCall(path: path, interface: "org.freedesktop.DBus.Properties", method: "GetAll", unit: unit) { m throws(BusFailure) in
            try m.append(.string(interface))
        }
        return try decode("GetAll", unit) { () throws(BusFailure) in try reply.readPropertyDictionary() }
    }

    // MARK: Jobs

    /// Waits until the job at `path` is removed and returns its result (`done`, `failed`, …).
    package func waitForJob(_ path: String, unit: String, timeout: Duration = .seconds(90)) throws(SupervisorError) -> String {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while true {
            if let result = jobs.take(path) { return result }
            let r = sd_bus_process(bus, nil)
            if r < 0 { throw .callFailed(method: "process", unit: unit, name: "errno", message: BusFailure(code: r, what: "read").description) }
            if r > 0 { continue }
            let left = ContinuousClock.now.duration(to: deadline)
            if left <= .zero { throw .timedOut(unit: unit, waitingFor: "finish its job") }
            let micros = UInt64(left.components.seconds) * 1_000_000 + UInt64(left.components.attoseconds / 1_000_000_000_000)
            _ = sd_bus_wait(bus, min(micros, 1_000_000))
        }
    }

    /// Waits for the job at `job` and throws unless its result is `done`.
    package func finish(_ job: String, unit: String, timeout: Duration = .seconds(90)) throws(SupervisorError) {
        let result = try waitForJob(job, unit: unit, timeout: timeout)
        if result != "done" { throw .jobFailed(unit: unit, result: result) }
    }

    // MARK: Calls

    private func call(_ method: String, unit: String?, _ build: (BusMessage) throws(BusFailure) -> Void) throws(SupervisorError) -> BusMessage {
        try rawCall(path: Self.managerPath, interface: Self.managerInterface, method: method, unit: unit, build)
    }

    private func rawCall(path: String, interface: String, method: String, unit: String?, _ build: (BusMessage) throws(BusFailure) -> Void) throws(SupervisorError) -> BusMessage {
        var raw: OpaquePointer?
        let r = sd_bus_message_new_method_call(bus, &raw, Self.destination, path, interface, method)
        guard r >= 0, let raw else {
            throw .callFailed(method: method, unit: unit, name: "errno", message: BusFailure(code: r, what: "create message").description)
        }
        let message = BusMessage(taking: raw)
        do {
            try build(message)
        } catch {
            throw .callFailed(method: method, unit: unit, name: "errno", message: error.description)
        }
        var error = sd_bus_error()
        defer { sd_bus_error_free(&error) }
        var reply: OpaquePointer?
        let result = sd_bus_call(bus, message.pointer, 0, &error, &reply)
        if result < 0 {
            throw Self.mapError(method: method, unit: unit, code: result, error: error)
        }
        return BusMessage(taking: reply!)
    }

    private func decode<T>(_ method: String, _ unit: String?, _ body: () throws(BusFailure) -> T) throws(SupervisorError) -> T {
        do {
            return try body()
        } catch {
            throw .callFailed(method: method, unit: unit, name: "decode", message: error.description)
        }
    }

    private static func mapError(method: String, unit: String?, code: Int32, error: sd_bus_error) -> SupervisorError {
        let name = error.name.map { String(cString: $0) } ?? "errno"
        let message = error.message.map { String(cString: $0) } ?? String(cString: strerror(-code))
        switch name {
        case "org.freedesktop.systemd1.UnitExists":
            return .unitExists(unit: unit ?? "?")
        case "org.freedesktop.systemd1.NoSuchUnit", "org.freedesktop.systemd1.LoadFailed":
            return .noSuchUnit(unit: unit ?? "?")
        case "org.freedesktop.DBus.Error.AccessDenied", "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired":
            return .accessDenied(unit: unit, message: message)
        default:
            if code == -ENOTCONN || code == -ECONNRESET {
                return .busUnreachable(address: "systemd", reason: message)
            }
            return .callFailed(method: method, unit: unit, name: name, message: message)
        }
    }

    private func installJobWatch() throws(BusFailure) {
        let handler: sd_bus_message_handler_t = { message, userdata, _ in
            guard let message, let userdata else { return 0 }
            let ledger = Unmanaged<JobLedger>.fromOpaque(userdata).takeUnretainedValue()
            var id: UInt32 = 0
            var job: UnsafePointer<CChar>?
            var unit: UnsafePointer<CChar>?
            var result: UnsafePointer<CChar>?
            guard sd_bus_message_read_basic(message, CChar(UInt8(ascii: "u")), &id) >= 0,
                sd_bus_message_read_basic(message, CChar(UInt8(ascii: "o")), &job) >= 0,
                sd_bus_message_read_basic(message, CChar(UInt8(ascii: "s")), &unit) >= 0,
                sd_bus_message_read_basic(message, CChar(UInt8(ascii: "s")), &result) >= 0,
                let job, let result
            else { return 0 }
            ledger.record(job: String(cString: job), result: String(cString: result))
            return 0
        }
        // On a direct connection messages carry no sender, so the match must not name one.
        let match = "type='signal',interface='org.freedesktop.systemd1.Manager',member='JobRemoved',path='/org/freedesktop/systemd1'"
        try check(sd_bus_add_match(bus, &slot, match, handler, Unmanaged.passUnretained(jobs).toOpaque()), "watch jobs")
    }
}

/// One row of ListUnitsByPatterns.
package struct UnitListing: Sendable, Equatable {
    package var name: String
    package var description: String
    package var loadState: String
    package var activeState: String
    package var subState: String
    package var path: String
}

/// Results of finished jobs, by job path, until someone takes them.
private final class JobLedger {
    private var finished: [String: String] = [:]

    func record(job: String, result: String) {
        finished[job] = result
        // Jobs nobody waits for would pile up on a long-lived connection.
        if finished.count > 4096 { finished.removeAll() }
    }

    func take(_ job: String) -> String? {
        finished.removeValue(forKey: job)
    }
}
