import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOExtras
import NIOPosix
import ServiceLifecycle

/// The API on a listening socket systemd holds (`dokkulite-api.socket`): the same router
/// and HTTP/1.1 channel Hummingbird's `Application` runs, on a socket it was handed rather
/// than one it binds, so a restart of the API refuses no connection: they wait in the
/// socket's queue for the next process. (Hummingbird 2 binds its own sockets only.)
struct InheritedSocketServer: Service {
    let socket: CInt
    let responder: RouterResponder<APIServer.RequestContext>
    let logger: Logger

    func run() async throws {
        let responder = responder
        let logger = logger
        let channel = HTTP1Channel(responder: { request, writer, channel in
            let context = APIServer.RequestContext(source: ApplicationRequestContextSource(channel: channel, logger: logger))
            var response: Response
            do {
                response = try await responder.respond(to: request, context: context)
            } catch {
                logger.debug("unhandled error", metadata: ["error": "\(error)"])
                response = Response(status: .internalServerError)
            }
            response.headers[.date] = HTTPDate.now()
            response.headers[.server] = "dokkulite-api"
            try await writer.write(response: response.head, body: response.body)
        })
        let quiescing = ServerQuiescingHelper(group: MultiThreadedEventLoopGroup.singleton)
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelInitializer { server in
                server.eventLoop.makeCompletedFuture {
                    try server.pipeline.syncOperations.addHandler(quiescing.makeServerChannelHandler(channel: server))
                }
            }
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .bind(socket) { child in channel.setup(channel: child, logger: logger) }
        logger.info("serving on the socket systemd passed")
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                do {
                    try await server.executeThenClose { inbound in
                        for try await child in inbound {
                            group.addTask { await channel.handle(value: child, logger: logger) }
                        }
                    }
                } catch {
                    logger.error("accepting: \(error)")
                }
            }
        } onGracefulShutdown: {
            // Stop accepting (what waits in the queue is the next process's) and let the
            // requests in flight finish.
            quiescing.initiateShutdown(promise: nil)
        }
    }
}

/// `Date` header values (RFC 9110's IMF-fixdate).
enum HTTPDate {
    static func now() -> String {
        var seconds = time(nil)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"], months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func pad(_ value: Int32) -> String { value < 10 ? "0\(value)" : String(value) }
        return "\(days[Int(parts.tm_wday)]), \(pad(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) \(pad(parts.tm_hour)):\(pad(parts.tm_min)):\(pad(parts.tm_sec)) GMT"
    }
}
