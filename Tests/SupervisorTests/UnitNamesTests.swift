import Foundation
import TestSupport
import Testing

@testable import Supervisor

@Suite struct UnitNamesTests {
    @Test(arguments: ["myapp", "my-app", "a.b-c", "web", "x/y", ".hidden", "ünï", "a b", "back\\slash"])
    func escapesAsSystemdEscape(_ input: String) throws {
        let real = try Shell.which("systemd-escape", ["--", input])
        #expect(real.status == 0)
        #expect(UnitNames.escape(input) == real.stdout.trimmingCharacters(in: .newlines))
        #expect(UnitNames.unescape(UnitNames.escape(input)) == input)
    }

    @Test func instanceUnitNamesRoundTrip() throws {
        let unit = UnitNames.instanceUnit(root: "dokkulite", app: "my-app.v2", processType: "web-api", number: 3, generation: 17)
        #expect(unit == "dokkulite-my\\x2dapp.v2-web\\x2dapi.3-17.service")
        let parsed = try #require(UnitNames.parseInstanceUnit(unit, root: "dokkulite"))
        #expect(parsed.app == "my-app.v2")
        #expect(parsed.processType == "web-api")
        #expect(parsed.number == 3)
        #expect(parsed.generation == 17)
        #expect(UnitNames.appSlice(root: "dokkulite", app: "my-app") == "dokkulite-my\\x2dapp.slice")
        #expect(UnitNames.parseInstanceUnit("other.service", root: "dokkulite") == nil)
    }
}
