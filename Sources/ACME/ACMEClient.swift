import AsyncHTTPClient
import Crypto
package import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import X509

/// A pending challenge the caller must answer until it is withdrawn: for `http-01`, the
/// body of `/.well-known/acme-challenge/TOKEN` on port 80 of `domain`; for `tls-alpn-01`,
/// a certificate made by `ChallengeCertificate` on port 443 with ALPN `acme-tls/1`.
package struct Challenge: Sendable, Equatable {
    package var type: String
    package var domain: String
    package var token: String
    package var keyAuthorization: String
}

/// Whoever answers challenges for the client (the proxy, through files it reads).
package protocol ChallengeResponder: Sendable {
    func publish(_ challenge: Challenge) throws
    func withdraw(_ challenge: Challenge)
}

/// A certificate as issued: the chain as the server sent it (leaf first), its key, and
/// when it expires.
package struct IssuedCertificate: Sendable {
    package var chainPEM: String
    package var keyPEM: String
    package var notAfter: Date
}

/// An RFC 8555 client for one ACME server and one account key: account registration (or
/// reuse), orders, authorizations answered through a `ChallengeResponder`, finalization
/// with a new P-256 key, certificate download, revocation. Nonces are reused from every
/// answer and refreshed on `badNonce`; polling follows `Retry-After`.
package actor ACMEClient {
    package struct Configuration: Sendable {
        /// The server's directory URL.
        package var directory: String
        /// PEM file of extra roots to trust for the server's own HTTPS (a test server's),
        /// or nil for the system's.
        package var trustRootsFile: String?
        /// How long an order may take from creation to certificate.
        package var orderTimeout: Double = 180
        /// How long one request may take.
        package var requestTimeout: Int64 = 30

        package init(directory: String, trustRootsFile: String? = nil) {
            self.directory = directory
            self.trustRootsFile = trustRootsFile
        }
    }

    private struct Directory {
        var newNonce: String
        var newAccount: String
        var newOrder: String
        var revokeCert: String?
    }

    private struct Response {
        var status: Int
        var headers: HTTPHeaders
        var body: Data
        var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:]
        }
        var location: String? { headers.first(name: "Location") }
    }

    private let configuration: Configuration
    private let key: AccountKey
    private let http: HTTPClient
    private let progress: @Sendable (String) -> Void
    private var directory: Directory?
    private var nonce: String?
    private var account: String?

    package init(_ configuration: Configuration, key: AccountKey, progress: @escaping @Sendable (String) -> Void = { _ in }) throws(ACMEError) {
        self.configuration = configuration
        self.key = key
        self.progress = progress
        var tls = TLSConfiguration.makeClientConfiguration()
        if let file = configuration.trustRootsFile {
            do {
                let roots = try NIOSSLCertificate.fromPEMFile(file)
                tls.trustRoots = .certificates(roots)
            } catch {
                throw .badKey("cannot read the trusted roots in \(file): \(error)")
            }
        }
        var http = HTTPClient.Configuration(tlsConfiguration: tls)
        http.redirectConfiguration = .disallow
        http.timeout = .init(connect: .seconds(10), read: .seconds(configuration.requestTimeout))
        self.http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: http)
    }

    /// Closes the client's connections; call once done.
    package func shutdown() async {
        try? await http.shutdown()
    }

    // MARK: Issuing

    /// Registers the account (or finds the one the key has) and returns its URL.
    @discardableResult
    package func register(email: String?) async throws(ACMEError) -> String {
        if let account { return account }
        let directory = try await loadDirectory()
        var payload: [String: Any] = ["termsOfServiceAgreed": true]
        if let email, !email.isEmpty { payload["contact"] = ["mailto:\(email)"] }
        let response = try await post(directory.newAccount, json: payload, asAccount: false)
        let location = try Self.checked(response.location, "the account's Location")
        account = location
        return location
    }

    /// Orders and fetches a certificate for `domains` (the first is its subject), answering
    /// each authorization with a challenge of `challengeType` through `responder`.
    package func issue(domains: [String], email: String?, challengeType: String, responder: any ChallengeResponder) async throws(ACMEError) -> IssuedCertificate {
        try await register(email: email)
        let directory = try await loadDirectory()
        let deadline = Date().addingTimeInterval(configuration.orderTimeout)
        operationDeadline = deadline
        defer { operationDeadline = nil }
        let identifiers = domains.map { ["type": "dns", "value": $0] }
        let created = try await post(directory.newOrder, json: ["identifiers": identifiers])
        let orderURL = try Self.checked(created.location, "the order's Location")
        var order = created.json
        let authorizations = order["authorizations"] as? [Any] ?? []
        guard authorizations.count <= domains.count else { throw .unexpected("more authorizations than names ordered") }
        for authorization in authorizations {
            try await authorize(try Self.checked(authorization, "an authorization"), challengeType: challengeType, responder: responder, deadline: deadline)
        }
        let finalize = try Self.checked(order["finalize"], "the finalize URL")
        let certificateKey = P256.Signing.PrivateKey()
        let csr = try Self.signingRequest(domains: domains, key: certificateKey)
        progress("Finalizing the order")
        order = try await post(finalize, json: ["csr": Base64URL.encode(csr)]).json
        polls = 0
        while (order["status"] as? String) != "valid" {
            let status = order["status"] as? String ?? "?"
            guard status == "processing" || status == "pending" || status == "ready" else {
                throw .unexpected("the order is \(status): \(Self.detail(order["error"]))")
            }
            try await pause(until: deadline, what: "the order")
            order = try await post(orderURL, json: nil).json
        }
        let certificateURL = try Self.checked(order["certificate"], "the certificate URL")
        let download = try await post(certificateURL, json: nil, accept: "application/pem-certificate-chain")
        let chain = String(decoding: download.body, as: UTF8.self)
        guard let leaf = Self.firstCertificate(chain) else { throw .unexpected("the certificate is not PEM") }
        return IssuedCertificate(chainPEM: chain, keyPEM: certificateKey.pemRepresentation, notAfter: leaf.notValidAfter)
    }

    /// Revokes a certificate this account was issued.
    package func revoke(certificatePEM: String) async throws(ACMEError) {
        try await register(email: nil)
        guard let url = try await loadDirectory().revokeCert else { throw .unexpected("the server offers no revocation") }
        guard let certificate = Self.firstCertificate(certificatePEM) else { throw .unexpected("not a PEM certificate") }
        let der = try DEREncoding.bytes(certificate)
        _ = try await post(url, json: ["certificate": Base64URL.encode(der)])
    }

    private func authorize(_ url: String, challengeType: String, responder: any ChallengeResponder, deadline: Date) async throws(ACMEError) {
        var authorization = try await post(url, json: nil).json
        let domain = (authorization["identifier"] as? [String: Any])?["value"] as? String ?? "?"
        if authorization["status"] as? String == "valid" {
            progress("\(domain): already authorized")
            return
        }
        let challenges = authorization["challenges"] as? [[String: Any]] ?? []
        guard let offered = challenges.first(where: { $0["type"] as? String == challengeType }),
            let token = offered["token"] as? String, Base64URL.isToken(token)
        else {
            throw .unexpected("no \(challengeType) challenge offered for \(domain)")
        }
        let challengeURL = try Self.checked(offered["url"], "the challenge URL")
        let challenge = Challenge(type: challengeType, domain: domain, token: token, keyAuthorization: "\(token).\(key.thumbprint)")
        do {
            try responder.publish(challenge)
        } catch {
            throw .unexpected("cannot answer the challenge for \(domain): \(error)")
        }
        defer { responder.withdraw(challenge) }
        progress("\(domain): answering the \(challengeType) challenge")
        _ = try await post(challengeURL, json: [:])
        polls = 0
        while true {
            authorization = try await post(url, json: nil).json
            switch authorization["status"] as? String {
            case "valid":
                progress("\(domain): validated")
                return
            case "pending", "processing":
                try await pause(until: deadline, what: "validation of \(domain)")
            default:
                let failed = (authorization["challenges"] as? [[String: Any]] ?? []).first { $0["type"] as? String == challengeType }
                throw .challengeFailed(domain: domain, detail: Self.detail(failed?["error"]))
            }
        }
    }

    // MARK: Requests

    /// When the operation under way must be over (nil: none), checked before every request.
    private var operationDeadline: Date?

    /// A URL the server gave: https only, with a host. The server is the user's choice and
    /// its answers are not trusted to name other schemes (AsyncHTTPClient also speaks
    /// `http+unix://`, which would reach local sockets as root).
    private static func checked(_ value: Any?, _ what: String) throws(ACMEError) -> String {
        guard let url = value as? String, url.hasPrefix("https://"), url.utf8.allSatisfy({ $0 > 32 && $0 < 127 }),
            let host = URL(string: url)?.host, !host.isEmpty
        else {
            throw .unexpected("\(what) is not an https URL")
        }
        return url
    }

    private func loadDirectory() async throws(ACMEError) -> Directory {
        if let directory { return directory }
        let response = try await send(configuration.directory, method: .GET, body: nil)
        guard response.status == 200 else { throw .unreachable(url: configuration.directory, reason: "HTTP \(response.status)") }
        let json = response.json
        guard json["newNonce"] != nil, json["newAccount"] != nil, json["newOrder"] != nil else {
            throw .unreachable(url: configuration.directory, reason: "not an ACME directory")
        }
        let loaded = Directory(
            newNonce: try Self.checked(json["newNonce"], "newNonce"), newAccount: try Self.checked(json["newAccount"], "newAccount"),
            newOrder: try Self.checked(json["newOrder"], "newOrder"), revokeCert: try json["revokeCert"].map { value throws(ACMEError) in try Self.checked(value, "revokeCert") })
        directory = loaded
        return loaded
    }

    private func freshNonce() async throws(ACMEError) -> String {
        if let nonce {
            self.nonce = nil
            return nonce
        }
        let response = try await send(try await loadDirectory().newNonce, method: .HEAD, body: nil)
        guard let nonce = response.headers.first(name: "Replay-Nonce") else { throw .unexpected("no Replay-Nonce") }
        return nonce
    }

    /// A signed POST (`json` nil: POST-as-GET), sent again with a fresh nonce when the
    /// server says the nonce was bad.
    private func post(_ url: String, json: [String: Any]?, asAccount: Bool = true, accept: String? = nil) async throws(ACMEError) -> Response {
        var payload: Data?
        if let json {
            payload = try? JSONSerialization.data(withJSONObject: json, options: [.sortedKeys, .withoutEscapingSlashes])
        }
        var attempt = 0
        while true {
            if let operationDeadline, Date() > operationDeadline { throw .timedOut("the order") }
            attempt += 1
            let body = try key.sign(payload: payload, url: url, nonce: try await freshNonce(), account: asAccount ? account : nil)
            let response = try await send(url, method: .POST, body: body, accept: accept)
            if response.status < 400 { return response }
            let problem = Self.problem(response)
            if problem.isBadNonce, attempt < 5 { continue }
            throw problem
        }
    }

    private func send(_ url: String, method: HTTPMethod, body: Data?, accept: String? = nil) async throws(ACMEError) -> Response {
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "User-Agent", value: "dokkulite-acme")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/jose+json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        if let accept { request.headers.add(name: "Accept", value: accept) }
        do {
            let response = try await http.execute(request, timeout: .seconds(configuration.requestTimeout))
            let collected = try await response.body.collect(upTo: 4 << 20)
            if let nonce = response.headers.first(name: "Replay-Nonce") { self.nonce = nonce }
            lastRetryAfter = response.headers.first(name: "Retry-After").flatMap { Double($0) }.flatMap { $0.isFinite ? min(max($0, 0.25), 10) : nil }
            return Response(status: Int(response.status.code), headers: response.headers, body: Data(collected.readableBytesView))
        } catch {
            throw .unreachable(url: url, reason: "\(error)")
        }
    }

    private var lastRetryAfter: Double?

    private var polls = 0

    /// Waits before polling again: the server's `Retry-After` when it gave one (capped at
    /// ten seconds), else a quarter second doubling to four; fails past the deadline.
    private func pause(until deadline: Date, what: String) async throws(ACMEError) {
        guard Date() < deadline else { throw .timedOut(what) }
        polls += 1
        let backoff = min(0.25 * Double(1 << min(polls - 1, 4)), 4)
        let seconds = min(lastRetryAfter ?? backoff, 10, max(0.05, deadline.timeIntervalSinceNow))
        try? await Task.sleep(nanoseconds: UInt64(seconds * 1_000_000_000))
    }

    private static func problem(_ response: Response) -> ACMEError {
        let json = response.json
        guard let type = json["type"] as? String else {
            return .unexpected("HTTP \(response.status): \(String(decoding: response.body.prefix(200), as: UTF8.self))")
        }
        return .problem(type: type, detail: detail(json), status: response.status)
    }

    /// A problem document's detail, with its subproblems'.
    private static func detail(_ value: Any?) -> String {
        guard let problem = value as? [String: Any] else { return "no reason given" }
        var text = problem["detail"] as? String ?? (problem["type"] as? String ?? "no reason given")
        for case let sub as [String: Any] in problem["subproblems"] as? [Any] ?? [] {
            let identifier = (sub["identifier"] as? [String: Any])?["value"] as? String
            text += "; " + (identifier.map { "\($0): " } ?? "") + (sub["detail"] as? String ?? "")
        }
        return text
    }

    // MARK: Keys and requests

    /// The first certificate of a PEM chain (the leaf, as ACME sends it).
    static func firstCertificate(_ chain: String) -> Certificate? {
        let end = "-----END CERTIFICATE-----"
        guard let start = chain.range(of: "-----BEGIN CERTIFICATE-----"), let stop = chain.range(of: end, range: start.upperBound..<chain.endIndex) else {
            return nil
        }
        return try? Certificate(pemEncoded: String(chain[start.lowerBound..<stop.upperBound]))
    }

    /// A PKCS#10 request (DER) for `domains`: the first as the subject, all as names.
    static func signingRequest(domains: [String], key: P256.Signing.PrivateKey) throws(ACMEError) -> [UInt8] {
        do {
            // The subject's CN holds 64 characters at most; the names are in the SAN anyway.
            let subject = domains[0].utf8.count <= 64 ? try DistinguishedName { CommonName(domains[0]) } : DistinguishedName()
            let extensions = try Certificate.Extensions { SubjectAlternativeNames(domains.map { .dnsName($0) }) }
            let attributes = try CertificateSigningRequest.Attributes([.init(ExtensionRequest(extensions: extensions))])
            let request = try CertificateSigningRequest(
                version: .v1, subject: subject, privateKey: .init(key), attributes: attributes, signatureAlgorithm: .ecdsaWithSHA256)
            return try DEREncoding.bytes(request)
        } catch let error as ACMEError {
            throw error
        } catch {
            throw .badKey("cannot make the certificate signing request: \(error)")
        }
    }
}
