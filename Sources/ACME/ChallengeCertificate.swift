import Crypto
package import Foundation
import SwiftASN1
import X509

/// The answer to a TLS-ALPN-01 challenge (RFC 8737 §3): a self-signed certificate for the
/// domain alone, carrying the SHA-256 of the key authorization in the critical
/// `id-pe-acmeIdentifier` extension, served to the validator that offers `acme-tls/1`.
package enum ChallengeCertificate {
    static let acmeIdentifier: ASN1ObjectIdentifier = [1, 3, 6, 1, 5, 5, 7, 1, 31]

    /// The certificate's key and the certificate, in one PEM text.
    package static func make(domain: String, keyAuthorization: String, now: Date = Date()) throws(ACMEError) -> String {
        let key = P256.Signing.PrivateKey()
        do {
            let digest = Array(SHA256.hash(data: Data(keyAuthorization.utf8)))
            var serializer = DER.Serializer()
            try serializer.serialize(ASN1OctetString(contentBytes: digest[...]))
            let identifier = Certificate.Extension(oid: acmeIdentifier, critical: true, value: serializer.serializedBytes[...])
            let names = try Certificate.Extension(SubjectAlternativeNames([.dnsName(domain)]), critical: false)
            let subject = try DistinguishedName { CommonName(domain) }
            let certificate = try Certificate(
                version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey), notValidBefore: now - 3600,
                notValidAfter: now + 7 * 86400, issuer: subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
                extensions: Certificate.Extensions([names, identifier]), issuerPrivateKey: .init(key))
            return key.pemRepresentation + "\n" + (try certificate.serializeAsPEM().pemString) + "\n"
        } catch {
            throw .badKey("cannot make the TLS-ALPN-01 certificate for \(domain): \(error)")
        }
    }
}
