import Foundation
import NIOCore
import NIOEmbedded
import NIOPosix
import Testing

@testable import Proxy

/// The idle lists of an event loop's upstream pool, without sockets.
@Suite struct UpstreamPoolTests {
    private func connection(to upstream: Upstream, _ list: IdleConnections) throws -> (UpstreamConnection, EmbeddedChannel) {
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: upstream.port)).wait()
        return (UpstreamConnection(channel: channel, upstream: upstream, handler: UpstreamHandler(), idleList: list), channel)
    }

    @Test func requestsGoStraightToTheSocketOnlyWhenNIOHoldsNothing() throws {
        var pair: [CInt] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0)
        defer { close(pair[0]); close(pair[1]) }
        func received() -> String {
            var buffer = [UInt8](repeating: 0, count: 64)
            let count = recv(pair[1], &buffer, buffer.count, Int32(MSG_DONTWAIT))
            return count > 0 ? String(decoding: buffer[..<count], as: UTF8.self) : ""
        }
        let pool = UpstreamPool(eventLoop: EmbeddedEventLoop(), configuration: .init(listeners: []))
        let upstream = Upstream(port: 5003)
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 5003)).wait()
        let handler = UpstreamHandler()
        try channel.pipeline.syncOperations.addHandler(handler)
        let connection = UpstreamConnection(channel: channel, upstream: upstream, handler: handler, idleList: pool.list(for: upstream), descriptor: pair[0])
        handler.connection = connection
        func viaChannel() throws -> String { try channel.readOutbound(as: ByteBuffer.self).map { String(buffer: $0) } ?? "" }

        connection.writeAndFlush(ByteBuffer(string: "one"))
        #expect(received() == "one", "a head with nothing queued goes straight out")
        #expect(try viaChannel() == "")
        connection.write(ByteBuffer(string: "body"))
        connection.writeAndFlush(ByteBuffer(string: "two"))
        #expect(received() == "", "with a body queued in NIO, later bytes queue behind it")
        #expect(try viaChannel() == "body")
        #expect(try viaChannel() == "two")

        // Back in the pool, a drain through the channel tells when NIO is done.
        pool.release(connection)
        _ = try viaChannel()
        connection.writeAndFlush(ByteBuffer(string: "three"))
        #expect(received() == "three")
    }

    @Test func loopbackConnectionsAreMadeInPlace() throws {
        let listener = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).wait()
        let port = try #require(listener.localAddress?.port)
        guard case .connected(let socket) = UpstreamPool.connectLoopback(Upstream(port: port)) else {
            Issue.record("a listening loopback port connects at once")
            return
        }
        close(socket)
        try listener.close().wait()
        guard case .failed(let error) = UpstreamPool.connectLoopback(Upstream(port: port)) else {
            Issue.record("a closed loopback port is refused at once")
            return
        }
        #expect("\(error)".contains("refused"), "\(error)")
        guard case .notLoopback = UpstreamPool.connectLoopback(Upstream(host: "10.1.2.3", port: port)) else {
            Issue.record("other hosts are left to NIO")
            return
        }
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
