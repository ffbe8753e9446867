import Crypto
import Foundation

/// SHA-256 of some bytes, in hex: what names a thing after its content (a legacy storage
/// entry after its path, an ACME account key after its server) or tells two files apart.
enum Fingerprint {
    static func hex(_ bytes: some DataProtocol, bytes count: Int = 32) -> String {
        SHA256.hash(data: Data(bytes)).prefix(count).map { String(format: "%02x", $0) }.joined()
    }
}
