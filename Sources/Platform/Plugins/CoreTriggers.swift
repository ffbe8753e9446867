/// The triggers dokkulite answers itself, as Dokku's core plugins do. `plugin:trigger`
/// runs the core answer first; installed plugins' executables of the same name run after
/// it, and not at all when it fails.
enum CoreTriggers {
    /// Answers `trigger` if it is a core one; does nothing for any other.
    static func run(_ trigger: String, _ arguments: [String], in context: Context) throws {
        switch trigger {
        case "certs-set":
            // certs-set APP CRT_FILE KEY_FILE: certs:add from files, never from stdin.
            let app = try context.existingApp(arguments.first)
            guard arguments.count >= 3, !arguments[1].isEmpty, !arguments[2].isEmpty else {
                throw CommandError("Both CRT and KEY file paths are required")
            }
            try CertsAdd.add(app.rawValue, arguments[1], arguments[2], in: context)
        case "certs-remove":
            let app = try context.existingApp(arguments.first)
            try CertsRemove.parse([app.rawValue]).run(in: context)
        default:
            break
        }
    }
}
