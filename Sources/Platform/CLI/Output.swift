#if canImport(Glibc)
import Glibc
#endif

/// A command's output, as a stream of events: `-----> ` steps, `=====> ` sections,
/// indented details, ` !     ` warnings, data, raw text and the failure that ends it.
/// A terminal gets each event as a Dokku user expects to read it; a program that asked for
/// events (`eventMarker`) gets each as one JSON line. `--quiet` silences the decorated
/// progress lines but never data (a `config:get` value) or errors.
struct Output: Sendable {
    /// Set by the global `--quiet` flag.
    var quiet = false
    /// When set (`DOKKULITE_OUTPUT_EVENTS`, which the API sets for the commands it runs),
    /// every event goes to stdout as one line: the marker, a space, the event as JSON.
    /// Lines without the marker are other programs' output on the same descriptor (a
    /// build's), which cannot forge an event without knowing the marker.
    var eventMarker: String?

    enum Event: Sendable, Equatable {
        case step(String)
        case section(String)
        case detail(String)
        case warning(String)
        case data(String)
        /// Text as is, without a newline added (streamed output, a prompt).
        case raw(String)
        /// What stopped the command, with its kind.
        case failure(String, CommandError.Kind)

        /// The descriptor and text a terminal shows.
        var rendered: (fd: Int32, text: String) {
            switch self {
            case .step(let text): (1, "-----> \(text)\n")
            case .section(let text): (1, "=====> \(text)\n")
            case .detail(let text): (1, "       \(text)\n")
            case .warning(let text): (2, " !     \(text)\n")
            case .data(let text): (1, text + "\n")
            case .raw(let text): (1, text)
            case .failure(let text, _): (2, text.split(separator: "\n", omittingEmptySubsequences: false).map { " !     \($0)\n" }.joined())
            }
        }

        /// The event as the API passes it on: its type, its text, the line a terminal
        /// shows, the stream it would go to, and a failure's kind.
        var item: Item {
            let (fd, line) = rendered
            let trimmed = line.hasSuffix("\n") ? String(line.dropLast()) : line
            let stream = fd == 2 ? "stderr" : "stdout"
            return switch self {
            case .step(let text): Item(type: "step", text: text, line: trimmed, stream: stream)
            case .section(let text): Item(type: "section", text: text, line: trimmed, stream: stream)
            case .detail(let text): Item(type: "detail", text: text, line: trimmed, stream: stream)
            case .warning(let text): Item(type: "warning", text: text, line: trimmed, stream: stream)
            case .data(let text): Item(type: "data", text: text, line: trimmed, stream: stream)
            case .raw(let text): Item(type: "raw", text: text, line: trimmed, stream: stream)
            case .failure(let text, let kind): Item(type: "failure", text: text, line: trimmed, stream: stream, kind: kind)
            }
        }
    }

    /// An event as JSON.
    struct Item: Codable, Sendable, Equatable {
        var type: String
        var text: String
        var line: String
        var stream: String
        var kind: CommandError.Kind?
    }

    func emit(_ event: Event) {
        if let eventMarker {
            write(1, eventMarker + " " + JSON.encode(event.item) + "\n")
        } else {
            let (fd, text) = event.rendered
            write(fd, text)
        }
    }

    /// `-----> text`: a step in progress.
    func step(_ text: String) {
        if !quiet { emit(.step(text)) }
    }

    /// `=====> text`: a section header.
    func section(_ text: String) {
        if !quiet { emit(.section(text)) }
    }

    /// `       text`: detail under a step.
    func detail(_ text: String) {
        if !quiet { emit(.detail(text)) }
    }

    /// ` !     text` on stderr: a warning that does not stop the command.
    func warn(_ text: String) {
        emit(.warning(text))
    }

    /// Data, printed as is whatever `--quiet` says.
    func data(_ text: String) {
        emit(.data(text))
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
        emit(.raw(text))
    }

    /// A failure: ` !     text` on stderr, a line for each of its lines.
    func failure(_ text: String, kind: CommandError.Kind = .failed) {
        emit(.failure(text, kind))
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
