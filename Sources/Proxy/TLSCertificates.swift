internal import Beneath
internal import NIOConcurrencyHelpers
internal import NIOCore
internal import NIOSSL

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
    init(_ entries: [Entry], acmeChallengeDirectory: String? = nil) {
        let (built, failed) = Self.build(entries)
        table = NIOLockedValueBox(built)
        unusable = failed
        self.acmeChallengeDirectory = acmeChallengeDirectory
    }

    /// On-demand TLS: asked for a name with no certificate of its own, while the client's
    /// handshake waits (nil: off).
    private let onDemand = NIOLockedValueBox<OnDemandTLS?>(nil)

    func setOnDemand(_ handler: OnDemandTLS?) {
        onDemand.withLockedValue { $0 = handler }
    }

    /// Whether `name` has a certificate of its own (not the fallback).
    private func hasOwnCertificate(_ name: String) -> Bool {
        table.withLockedValue { table in
            let name = name.lowercased()
            return table.exact[name] != nil || table.wildcards.contains { name.hasSuffix($0.0) }
        }
    }

    /// Where ACME TLS-ALPN-01 answers wait: `tls-alpn-01/NAME.pem` (certificate and key).
    private let acmeChallengeDirectory: String?

    /// The ALPN protocol of an ACME TLS-ALPN-01 validation (RFC 8737).
    static let acmeProtocol = "acme-tls/1"

    /// The context that answers a TLS-ALPN-01 validation of `name`, when one is pending:
    /// its own self-signed certificate, offering only `acme-tls/1`.
    private func challengeContext(for name: String) -> NIOSSLContext? {
        guard let directory = acmeChallengeDirectory else { return nil }
        let lowered = name.lowercased()
        guard !lowered.isEmpty, lowered.utf8.count <= 253, lowered.first != ".",
            lowered.utf8.allSatisfy({ (97...122).contains($0) || (48...57).contains($0) || $0 == 45 || $0 == 46 })
        else { return nil }
        guard let bytes = try? Beneath.read("tls-alpn-01/\(lowered).pem", in: directory, limit: 64 << 10, links: .refused) else { return nil }
        do {
            let chain = try NIOSSLCertificate.fromPEMBytes(bytes).map { NIOSSLCertificateSource.certificate($0) }
            let key = try NIOSSLPrivateKey(bytes: bytes, format: .pem)
            var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
            configuration.applicationProtocols = [Self.acmeProtocol]
            return try NIOSSLContext(configuration: configuration)
        } catch {
            return nil
        }
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
        // HTTP/2 preferred, as nginx and Caddy offer it; HTTP/1.1 for every other client.
        configuration.applicationProtocols = ["h2", "http/1.1"]
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

    /// Reads the ClientHello's SNI name (and ALPN), adds the matching TLS handler, then the
    /// rest. A validation that asks for `acme-tls/1` gets the pending challenge's
    /// certificate for its name; every other connection, the name's own.
    func configure(_ channel: any Channel, then configureRest: @escaping (any Channel) throws -> Void) throws {
        // A ClientHello fits in one record; what a client sends while its handshake waits
        // (for an on-demand certificate) is not kept past that.
        let decoder = ClientHelloHandler { [self] hello in
            let name = hello?.serverName
            let challenge = hello.flatMap { hello in
                hello.protocols.contains(Self.acmeProtocol) ? name.flatMap { self.challengeContext(for: $0) } : nil
            }
            if challenge == nil, let name, !self.hasOwnCertificate(name), let onDemand = self.onDemand.withLockedValue({ $0 }) {
                // The handshake waits while a certificate for the name is got (or refused).
                let promise = channel.eventLoop.makePromise(of: Void.self)
                let loop = channel.eventLoop
                Task {
                    _ = await onDemand.issue(name.lowercased())
                    loop.execute {
                        guard let context = self.context(for: name) else {
                            promise.fail(ChannelError.inappropriateOperationForState)
                            return
                        }
                        promise.completeWith(Result { try Self.addTLS(context, to: channel) })
                    }
                }
                return promise.futureResult
            }
            guard let context = challenge ?? self.context(for: name) else {
                return channel.eventLoop.makeFailedFuture(ChannelError.inappropriateOperationForState)
            }
            return channel.eventLoop.makeCompletedFuture { try Self.addTLS(context, to: channel) }
        }
        let hello = ByteToMessageHandler(decoder, maximumBufferSize: 16_389)
        try channel.pipeline.syncOperations.addHandler(hello, name: "client-hello")
        try configureRest(channel)
    }

    private static func addTLS(_ context: NIOSSLContext, to channel: any Channel) throws {
        let ssl = NIOSSLServerHandler(context: context)
        let helloContext = try channel.pipeline.syncOperations.context(name: "client-hello")
        try channel.pipeline.syncOperations.addHandler(ssl, position: .after(helloContext.handler))
    }
}

/// Certificates got while a client waits (on-demand TLS, as Caddy's): asked for a name
/// that has no certificate of its own, `issue` gets one and has it installed (true), or
/// declines (false); either way the handshake then goes on.
package struct OnDemandTLS: Sendable {
    package var issue: @Sendable (String) async -> Bool

    package init(issue: @escaping @Sendable (String) async -> Bool) {
        self.issue = issue
    }
}
