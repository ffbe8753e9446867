internal import NIOCore

/// What the proxy reads of a TLS ClientHello before choosing a certificate: the SNI name
/// and the ALPN protocols offered (an ACME TLS-ALPN-01 validation offers only
/// `acme-tls/1`, RFC 8737).
struct ClientHello: Equatable {
    var serverName: String?
    var protocols: [String]

    enum Failure: Error { case incomplete, malformed }

    /// Parses the first TLS record of `buffer`; `.incomplete` until it is all there.
    static func parse(_ buffer: ByteBuffer) throws(Failure) -> ClientHello {
        var buffer = buffer
        guard let type: UInt8 = buffer.readInteger(), let _: UInt16 = buffer.readInteger(), let length: UInt16 = buffer.readInteger() else {
            throw .incomplete
        }
        guard type == 22 else { throw .malformed }
        guard buffer.readableBytes >= Int(length) else { throw .incomplete }
        guard var record = buffer.readSlice(length: Int(length)) else { throw .incomplete }
        guard let handshake: UInt8 = record.readInteger(), handshake == 1, let high: UInt8 = record.readInteger(), let low: UInt16 = record.readInteger()
        else { throw .malformed }
        let helloLength = Int(high) << 16 | Int(low)
        // A ClientHello longer than one record (rare): choose by what arrived.
        var hello = record.readSlice(length: min(helloLength, record.readableBytes))!
        try skip(&hello, 2 + 32)
        try skipVector(&hello, lengthBytes: 1)
        try skipVector(&hello, lengthBytes: 2)
        try skipVector(&hello, lengthBytes: 1)
        var result = ClientHello(serverName: nil, protocols: [])
        guard let extensionsLength: UInt16 = hello.readInteger(), var extensions = hello.readSlice(length: min(Int(extensionsLength), hello.readableBytes))
        else { return result }
        while let kind: UInt16 = extensions.readInteger(), let size: UInt16 = extensions.readInteger() {
            guard var body = extensions.readSlice(length: Int(size)) else { throw .malformed }
            switch kind {
            case 0:
                // server_name: a list of (type, name); the host_name entry (type 0).
                guard let _: UInt16 = body.readInteger(), let nameType: UInt8 = body.readInteger(), nameType == 0,
                    let nameLength: UInt16 = body.readInteger(), let name = body.readString(length: Int(nameLength)),
                    name.utf8.allSatisfy({ $0 > 32 && $0 < 127 })
                else { continue }
                result.serverName = name
            case 16:
                // application_layer_protocol_negotiation: a list of length-prefixed names.
                guard let _: UInt16 = body.readInteger() else { continue }
                while let nameLength: UInt8 = body.readInteger(), let name = body.readString(length: Int(nameLength)) {
                    result.protocols.append(name)
                }
            default:
                continue
            }
        }
        return result
    }

    private static func skip(_ buffer: inout ByteBuffer, _ count: Int) throws(Failure) {
        guard buffer.readableBytes >= count else { throw .malformed }
        buffer.moveReaderIndex(forwardBy: count)
    }

    private static func skipVector(_ buffer: inout ByteBuffer, lengthBytes: Int) throws(Failure) {
        let length: Int
        if lengthBytes == 1 {
            guard let value: UInt8 = buffer.readInteger() else { throw .malformed }
            length = Int(value)
        } else {
            guard let value: UInt16 = buffer.readInteger() else { throw .malformed }
            length = Int(value)
        }
        try skip(&buffer, length)
    }
}

/// Holds a connection's first bytes until its ClientHello is read, asks `choose` to set up
/// TLS for it, then steps aside and passes the bytes on (as NIO's `SNIHandler` does, with
/// ALPN read too). Anything that is not a ClientHello is passed on for TLS to refuse.
final class ClientHelloHandler: ByteToMessageDecoder {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let choose: (ClientHello?) -> EventLoopFuture<Void>
    private var waiting = false

    init(choose: @escaping (ClientHello?) -> EventLoopFuture<Void>) {
        self.choose = choose
    }

    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) -> DecodingState {
        guard !waiting else { return .needMoreData }
        let hello: ClientHello?
        do {
            hello = try ClientHello.parse(buffer)
        } catch .incomplete {
            return .needMoreData
        } catch {
            hello = nil
        }
        waiting = true
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        choose(hello).whenComplete { result in
            let context = bound.value
            switch result {
            case .success: context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            case .failure: context.close(promise: nil)
            }
        }
        return .needMoreData
    }

    func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) -> DecodingState {
        context.fireChannelRead(Self.wrapInboundOut(buffer))
        buffer.moveReaderIndex(to: buffer.writerIndex)
        return .needMoreData
    }
}
