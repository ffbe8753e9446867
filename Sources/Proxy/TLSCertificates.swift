internal import NIOConcurrencyHelpers
internal import NIOCore
internal import NIOSSL
internal import NIOTLS

/// The certificates HTTPS listeners present, chosen by the SNI name of each connection
/// (exact names, then `*.domain` wildcards, then the first certificate).
package final class TLSCertificates: Sendable {
    /// One certificate and the host names it serves.
    package struct Entry: Sendable, Equatable {
        package var hosts: [String]
        package var certificatePath: String
        package var keyPath: String

        package init(hosts: [String], certificatePath: String, keyPath: String) {
            self.hosts = hosts
            self.certificatePath = certificatePath
            self.keyPath = keyPath
        }
    }

    private struct Table: @unchecked Sendable {
        var exact: [String: NIOSSLContext] = [:]
        var wildcards: [(String, NIOSSLContext)] = []
        var fallback: NIOSSLContext?
    }

    private let table: NIOLockedValueBox<Table>

    init(_ entries: [Entry]) throws {
        table = NIOLockedValueBox(try Self.build(entries))
    }

    func replace(_ entries: [Entry]) throws {
        let built = try Self.build(entries)
        table.withLockedValue { $0 = built }
    }

    /// Loads a certificate and key the way the proxy will, throwing if they are unusable
    /// (unreadable, not PEM, or a key that does not match the certificate).
    package static func check(certificatePath: String, keyPath: String) throws {
        _ = try build([Entry(hosts: [], certificatePath: certificatePath, keyPath: keyPath)])
    }

    private static func build(_ entries: [Entry]) throws -> Table {
        var table = Table()
        for entry in entries {
            let chain = try NIOSSLCertificate.fromPEMFile(entry.certificatePath).map { NIOSSLCertificateSource.certificate($0) }
            let key = try NIOSSLPrivateKey(file: entry.keyPath, format: .pem)
            var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
            configuration.applicationProtocols = ["http/1.1"]
            let context = try NIOSSLContext(configuration: configuration)
            if table.fallback == nil { table.fallback = context }
            for host in entry.hosts {
                let name = host.lowercased()
                if name.hasPrefix("*.") { table.wildcards.append((String(name.dropFirst()), context)) } else { table.exact[name] = context }
            }
        }
        return table
    }

    private func context(for name: String?) -> NIOSSLContext? {
        table.withLockedValue { table in
            if let name = name?.lowercased() {
                if let exact = table.exact[name] { return exact }
                if let wildcard = table.wildcards.first(where: { name.hasSuffix($0.0) }) { return wildcard.1 }
            }
            return table.fallback
        }
    }

    /// Reads the ClientHello's SNI name, adds the matching TLS handler, then the rest.
    func configure(_ channel: any Channel, then configureRest: @escaping (any Channel) throws -> Void) throws {
        let sni = ByteToMessageHandler(SNIHandler { [self] result in
            let name: String?
            if case .hostname(let host) = result { name = host } else { name = nil }
            guard let context = self.context(for: name) else {
                return channel.eventLoop.makeFailedFuture(ChannelError.inappropriateOperationForState)
            }
            return channel.eventLoop.makeCompletedFuture {
                let ssl = NIOSSLServerHandler(context: context)
                let sniContext = try channel.pipeline.syncOperations.context(name: "sni")
                try channel.pipeline.syncOperations.addHandler(ssl, position: .after(sniContext.handler))
            }
        })
        try channel.pipeline.syncOperations.addHandler(sni, name: "sni")
        try configureRest(channel)
    }
}
