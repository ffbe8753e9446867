import Crypto
package import Foundation

/// An ACME account's key: ECDSA P-256 (JWS `ES256`), kept by the caller as PEM.
package struct AccountKey: Sendable {
    let key: P256.Signing.PrivateKey

    /// A new key.
    package init() {
        key = P256.Signing.PrivateKey()
    }

    /// A key read back from its PEM (PKCS#8 or SEC1).
    package init(pem: String) throws(ACMEError) {
        do {
            key = try P256.Signing.PrivateKey(pemRepresentation: pem)
        } catch {
            throw .badKey("the account key is not a P-256 private key in PEM")
        }
    }

    package var pem: String { key.pemRepresentation }

    /// The public key as a JWK (RFC 7517), members in RFC 7638's order.
    var jwk: String {
        let raw = key.publicKey.rawRepresentation
        let x = Base64URL.encode(raw.prefix(32)), y = Base64URL.encode(raw.suffix(32))
        return "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"\(x)\",\"y\":\"\(y)\"}"
    }

    /// The JWK thumbprint (RFC 7638): the second half of every key authorization.
    package var thumbprint: String {
        Base64URL.encode(Data(SHA256.hash(data: Data(jwk.utf8))))
    }

    /// A flattened JWS (RFC 7515) of `payload` for `url`: signed with the account's key,
    /// naming the account (`kid`) or, before there is one, carrying the key (`jwk`).
    func sign(payload: Data?, url: String, nonce: String, account: String?) throws(ACMEError) -> Data {
        let identity = account.map { "\"kid\":\(JSONText.string($0))" } ?? "\"jwk\":\(jwk)"
        let protected = "{\"alg\":\"ES256\",\(identity),\"nonce\":\(JSONText.string(nonce)),\"url\":\(JSONText.string(url))}"
        let protected64 = Base64URL.encode(Data(protected.utf8))
        // POST-as-GET (RFC 8555 §6.3) signs an empty payload.
        let payload64 = payload.map(Base64URL.encode) ?? ""
        let signature: P256.Signing.ECDSASignature
        do {
            signature = try key.signature(for: Data("\(protected64).\(payload64)".utf8))
        } catch {
            throw .badKey("signing failed: \(error)")
        }
        let body = "{\"protected\":\"\(protected64)\",\"payload\":\"\(payload64)\",\"signature\":\"\(Base64URL.encode(signature.rawRepresentation))\"}"
        return Data(body.utf8)
    }
}

/// base64url without padding (RFC 4648 §5), as JOSE and ACME use it.
package enum Base64URL {
    package static func encode<Bytes: DataProtocol>(_ bytes: Bytes) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// Whether `text` is a non-empty run of the base64url alphabet (an ACME token).
    package static func isToken(_ text: some StringProtocol) -> Bool {
        !text.isEmpty && text.utf8.count <= 256
            && text.utf8.allSatisfy { (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0) || $0 == 45 || $0 == 95 }
    }
}

/// JSON text for the few strings a JWS header carries.
enum JSONText {
    static func string(_ value: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: [value], options: [.withoutEscapingSlashes])) ?? Data("[\"\"]".utf8)
        return String(String(decoding: data, as: UTF8.self).dropFirst().dropLast())
    }
}
