extension Supervisor {
    /// Starts a transient timer that runs `spec` on a calendar schedule (systemd's
    /// `OnCalendar=` syntax). The service is created with the timer; both show in
    /// `systemctl list-timers`. The service must be named like the timer (`X.timer` starts
    /// `X.service`): transient timers cannot name another unit.
    package func startTimer(_ timer: String, calendar: String, description: String, service spec: ProcessSpec) throws(SupervisorError) {
        let serviceProperties = spec.processProperties + spec.journalProperties + [("Restart", .string("no"))]
        let properties: [(String, BusValue)] = [
            ("Description", .string(description)),
            ("TimersCalendar", .stringPairs([StringPair("OnCalendar", calendar)])),
            ("RemainAfterElapse", .bool(true)),
            ("AccuracyUSec", .uint64(1_000_000)),
        ]
        let job = try bus.startTransientUnit(timer, properties: properties, aux: [(spec.unit, serviceProperties)])
        try bus.finish(job, unit: timer)
    }

    /// The next time a timer fires (CLOCK_REALTIME microseconds), if it is loaded.
    package func nextElapse(_ timer: String) throws(SupervisorError) -> UInt64? {
        guard let path = try bus.unitPath(timer) else { return nil }
        let properties = try bus.properties(path: path, interface: "org.freedesktop.systemd1.Timer", unit: timer)
        return properties["NextElapseUSecRealtime"]?.integerValue
    }
}
