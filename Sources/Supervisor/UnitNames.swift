/// systemd unit naming: escaping as `systemd-escape` does, and the names dokkulite gives
/// its slices and units. Everything an app runs lives in `ROOT-APP.slice`, so that
/// `systemctl status ROOT-APP.slice` shows the whole app.
package enum UnitNames {
    /// Escapes a string for use as one component of a unit name, exactly as
    /// `systemd-escape STRING` does: `/` becomes `-`, and `-`, `\`, a leading `.` and every
    /// byte outside `[A-Za-z0-9:_.]` become `\xNN`.
    package static func escape(_ string: String) -> String {
        var result = ""
        for (offset, byte) in string.utf8.enumerated() {
            switch byte {
            case UInt8(ascii: "/"):
                result.append("-")
            case UInt8(ascii: "."):
                if offset == 0 { result.append("\\x2e") } else { result.append(".") }
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: ":"), UInt8(ascii: "_"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                result.append("\\x")
                let hex = Array("0123456789abcdef")
                result.append(hex[Int(byte >> 4)])
                result.append(hex[Int(byte & 0xf)])
            }
        }
        return result
    }

    /// Reverses `escape`.
    package static func unescape(_ string: String) -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(string.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "\\"), utf8.count >= 3, utf8.first == UInt8(ascii: "x"),
                let value = UInt8(String(decoding: utf8.dropFirst().prefix(2), as: UTF8.self), radix: 16)
            {
                bytes.append(value)
                utf8 = utf8.dropFirst(3)
            } else if byte == UInt8(ascii: "-") {
                bytes.append(UInt8(ascii: "/"))
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The slice of one app: `ROOT-APP.slice`, nested under `ROOT.slice`.
    package static func appSlice(root: String, app: String) -> String {
        "\(root)-\(escape(app)).slice"
    }

    /// The glob that matches every unit of an app (`ROOT-APP-*`).
    package static func appUnitPattern(root: String, app: String) -> String {
        "\(root)-\(escape(app))-*"
    }

    /// The unit of one process instance: `ROOT-APP-TYPE.N-GEN.service`, where GEN tells
    /// apart the old and new instances that run side by side during a deploy.
    package static func instanceUnit(root: String, app: String, processType: String, number: Int, generation: Int) -> String {
        "\(root)-\(escape(app))-\(escape(processType)).\(number)-\(generation).service"
    }

    /// Splits an instance unit name back into its parts, or nil for other units.
    package static func parseInstanceUnit(_ unit: String, root: String) -> (app: String, processType: String, number: Int, generation: Int)? {
        guard unit.hasPrefix("\(root)-"), unit.hasSuffix(".service") else { return nil }
        let body = unit.dropFirst(root.count + 1).dropLast(".service".count)
        let parts = body.split(separator: "-")
        guard parts.count == 3, let generation = Int(parts[2]) else { return nil }
        let typeAndNumber = parts[1].split(separator: ".")
        guard typeAndNumber.count == 2, let number = Int(typeAndNumber[1]) else { return nil }
        return (unescape(String(parts[0])), unescape(String(typeAndNumber[0])), number, generation)
    }
}
