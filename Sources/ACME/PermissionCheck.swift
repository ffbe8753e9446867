import AsyncHTTPClient
import NIOCore

/// Caddy's "ask" for on-demand TLS: `GET URL?domain=NAME`; a 2xx answer allows a
/// certificate for NAME, anything else (or no answer within the timeout) refuses.
package enum PermissionCheck {
    package static func ask(_ url: String, domain: String, timeoutSeconds: Int64 = 10) async -> Bool {
        let separator = url.contains("?") ? "&" : "?"
        var request = HTTPClientRequest(url: url + separator + "domain=" + domain)
        request.headers.add(name: "User-Agent", value: "dokkulite-on-demand")
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        var allowed = false
        if let response = try? await client.execute(request, timeout: .seconds(timeoutSeconds)) {
            _ = try? await response.body.collect(upTo: 64 << 10)
            allowed = (200..<300).contains(Int(response.status.code))
        }
        try? await client.shutdown()
        return allowed
    }
}
