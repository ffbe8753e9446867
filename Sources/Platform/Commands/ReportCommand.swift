import ArgumentParser
import Foundation

/// Dokku's `report [APP]`: what the server runs, then every namespace's report for the
/// app (or for every app), as users paste it into bug reports.
struct ReportAll: Command {
    static let configuration = CommandConfiguration(commandName: "report", abstract: "Displays system and app information for one or all apps")
    static let usage = "[<app>]"
    @Argument var app: String?

    func run(in context: Context) throws {
        if let app { _ = try context.existingApp(app) }
        var system = utsname()
        uname(&system)
        func field<T>(_ value: T) -> String {
            withUnsafeBytes(of: value) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        context.output.step("uname: \(field(system.sysname)) \(field(system.nodename)) \(field(system.release)) \(field(system.version)) \(field(system.machine))")
        let memory = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8))?.split(separator: "\n").first.map(String.init) ?? "unknown"
        context.output.step("memory: \(memory)")
        context.output.step("\(Program.name) version: \(Program.name) version \(Version.current)")
        context.output.step("\(Program.name) root: \(context.settings.paths.root)")
        for type in CommandCatalog.all where type.name.hasSuffix(":report") {
            guard var command = try type.parse(app.map { [$0] } ?? []) as? any Command else { continue }
            // One report that cannot be made (systemd down, say) leaves the others.
            do {
                try command.run(in: context)
            } catch {
                context.output.warn("\(type.name): \((error as? CommandError)?.message ?? "\(error)")")
            }
        }
    }
}
