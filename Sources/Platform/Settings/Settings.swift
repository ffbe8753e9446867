import Foundation
import Supervisor

/// Machine-wide settings, read from the environment once at start. Tests point these at
/// throwaway roots and a private systemd manager.
struct Settings: Sendable {
    /// On-disk layout.
    var paths: Paths
    /// The systemd manager to talk to (`DOKKULITE_SYSTEMD_BUS`; default the system bus).
    var bus: BusAddress
    /// Ports handed to app processes as `PORT` (`DOKKULITE_PORT_RANGE`, `LOW-HIGH`).
    var portRange: ClosedRange<Int>
    /// The slice every app's slice nests under.
    var rootSlice: String
    /// Where the proxy daemon listens for route updates (a unix socket path).
    var controlSocket: String
    /// Create run-time users per app (off in environments that cannot run useradd).
    var appUsers: Bool
    /// The memory limit of a build (`DOKKULITE_BUILD_MEMORY`, Docker syntax; default 2g).
    var buildMemoryBytes: UInt64
    /// How many releases to keep per app (`DOKKULITE_KEEP_RELEASES`, default 5).
    var keepReleases: Int
    /// Listen ports to use instead of the ones in port maps (`DOKKULITE_PROXY_PORTS`,
    /// `80=8080,443=8443`): for running beside another web server, and for tests.
    var proxyPortRemap: [Int: Int]
    /// The address the proxy listens on (`DOKKULITE_PROXY_HOST`, default all).
    var proxyListenHost: String
    /// Where the HTTP API listens (`DOKKULITE_API_LISTEN`, default `127.0.0.1:7780`): on
    /// loopback, for the proxy to reach.
    var apiListen: String
    /// The host name the proxy routes to the API (`DOKKULITE_API_HOST`); nil: `dokkulite.`
    /// and the first global domain, when there is one.
    var apiHost: String?
    /// Seconds between the API's metrics samples (`DOKKULITE_METRICS_INTERVAL`, default 10).
    var metricsInterval: Int
    /// The `authorized_keys` file of the user pushes arrive as (`DOKKULITE_AUTHORIZED_KEYS`).
    var authorizedKeys: String
    /// How the forced command of a key starts dokkulite (`DOKKULITE_SSH_COMMAND`); the
    /// installer's sudo rule allows exactly this.
    var sshCommandPrefix: String
    /// How long a plugin trigger may run (`DOKKULITE_PLUGIN_TIMEOUT`, seconds; default 60).
    var pluginTimeout: Double
    /// Prefix of app users' names (`DOKKULITE_USER_PREFIX`; default `dl-`, or `SLICE-` for
    /// an installation with its own slice, so two installations never share a user).
    var userPrefix: String

    /// A PEM file of roots trusted for the ACME server's own HTTPS, besides the system's
    /// (`DOKKULITE_ACME_CA_FILE`: a test server's, such as pebble's).
    var acmeTrustRoots: String?
    /// How long one certificate order may take, in seconds (`DOKKULITE_ACME_TIMEOUT`).
    var acmeTimeout: Double

    /// Whether the command came from an ssh key holder (the ssh entry) or an API token
    /// holder (the API runs its commands with `DOKKULITE_REMOTE_CALLER` set), not from root
    /// at the server's console: then server paths are not inputs and root-only commands refuse.
    var remoteCaller: Bool

    /// The port range as systemd's bind rules take it.
    var reservedPorts: ClosedRange<UInt16> { UInt16(portRange.lowerBound)...UInt16(portRange.upperBound) }

    /// The default machine layout.
    static let defaultRoot = "/var/lib/dokkulite"

    /// The machine's settings file, written by `scripts/install` (`KEY=VALUE` lines); the
    /// process environment overrides it. `DOKKULITE_CONFIG` names another file.
    static let defaultConfigFile = "/etc/dokkulite/dokkulite.env"

