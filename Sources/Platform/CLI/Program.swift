#if canImport(Glibc)
import Glibc
#endif

/// How the program was invoked: as `dokkulite`, or through the `dokku` alias installed for
/// Dokku users' habits. Messages that name the program use this name.
enum Program {
    static let name: String = {
        let invoked = CommandLine.arguments.first.map { String($0.split(separator: "/").last ?? "") } ?? ""
        return invoked == "dokku" ? "dokku" : "dokkulite"
    }()
}

extension Program {
    /// The name Dokku's own messages use for the program.
    static let dokku = "dokku"
}
