#if canImport(Glibc)
internal import Glibc
#endif
internal import Beneath
internal import NIOCore
internal import NIOHTTP1
internal import NIOPosix
package import ServiceLifecycle

/// The file server behind the built-in static buildpack (`dokkulite static:serve`): GET and
/// HEAD of files under one root, `index.html` for directories, sendfile for the bytes.
package final class StaticFileServer: Service, Sendable {
    private let root: String
    private let host: String
    private let port: Int
    private let group: MultiThreadedEventLoopGroup

    package init(root: String, host: String = "0.0.0.0", port: Int) {
        self.root = root.hasSuffix("/") && root.count > 1 ? String(root.dropLast()) : root
        self.host = host
        self.port = port
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    package func run() async throws {
        let root = self.root
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(StaticFileHandler(root: root))
                }
            }
            .bind(host: host, port: port).get()
        try? await gracefulShutdown()
        try? await channel.close()
        try? await group.shutdownGracefully()
    }
}

final class StaticFileHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let root: String
    private var request: HTTPRequestHead?

    init(root: String) {
        self.root = root
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = head
        case .body:
            break
        case .end:
            guard let head = request else { return }
            request = nil
            respond(context: context, head: head)
        }
    }

    private func respond(context: ChannelHandlerContext, head: HTTPRequestHead) {
        guard head.method == .GET || head.method == .HEAD else {
            return simple(context, head, .methodNotAllowed, "Method not allowed\n")
        }
        guard let (fd, name) = Self.open(root: root, uri: head.uri) else {
            return simple(context, head, .notFound, "Not found\n")
        }
        var info = stat()
        fstat(fd, &info)
        let size = Int(info.st_size)
        var headers = HTTPHeaders([("Content-Type", Self.contentType(name)), ("Content-Length", String(size))])
        if !head.isKeepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .ok, headers: headers))), promise: nil)
        let handle = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: fd)
        if head.method == .GET && size > 0 {
            context.write(wrapOutboundOut(.body(.fileRegion(FileRegion(fileHandle: handle, readerIndex: 0, endIndex: size)))), promise: nil)
        }
        let keepAlive = head.isKeepAlive
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            try? handle.close()
            if !keepAlive { channel.close(promise: nil) }
        }
    }

    private func simple(_ context: ChannelHandlerContext, _ head: HTTPRequestHead, _ status: HTTPResponseStatus, _ body: String) {
        let headers = HTTPHeaders([("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", String(body.utf8.count))])
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        }
        let keepAlive = head.isKeepAlive
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if !keepAlive { channel.close(promise: nil) }
        }
    }

    /// The regular file a request path names under `root`, open for reading, with the
    /// name it was found by (for its type); nil when there is none. The kernel keeps the
    /// lookup under `root` (`Beneath`): a `..`, or a link in the site that leads out of it,
    /// names nothing. A NUL or a malformed escape in the path names nothing either.
    static func open(root: String, uri: String) -> (CInt, String)? {
        let rawPath = uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? "/"
        guard let decoded = rawPath.removingPercentEncodingSafely, !decoded.utf8.contains(0) else { return nil }
        var segments: [String] = []
        for segment in decoded.split(separator: "/") {
            if segment == "." || segment.isEmpty { continue }
            if segment == ".." { return nil }
            segments.append(String(segment))
        }
        // The server runs as the site's own user, who chose the root: it may be a link.
        guard let directory = try? Beneath.openDirectory(root, followingLink: true) else { return nil }
        defer { close(directory) }
        var name = segments.isEmpty ? "." : segments.joined(separator: "/")
        var fd = Beneath.open(name, at: directory, flags: O_RDONLY | O_NONBLOCK, links: .inside)
        guard fd >= 0 else { return nil }
        var info = stat()
        if fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFDIR {
            let index = Beneath.open("index.html", at: fd, flags: O_RDONLY | O_NONBLOCK, links: .inside)
            close(fd)
            guard index >= 0 else { return nil }
            fd = index
            name += "/index.html"
        }
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            return nil
        }
        return (fd, name)
    }

    static func contentType(_ path: String) -> String {
        let ext = path.split(separator: ".").last.map { $0.lowercased() } ?? ""
        switch ext {
        case "html", "htm": return "text/html; charset=utf-8"
        case "css": return "text/css; charset=utf-8"
        case "js", "mjs": return "text/javascript; charset=utf-8"
        case "json": return "application/json"
        case "txt": return "text/plain; charset=utf-8"
        case "svg": return "image/svg+xml"
        case "png": return "image/png"
        case "jpg", "jpeg": return "image/jpeg"
        case "gif": return "image/gif"
        case "webp": return "image/webp"
        case "ico": return "image/x-icon"
        case "wasm": return "application/wasm"
        case "woff2": return "font/woff2"
        case "xml": return "application/xml"
        case "pdf": return "application/pdf"
        default: return "application/octet-stream"
        }
    }
}

extension String {
    /// Decodes `%XX` escapes; nil when an escape is malformed.
    var removingPercentEncodingSafely: String? {
        var bytes: [UInt8] = []
        var iterator = utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next(), let low = iterator.next(),
                    let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
                else { return nil }
                bytes.append(value)
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }
}
