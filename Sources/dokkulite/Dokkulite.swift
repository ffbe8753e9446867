import Platform

#if canImport(Glibc)
import Glibc
#endif

/// The executable's entry point: hand the arguments to the platform's command line and exit
/// with its code.
@main
enum Dokkulite {
    static func main() {
        // The ssh entry: a crash says one line to the key holder from the first instruction
        // on (parsing the command line is already past the runtime's own backtracer).
        if CommandLine.arguments.dropFirst().first == "ssh-command" || getenv("SSH_ORIGINAL_COMMAND") != nil {
            CrashReport.install()
        }
        let code = CommandLineTool.main(Array(CommandLine.arguments.dropFirst()))
        exit(code)
    }
}
