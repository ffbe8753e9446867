import SwiftASN1

/// DER encoding of an ASN.1 value (a certificate, a signing request).
enum DEREncoding {
    static func bytes(_ value: some DERSerializable) throws(ACMEError) -> [UInt8] {
        var serializer = DER.Serializer()
        do {
            try serializer.serialize(value)
        } catch {
            throw .unexpected("cannot encode \(type(of: value)): \(error)")
        }
        return serializer.serializedBytes
    }
}
