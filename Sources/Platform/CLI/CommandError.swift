/// A failure the person at the terminal reads: one line, printed by the command line with
/// Dokku's ` !     ` prefix on stderr, and the exit code Dokku uses for it.
struct CommandError: Error, CustomStringConvertible, Equatable {
    /// The message, without prefix.
    var message: String
    /// The process exit code.
    var exitCode: Int32

    init(_ message: String, exitCode: Int32 = 1) {
        self.message = message
        self.exitCode = exitCode
    }

    var description: String { message }

    static func invalidAppName(_ raw: String) -> CommandError {
        CommandError(raw.utf8.count > AppName.maximumLength
            ? "App name must be at most \(AppName.maximumLength) characters"
            : "App name must begin with lowercase alphanumeric character, and may only contain lowercase alphanumerics, dots, and hyphens")
    }

    static func appNotFound(_ app: String) -> CommandError {
        CommandError("App \(app) does not exist", exitCode: 20)
    }

    static let missingApp = CommandError("Please specify an app to run the command on")
}
