#if canImport(Glibc)
import Glibc
#endif

/// Writes what a Dokku user expects to read: `-----> ` steps, `=====> ` sections,
/// indented details, and ` !     ` warnings on stderr. `--quiet` silences the decorated
/// progress lines but never data (a `config:get` value) or errors.
struct Output: Sendable {
    /// Set by the global `--quiet` flag.
    var quiet = false

    /// `-----> text`: a step in progress.
    func step(_ text: String) {
        if !quiet { write(1, "-----> \(text)\n") }
    }

    /// `=====> text`: a section header.
    func section(_ text: String) {
        if !quiet { write(1, "=====> \(text)\n") }
    }

    /// `       text`: detail under a step.
    func detail(_ text: String) {
        if !quiet { write(1, "       \(text)\n") }
    }

    /// ` !     text` on stderr: a warning that does not stop the command.
    func warn(_ text: String) {
        write(2, " !     \(text)\n")
    }

    /// Data, printed as is whatever `--quiet` says.
    func data(_ text: String) {
        write(1, text + "\n")
    }

    /// Rows as data in columns, each as wide as its widest cell plus `gap` spaces (the
    /// last column is not padded), as `releases`, `cron:list` and `run:list` print them.
    func table(_ rows: [[String]], gap: Int = 2) {
        let columns = rows.map(\.count).max() ?? 0
        let widths = (0..<columns).map { column in rows.map { column < $0.count ? $0[column].count : 0 }.max()! + gap }
        for row in rows {
            data(row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined())
        }
    }

    /// Raw text on stdout without adding a newline (streamed build output).
    func raw(_ text: String) {
        write(1, text)
    }

    /// A failure line: ` !     text` on stderr.
    func failure(_ text: String) {
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            write(2, " !     \(line)\n")
        }
    }

    /// Writes straight to the descriptor, unbuffered, so lines interleave correctly with
    /// output of child processes that share it.
    private func write(_ fd: Int32, _ text: String) {
        var text = text
        text.withUTF8 { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 { if errno == EINTR { continue }; return }
                offset += n
            }
        }
    }
}
