import Foundation

/// A command the API runs whose output is wanted line by line as it comes (a deploy's
/// build output): each line of its standard output and error as an event, then its exit.
///
/// The pipes are drained to the end whether or not anyone still listens, so a client that
/// goes never leaves the command blocked on a full pipe: the command runs to its end.
enum CommandStream {
    enum Event: Sendable {
        case line(stream: String, text: String)
        case exit(Int32)
    }

    /// Starts `program` with `words`; `input` (nil: none) is its standard input.
    static func start(_ program: String, _ words: [String], environment: [String: String], input: FileHandle?) throws -> AsyncStream<Event> {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = words
        process.environment = environment
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input ?? FileHandle.nullDevice
        let (events, continuation) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .unbounded)
        do {
            try process.run()
        } catch {
            throw CommandError("cannot run \(program): \(error.localizedDescription)")
        }
        // The parent's copies: the child has its own.
        try? out.fileHandleForWriting.close()
        try? err.fileHandleForWriting.close()
        let readers = DispatchGroup()
        for (name, pipe) in [("stdout", out), ("stderr", err)] {
            readers.enter()
            Thread.detachNewThread {
                var pending = Data()
                while true {
                    let chunk = pipe.fileHandleForReading.availableData
                    if chunk.isEmpty { break }
                    pending.append(chunk)
                    while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                        continuation.yield(.line(stream: name, text: String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)))
                        pending = Data(pending[pending.index(after: newline)...])
                    }
                }
                if !pending.isEmpty { continuation.yield(.line(stream: name, text: String(decoding: pending, as: UTF8.self))) }
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

    /// The one line a failed command's error comes down to: its first ` !     ` line
    /// without the mark, else its last line on standard error.
    static func message(_ errors: [String]) -> String {
        if let marked = errors.first(where: { $0.hasPrefix(" !     ") }) { return String(marked.dropFirst(7)) }
        return errors.last { !$0.trimmingCharacters(in: .whitespaces).isEmpty } ?? "The command failed"
    }
}
