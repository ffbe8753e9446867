internal import CSystemd
#if canImport(Glibc)
internal import Glibc
#endif

/// A thin owner of an `sd_bus_message`: appending typed values when building a call, and
/// reading them back from a reply. `sd_bus_message_append` is variadic and cannot be called
/// from Swift, so everything goes through the container and basic-value functions.
final class BusMessage {
    let pointer: OpaquePointer

    init(taking pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit {
        sd_bus_message_unref(pointer)
    }

    // MARK: Writing

    func append(_ value: BusValue) throws(BusFailure) {
        switch value {
        case .string(let s): try appendString("s", s)
        case .objectPath(let s): try appendString("o", s)
        case .bool(let b): try appendBasic("b", Int32(b ? 1 : 0))
        case .int32(let v): try appendBasic("i", v)
        case .uint32(let v): try appendBasic("u", v)
        case .int64(let v): try appendBasic("x", v)
        case .uint64(let v): try appendBasic("t", v)
        case .strings(let list):
            try open("a", "s")
            for s in list { try appendString("s", s) }
            try close()
        case .execCommands(let commands):
            try open("a", "(sasb)")
            for command in commands {
                try open("r", "sasb")
                try appendString("s", command.path)
                try append(.strings(command.argv))
                try append(.bool(command.ignoreFailure))
                try close()
            }
            try close()
        case .bindPaths(let binds):
            try open("a", "(ssbt)")
            for bind in binds {
                try open("r", "ssbt")
                try appendString("s", bind.source)
                try appendString("s", bind.destination)
                try append(.bool(bind.ignoreMissing))
                // MS_REC: bind submounts too, as BindPaths= does by default.
                try append(.uint64(bind.recursive ? 16384 : 0))
                try close()
            }
            try close()
        case .byteArrays(let arrays):
            try open("a", "ay")
            for bytes in arrays {
                let r = bytes.withUnsafeBytes { raw in
                    sd_bus_message_append_array(pointer, CChar(UInt8(ascii: "y")), raw.baseAddress, raw.count)
                }
                try check(r, "append ay")
            }
            try close()
        case .pathFlags(let pairs):
            try open("a", "(sb)")
            for pair in pairs {
                try open("r", "sb")
                try appendString("s", pair.path)
                try append(.bool(pair.flag))
                try close()
            }
            try close()
        case .stringPairs(let pairs):
            try open("a", "(ss)")
            for pair in pairs {
                try open("r", "ss")
                try appendString("s", pair.first)
                try appendString("s", pair.second)
                try close()
            }
            try close()
        case .fileDescriptor(let fd):
            try appendBasic("h", fd)
        case .flaggedStrings(let flag, let list):
            try open("r", "bas")
            try append(.bool(flag))
            try append(.strings(list))
            try close()
        case .socketBinds(let binds):
            try open("a", "(iiqq)")
            for bind in binds {
                try open("r", "iiqq")
                try appendBasic("i", Int32(0))
                try appendBasic("i", Int32(0))
                try appendBasic("q", bind.count)
                try appendBasic("q", bind.first)
                try close()
            }
            try close()
        case .unsupported(let signature):
            throw BusFailure(code: -22, what: "append unsupported signature \(signature)")
        }
    }

    /// Appends a property list `a(sv)`.
    func appendProperties(_ properties: [(String, BusValue)]) throws(BusFailure) {
        try open("a", "(sv)")
        for (name, value) in properties {
            try open("r", "sv")
            try appendString("s", name)
            try open("v", value.signature)
            try append(value)
            try close()
            try close()
        }
        try close()
    }

    func open(_ type: Character, _ contents: String) throws(BusFailure) {
        try check(sd_bus_message_open_container(pointer, CChar(type.asciiValue!), contents), "open \(type)\(contents)")
    }

    func close() throws(BusFailure) {
        try check(sd_bus_message_close_container(pointer), "close container")
    }

    private func appendString(_ type: Character, _ s: String) throws(BusFailure) {
        let r = s.withCString { sd_bus_message_append_basic(pointer, CChar(type.asciiValue!), $0) }
        try check(r, "append \(type)")
    }

    private func appendBasic<T>(_ type: Character, _ value: T) throws(BusFailure) {
        var copy = value
        let r = withUnsafePointer(to: &copy) { sd_bus_message_append_basic(pointer, CChar(type.asciiValue!), $0) }
        try check(r, "append \(type)")
    }

    // MARK: Reading

    func readString() throws(BusFailure) -> String {
        try readString("s")
    }

    func readObjectPath() throws(BusFailure) -> String {
        try readString("o")
    }

    func readUInt32() throws(BusFailure) -> UInt32 {
        var v: UInt32 = 0
        try check(sd_bus_message_read_basic(pointer, CChar(UInt8(ascii: "u")), &v), "read u")
        return v
    }

    /// Reads a value of the given signature, as found inside a variant.
    func read(signature: String) throws(BusFailure) -> BusValue {
        switch signature {
        case "s": return .string(try readString("s"))
        case "o": return .objectPath(try readString("o"))
        case "b":
            var v: Int32 = 0
            try check(sd_bus_message_read_basic(pointer, CChar(UInt8(ascii: "b")), &v), "read b")
            return .bool(v != 0)
        case "i":
            var v: Int32 = 0
            try check(sd_bus_message_read_basic(pointer, CChar(UInt8(ascii: "i")), &v), "read i")
            return .int32(v)
        case "u": return .uint32(try readUInt32())
        case "x":
            var v: Int64 = 0
            try check(sd_bus_message_read_basic(pointer, CChar(UInt8(ascii: "x")), &v), "read x")
            return .int64(v)
        case "t":
            var v: UInt64 = 0
            try check(sd_bus_message_read_basic(pointer, CChar(UInt8(ascii: "t")), &v), "read t")
            return .uint64(v)
        case "as":
            try enter("a", "s")
            var list: [String] = []
            while try more("s") { list.append(try readString("s")) }
            try exit()
            return .strings(list)
        default:
            try skip(signature)
            return .unsupported(signature)
        }
    }

    /// Reads an `a{sv}` dictionary, as GetAll answers.
    func readPropertyDictionary() throws(BusFailure) -> [String: BusValue] {
        var result: [String: BusValue] = [:]
        try enter("a", "{sv}")
        while try enterIfPresent("e", "sv") {
            let name = try readString("s")
            var type: CChar = 0
            var contents: UnsafePointer<CChar>?
            try check(sd_bus_message_peek_type(pointer, &type, &contents), "peek variant")
            let signature = contents.map { String(cString: $0) } ?? ""
            try enter("v", signature)
            result[name] = try read(signature: signature)
            try exit()
            try exit()
        }
        try exit()
        return result
    }

    func enter(_ type: Character, _ contents: String) throws(BusFailure) {
        try check(sd_bus_message_enter_container(pointer, CChar(type.asciiValue!), contents), "enter \(type)\(contents)")
    }

    /// Enters the next container of that type, or answers false at the end of the array.
    func enterIfPresent(_ type: Character, _ contents: String) throws(BusFailure) -> Bool {
        let r = sd_bus_message_enter_container(pointer, CChar(type.asciiValue!), contents)
        try check(r, "enter \(type)\(contents)")
        return r > 0
    }

    func exit() throws(BusFailure) {
        try check(sd_bus_message_exit_container(pointer), "exit container")
    }

    func skip(_ signature: String) throws(BusFailure) {
        try check(sd_bus_message_skip(pointer, signature), "skip \(signature)")
    }

    /// True while the current array still has an element of `type`.
    private func more(_ type: String) throws(BusFailure) -> Bool {
        let r = sd_bus_message_at_end(pointer, 0)
        try check(r, "at end")
        return r == 0
    }

    private func readString(_ type: Character) throws(BusFailure) -> String {
        var value: UnsafePointer<CChar>?
        try check(sd_bus_message_read_basic(pointer, CChar(type.asciiValue!), &value), "read \(type)")
        return value.map { String(cString: $0) } ?? ""
    }
}

/// A negative errno from an sd-bus call, with what was being done.
struct BusFailure: Error, CustomStringConvertible {
    let code: Int32
    let what: String

    var description: String {
        "\(what): \(String(cString: strerror(-code)))"
    }
}

@inline(__always)
func check(_ r: Int32, _ what: @autoclosure () -> String) throws(BusFailure) {
    if r < 0 { throw BusFailure(code: r, what: what()) }
}
