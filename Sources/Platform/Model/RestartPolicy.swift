/// Dokku's restart policies: `no`, `always`, `unless-stopped`, `on-failure[:N]`.
enum RestartPolicy: Equatable, Sendable, CustomStringConvertible {
    case no
    case always
    case unlessStopped
    /// Restart after a failure, at most `maxRetries` times (nil: no limit).
    case onFailure(maxRetries: Int?)

    /// Dokku's default.
    static let `default` = RestartPolicy.onFailure(maxRetries: 10)

    init?(_ text: String) {
        switch text {
        case "no": self = .no
        case "always": self = .always
        case "unless-stopped": self = .unlessStopped
        case "on-failure": self = .onFailure(maxRetries: nil)
        default:
            guard text.hasPrefix("on-failure:"), let n = Int(text.dropFirst("on-failure:".count)), n >= 0 else { return nil }
            self = .onFailure(maxRetries: n)
        }
    }

    var description: String {
        switch self {
        case .no: "no"
        case .always: "always"
        case .unlessStopped: "unless-stopped"
        case .onFailure(nil): "on-failure"
        case .onFailure(let n?): "on-failure:\(n)"
        }
    }
}
