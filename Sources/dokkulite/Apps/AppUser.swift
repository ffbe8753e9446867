import Foundation

/// The unprivileged system user an app's processes and builds run as. Each app gets its
/// own, so one app cannot read another's files. The name is recorded with the app, so a
/// rename keeps the same user.
enum AppUser {
    /// A user name for a new app: `PREFIX-APP` (dots become underscores, which app names
    /// never contain), shortened with a hash to fit the 32-character limit.
    static func proposedName(for app: AppName, prefix: String) -> String {
        let base = prefix + app.rawValue.replacingOccurrences(of: ".", with: "_")
        if base.count <= 32 { return base }
        var hash: UInt32 = 2_166_136_261
        for byte in app.rawValue.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        let hex = String(hash, radix: 16)
        return String(base.prefix(32 - 1 - hex.count)) + "-" + hex
    }

    /// The app's user as recorded, if any.
    static func name(of app: AppName, store: Store) throws -> String? {
        try store.property(.app(app), "apps", "user")
    }

    /// Creates the system user (and its group) unless it exists; returns its name.
    static func create(for app: AppName, prefix: String, store: Store) throws -> String {
        let name = try self.name(of: app, store: store) ?? proposedName(for: app, prefix: prefix)
        if uid(of: name) == nil {
            let result = try Subprocess.run("/usr/sbin/useradd", [
                "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
                "--shell", "/usr/sbin/nologin", "--comment", "dokkulite app \(app)", name,
            ])
            guard result.status == 0 || uid(of: name) != nil else {
                throw CommandError("cannot create user \(name) for \(app): \(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
        }
        try store.setProperty(.app(app), "apps", "user", name)
        return name
    }

    /// Removes the app's user and group.
    static func remove(_ name: String) {
        guard uid(of: name) != nil else { return }
        _ = try? Subprocess.run("/usr/sbin/userdel", [name])
    }

    /// The user's uid and gid, or nil when there is no such user.
    static func uid(of name: String) -> (uid: uid_t, gid: gid_t)? {
        guard let entry = getpwnam(name) else { return nil }
        return (entry.pointee.pw_uid, entry.pointee.pw_gid)
    }
}

/// Runs helper programs with argv arrays and captures their output.
enum Subprocess {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs `path` with `arguments` and waits.
    static func run(_ path: String, _ arguments: [String], environment: [String: String]? = nil, directory: String? = nil, input: Data? = nil) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let inPipe = Pipe()
        process.standardInput = input == nil ? FileHandle.nullDevice : inPipe
        do {
            try process.run()
        } catch {
            throw CommandError("cannot run \(path): \(error.localizedDescription)")
        }
        if let input {
            inPipe.fileHandleForWriting.write(input)
            try? inPipe.fileHandleForWriting.close()
        }
        let errData = DataReader(err.fileHandleForReading)
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData.wait(), as: UTF8.self))
    }
}

/// Drains a file handle on another thread, so two pipes can be read without deadlock.
final class DataReader: @unchecked Sendable {
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            data = handle.readDataToEndOfFile()
            done.signal()
        }
    }

    func wait() -> Data {
        done.wait()
        return data
    }
}
