#if canImport(Glibc)
internal import Glibc
#endif

extension Supervisor {
    /// Runs a one-off process with this process's stdin, stdout and stderr, forwards
    /// SIGINT, SIGTERM and SIGHUP to it, and returns its exit code (128+N when killed by
    /// signal N), as `dokku run` does.
    package func runAttached(_ spec: ProcessSpec) throws(SupervisorError) -> Int32 {
        var properties = spec.unitProperties.filter { !["StandardInput", "StandardOutput", "StandardError", "Restart", "CollectMode"].contains($0.0) }
        properties += [
            ("StandardInputFileDescriptor", .fileDescriptor(0)),
            ("StandardOutputFileDescriptor", .fileDescriptor(1)),
            ("StandardErrorFileDescriptor", .fileDescriptor(2)),
            ("Restart", .string("no")),
            // A unit that exits 0 is collected (GetUnit then says NoSuchUnit: exit 0); one
            // that fails stays loaded, failed, so its status can be read and then reset.
            ("CollectMode", .string("inactive")),
        ]
        var signals = sigset_t()
        sigemptyset(&signals)
        for signal in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&signals, signal) }
        var previous = sigset_t()
        pthread_sigmask(SIG_BLOCK, &signals, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }

        try bus.finish(try bus.startTransientUnit(spec.unit, properties: properties), unit: spec.unit)
        var timeout = timespec(tv_sec: 0, tv_nsec: 20_000_000)
        while true {
            let received = sigtimedwait(&signals, nil, &timeout)
            if received > 0 { try? bus.killUnit(spec.unit, signal: received, who: "main") }
            guard let path = try bus.unitPath(spec.unit) else { return 0 }
            let unit = try bus.properties(path: path, interface: "org.freedesktop.systemd1.Unit", unit: spec.unit)
            let state = unit["ActiveState"]?.stringValue ?? ""
            if state == "active" || state == "activating" || state == "deactivating" { continue }
            let service = try bus.properties(path: path, interface: "org.freedesktop.systemd1.Service", unit: spec.unit)
            try? bus.resetFailedUnit(spec.unit)
            let code = service["ExecMainCode"].flatMap(Self.int32) ?? 1
            let status = service["ExecMainStatus"].flatMap(Self.int32) ?? 1
            // CLD_EXITED = 1; CLD_KILLED = 2; CLD_DUMPED = 3.
            return code == 1 ? status : 128 + status
        }
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
