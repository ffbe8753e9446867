import Foundation
import Testing

@testable import S3

/// Signature Version 4 against AWS's own worked example ("Signature Calculations for the
/// Authorization Header", GET Object): a wrong canonical request, scope or key derivation
/// gives another signature.
@Suite struct SignatureTests {
    @Test func awsGetObjectExample() throws {
        let formatter = ISO8601DateFormatter()
        let date = try #require(formatter.date(from: "2013-05-24T00:00:00Z"))
        let credentials = S3Client.Credentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
        let header = S3Client.authorization(
            method: "GET", path: "/test.txt", query: [],
            headers: [
                "Host": "examplebucket.s3.amazonaws.com", "Range": "bytes=0-9",
                "x-amz-content-sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "x-amz-date": "20130524T000000Z",
            ],
            payloadHash: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", date: date, credentials: credentials)
        #expect(header == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    @Test func awsListObjectsExample() throws {
        // The same page's GET Bucket (List Objects) example: a query string, sorted and encoded.
        let date = try #require(ISO8601DateFormatter().date(from: "2013-05-24T00:00:00Z"))
        let credentials = S3Client.Credentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
        let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        let header = S3Client.authorization(
            method: "GET", path: "/", query: [("max-keys", "2"), ("prefix", "J")],
            headers: ["Host": "examplebucket.s3.amazonaws.com", "x-amz-content-sha256": empty, "x-amz-date": "20130524T000000Z"],
            payloadHash: empty, date: date, credentials: credentials)
        #expect(header.hasSuffix("Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"), "\(header)")
    }

    @Test func namesAndPaths() {
        #expect(S3Client.isValidBucket("my-backups.2026"))
        for bad in ["ab", "-x-bucket", "Upper", "under_score", "dot.", String(repeating: "a", count: 64)] { #expect(!S3Client.isValidBucket(bad), "\(bad)") }
        #expect(S3Client.isValidKey("nightly/postgres-db-20261206-030000.dump"))
        for bad in ["", "a//b", "../x", "a/./b", "a b", "/lead"] { #expect(!S3Client.isValidKey(bad), "\(bad)") }
        #expect(S3Client.encode("a b/c~d", keepingSlash: true) == "a%20b/c~d")
        let client = S3Client(.init(accessKeyID: "k", secretAccessKey: "s", region: "eu-west-1", endpoint: "http://127.0.0.1:9000/"))
        #expect(client.location(bucket: "b", key: "x/y.dump").url == "http://127.0.0.1:9000/b/x/y.dump")
        #expect(client.location(bucket: "b", key: "x/y.dump").host == "127.0.0.1:9000")
        let aws = S3Client(.init(accessKeyID: "k", secretAccessKey: "s", region: "eu-west-1"))
        #expect(aws.location(bucket: "b", key: "y.dump").url == "https://b.s3.eu-west-1.amazonaws.com/y.dump")
    }
}
