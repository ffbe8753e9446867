/// One argument or property value in a D-Bus message, limited to the shapes systemd's
/// transient-unit API and unit properties use.
package enum BusValue: Sendable, Equatable {
    case string(String)
    case objectPath(String)
    case bool(Bool)
    case int32(Int32)
    case uint32(UInt32)
    case int64(Int64)
    case uint64(UInt64)
    case strings([String])
    /// `a(sasb)`: ExecStart and friends: path, argv, ignore-failure.
    case execCommands([ExecCommand])
    /// `a(ssbt)`: BindPaths / BindReadOnlyPaths: source, destination, ignore-missing, flags.
    case bindPaths([BindPath])
    /// `aay`: LogExtraFields.
    case byteArrays([[UInt8]])
    /// `a(sb)`: EnvironmentFiles: path, ignore-if-missing.
    case pathFlags([PathFlag])
    /// `a(ss)`: TimersCalendar: base, calendar spec.
    case stringPairs([StringPair])
    /// `h`: a file descriptor, duplicated into the message (StandardOutputFileDescriptor).
    case fileDescriptor(Int32)
    /// `(bas)`: SystemCallFilter, RestrictAddressFamilies: allow (true) or deny list.
    case flaggedStrings(Bool, [String])
    /// `a(iiqq)`: SocketBindAllow / SocketBindDeny.
    case socketBinds([SocketBind])
    /// A value of a type this client does not decode; its signature is kept.
    case unsupported(String)

    /// The D-Bus signature of the value.
    package var signature: String {
        switch self {
        case .string: "s"
        case .objectPath: "o"
        case .bool: "b"
        case .int32: "i"
        case .uint32: "u"
        case .int64: "x"
        case .uint64: "t"
        case .strings: "as"
        case .execCommands: "a(sasb)"
        case .bindPaths: "a(ssbt)"
        case .byteArrays: "aay"
        case .pathFlags: "a(sb)"
        case .stringPairs: "a(ss)"
        case .fileDescriptor: "h"
        case .flaggedStrings: "(bas)"
        case .socketBinds: "a(iiqq)"
        case .unsupported(let signature): signature
        }
    }

    /// The string inside `.string` or `.objectPath`.
    package var stringValue: String? {
        switch self {
        case .string(let s), .objectPath(let s): s
        default: nil
        }
    }

    /// The number inside any integer case.
    package var integerValue: UInt64? {
        switch self {
        case .uint64(let v): v
        case .uint32(let v): UInt64(v)
        case .int32(let v): v >= 0 ? UInt64(v) : nil
        case .int64(let v): v >= 0 ? UInt64(v) : nil
        default: nil
        }
    }
}

/// A command line for `ExecStart=`.
package struct ExecCommand: Sendable, Equatable {
    package var path: String
    package var argv: [String]
    package var ignoreFailure: Bool

    package init(path: String, argv: [String], ignoreFailure: Bool = false) {
        self.path = path
        self.argv = argv
        self.ignoreFailure = ignoreFailure
    }
}

/// A bind mount for `BindPaths=` (read-write) or `BindReadOnlyPaths=`.
package struct BindPath: Sendable, Equatable {
    package var source: String
    package var destination: String
    package var ignoreMissing: Bool
    package var recursive: Bool

    package init(source: String, destination: String, ignoreMissing: Bool = false, recursive: Bool = true) {
        self.source = source
        self.destination = destination
        self.ignoreMissing = ignoreMissing
        self.recursive = recursive
    }
}

/// One `(sb)` element.
package struct PathFlag: Sendable, Equatable {
    package var path: String
    package var flag: Bool

    package init(_ path: String, _ flag: Bool) {
        self.path = path
        self.flag = flag
    }
}

/// One `(ss)` element.
package struct StringPair: Sendable, Equatable {
    package var first: String
    package var second: String

    package init(_ first: String, _ second: String) {
        self.first = first
        self.second = second
    }
}

/// One `SocketBindAllow=` / `SocketBindDeny=` rule: any address family and protocol (0),
/// `count` ports from `first`.
package struct SocketBind: Sendable, Equatable {
    package var first: UInt16
    package var count: UInt16

    package init(first: UInt16, count: UInt16 = 1) {
        self.first = first
        self.count = count
    }
}
