import Foundation
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

/// The static file server (`static:serve`) serves files of its site and nothing beside it.
@Suite final class StaticFileServerTests {
    let base = "/var/lib/dokkulite-tests/static-\(UInt32.random(in: 0...UInt32.max))"
    var site: String { base + "/site" }

    init() throws {
        try FileManager.default.createDirectory(atPath: site + "/docs", withIntermediateDirectories: true)
        try "home".write(toFile: site + "/index.html", atomically: true, encoding: .utf8)
        try "guide".write(toFile: site + "/docs/index.html", atomically: true, encoding: .utf8)
        try "secret".write(toFile: base + "/secret.txt", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: site + "/out.txt", withDestinationPath: base + "/secret.txt")
        try FileManager.default.createSymbolicLink(atPath: site + "/up", withDestinationPath: "..")
        try FileManager.default.createSymbolicLink(atPath: site + "/alias.html", withDestinationPath: "index.html")
    }

    deinit { try? FileManager.default.removeItem(atPath: base) }

    func served(_ uri: String) -> String? {
        guard let (fd, _) = StaticFileHandler.open(root: site, uri: uri) else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = read(fd, &buffer, 64)
        return String(decoding: buffer[..<max(0, count)], as: UTF8.self)
    }

    @Test func servesTheSiteAndLinksWithinIt() {
        #expect(served("/") == "home")
        #expect(served("/docs/") == "guide")
        #expect(served("/docs?x=1") == "guide")
        #expect(served("/alias.html") == "home")
    }

    @Test func nothingOutsideTheSite() {
        #expect(served("/out.txt") == nil, "a link out of the site")
        #expect(served("/up/secret.txt") == nil, "a link to the parent")
        #expect(served("/../secret.txt") == nil)
        #expect(served("/%2e%2e/secret.txt") == nil)
        #expect(served("/index.html%00.txt") == nil, "a NUL ends nothing")
        #expect(served("/%zz") == nil)
    }
}
