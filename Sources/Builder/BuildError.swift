/// Why a build failed, with what the user needs to fix it.
package enum BuildError: Error, CustomStringConvertible, Equatable {
    case invalidProcfile(file: String, line: Int, reason: String)
    case invalidAppJSON(file: String, reason: String)
    case git(operation: String, reason: String)
    case noBuildpackDetected
    case buildpackFailed(buildpack: String, phase: String, status: Int32)
    case buildpackUnavailable(url: String, reason: String)
    case missingRuntime(what: String, install: String)
    case io(path: String, reason: String)
    /// A file of the app's that root does not read: it leads out of the tree, is not a
    /// regular file, or is too large.
    case refusedFile(path: String, reason: String)

    package var description: String {
        switch self {
        case .invalidProcfile(let file, let line, let reason):
            "\(file) line \(line): \(reason)"
        case .invalidAppJSON(let file, let reason):
            "\(file) is not valid: \(reason)"
        case .git(let operation, let reason):
            "git \(operation) failed: \(reason)"
        case .noBuildpackDetected:
            "Unable to select a buildpack"
        case .buildpackFailed(let buildpack, let phase, let status):
            "\(buildpack) \(phase) failed with exit status \(status)"
        case .buildpackUnavailable(let url, let reason):
            "cannot fetch buildpack \(url): \(reason)"
        case .missingRuntime(let what, let install):
            "\(what) is not installed on this server; install it with: \(install)"
        case .refusedFile(let path, let reason):
            "\(path) \(reason): refused to read it"
        case .io(let path, let reason):
            "\(path): \(reason)"
        }
    }
}
