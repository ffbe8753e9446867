import Foundation
import Synchronization

/// Hands each sandbox its own block of ports, so parallel tests never race for one.
private let portBlocks = Mutex(0)

/// A throwaway dokkulite installation: its own state root, its own systemd slice, and the
/// built binary to run against it. Each test makes its own, so tests never share apps,
/// databases or units; app users are machine-wide, so tests name apps with `uniqueApp`.
public final class Sandbox: @unchecked Sendable {
    public let root: String
    /// The slice all of this sandbox's units nest under.
    public let slice: String
    public var environment: [String: String]

    /// Creates a fresh root under `/var/lib/dokkulite-tests` (not /tmp: app processes get a
    /// private /tmp and would not see a root there).
    public init(_ name: String = #function) throws {
        let id = UUID().uuidString.prefix(8).lowercased()
        let safe = name.filter { $0.isLetter || $0.isNumber }.prefix(32)
        root = "/var/lib/dokkulite-tests/\(safe)-\(id)"
        slice = "dkt\(id)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        var env = ProcessInfo.processInfo.environment
        env["DOKKULITE_ROOT"] = root
        env["DOKKULITE_STORAGE_ROOT"] = root + "/storage"
        env["DOKKULITE_BACKUP_ROOT"] = root + "/backups"
        env["DOKKULITE_SLICE"] = slice
        env["DOKKULITE_CONFIG"] = "/dev/null"
        let block = portBlocks.withLock { value in
            value += 1
            return value
        }
        // Below the kernel's ephemeral range (32768+), where outgoing connections could take
        // a port between dokkulite's check and the app's bind, as in production's 20000-29999.
        let base = 20000 + (block * 64 + Int(getpid() % 97) * 64 * 8) % 12000
        env["DOKKULITE_PORT_RANGE"] = "\(base)-\(base + 63)"
        environment = env
    }

    deinit {
        // Leave no units or users behind: destroy every app this sandbox created.
        if let list = try? run("--quiet", "apps:list"), list.status == 0 {
            for app in list.stdout.split(separator: "\n") {
                _ = try? run("--force", "apps:destroy", String(app))
            }
        }
        // And every service (its unit, user and timer).
        for kind in ["postgres", "redis"] {
            guard let list = try? run("--quiet", "\(kind):list"), list.status == 0 else { continue }
            for service in list.stdout.split(separator: "\n") {
                _ = try? run("--force", "\(kind):destroy", String(service))
            }
        }
        try? FileManager.default.removeItem(atPath: root)
    }

    /// Runs `dokkulite ARGS` against this sandbox.
    @discardableResult
    public func run(_ arguments: [String], input: String? = nil) throws -> ProcessResult {
        try Shell.run(Binaries.dokkulite, arguments, environment: environment, input: input)
    }

    /// Runs `dokkulite ARGS...`.
    @discardableResult
    public func run(_ arguments: String..., input: String? = nil) throws -> ProcessResult {
        try run(arguments, input: input)
    }

    /// A SQL query against the sandbox's state database (test inspection only).
    public func sql(_ query: String) throws -> String {
        try Shell.which("sqlite3", [root + "/dokkulite.db", query]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// An app name no other test (or earlier run) uses: app users are machine-wide.
public func uniqueApp(_ base: String) -> String {
    "\(base)-\(UUID().uuidString.prefix(6).lowercased())"
}

/// Where the built products are.
public enum Binaries {
    /// The `dokkulite` executable: `$DOKKULITE_BIN`, else `.build/debug/dokkulite` in this package.
    public static let dokkulite: String = {
        if let path = ProcessInfo.processInfo.environment["DOKKULITE_BIN"], !path.isEmpty { return path }
        return packageRoot + "/.build/debug/dokkulite"
    }()

    /// The package's root directory.
    public static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()
}

/// What integration tests need from the machine.
public enum Integration {
    /// True when the suite must fail rather than skip integration tests whose real parts are
    /// missing (set by `scripts/test`, and so in CI).
    public static let required = ProcessInfo.processInfo.environment["DOKKULITE_REQUIRE_INTEGRATION"] == "1"

    /// The address of the systemd manager tests run units on, from `scripts/test`.
    public static let systemdBus: String? = {
        let value = ProcessInfo.processInfo.environment["DOKKULITE_SYSTEMD_BUS"]
        return value?.isEmpty == false ? value : nil
    }()

    /// Whether systemd integration tests run: when a manager is configured, or when the
    /// suite requires them (then they fail loudly on the missing manager).
    public static let systemdEnabled = systemdBus != nil || required
}

/// Polls `condition` until it holds or `timeout` passes; never a fixed sleep.
public func eventually(timeout: Duration = .seconds(10), _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    var delay = 0.01
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        Thread.sleep(forTimeInterval: delay)
        delay = min(delay * 2, 0.2)
    }
    return try condition()
}

/// Gives `paths` to the `dokku` user, as Dokku's tests do with files they name on the
/// command line (`certs:add CRT KEY`, `config:import FILE`): dokkulite reads those with
/// that user's rights. Nothing to do on a machine without a dokku user.
public func handToDokkuUser(_ paths: String...) throws {
    guard getpwnam("dokku") != nil else { return }
    let result = try Shell.which("chown", ["dokku:dokku"] + paths)
    guard result.status == 0 else { throw TestFailure("chown dokku: \(result)") }
}
