extension ProcessSpec {
    /// What every app process and build runs under: no way to gain privileges or
    /// capabilities, the system read-only, no home directories, its own /tmp, /dev (with
    /// its own /dev/shm) and IPC namespace, other users' processes invisible in /proc, no
    /// kernel tunables, modules, logs, clock, hostname or namespaces, and system calls
    /// limited to what services use (others fail with EPERM rather than killing it).
    ///
    /// `ProcSubset=pid` is left out: it hides /proc/cpuinfo and /proc/stat, and Node.js then
    /// counts no CPU (`os.cpus()` is empty), which breaks apps that fork a worker per CPU.
    /// `MemoryDenyWriteExecute=` is left out: JIT compilers (V8, PyPy) need it.
    static let hardening: [(String, BusValue)] = [
        ("NoNewPrivileges", .bool(true)),
        ("CapabilityBoundingSet", .uint64(0)),
        ("AmbientCapabilities", .uint64(0)),
        ("ProtectSystem", .string("strict")),
        ("ProtectHome", .string("yes")),
        ("PrivateTmp", .bool(true)),
        ("PrivateDevices", .bool(true)),
        // PrivateDevices= still shares the host's /dev/shm: each process gets its own.
        ("TemporaryFileSystem", .stringPairs([StringPair("/dev/shm", "rw,nosuid,nodev,mode=1777")])),
        ("PrivateIPC", .bool(true)),
        ("ProtectProc", .string("invisible")),
        ("ProtectKernelTunables", .bool(true)),
        ("ProtectKernelModules", .bool(true)),
        ("ProtectKernelLogs", .bool(true)),
        ("ProtectControlGroups", .bool(true)),
        ("ProtectClock", .bool(true)),
        ("ProtectHostname", .bool(true)),
        ("RestrictNamespaces", .uint64(0)),
        ("RestrictRealtime", .bool(true)),
        ("RestrictSUIDSGID", .bool(true)),
        ("LockPersonality", .bool(true)),
        ("RestrictAddressFamilies", .flaggedStrings(true, ["AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"])),
        ("SystemCallArchitectures", .strings(["native"])),
        ("SystemCallFilter", .flaggedStrings(true, ["@system-service"])),
        ("SystemCallErrorNumber", .int32(1)),
    ]

    /// The script every Procfile process starts with, from a file systemd binds read-only
    /// at `launcherMount`: Heroku's order is config vars (already in the environment), then
    /// `.profile.d/*.sh`, then `.profile`, then the command itself, which comes in
    /// `DOKKULITE_COMMAND`.
    ///
    /// Neither the script nor the command is an `ExecStart=` argument: systemd 252 writes a
    /// transient unit's `ExecStart=` to disk with `;` and `$` escaped and, on a
    /// `daemon-reload`, reads the escapes back as characters, which broke any command a
    /// unit started (or restarted) after a reload. `Environment=` values survive the trip.
    package static let launcher = """
        for f in .profile.d/*.sh; do [ -r "$f" ] && . "$f"; done
        [ -r .profile ] && . ./.profile
        command=$\(commandVariable)
        unset \(commandVariable)
        exec /bin/bash -c "$command"

        """

    /// The variable the launcher finds the command in.
    package static let commandVariable = "DOKKULITE_COMMAND"

    /// Where every process finds the launcher.
    package static let launcherMount = "/usr/local/lib/dokkulite/launch"

    /// The cgroup limit properties; also applied to running units by `resource:limit`.
    package var limitProperties: [(String, BusValue)] {
        var properties: [(String, BusValue)] = []
        properties.append(("MemoryMax", .uint64(limits.memoryBytes ?? UInt64.max)))
        // Docker's --memory-swap is memory plus swap; systemd's MemorySwapMax is swap alone.
        let swap: UInt64 = switch (limits.memoryBytes, limits.memorySwapBytes) {
        case (nil, nil): UInt64.max
        case (let memory?, let total?): total > memory ? total - memory : 0
        case (nil, let total?): total
        case (_?, nil): 0
        }
        properties.append(("MemorySwapMax", .uint64(swap)))
        properties.append(("MemoryLow", .uint64(limits.memoryReservedBytes ?? 0)))
        properties.append(("CPUQuotaPerSecUSec", .uint64(limits.cpuPercent.map { UInt64($0 * 10_000) } ?? UInt64.max)))
        properties.append(("TasksMax", .uint64(limits.tasks ?? UInt64.max)))
        return properties
    }

    /// systemd expands `$VAR`, `${VAR}` and `$$` in ExecStart arguments itself; doubling
    /// every `$` hands the command to bash untouched.
    package static func escapingDollars(_ argument: String) -> String {
        var result = ""
        for character in argument {
            if character == "$" { result.append("$$") } else { result.append(character) }
        }
        return result
    }

