/// Where the systemd manager is reached: the system bus in production, or a manager's
/// private socket (`unix:path=$XDG_RUNTIME_DIR/systemd/private`) in tests and on machines
/// whose PID 1 is not systemd.
package enum BusAddress: Sendable, Hashable, CustomStringConvertible {
    /// The system bus, through dbus-daemon.
    case system
    /// A direct (peer-to-peer) connection to a manager at a D-Bus address.
    case direct(String)

    /// Parses a setting: `system`, an empty string, or a D-Bus address such as `unix:path=…`.
    package init(setting: String?) {
        switch setting {
        case nil, "", "system": self = .system
        case let address?:
            self = address.hasPrefix("/") ? .direct("unix:path=\(address)") : .direct(address)
        }
    }

    package var description: String {
        switch self {
        case .system: "the system bus"
        case .direct(let address): address
        }
    }
}
