internal import CSystemd
#if canImport(Glibc)
internal import Glibc
#endif

/// Reads app logs from the journal through sd-journal. Entries are matched on
/// `SYSLOG_IDENTIFIER`, which dokkulite sets per process (`APP.TYPE.N`), so logs survive
/// redeploys and restarts: every generation of `web.1` writes under the same identifier.
package final class Journal {
    private var journal: OpaquePointer?
    /// After a skip back, the cursor sits on an entry that has not been read yet.
    private var positionedOnUnread = false

    /// One log line.
    package struct Entry: Sendable, Equatable {
        /// CLOCK_REALTIME microseconds.
        package var timestamp: UInt64
        /// The syslog identifier (e.g. `myapp.web.1`). Any process may claim any one.
        package var identifier: String
        package var message: String
        /// The uid of the process that logged it, as journald saw it (`_UID`, which a
        /// process cannot claim): nil when the entry has none.
        package var uid: UInt32? = nil
    }

    package init() throws(SupervisorError) {
        let r = sd_journal_open(&journal, Int32(SD_JOURNAL_LOCAL_ONLY))
        guard r >= 0, journal != nil else { throw .journal(reason: String(cString: strerror(-r))) }
    }

    deinit {
        sd_journal_close(journal)
    }

    /// The identifiers present in the journal that start with `prefix`.
    package func identifiers(prefix: String) throws(SupervisorError) -> [String] {
        var result: [String] = []
        let r = sd_journal_query_unique(journal, "SYSLOG_IDENTIFIER")
        guard r >= 0 else { throw .journal(reason: String(cString: strerror(-r))) }
        var data: UnsafeRawPointer?
        var length = 0
        sd_journal_restart_unique(journal)
        while sd_journal_enumerate_unique(journal, &data, &length) > 0 {
            guard let data else { continue }
            let field = String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
            let value = String(field.dropFirst("SYSLOG_IDENTIFIER=".count))
            if value.hasPrefix(prefix) { result.append(value) }
        }
        return result.sorted()
    }

    /// Restricts reading to these identifiers (any of them). False when the list is empty.
    package func match(identifiers: [String]) throws(SupervisorError) -> Bool {
        try match(anyOf: ["SYSLOG_IDENTIFIER"], values: identifiers)
    }

    /// Restricts reading to the processes of these units (any of them), whether the
    /// journal files them as system or as user units. False when the list is empty.
    package func match(units: [String]) throws(SupervisorError) -> Bool {
        try match(anyOf: ["_SYSTEMD_UNIT", "_SYSTEMD_USER_UNIT"], values: units)
    }

    /// Entries whose value of one of `fields` is one of `values`; false (and no match
    /// left) when there are no values.
    private func match(anyOf fields: [String], values: [String]) throws(SupervisorError) -> Bool {
        sd_journal_flush_matches(journal)
        guard !values.isEmpty else { return false }
        for (index, field) in fields.enumerated() {
            if index > 0 { sd_journal_add_disjunction(journal) }
            for value in values {
                let r = "\(field)=\(value)".withCString { sd_journal_add_match(journal, $0, 0) }
                guard r >= 0 else { throw .journal(reason: String(cString: strerror(-r))) }
            }
        }
        return true
    }

    /// Positions before the first entry.
    package func seekHead() {
        sd_journal_seek_head(journal)
        positionedOnUnread = false
    }

    /// Positions after the last entry, then `count` entries back.
    package func seekTail(back count: Int) {
        sd_journal_seek_tail(journal)
        // seek_tail leaves the cursor after the last entry; skipping back lands on the
        // count-th last entry, which the next read returns first.
        positionedOnUnread = count > 0 && sd_journal_previous_skip(journal, UInt64(count)) > 0
    }

    /// Reads the next entry, or nil at the end.
    package func next() -> Entry? {
        while positionedOnUnread || sd_journal_next(journal) > 0 {
            positionedOnUnread = false
            guard let entry = current() else { continue }
            return entry
        }
        return nil
    }

    /// Reads the entry before the last one read (from the tail: the last), or nil at the
    /// head. For reading back until enough entries pass a filter.
    package func previous() -> Entry? {
        positionedOnUnread = false
        while sd_journal_previous(journal) > 0 {
            guard let entry = current() else { continue }
            return entry
        }
        return nil
    }

    private func current() -> Entry? {
        guard let message = field("MESSAGE") else { return nil }
        var usec: UInt64 = 0
        sd_journal_get_realtime_usec(journal, &usec)
        return Entry(timestamp: usec, identifier: field("SYSLOG_IDENTIFIER") ?? "", message: message, uid: field("_UID").flatMap { UInt32($0) })
    }

    /// Waits up to `timeout` for new entries.
    package func wait(timeout: Duration) {
        let micros = UInt64(timeout.components.seconds) * 1_000_000 + UInt64(timeout.components.attoseconds / 1_000_000_000_000)
        _ = sd_journal_wait(journal, micros)
    }

    private func field(_ name: String) -> String? {
        var data: UnsafeRawPointer?
        var length = 0
        guard sd_journal_get_data(journal, name, &data, &length) >= 0, let data else { return nil }
        let raw = UnsafeRawBufferPointer(start: data, count: length)
        return String(decoding: raw.dropFirst(name.utf8.count + 1), as: UTF8.self)
    }

    /// `2026-01-02T03:04:05.123456Z` for CLOCK_REALTIME microseconds.
    package static func rfc3339(_ micros: UInt64) -> String {
        var seconds = time_t(micros / 1_000_000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ v: Int32, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        let fraction = String(micros % 1_000_000)
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))."
            + String(repeating: "0", count: 6 - fraction.count) + fraction + "Z"
    }
}
