import Foundation

/// A throwaway dokkulite installation: its own state root, and the built binary to run
/// against it. Each test makes its own, so tests never share apps or databases.
public final class Sandbox: @unchecked Sendable {
    public let root: String
    public var environment: [String: String]

    /// Creates a fresh root under the system temporary directory.
    public init(_ name: String = #function) throws {
        let safe = name.filter { $0.isLetter || $0.isNumber }.prefix(40)
        root = NSTemporaryDirectory() + "dokkulite-test-\(safe)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        var env = ProcessInfo.processInfo.environment
        env["DOKKULITE_ROOT"] = root
        env["DOKKULITE_SLICE"] = "dokkulitetest"
        environment = env
    }

    deinit {
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
