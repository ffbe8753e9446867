internal import Logging
internal import NIOCore
internal import NIOPosix

/// Raw TCP forwarding (`ports:add APP tcp:HOST-PORT:…`): each accepted connection is
/// spliced to one of the app's instances, round-robin, something nginx in Dokku cannot do.
enum TCPForwarder {
    static func configure(_ channel: any Channel, shared: ProxyShared, state: LoopState, port: Int, logger: Logger) throws {
        guard let route = state.app(forTCPPort: port), let index = route.pick(excluding: []) else {
            channel.close(promise: nil)
            return
        }
        let app = route.app, upstream = app.upstreams[index]
        // Hold reads until the upstream is connected; the glue handler then drives them.
        try channel.syncOptions?.setOption(.autoRead, value: false)
        let (clientGlue, upstreamGlue) = GlueHandler.matchedPair()
        ClientBootstrap(group: channel.eventLoop)
            .connectTimeout(shared.configuration.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelInitializer { upstreamChannel in
                upstreamChannel.eventLoop.makeCompletedFuture {
                    try upstreamChannel.pipeline.syncOperations.addHandler(upstreamGlue)
                }
            }
            .connect(host: upstream.host, port: upstream.port)
            .assumeIsolated()
            .whenComplete { result in
                switch result {
                case .success:
                    do {
                        try channel.pipeline.syncOperations.addHandler(clientGlue)
                        try channel.syncOptions?.setOption(.autoRead, value: true)
                    } catch {
                        channel.close(promise: nil)
                    }
                case .failure(let error):
                    logger.warning("tcp forward failed", metadata: ["app": "\(app.name)", "upstream": "\(upstream)", "error": "\(error)"])
                    channel.close(promise: nil)
                }
            }
    }
}
