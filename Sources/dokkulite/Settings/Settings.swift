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

    /// The default machine layout.
    static let defaultRoot = "/var/lib/dokkulite"

    /// Reads settings from `environment`.
    init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        let root = environment["DOKKULITE_ROOT"].flatMap { $0.isEmpty ? nil : $0 } ?? Self.defaultRoot
        paths = Paths(root: root)
        bus = BusAddress(setting: environment["DOKKULITE_SYSTEMD_BUS"])
        portRange = Self.range(environment["DOKKULITE_PORT_RANGE"]) ?? 20000...29999
        rootSlice = environment["DOKKULITE_SLICE"].flatMap { $0.isEmpty ? nil : $0 } ?? "dokkulite"
        controlSocket = environment["DOKKULITE_CONTROL_SOCKET"] ?? "\(paths.root)/proxy.sock"
        appUsers = environment["DOKKULITE_APP_USERS"] != "0"
    }

    private static func range(_ text: String?) -> ClosedRange<Int>? {
        guard let text else { return nil }
        let parts = text.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 2, parts[0] >= 1, parts[1] <= 65535, parts[0] <= parts[1] else { return nil }
        return parts[0]...parts[1]
    }
}