    /// Reads settings from the settings file and `environment` (which wins).
    init(environment processEnvironment: [String: String] = ProcessInfo.processInfo.environment) {
        var environment = Self.readConfigFile(processEnvironment["DOKKULITE_CONFIG"] ?? Self.defaultConfigFile)
        environment.merge(processEnvironment) { $1 }
        let root = environment["DOKKULITE_ROOT"].flatMap { $0.isEmpty ? nil : $0 } ?? Self.defaultRoot
        paths = Paths(
            root: root, storage: environment["DOKKULITE_STORAGE_ROOT"].flatMap { $0.isEmpty ? nil : $0 },
            backups: environment["DOKKULITE_BACKUP_ROOT"].flatMap { $0.isEmpty ? nil : $0 })
        bus = BusAddress(setting: environment["DOKKULITE_SYSTEMD_BUS"])
        portRange = Self.range(environment["DOKKULITE_PORT_RANGE"]) ?? 20000...29999
        rootSlice = environment["DOKKULITE_SLICE"].flatMap { $0.isEmpty ? nil : $0 } ?? "dokkulite"
        controlSocket = environment["DOKKULITE_CONTROL_SOCKET"] ?? "\(paths.root)/proxy.sock"
        appUsers = environment["DOKKULITE_APP_USERS"] != "0"
        pluginTimeout = environment["DOKKULITE_PLUGIN_TIMEOUT"].flatMap { Double($0) }.map { max(0.1, $0) } ?? 60
        authorizedKeys = environment["DOKKULITE_AUTHORIZED_KEYS"].flatMap { $0.isEmpty ? nil : $0 } ?? "/home/dokku/.ssh/authorized_keys"
        sshCommandPrefix = environment["DOKKULITE_SSH_COMMAND"].flatMap { $0.isEmpty ? nil : $0 } ?? "sudo -n /usr/local/bin/dokkulite"
        proxyPortRemap = Dictionary((environment["DOKKULITE_PROXY_PORTS"] ?? "").split(separator: ",").compactMap { pair -> (Int, Int)? in
            let parts = pair.split(separator: "=").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            return parts.count == 2 ? (parts[0], parts[1]) : nil
        }, uniquingKeysWith: { $1 })
        proxyListenHost = environment["DOKKULITE_PROXY_HOST"].flatMap { $0.isEmpty ? nil : $0 } ?? "0.0.0.0"
        apiListen = environment["DOKKULITE_API_LISTEN"].flatMap { $0.isEmpty ? nil : $0 } ?? "127.0.0.1:7780"
        apiHost = environment["DOKKULITE_API_HOST"].flatMap { $0.isEmpty ? nil : $0.lowercased() }
        metricsInterval = environment["DOKKULITE_METRICS_INTERVAL"].flatMap { Int($0) }.map { min(3600, max(1, $0)) } ?? 10
        buildMemoryBytes = environment["DOKKULITE_BUILD_MEMORY"].flatMap(ResourceSettings.memoryBytes) ?? (2 << 30)
        acmeTrustRoots = environment["DOKKULITE_ACME_CA_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        acmeTimeout = environment["DOKKULITE_ACME_TIMEOUT"].flatMap { Double($0) }.map { min(max(5, $0), 3600) } ?? 180
        keepReleases = environment["DOKKULITE_KEEP_RELEASES"].flatMap { Int($0) }.map { max(1, $0) } ?? 5
        // sshd sets SSH_ORIGINAL_COMMAND for a forced command, and the sudo rule keeps it:
        // the git hook a push runs has it too.
        remoteCaller = processEnvironment["SSH_ORIGINAL_COMMAND"] != nil || processEnvironment["DOKKULITE_REMOTE_CALLER"] != nil
        userPrefix = environment["DOKKULITE_USER_PREFIX"].flatMap { $0.isEmpty ? nil : $0 } ?? (rootSlice == "dokkulite" ? "dl-" : "\(rootSlice)-")
    }

    /// The `DOKKULITE_*` settings of this process, for a unit that runs dokkulite later
    /// (a retirement, a backup): not the marks of who called this command, nor its event
    /// marker, which belong to this call alone.
    static func forwardedEnvironment() -> [String: String] {
        ProcessInfo.processInfo.environment.filter {
            $0.key.hasPrefix("DOKKULITE_") && $0.key != "DOKKULITE_REMOTE_CALLER" && $0.key != "DOKKULITE_OUTPUT_EVENTS"
        }
    }

    private static func readConfigFile(_ path: String) -> [String: String] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [:] }
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            values[String(line[..<equals]).trimmingCharacters(in: .whitespaces)] = String(line[line.index(after: equals)...]).trimmingCharacters(in: .whitespaces)
        }
        return values
    }

    private static func range(_ text: String?) -> ClosedRange<Int>? {
        guard let text else { return nil }
        let parts = text.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 2, parts[0] >= 1, parts[1] <= 65535, parts[0] <= parts[1] else { return nil }
        return parts[0]...parts[1]
    }
}
