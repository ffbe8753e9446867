internal import NIOCore

/// What a client connection keeps from one exchange to the next, so that a request
/// allocates no new head buffers or field arrays. A kept buffer is cleared for reuse: once
/// the socket has written it, nothing else holds its storage, and clearing keeps it.
struct KeptStorage {
    /// A buffer gives its storage back when it grew past this, and a field array when it
    /// grew past `fieldsLimit` fields: a large head must not stay attached to an idle
    /// connection.
    static let bufferLimit = 4 * 1024
    static let fieldsLimit = 32

    /// The response's head and the small pieces of body that came with it, written as one.
    var staged = ByteBuffer()
    /// The last request head sent upstream.
    var upstreamHead = ByteBuffer()
    /// Storage for the header fields of the next request and response heads.
    var requestFields: [HTTPWire.Field] = []
    var responseFields: [HTTPWire.Field] = []

    /// Lets go of storage that grew large, once an exchange has written its last bytes:
    /// what is kept is at most the limits when the next head clears it for reuse.
    mutating func trim() {
        if upstreamHead.capacity > Self.bufferLimit { upstreamHead = ByteBuffer() }
        if staged.capacity > Self.bufferLimit { staged = ByteBuffer() }
        if requestFields.capacity > Self.fieldsLimit { requestFields = [] }
        if responseFields.capacity > Self.fieldsLimit { responseFields = [] }
    }
}
