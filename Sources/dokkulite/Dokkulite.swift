#if canImport(Glibc)
import Glibc
#endif

/// The executable's entry point: hand the arguments to the command line and exit with its code.
@main
enum Dokkulite {
    static func main() {
        let code = CommandLineTool.run(Array(CommandLine.arguments.dropFirst()))
        exit(code)
    }
}
