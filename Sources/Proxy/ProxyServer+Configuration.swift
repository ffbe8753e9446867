package import NIOCore

extension ProxyServer {
    /// How the proxy listens and how patient it is.
    package struct Configuration: Sendable {
        /// The sockets to listen on.
        package var listeners: [Listener]
        /// Connecting to an upstream.
        package var connectTimeout: TimeAmount
        /// Receiving a complete request head (a slow-loris client is dropped after this).
        package var headerTimeout: TimeAmount
        /// An idle keep-alive client connection is closed after this.
        package var idleTimeout: TimeAmount
        /// Waiting for the upstream's response head (then 504).
        package var responseTimeout: TimeAmount
        /// A request body that stops arriving for this long gets a 408 (nginx's
        /// `client_body_timeout`, 60 s); per app, `nginx:set APP client-body-timeout`.
        package var clientBodyTimeout = TimeAmount.seconds(60)
        /// A client that takes none of its response for this long is closed (nginx's
        /// `send_timeout`, 60 s); per app, `nginx:set APP send-timeout`.
        package var sendTimeout = TimeAmount.seconds(60)
        /// An app that takes none of a request body for this long gets the request ended with
        /// a 504 (nginx's `proxy_send_timeout`, 60 s); per app, `nginx:set APP proxy-send-timeout`.
        package var upstreamSendTimeout = TimeAmount.seconds(60)
        /// Idle upstream connections kept per upstream and event loop. Generous: the pool
        /// only ever holds what peak concurrency opened, and a small cap makes a busy proxy
        /// close and reopen connections all the time (measured at 1,000 clients).
        package var maxIdlePerUpstream: Int
        /// An idle pooled upstream connection is closed after this, so the connections a burst
        /// opened do not linger (they would hold a thread each in a thread-per-connection app).
        package var upstreamIdleTimeout: TimeAmount
        /// Write an access log line per request to stdout.
        package var accessLog: Bool
        /// Event loop threads (default: one per core).
        package var threads: Int
        /// Where ACME HTTP-01 answers wait, one file per token (a root-only directory the
        /// certificate client writes): `GET /.well-known/acme-challenge/TOKEN` on any host is
        /// answered from there, before routing and before any HTTPS redirect. Nil: none.
        package var acmeChallengeDirectory: String?
        /// Return freed heap memory to the system after an idle period (`malloc_trim`).
        /// Off only to measure what it saves (`DOKKULITE_PROXY_IDLE_TRIM=0`).
        package var idleTrim = true
        /// Where request and response bodies that outgrow their memory buffers wait
        /// (`Spool`: unnamed files, gone when closed).
        package var spoolDirectory = "/var/tmp"
        /// Plain-HTTP listeners also take HTTP/2 by prior knowledge (h2c), for a load
        /// balancer in front that speaks it (`DOKKULITE_PROXY_H2C=1`). Off by default, as nginx.
        package var h2cPriorKnowledge = false

        /// How often each event loop checks deadlines and ages out idle upstream connections.
        var sweepInterval: TimeAmount { min(.seconds(1), headerTimeout, responseTimeout) }

        package init(
            listeners: [Listener], connectTimeout: TimeAmount = .seconds(5), headerTimeout: TimeAmount = .seconds(30),
            idleTimeout: TimeAmount = .seconds(75), responseTimeout: TimeAmount = .seconds(60), maxIdlePerUpstream: Int = 1024,
            upstreamIdleTimeout: TimeAmount = .seconds(30), accessLog: Bool = true, threads: Int = System.coreCount,
            acmeChallengeDirectory: String? = nil
        ) {
            self.acmeChallengeDirectory = acmeChallengeDirectory
            self.listeners = listeners
            self.connectTimeout = connectTimeout
            self.headerTimeout = headerTimeout
            self.idleTimeout = idleTimeout
            self.responseTimeout = responseTimeout
            self.maxIdlePerUpstream = maxIdlePerUpstream
            self.upstreamIdleTimeout = upstreamIdleTimeout
            self.accessLog = accessLog
            self.threads = threads
        }
    }

    /// One listening socket.
    package struct Listener: Sendable, Equatable {
        package enum Kind: Sendable, Equatable {
            /// Plain HTTP, routed by Host.
            case http
            /// HTTPS, the certificate chosen by SNI, routed by Host.
            case https
            /// Raw TCP forwarded to one app's processes.
            case tcp
        }

        package var host: String
        /// The port; 0 picks a free one (tests), read back with `ProxyServer.boundPorts`.
        package var port: Int
        package var kind: Kind
        /// A socket handed over by systemd (socket activation) instead of binding.
        package var inheritedDescriptor: CInt?

        package init(host: String = "0.0.0.0", port: Int, kind: Kind, inheritedDescriptor: CInt? = nil) {
            self.host = host
            self.port = port
            self.kind = kind
            self.inheritedDescriptor = inheritedDescriptor
        }
    }
}
