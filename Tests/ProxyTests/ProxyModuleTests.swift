import Testing

@testable import Proxy

@Suite struct RouteTableTests {
    let web = RouteTable.App(name: "web", upstreams: [Upstream(port: 1)])
    let api = RouteTable.App(name: "api", upstreams: [Upstream(port: 2)])

    @Test func exactWildcardAndPortDefault() {
        let table = RouteTable(domains: [("web.example.com", web), ("*.api.example.com", api)], portDefaults: [8080: api])
        #expect(table.app(forHost: "web.example.com", port: 80)?.name == "web")
        #expect(table.app(forHost: "WEB.Example.com:80", port: 80)?.name == "web")
        #expect(table.app(forHost: "web.example.com.", port: 80)?.name == "web")
        #expect(table.app(forHost: "v1.api.example.com", port: 80)?.name == "api")
        #expect(table.app(forHost: "a.b.api.example.com", port: 80)?.name == "api")
        #expect(table.app(forHost: "api.example.com", port: 80) == nil, "a wildcard does not match its bare domain")
        #expect(table.app(forHost: "unknown.test", port: 80) == nil)
        #expect(table.app(forHost: "unknown.test", port: 8080)?.name == "api")
        #expect(table.app(forHost: nil, port: 8080)?.name == "api")
    }

    @Test func longestWildcardWins() {
        let table = RouteTable(domains: [("*.example.com", web), ("*.api.example.com", api)])
        #expect(table.app(forHost: "x.api.example.com", port: 80)?.name == "api")
        #expect(table.app(forHost: "x.example.com", port: 80)?.name == "web")
    }

    @Test func upstreamParsing() {
        #expect(Upstream("127.0.0.1:9000") == Upstream(port: 9000))
        #expect(Upstream("localhost") == nil)
        #expect(Upstream("host:70000") == nil)
    }
}
