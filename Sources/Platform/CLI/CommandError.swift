/// A failure the person at the terminal reads: one line, printed by the command line with
/// Dokku's ` !     ` prefix on stderr, and the exit code Dokku uses for it.
///
/// Its `kind` says what went wrong in a form programs can act on: the terminal shows only
/// the message, and the API answers with the HTTP status that fits the kind.
struct CommandError: Error, CustomStringConvertible, Equatable {
    /// The message, without prefix.
    var message: String
    /// The process exit code.
    var exitCode: Int32
    var kind: Kind

    enum Kind: String, Sendable, Codable {
        /// The words given were wrong (a bad name, a missing argument, a malformed value).
        case invalid
        /// What they name is not there (an app, a release, a service).
        case notFound
        /// What they would make is there already.
        case conflict
        /// The caller may not do this (root-only, or a server file from a key holder).
        case forbidden
        /// Anything else: the command tried and failed.
        case failed
    }

    init(_ message: String, exitCode: Int32 = 1, kind: Kind = .failed) {
        self.message = message
        self.exitCode = exitCode
        self.kind = kind
    }

    var description: String { message }

    static func invalidAppName(_ raw: String) -> CommandError {
        CommandError(raw.utf8.count > AppName.maximumLength
            ? "App name must be at most \(AppName.maximumLength) characters"
            : "App name must begin with lowercase alphanumeric character, and may only contain lowercase alphanumerics, dots, and hyphens", kind: .invalid)
    }

    static func appNotFound(_ app: String) -> CommandError {
        CommandError("App \(app) does not exist", exitCode: 20, kind: .notFound)
    }

    static let missingApp = CommandError("Please specify an app to run the command on", kind: .invalid)
}
