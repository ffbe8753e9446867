import Foundation
import TestSupport
import Testing

@testable import Supervisor

/// The harness proves itself: a transient service started over sd-bus on the real user
/// manager runs, is seen running, and stops.
@Suite(.enabled(if: Integration.systemdEnabled, "needs a systemd manager: run scripts/test"))
struct SystemdBusTests {
    func connect() throws -> SystemdBus {
        let address = try #require(Integration.systemdBus, "DOKKULITE_SYSTEMD_BUS is not set; scripts/test sets it")
        return try SystemdBus(address: BusAddress(setting: address))
    }

    @Test func startsReadsAndStopsATransientService() throws {
        let bus = try connect()
        let unit = "dokkulitetest-harness-\(UUID().uuidString.prefix(8)).service"
        defer { _ = try? bus.stopUnit(unit) }
        let job = try bus.startTransientUnit(unit, properties: [
            ("Description", .string("dokkulite harness check")),
            ("Type", .string("exec")),
            ("ExecStart", .execCommands([ExecCommand(path: "/bin/sleep", argv: ["/bin/sleep", "300"])])),
            ("CollectMode", .string("inactive-or-failed")),
        ])
        try bus.finish(job, unit: unit)
        let path = try #require(try bus.unitPath(unit))
        let unitProperties = try bus.properties(path: path, interface: "org.freedesktop.systemd1.Unit", unit: unit)
        #expect(unitProperties["ActiveState"]?.stringValue == "active")
        let service = try bus.properties(path: path, interface: "org.freedesktop.systemd1.Service", unit: unit)
        let pid = try #require(service["MainPID"]?.integerValue)
        #expect(pid > 0)
        #expect(FileManager.default.fileExists(atPath: "/proc/\(pid)"))
        let listed = try bus.listUnits(matching: [unit])
        #expect(listed.map(\.name) == [unit])

        try bus.finish(try bus.stopUnit(unit), unit: unit)
        #expect(try bus.unitPath(unit) == nil, "a stopped unit with CollectMode=inactive-or-failed is gone")
    }

    @Test func startingATakenNameNamesTheUnit() throws {
        let bus = try connect()
        let unit = "dokkulitetest-dup-\(UUID().uuidString.prefix(8)).service"
        let properties: [(String, BusValue)] = [
            ("ExecStart", .execCommands([ExecCommand(path: "/bin/sleep", argv: ["sleep", "300"])])),
            ("CollectMode", .string("inactive-or-failed")),
        ]
        defer { _ = try? bus.stopUnit(unit) }
        try bus.finish(try bus.startTransientUnit(unit, properties: properties), unit: unit)
        #expect(throws: SupervisorError.unitExists(unit: unit)) {
            _ = try bus.startTransientUnit(unit, properties: properties)
        }
    }

    @Test func unreachableBusIsOneClearLine() {
        #expect(throws: SupervisorError.self) {
            _ = try SystemdBus(address: .direct("unix:path=/nonexistent/dokkulite.sock"))
        }
        do {
            _ = try SystemdBus(address: .direct("unix:path=/nonexistent/dokkulite.sock"))
        } catch {
            #expect("\(error)".hasPrefix("cannot reach systemd at unix:path=/nonexistent/dokkulite.sock: "))
            #expect(!"\(error)".contains("\n"))
        }
    }
}
