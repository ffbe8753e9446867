import NIOCore
import NIOEmbedded
import Testing

@testable import Proxy

/// The idle lists of an event loop's upstream pool, without sockets.
@Suite struct UpstreamPoolTests {
    private func connection(to upstream: Upstream, _ list: IdleConnections) throws -> (UpstreamConnection, EmbeddedChannel) {
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: upstream.port)).wait()
        return (UpstreamConnection(channel: channel, upstream: upstream, handler: UpstreamHandler(), idleList: list), channel)
    }

    @Test func upstreamsThatLeaveTheTableAreForgotten() throws {
        let pool = UpstreamPool(eventLoop: EmbeddedEventLoop(), configuration: .init(listeners: []))
        let gone = Upstream(port: 5001), kept = Upstream(port: 5002)
        let goneList = pool.list(for: gone), keptList = pool.list(for: kept)
        let (idle, idleChannel) = try connection(to: gone, goneList)
        let (out, outChannel) = try connection(to: gone, goneList)
        pool.release(idle)
        #expect(goneList.connections.count == 1)

        // A deploy moved the app to a new port while a request was out on the old one.
        pool.retire(keeping: [kept])
        #expect(goneList.retired && !keptList.retired)
        #expect(goneList.connections.isEmpty && !idleChannel.isActive, "idle connections to it are closed")
        #expect(pool.list(for: gone) !== goneList, "a later table naming the port again gets a fresh list")
        #expect(pool.list(for: kept) === keptList)

        // The connection out with a request comes back after its upstream left: closed.
        pool.release(out)
        #expect(goneList.connections.isEmpty)
        #expect(!outChannel.isActive)

        // While an upstream is routed to, its returned connections wait for reuse.
        let (other, otherChannel) = try connection(to: kept, keptList)
        pool.release(other)
        #expect(keptList.connections.count == 1 && otherChannel.isActive)
        #expect(pool.takeIdle(keptList) === other)
    }
}
