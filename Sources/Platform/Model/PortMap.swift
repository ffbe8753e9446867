/// A port mapping `scheme:host-port:container-port`, as `ports:add` takes it.
struct PortMap: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The accepted schemes: vhost HTTP, HTTPS, and raw TCP forwarding.
    enum Scheme: String, CaseIterable, Sendable, Comparable {
        case http, https, tcp

        static func < (lhs: Scheme, rhs: Scheme) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    var scheme: Scheme
    var hostPort: Int
    var containerPort: Int

    init(scheme: Scheme, hostPort: Int, containerPort: Int) {
        self.scheme = scheme
        self.hostPort = hostPort
        self.containerPort = containerPort
    }

    /// Parses `http:80:5000`; nil for anything else.
    init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3,
            let scheme = Scheme(rawValue: String(parts[0])),
            let host = Self.port(parts[1]),
            let container = Self.port(parts[2])
        else { return nil }
        self.init(scheme: scheme, hostPort: host, containerPort: container)
    }

    var description: String { "\(scheme.rawValue):\(hostPort):\(containerPort)" }

    static func < (lhs: PortMap, rhs: PortMap) -> Bool {
        (lhs.scheme, lhs.hostPort, lhs.containerPort) < (rhs.scheme, rhs.hostPort, rhs.containerPort)
    }

    private static func port(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.utf8.count <= 5, text.utf8.allSatisfy({ (48...57).contains($0) }),
            let value = Int(text), (1...65535).contains(value)
        else { return nil }
        return value
    }
}
