import NIOCore
import NIOEmbedded
import Testing

@testable import Proxy

/// The idle lists of an event loop's upstream pool, without sockets.
@Suite struct UpstreamPoolTests {
    @Test func upstreamsThatLeaveTheTableAreForgotten() throws {
        let pool = UpstreamPool(eventLoop: EmbeddedEventLoop(), configuration: .init(listeners: []))
        let gone = Upstream(port: 5001), kept = Upstream(port: 5002)
        let goneList = pool.list(for: gone), keptList = pool.list(for: kept)
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 5001)).wait()
        let connection = UpstreamConnection(channel: channel, upstream: gone, handler: UpstreamHandler(), idleList: goneList)

        // A deploy moved the app to a new port while a request was out on the old one.
        pool.retire(keeping: [kept])
        #expect(goneList.retired && !keptList.retired)
        #expect(pool.list(for: gone) !== goneList, "a later table naming the port again gets a fresh list")
        #expect(pool.list(for: kept) === keptList)

        // The connection comes back after its upstream left the table: closed, not kept.
        pool.release(connection)
        #expect(goneList.connections.isEmpty)
        #expect(!channel.isActive)

        // While an upstream is routed to, its returned connections wait for reuse.
        let other = EmbeddedChannel()
        try other.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 5002)).wait()
        pool.release(UpstreamConnection(channel: other, upstream: kept, handler: UpstreamHandler(), idleList: keptList))
        #expect(keptList.connections.count == 1)
        #expect(pool.takeIdle(keptList) != nil)
    }
}
