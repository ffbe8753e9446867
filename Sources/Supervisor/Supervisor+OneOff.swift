#if canImport(Glibc)
internal import Glibc
#endif

extension Supervisor {
    /// Runs a one-off process with this process's stdin, stdout and stderr, forwards
    /// SIGINT, SIGTERM and SIGHUP to it, and returns its exit code (128+N when killed by
    /// signal N), as `dokku run` does.
    /// `input`, `output` and `errors` are the descriptors the process gets in place of this
    /// process's own (a file a backup is written to, a dump read back).
    package func runAttached(_ spec: ProcessSpec, input: Int32 = 0, output: Int32 = 1, errors: Int32 = 2) throws(SupervisorError) -> Int32 {
        let properties = spec.processProperties + [
            ("StandardInputFileDescriptor", .fileDescriptor(input)),
            ("StandardOutputFileDescriptor", .fileDescriptor(output)),
            ("StandardErrorFileDescriptor", .fileDescriptor(errors)),
            ("Restart", .string("no")),
            // The unit stays loaded (active, sub-state "exited", or failed) after its process
            // ends, so the exit status can be read without racing the garbage collector.
            ("RemainAfterExit", .bool(true)),
            ("CollectMode", .string("inactive")),
        ]
        var signals = sigset_t()
        sigemptyset(&signals)
        for signal in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&signals, signal) }
        var previous = sigset_t()
        pthread_sigmask(SIG_BLOCK, &signals, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }

        // Not `finish`: a command that fails at once (`exit 3`) can fail its own start job
        // when systemd sees the exit before the exec, and its exit status, read below, is
        // the answer. The job's result matters only if no process ever ran.
        let started = try bus.waitForJob(try bus.startTransientUnit(spec.unit, properties: properties), unit: spec.unit)
        var timeout = timespec(tv_sec: 0, tv_nsec: 20_000_000)
        while true {
            let received = sigtimedwait(&signals, nil, &timeout)
            if received > 0 { try? bus.killUnit(spec.unit, signal: received, who: "main") }
            guard let path = try bus.unitPath(spec.unit) else {
                throw .processFailed(process: spec.unit, reason: "vanished before its exit status was read")
            }
            let unit = try bus.properties(path: path, interface: "org.freedesktop.systemd1.Unit", unit: spec.unit)
            let state = unit["ActiveState"]?.stringValue ?? ""
            let sub = unit["SubState"]?.stringValue ?? ""
            let ended = state == "failed" || (state == "active" && sub == "exited") || state == "inactive"
            if !ended { continue }
            let service = try bus.properties(path: path, interface: "org.freedesktop.systemd1.Service", unit: spec.unit)
            if state == "active", let job = try? bus.stopUnit(spec.unit) { _ = try? bus.waitForJob(job, unit: spec.unit) }
            try? bus.resetFailedUnit(spec.unit)
            let code = service["ExecMainCode"].flatMap(Self.int32) ?? 0
            let status = service["ExecMainStatus"].flatMap(Self.int32) ?? 1
            if code == 0, started != "done" { throw .jobFailed(unit: spec.unit, result: started) }
            // CLD_EXITED = 1; CLD_KILLED = 2; CLD_DUMPED = 3.
            return code == 2 || code == 3 ? 128 + status : status
        }
    }

    /// Starts a one-off process in the background, its output in the journal, and returns
    /// once it runs; the unit goes away when the process ends (`run:detached`).
    package func startDetached(_ spec: ProcessSpec) throws(SupervisorError) {
        let properties = spec.processProperties + spec.journalProperties + [
            ("Restart", .string("no")),
            ("CollectMode", .string("inactive-or-failed")),
        ]
        _ = try bus.waitForJob(try bus.startTransientUnit(spec.unit, properties: properties), unit: spec.unit)
    }

    static func int32(_ value: BusValue) -> Int32? {
        if case .int32(let v) = value { return v }
        return nil
    }

    /// Changes limits of a running unit (`MemoryMax=` and friends) without a restart.
    package func setRuntimeProperties(_ unit: String, _ properties: [(String, BusValue)]) throws(SupervisorError) {
        try bus.setUnitProperties(unit, runtime: true, properties)
    }
}
