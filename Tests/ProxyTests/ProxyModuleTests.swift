import Testing

@testable import Proxy

@Suite struct ProxyModuleTests {
    @Test func moduleBuilds() {
        #expect(String(describing: ProxyModule.self) == "ProxyModule")
    }
}
