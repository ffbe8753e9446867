import Foundation

/// A crontab schedule as app.json's `cron` entries write it (`*/5 * * * *`, `@daily`),
/// turned into systemd's `OnCalendar=` syntax.
struct CronSchedule: Equatable, Sendable {
    /// The schedule as written.
    let text: String
    /// The `OnCalendar=` expression.
    let calendar: String

    private static let macros = [
        "@yearly": "*-01-01 00:00:00", "@annually": "*-01-01 00:00:00", "@monthly": "*-*-01 00:00:00",
        "@weekly": "Mon *-*-* 00:00:00", "@daily": "*-*-* 00:00:00", "@midnight": "*-*-* 00:00:00",
        "@hourly": "*-*-* *:00:00",
    ]
    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]

    /// Parses five fields (minute hour day-of-month month day-of-week) or a macro; nil for
    /// anything else.
    init?(_ text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        self.text = trimmed
        if let macro = Self.macros[trimmed] {
            calendar = macro
            return
        }
        let fields: [String] = trimmed.components(separatedBy: .whitespaces).filter { !$0.isEmpty }
        guard fields.count == 5,
            let minute = Self.field(fields[0], 0...59),
            let hour = Self.field(fields[1], 0...23),
            let day = Self.field(fields[2], 1...31),
            let month = Self.field(fields[3], 1...12),
            let weekday = Self.weekdays(fields[4])
        else { return nil }
        calendar = (weekday.map { $0 + " " } ?? "") + "*-\(month)-\(day) \(hour):\(minute):00"
    }

    /// One numeric field: `*`, `*/N`, `A`, `A-B`, `A-B/N`, and comma lists of those.
    private static func field(_ text: String, _ range: ClosedRange<Int>) -> String? {
        var parts: [String] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
            let stepSplit = item.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            guard stepSplit.count <= 2 else { return nil }
            var step: Int?
            if stepSplit.count == 2 {
                guard let value = Int(stepSplit[1]), value > 0 else { return nil }
                step = value
            }
            let base = stepSplit[0]
            var piece: String
            if base == "*" {
                piece = step == nil ? "*" : format2(range.lowerBound)
            } else if base.contains("-") {
                let bounds = base.split(separator: "-").compactMap { Int($0) }
                guard bounds.count == 2, range.contains(bounds[0]), range.contains(bounds[1]), bounds[0] <= bounds[1] else { return nil }
                if let step {
                    // systemd has no stepped ranges: list the values.
                    piece = stride(from: bounds[0], through: bounds[1], by: step).map { String(format2($0)) }.joined(separator: ",")
                    parts.append(piece)
                    continue
                }
                piece = "\(format2(bounds[0]))..\(format2(bounds[1]))"
            } else {
                guard let value = Int(base), range.contains(value) else { return nil }
                piece = format2(value)
            }
            if let step { piece += "/\(step)" }
            parts.append(piece)
        }
        return parts.joined(separator: ",")
    }

    private static func format2(_ value: Int) -> String {
        value < 10 ? "0\(value)" : String(value)
    }

    /// The day-of-week field: nil inside means "any day".
    private static func weekdays(_ text: String) -> String?? {
        if text == "*" { return .some(nil) }
        var names: [String] = []
        for item in text.split(separator: ",").map(String.init) {
            if item.contains("-") {
                let bounds = item.split(separator: "-").compactMap { Int($0) }
                guard bounds.count == 2, (0...7).contains(bounds[0]), (0...7).contains(bounds[1]), bounds[0] <= bounds[1] else { return nil }
                names.append("\(days[bounds[0]])..\(days[bounds[1]])")
            } else if let value = Int(item), (0...7).contains(value) {
                names.append(days[value])
            } else if days.contains(where: { $0.lowercased() == item.lowercased().prefix(3) }) {
                names.append(String(item.prefix(3)).capitalized)
            } else {
                return nil
            }
        }
        return .some(names.joined(separator: ","))
    }
}
