import AsyncHTTPClient
import Crypto
package import Foundation
package import NIOCore
import NIOHTTP1

/// A minimal S3 client for backups: PUT, list and DELETE of objects, signed with AWS
/// Signature Version 4. Works with AWS (virtual-hosted URLs) and with S3-compatible servers
/// at an endpoint URL (path-style: `ENDPOINT/BUCKET/KEY`), as `aws s3 --endpoint-url` does.
package struct S3Client: Sendable {
    package struct Credentials: Sendable, Equatable {
        package var accessKeyID: String
        package var secretAccessKey: String
        package var region: String
        /// An S3-compatible server (`https://minio.example.com:9000`); nil: AWS.
        package var endpoint: String?

        package init(accessKeyID: String, secretAccessKey: String, region: String = "us-east-1", endpoint: String? = nil) {
            self.accessKeyID = accessKeyID
            self.secretAccessKey = secretAccessKey
            self.region = region
            self.endpoint = endpoint
        }
    }

    package struct Failure: Error, CustomStringConvertible, Sendable {
        package var description: String
        package init(_ description: String) { self.description = description }
    }

    package let credentials: Credentials

    package init(_ credentials: Credentials) {
        self.credentials = credentials
    }

    /// A bucket name as S3 allows it (DNS-compatible).
    package static func isValidBucket(_ name: String) -> Bool {
        (3...63).contains(name.utf8.count) && name.first != "." && name.first != "-" && name.last != "." && name.last != "-"
            && name.utf8.allSatisfy { (97...122).contains($0) || (48...57).contains($0) || $0 == 45 || $0 == 46 }
    }

    /// An object key made of `[A-Za-z0-9._/-]`, no empty or dot segments.
    package static func isValidKey(_ key: String) -> Bool {
        !key.isEmpty && key.utf8.count <= 1024
            && key.utf8.allSatisfy { (97...122).contains($0) || (65...90).contains($0) || (48...57).contains($0) || $0 == 45 || $0 == 46 || $0 == 95 || $0 == 47 }
            && !key.split(separator: "/", omittingEmptySubsequences: false).contains { $0.isEmpty || $0 == "." || $0 == ".." }
    }

    /// The URL of an object (or of the bucket, for `key` nil) and its Host header.
    func location(bucket: String, key: String?) -> (url: String, host: String, path: String) {
        let path = key.map { "/" + Self.encodePath($0) } ?? "/"
        if let endpoint = credentials.endpoint {
            let base = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
            let host = URLComponents(string: base).map { components in
                (components.host ?? "") + (components.port.map { ":\($0)" } ?? "")
            } ?? ""
            let full = "/" + bucket + (key.map { "/" + Self.encodePath($0) } ?? "")
            return (base + full, host, full)
        }
        let service = credentials.region == "us-east-1" ? "s3.amazonaws.com" : "s3.\(credentials.region).amazonaws.com"
        if bucket.contains(".") {
            // A dotted name would not match AWS's wildcard certificate as a host: path style.
            let full = "/" + bucket + (key.map { "/" + Self.encodePath($0) } ?? "")
            return ("https://\(service)\(full)", service, full)
        }
        let host = "\(bucket).\(service)"
        return ("https://\(host)\(path)", host, path)
    }

    // MARK: Signature Version 4

    /// RFC 3986 encoding as SigV4 wants it: unreserved characters as they are, `/` kept
    /// in paths, everything else `%XX` (upper case).
    static func encode(_ text: String, keepingSlash: Bool) -> String {
        var out = ""
        for byte in text.utf8 {
            let unreserved = (97...122).contains(byte) || (65...90).contains(byte) || (48...57).contains(byte) || byte == 45 || byte == 46 || byte == 95 || byte == 126
            if unreserved || (keepingSlash && byte == 47) {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }

    static func encodePath(_ path: String) -> String { encode(path, keepingSlash: true) }

    static func hex(_ bytes: some Sequence<UInt8>) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    static func sha256Hex(_ data: some DataProtocol) -> String { hex(SHA256.hash(data: data)) }

    /// The `Authorization` header for a request: method, canonical path and query, the
    /// headers to sign (lower-case names), the payload's SHA-256 and the time.
    package static func authorization(
        method: String, path: String, query: [(String, String)], headers: [String: String], payloadHash: String, date: Date, credentials: Credentials
    ) -> String {
        let amzDate = Self.amzDate(date)
        let day = String(amzDate.prefix(8))
        var pairs: [(name: String, value: String)] = query.map { (encode($0.0, keepingSlash: false), encode($0.1, keepingSlash: false)) }
        pairs.sort { $0.name == $1.name ? $0.value < $1.value : $0.name < $1.name }
        let canonicalQuery = pairs.map { "\($0.name)=\($0.value)" }.joined(separator: "&")
        var lowered: [String: String] = [:]
        for (name, value) in headers { lowered[name.lowercased()] = value.trimmingCharacters(in: .whitespaces) }
        let names = lowered.keys.sorted()
        let canonicalHeaders = names.map { "\($0):\(lowered[$0]!)\n" }.joined()
        let signedHeaders = names.joined(separator: ";")
        let canonicalRequest = [method, path, canonicalQuery, canonicalHeaders, signedHeaders, payloadHash].joined(separator: "\n")
        let scope = "\(day)/\(credentials.region)/s3/aws4_request"
        let stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256Hex(Data(canonicalRequest.utf8))].joined(separator: "\n")
        func hmac(_ key: SymmetricKey, _ text: String) -> SymmetricKey {
            SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(text.utf8), using: key)))
        }
        var key = SymmetricKey(data: Data("AWS4\(credentials.secretAccessKey)".utf8))
        for part in [day, credentials.region, "s3", "aws4_request"] { key = hmac(key, part) }
        let signature = hex(HMAC<SHA256>.authenticationCode(for: Data(stringToSign.utf8), using: key))
        return "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
    }

    /// `x-amz-date`'s form of a time: `20130524T000000Z`.
    static func amzDate(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return formatter.string(from: date)
    }

    // MARK: Requests

    /// SHA-256 of an empty payload, for requests without a body.
    static let emptyPayloadHash = sha256Hex(Data())

    /// A request signed for now: the URL, `Host` exactly as signed (with its port as
    /// written, not as the client would spell it), the date, the payload hash, the signature.
    private func signed(_ method: HTTPMethod, bucket: String, key: String?, query: [(String, String)] = [], payloadHash: String) -> HTTPClientRequest {
        let (url, host, path) = location(bucket: bucket, key: key)
        let date = Date()
        let headers = ["host": host, "x-amz-content-sha256": payloadHash, "x-amz-date": Self.amzDate(date)]
        let queryText = query.isEmpty ? "" : "?" + query.map { "\(Self.encode($0.0, keepingSlash: false))=\(Self.encode($0.1, keepingSlash: false))" }.joined(separator: "&")
        var request = HTTPClientRequest(url: url + queryText)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name == "host" ? "Host" : name, value: value) }
        request.headers.add(name: "Authorization", value: Self.authorization(
            method: method.rawValue, path: path, query: query, headers: headers, payloadHash: payloadHash, date: date, credentials: credentials))
        request.headers.add(name: "User-Agent", value: "dokkulite-backup")
        return request
    }

    /// Sends one signed request; the response's status and body (bodies of listings and
    /// errors only, capped).
    private func send(
        _ method: HTTPMethod, bucket: String, key: String?, query: [(String, String)] = [], body: HTTPClientRequest.Body? = nil,
        payloadHash: String = emptyPayloadHash, client: HTTPClient, timeout: TimeAmount
    ) async throws -> (status: Int, body: Data) {
        var request = signed(method, bucket: bucket, key: key, query: query, payloadHash: payloadHash)
        if let body { request.body = body }
        let response = try await client.execute(request, timeout: timeout)
        let collected = try await response.body.collect(upTo: 8 << 20)
        return (Int(response.status.code), Data(collected.readableBytesView))
    }

    /// The S3 error's code and message, for a one-line failure.
    static func problem(_ status: Int, _ body: Data) -> String {
        let text = String(decoding: body, as: UTF8.self)
        return [element("Code", in: text), element("Message", in: text)].compactMap { $0 }.joined(separator: ": ").nonEmpty ?? "HTTP \(status)"
    }

    /// Uploads the file open at `descriptor` (from its start, `length` bytes, whose SHA-256
    /// is `sha256`) as `key`. S3 makes an object visible only once it is whole.
    package func put(bucket: String, key: String, descriptor: Int32, length: Int, sha256: String, timeout: TimeAmount = .hours(6)) async throws {
        try await withClient { client in
            let chunks = FileChunks(descriptor: descriptor, length: length)
            let (status, body) = try await send(.PUT, bucket: bucket, key: key, body: .stream(chunks, length: .known(Int64(length))), payloadHash: sha256, client: client, timeout: timeout)
            guard (200..<300).contains(status) else { throw Failure("upload of \(key) to bucket \(bucket) failed: \(Self.problem(status, body))") }
        }
    }

    /// The keys under `prefix`, in S3's (lexical) order.
    package func list(bucket: String, prefix: String) async throws -> [String] {
        try await withClient { client in
            var keys: [String] = []
            var token: String?
            var pages = 0
            repeat {
                pages += 1
                guard pages <= 1000 else { throw Failure("listing bucket \(bucket) did not end after 1000 pages") }
                var query = [("list-type", "2"), ("prefix", prefix)]
                if let token { query.append(("continuation-token", token)) }
                let (status, body) = try await send(.GET, bucket: bucket, key: nil, query: query, client: client, timeout: .seconds(60))
                guard (200..<300).contains(status) else { throw Failure("listing bucket \(bucket) failed: \(Self.problem(status, body))") }
                let text = String(decoding: body, as: UTF8.self)
                var rest = text[...]
                while let start = rest.range(of: "<Key>"), let end = rest.range(of: "</Key>", range: start.upperBound..<rest.endIndex) {
                    keys.append(Self.unescapeXML(String(rest[start.upperBound..<end.lowerBound])))
                    rest = rest[end.upperBound...]
                }
                let next = text.contains("<IsTruncated>true</IsTruncated>") ? Self.element("NextContinuationToken", in: text) : nil
                if next != nil, next == token { throw Failure("listing bucket \(bucket) repeated its continuation token") }
                token = next
            } while token != nil
            return keys.sorted()
        }
    }

    /// Downloads `key` into the file open at `descriptor` (written from its current offset).
    package func get(bucket: String, key: String, into descriptor: Int32, timeout: TimeAmount = .hours(6)) async throws {
        try await withClient { client in
            let response = try await client.execute(signed(.GET, bucket: bucket, key: key, payloadHash: Self.emptyPayloadHash), timeout: timeout)
            guard (200..<300).contains(Int(response.status.code)) else {
                let body = try await response.body.collect(upTo: 1 << 20)
                throw Failure("download of \(key) from bucket \(bucket) failed: \(Self.problem(Int(response.status.code), Data(body.readableBytesView)))")
            }
            for try await chunk in response.body {
                var rest = chunk.readableBytesView[...]
                while !rest.isEmpty {
                    let written = rest.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
                    guard written > 0 else { throw Failure("cannot write the download: \(String(cString: strerror(errno)))") }
                    rest = rest.dropFirst(written)
                }
            }
        }
    }

    package func delete(bucket: String, key: String) async throws {
        try await withClient { client in
            let (status, body) = try await send(.DELETE, bucket: bucket, key: key, client: client, timeout: .seconds(60))
            guard (200..<300).contains(status) else { throw Failure("deleting \(key) from bucket \(bucket) failed: \(Self.problem(status, body))") }
        }
    }

    static func element(_ name: String, in text: String) -> String? {
        guard let start = text.range(of: "<\(name)>"), let end = text.range(of: "</\(name)>", range: start.upperBound..<text.endIndex) else { return nil }
        return unescapeXML(String(text[start.upperBound..<end.lowerBound]))
    }

    static func unescapeXML(_ text: String) -> String {
        text.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&quot;", with: "\"")
            .replacingOccurrences(of: "&apos;", with: "'").replacingOccurrences(of: "&amp;", with: "&")
    }

    /// Runs `body` with a client that follows no redirect (a key holder chose the endpoint),
    /// shut down after.
    private func withClient<T>(_ body: (HTTPClient) async throws -> T) async throws -> T {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            let value = try await body(client)
            try? await client.shutdown()
            return value
        } catch {
            try? await client.shutdown()
            throw error
        }
    }
}

/// A file read in 1 MiB chunks, for a streamed request body.
struct FileChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let descriptor: Int32
    let length: Int

    struct AsyncIterator: AsyncIteratorProtocol {
        let descriptor: Int32
        let length: Int
        var offset = 0

        mutating func next() async throws -> ByteBuffer? {
            guard offset < length else { return nil }
            let size = Swift.min(1 << 20, length - offset)
            var buffer = ByteBuffer()
            let read = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { raw in
                Swift.max(0, pread(descriptor, raw.baseAddress, size, off_t(offset)))
            }
            guard read > 0 else { throw S3Client.Failure("the backup file ended early") }
            offset += read
            return buffer
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(descriptor: descriptor, length: length) }
}

extension String {
    fileprivate var nonEmpty: String? { isEmpty ? nil : self }
}
