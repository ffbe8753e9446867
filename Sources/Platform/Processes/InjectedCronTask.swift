/// A task a plugin's `cron-entries` trigger injects (`SCHEDULE;COMMAND[;DATA]` a line), as
/// Dokku lists them with `cron:list --global`. dokkulite lists them; it does not schedule
/// them (Dokku writes them into the dokku user's crontab).
struct InjectedCronTask: Equatable {
    var id: String
    var schedule: String
    var command: String

    /// The tasks in a `cron-entries` answer; a line of another shape is named and skipped.
    static func parse(_ answer: String, warn: (String) -> Void) -> [InjectedCronTask] {
        answer.split(separator: "\n").compactMap { line in
            guard !line.allSatisfy(\.isWhitespace) else { return nil }
            let parts = line.split(separator: ";", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2 || parts.count == 3 else {
                warn("Invalid injected cron task: \(line)")
                return nil
            }
            return InjectedCronTask(id: id(parts.joined(separator: ";;;")), schedule: parts[0], command: parts[1])
        }
    }

    /// Dokku's id for an injected task: the bytes of its line (fields joined by `;;;`) as
    /// one big-endian number in lowercase base 36, a `0` for each leading zero byte.
    static func id(_ text: String) -> String {
        let digits = Array("0123456789abcdefghijklmnopqrstuvwxyz")
        var number = Array(text.utf8).drop { $0 == 0 }.map(Int.init)
        let zeros = text.utf8.prefix { $0 == 0 }.count
        var result: [Character] = []
        while !number.isEmpty {
            // One long division by 36; the remainder is the next digit.
            var remainder = 0, quotient: [Int] = []
            for byte in number {
                let value = remainder * 256 + byte
                if !(quotient.isEmpty && value / 36 == 0) { quotient.append(value / 36) }
                remainder = value % 36
            }
            result.append(digits[remainder])
            number = quotient
        }
        return String(repeating: "0", count: zeros) + String(result.reversed())
    }

    /// The task as Dokku's JSON object, keys in its order (no app: the task is global,
    /// never in maintenance). Foundation's encoder does not keep key order.
    var json: String {
        """
        {"id":\(JSON.encode(id)),"command":\(JSON.encode(command)),"global":true,"schedule":\(JSON.encode(schedule)),\
        "concurrency_policy":"","app-in-maintenance":false,"task-in-maintenance":false,"maintenance":false}
        """
    }
}
