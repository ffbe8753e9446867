import Foundation

/// The unprivileged system user an app's processes and builds run as. Each app gets its
/// own, so one app cannot read another's files. The name is recorded with the app, so a
/// rename keeps the same user.
enum AppUser {
    /// A user name for a new app: `PREFIX-APP` (dots become underscores, which app names
    /// never contain), shortened with a hash to fit the 32-character limit. A later
    /// `attempt` gives another name, for when that one is taken.
    static func proposedName(for app: AppName, prefix: String, attempt: Int = 0) -> String {
        let base = prefix + app.rawValue.replacingOccurrences(of: ".", with: "_")
        if base.count <= 32, attempt == 0 { return base }
        var hash: UInt32 = 2_166_136_261
        for byte in (attempt == 0 ? app.rawValue : "\(app.rawValue)#\(attempt)").utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        let hex = String(hash, radix: 16)
        return String(base.prefix(32 - 1 - hex.count)) + "-" + hex
    }

    /// The app's user as recorded, if any.
    static func name(of app: AppName, store: Store) throws -> String? {
        try store.property(.app(app), "apps", "user")
    }

    /// Creates a system user (and its group) for the app and records it; returns its name.
    /// A user is never shared: a name that exists already on the system (as a user or a
    /// group) or is recorded for another app is passed over for another, so two apps whose
    /// names shorten alike, or an app named after an existing account, get users of their own.
    static func create(for app: AppName, prefix: String, store: Store) throws -> String {
        if let recorded = try name(of: app, store: store), uid(of: recorded) != nil { return recorded }
        for attempt in 0..<64 {
            let name = proposedName(for: app, prefix: prefix, attempt: attempt)
            if try uid(of: name) != nil || getgrnam(name) != nil || store.appOfUser(name) != nil { continue }
            let result = try Subprocess.run("/usr/sbin/useradd", [
                "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
                "--shell", "/usr/sbin/nologin", "--comment", "dokkulite app \(app)", "--", name,
            ])
            guard result.status == 0 else {
                // Someone took the name between the check and useradd: try the next one.
                if uid(of: name) != nil || getgrnam(name) != nil { continue }
                throw CommandError("cannot create user \(name) for \(app): \(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
            try store.recordUser(name, of: app)
            return name
        }
        throw CommandError("cannot find a free user name for \(app)")
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
