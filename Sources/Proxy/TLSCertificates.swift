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

    /// Loads the entries; one that cannot be loaded is left out (and returned by
    /// `unusable`) rather than costing every other app its certificate.
    init(_ entries: [Entry]) {
        let (built, failed) = Self.build(entries)
        table = NIOLockedValueBox(built)
        unusable = failed
    }

    /// The entries left out when this was made, with why.
    let unusable: [(entry: Entry, reason: String)]

    /// Replaces the certificates; returns the entries left out, with why.
    func replace(_ entries: [Entry]) -> [(entry: Entry, reason: String)] {
        let (built, failed) = Self.build(entries)
        table.withLockedValue { $0 = built }
        return failed
    }

    /// Loads a certificate and key the way the proxy will, throwing if they are unusable
    /// (unreadable, not PEM, or a key that does not match the certificate).
    package static func check(certificatePath: String, keyPath: String) throws {
        _ = try context(for: Entry(hosts: [], certificatePath: certificatePath, keyPath: keyPath))
    }

    private static func context(for entry: Entry) throws -> NIOSSLContext {
        let chain = try NIOSSLCertificate.fromPEMFile(entry.certificatePath).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(file: entry.keyPath, format: .pem)
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
        configuration.applicationProtocols = ["http/1.1"]
        return try NIOSSLContext(configuration: configuration)
    }

    private static func build(_ entries: [Entry]) -> (Table, failed: [(entry: Entry, reason: String)]) {
        var table = Table()
        var failed: [(entry: Entry, reason: String)] = []
        for entry in entries {
            let context: NIOSSLContext
            do {
                context = try Self.context(for: entry)
            } catch {
                failed.append((entry, "\(error)"))
                continue
            }
            if table.fallback == nil { table.fallback = context }
            for host in entry.hosts {
                let name = host.lowercased()
                if name.hasPrefix("*.") { table.wildcards.append((String(name.dropFirst()), context)) } else { table.exact[name] = context }
            }
        }
        return (table, failed)
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
