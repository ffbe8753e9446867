/// Everything needed to run one process instance as a transient service. A plain value:
/// the `dokkulite` target fills it from the app model; Supervisor turns it into a unit.
package struct ProcessSpec: Sendable, Equatable {
    /// The unit name (`ROOT-APP-TYPE.N-GEN.service`).
    package var unit: String
    /// The slice the unit runs in (`ROOT-APP.slice`).
    package var slice: String
    /// A human description shown by `systemctl status`.
    package var description: String
    /// The shell command from the Procfile (run with `bash -c`).
    package var command: String
    /// The release tree the process runs in; `.profile.d/*.sh` and `.profile` there are
    /// sourced before the command, after the config vars are in the environment.
    package var workingDirectory: String
    /// Variables set directly on the unit (`PORT`, `DYNO`, `PS`, `HOME`, …).
    package var environment: [String: String]
    /// Files systemd reads as root before dropping privileges (config vars stay secret
    /// from other local users, who can read a unit's `Environment=` over D-Bus).
    package var environmentFiles: [String]
    /// The identity the process runs as.
    package var identity: Identity
    /// What systemd does when the process exits.
    package var restart: RestartRule
    /// How long systemd waits after SIGTERM before SIGKILL.
    package var stopTimeoutSeconds: Int
    /// cgroup limits.
    package var limits: ResourceLimits
    /// Filesystem view.
    package var sandbox: Sandbox
    /// The journal identifier (e.g. `myapp.web.1`).
    package var syslogIdentifier: String
    /// Run this argv directly instead of the Procfile launcher (builds, helpers).
    package var argv: [String]?
    /// Stop the process after this many seconds (`RuntimeMaxSec`; `run --ttl-seconds`).
    package var runtimeMaxSeconds: Int?
    /// The signal that asks the process to stop (nil: systemd's SIGTERM). PostgreSQL's
    /// SIGTERM waits for every client to go; SIGINT is its fast shutdown.
    package var killSignal: Int32?
    /// Signal only the main process on stop, the rest of the group only if it outlives the
    /// timeout (`KillMode=mixed`): a server that stops its own workers (PostgreSQL).
    package var killMainProcessFirst = false

    package init(
        unit: String, slice: String, description: String, command: String, workingDirectory: String,
        environment: [String: String] = [:], environmentFiles: [String] = [], identity: Identity = .dynamic(name: nil),
        restart: RestartRule = RestartRule(), stopTimeoutSeconds: Int = 30, limits: ResourceLimits = ResourceLimits(),
        sandbox: Sandbox = Sandbox(), syslogIdentifier: String, argv: [String]? = nil
    ) {
        self.unit = unit
        self.slice = slice
        self.description = description
        self.command = command
        self.workingDirectory = workingDirectory
        self.environment = environment
        self.environmentFiles = environmentFiles
        self.identity = identity
        self.restart = restart
        self.stopTimeoutSeconds = stopTimeoutSeconds
        self.limits = limits
        self.sandbox = sandbox
        self.syslogIdentifier = syslogIdentifier
        self.argv = argv
    }

    /// Who the process runs as.
    package enum Identity: Sendable, Equatable {
        /// A static unprivileged user (and its group), created with the app.
        case user(String)
        /// systemd's DynamicUser, optionally with a stable name.
        case dynamic(name: String?)
        /// Root: only for dokkulite's own helper units, never an app.
        case root
    }

    /// systemd's `Restart=` and its start limit.
    package struct RestartRule: Sendable, Equatable {
        /// `no`, `always`, `on-failure`.
        package var mode: String
        /// How many starts systemd allows (nil: unlimited).
        package var maxStarts: Int?
        /// Delay before a restart.
        package var delaySeconds: Double

        package init(mode: String = "on-failure", maxStarts: Int? = 11, delaySeconds: Double = 1) {
            self.mode = mode
            self.maxStarts = maxStarts
            self.delaySeconds = delaySeconds
        }
    }

    /// cgroup limits; nil means none.
    package struct ResourceLimits: Sendable, Equatable {
        package var memoryBytes: UInt64?
        /// Memory plus swap (Docker's `--memory-swap`); nil with a memory limit: no swap.
        package var memorySwapBytes: UInt64?
        /// CPU share in percent of one CPU (200 = two CPUs).
        package var cpuPercent: Double?
        package var tasks: UInt64?
        /// Memory kept for the process under pressure (`resource:reserve --memory`).
        package var memoryReservedBytes: UInt64?

        package init(memoryBytes: UInt64? = nil, memorySwapBytes: UInt64? = nil, cpuPercent: Double? = nil, tasks: UInt64? = nil, memoryReservedBytes: UInt64? = nil) {
            self.memoryBytes = memoryBytes
            self.memorySwapBytes = memorySwapBytes
            self.cpuPercent = cpuPercent
            self.tasks = tasks
            self.memoryReservedBytes = memoryReservedBytes
        }
    }

    /// What the process may see and write.
    package struct Sandbox: Sendable, Equatable {
        /// Apply NoNewPrivileges, ProtectSystem=strict, ProtectHome, PrivateTmp and friends.
        package var hardened: Bool
        /// Paths writable despite ProtectSystem=strict.
        package var readWritePaths: [String]
        /// Paths hidden from the process.
        package var inaccessiblePaths: [String]
        /// Host paths bound writable into the process's view (`storage:mount`, a build's tree).
        package var bindPaths: [BindPath]
        /// Host paths bound read-only (a release tree at `/app`).
        package var readOnlyBindPaths: [BindPath]
        /// TCP/UDP ports the process may bind among `reservedPorts` (its own `PORT`).
        package var ownPorts: [UInt16]
        /// Ports no process may bind but its own: the range app ports are handed out from,
        /// so an app cannot take another's (apps share the host's network).
        package var reservedPorts: ClosedRange<UInt16>?

        package init(
            hardened: Bool = true, readWritePaths: [String] = [], inaccessiblePaths: [String] = [], bindPaths: [BindPath] = [], readOnlyBindPaths: [BindPath] = [],
            ownPorts: [UInt16] = [], reservedPorts: ClosedRange<UInt16>? = nil
        ) {
            self.hardened = hardened
            self.readWritePaths = readWritePaths
            self.inaccessiblePaths = inaccessiblePaths
            self.bindPaths = bindPaths
            self.readOnlyBindPaths = readOnlyBindPaths
            self.ownPorts = ownPorts
            self.reservedPorts = reservedPorts
        }
    }
}