    /// The command line: the launcher (which runs `command`), or `argv` as given.
    package var execCommand: ExecCommand {
        let words = argv ?? ["/bin/bash", Self.launcherMount]
        return ExecCommand(path: words[0], argv: words.map(Self.escapingDollars))
    }

    /// The variables set on the unit: the spec's, and the command the launcher runs.
    package var unitEnvironment: [String: String] {
        var environment = self.environment
        if argv == nil { environment[Self.commandVariable] = command }
        return environment
    }

    /// The transient unit properties for this process, supervised: what it runs and as
    /// whom, its standard streams on the journal, and its restart policy.
    package var unitProperties: [(String, BusValue)] {
        processProperties + journalProperties + supervisionProperties + accountingProperties
    }

    /// systemd counts the bytes the unit's sockets receive and send (`IPIngressBytes`,
    /// `IPEgressBytes`), for the metrics; CPU and memory it counts already.
    package var accountingProperties: [(String, BusValue)] {
        [("IPAccounting", .bool(true))]
    }

    /// Standard input from /dev/null, output and errors to the journal.
    package var journalProperties: [(String, BusValue)] {
        [("StandardInput", .string("null")), ("StandardOutput", .string("journal")), ("StandardError", .string("journal"))]
    }

    /// Restarts as `ps:set restart-policy` says, and collection once it ends: what one-off
    /// and timer-started processes do not have.
    package var supervisionProperties: [(String, BusValue)] {
        var properties: [(String, BusValue)] = [
            ("CollectMode", .string("inactive-or-failed")),
            ("Restart", .string(restart.mode)),
            ("RestartUSec", .uint64(UInt64(restart.delaySeconds * 1_000_000))),
        ]
        if let maxStarts = restart.maxStarts {
            // Count restarts over the whole life of the unit, like Docker's on-failure:N.
            properties.append(("StartLimitIntervalUSec", .uint64(UInt64.max)))
            properties.append(("StartLimitBurst", .uint32(UInt32(clamping: maxStarts))))
        } else {
            properties.append(("StartLimitIntervalUSec", .uint64(0)))
        }
        return properties
    }

    /// What every process of an app has, however it is started: the command, its
    /// environment, user, limits and sandbox.
    package var processProperties: [(String, BusValue)] {
        var properties: [(String, BusValue)] = [
            ("Description", .string(description)),
            ("Slice", .string(slice)),
            ("Type", .string("exec")),
            ("ExecStart", .execCommands([execCommand])),
            ("WorkingDirectory", .string(workingDirectory)),
            ("Environment", .strings(unitEnvironment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" })),
            ("SyslogIdentifier", .string(syslogIdentifier)),
            ("KillMode", .string(killMainProcessFirst ? "mixed" : "control-group")),
            ("TimeoutStopUSec", .uint64(UInt64(max(0, stopTimeoutSeconds)) * 1_000_000)),
        ]
        if let killSignal {
            properties.append(("KillSignal", .int32(killSignal)))
        }
        if let runtimeMaxSeconds {
            properties.append(("RuntimeMaxUSec", .uint64(UInt64(max(1, runtimeMaxSeconds)) * 1_000_000)))
        }
        if !environmentFiles.isEmpty {
            // a(sb): path, ignore-if-missing.
            properties.append(("EnvironmentFiles", .pathFlags(environmentFiles.map { PathFlag($0, false) })))
        }
        switch identity {
        case .user(let user):
            properties.append(("User", .string(user)))
            properties.append(("Group", .string(user)))
        case .dynamic(let name):
            properties.append(("DynamicUser", .bool(true)))
            if let name { properties.append(("User", .string(name))) }
        case .root:
            break
        }
        properties += limitProperties
        if sandbox.hardened {
            properties += Self.hardening
            if let reserved = sandbox.reservedPorts {
                properties.append(("SocketBindAllow", .socketBinds(sandbox.ownPorts.map { SocketBind(first: $0) })))
                properties.append(("SocketBindDeny", .socketBinds([SocketBind(first: reserved.lowerBound, count: UInt16(clamping: reserved.count))])))
            }
        }
        if !sandbox.readWritePaths.isEmpty {
            properties.append(("ReadWritePaths", .strings(sandbox.readWritePaths)))
        }
        if !sandbox.inaccessiblePaths.isEmpty {
            // A leading "-" ignores paths that do not exist.
            properties.append(("InaccessiblePaths", .strings(sandbox.inaccessiblePaths.map { "-" + $0 })))
        }
        if !sandbox.bindPaths.isEmpty {
            properties.append(("BindPaths", .bindPaths(sandbox.bindPaths)))
        }
        if !sandbox.readOnlyBindPaths.isEmpty {
            properties.append(("BindReadOnlyPaths", .bindPaths(sandbox.readOnlyBindPaths)))
        }
        return properties
    }
}
