import Foundation
import Hummingbird

/// A command the API runs, with its output read as events as it comes (a deploy's build
/// output among them) and its exit.
///
/// The command is asked for events (`DOKKULITE_OUTPUT_EVENTS`, a marker new for each run):
/// its steps, details, data and failure arrive typed, each as one marked line on stdout.
/// Unmarked lines are other programs' output on the same descriptors (a build's), passed
/// on as `raw`; without the marker, they cannot pass for the command's own events.
///
/// The pipes are drained to the end whether or not anyone still listens, so a client that
/// goes never leaves the command blocked on a full pipe: the command runs to its end.
enum CommandStream {
    enum Event: Sendable {
        case output(Output.Item)
        case exit(Int32)
    }

    /// Past this many bytes without a newline, output is passed on as it is.
    static let longestLine = 1 << 20

    /// The command's standard input.
    enum Input {
        case none
        case data(Data)
        case file(FileHandle)
    }

    /// Starts `program` with `words`.
    static func start(_ program: String, _ words: [String], environment: [String: String], input: Input) throws -> AsyncStream<Event> {
        let marker = Sessions.random()
        var environment = environment
        environment["DOKKULITE_OUTPUT_EVENTS"] = marker
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = words
        process.environment = environment
        let out = Pipe(), err = Pipe(), inPipe = Pipe()
        process.standardOutput = out
        process.standardError = err
        switch input {
        case .none: process.standardInput = FileHandle.nullDevice
        case .data: process.standardInput = inPipe
        case .file(let handle): process.standardInput = handle
        }
        let (events, continuation) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .unbounded)
        do {
            try process.run()
        } catch {
            throw CommandError("cannot run \(program): \(error.localizedDescription)")
        }
        // The parent's copies: the child has its own.
        try? out.fileHandleForWriting.close()
        try? err.fileHandleForWriting.close()
        if case .data(let data) = input {
            try? inPipe.fileHandleForReading.close()
            let writer = inPipe.fileHandleForWriting
            Thread.detachNewThread {
                try? writer.write(contentsOf: data)
                try? writer.close()
            }
        }
        let prefix = marker + " "
        let readers = DispatchGroup()
        for (name, pipe) in [("stdout", out), ("stderr", err)] {
            readers.enter()
            Thread.detachNewThread {
                func raw(_ text: Substring) {
                    if !text.isEmpty { continuation.yield(.output(Output.Item(type: "raw", text: String(text), line: String(text), stream: name))) }
                }
                func yield(_ bytes: Data) {
                    let line = String(decoding: bytes, as: UTF8.self)
                    // An event may follow output that did not end its line (a progress
                    // bar): the marker is looked for anywhere, what comes before is raw.
                    if name == "stdout", let start = line.range(of: prefix),
                        let item = try? JSONDecoder().decode(Output.Item.self, from: Data(line[start.upperBound...].utf8))
                    {
                        raw(line[..<start.lowerBound])
                        continuation.yield(.output(item))
                    } else {
                        raw(line[...])
                    }
                }
                var pending = Data()
                while true {
                    let chunk = pipe.fileHandleForReading.availableData
                    if chunk.isEmpty { break }
                    pending.append(chunk)
                    while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                        yield(pending[pending.startIndex..<newline])
                        pending = Data(pending[pending.index(after: newline)...])
                    }
                    // A line that never ends is passed on in pieces, not held whole.
                    if pending.count > Self.longestLine {
                        yield(pending)
                        pending = Data()
                    }
                }
                if !pending.isEmpty { yield(pending) }
                readers.leave()
            }
        }
        Thread.detachNewThread {
            readers.wait()
            process.waitUntilExit()
            continuation.yield(.exit(process.terminationStatus))
            continuation.finish()
        }
        return events
    }

    /// What stopped a command, as it is kept while the events go by: its first failure
    /// event, else its last line on stderr.
    struct Outcome {
        var status: Int32 = 1
        var failure: Output.Item?
        var lastError: String?

        mutating func add(_ event: Event) {
            switch event {
            case .output(let item):
                if item.type == "failure" { failure = failure ?? item }
                if item.stream == "stderr", item.type == "raw", !item.text.trimmingCharacters(in: .whitespaces).isEmpty { lastError = item.text }
            case .exit(let code): status = code
            }
        }

        var message: String { failure?.text.split(separator: "\n").first.map(String.init) ?? lastError ?? "The command failed" }

        /// The HTTP status the outcome answers with: `success` when the command succeeded,
        /// else the one that fits the failure's kind.
        func httpStatus(success: HTTPResponse.Status = .ok) -> HTTPResponse.Status {
            guard status != 0 else { return success }
            return switch failure?.kind ?? .failed {
            case .invalid: .badRequest
            case .notFound: .notFound
            case .conflict: .conflict
            case .forbidden: .forbidden
            case .failed: .unprocessableContent
            }
        }
    }
}
