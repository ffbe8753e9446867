import Foundation

/// Where buildpacks live on the server: built-in ones written out from the binary, git
/// ones cloned (and kept, so a rebuild fetches only what changed), tarballs unpacked.
/// Everything is readable by app users, who run the builds.
package struct BuildpackStore: Sendable {
    /// `$DOKKULITE_ROOT/buildpacks`.
    package let directory: String

    package init(directory: String) {
        self.directory = directory
    }

    /// Every built-in buildpack, in detection order, ready to run.
    package func builtinsInDetectionOrder() throws(BuildError) -> [String] {
        try BuiltinBuildpack.allCases.map { builtin throws(BuildError) in try materialize(builtin) }
    }

    /// A local directory holding the buildpack.
    package func path(for reference: BuildpackReference) throws(BuildError) -> String {
        switch reference.source {
        case .builtin(let builtin):
            return try materialize(builtin)
        case .git(let url, let ref):
            return try fetchGit(url: url, ref: ref)
        case .tarball(let url):
            return try fetchTarball(url: url)
        }
    }

    /// Writes a built-in buildpack's files under a name that changes with their content.
    private func materialize(_ builtin: BuiltinBuildpack) throws(BuildError) -> String {
        let files = builtin.files
        let key = Self.hash(files.sorted { $0.key < $1.key }.map { $0.key + "\u{0}" + $0.value }.joined())
        let target = "\(directory)/builtin/\(builtin.rawValue)-\(key)"
        if FileManager.default.fileExists(atPath: target + "/.complete") { return target }
        let staging = target + ".tmp-\(getpid())"
        do {
            try? FileManager.default.removeItem(atPath: staging)
            for (path, content) in files {
                let full = staging + "/" + path
                try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
                try Data(content.utf8).write(to: URL(fileURLWithPath: full))
                chmod(full, 0o755)
            }
            FileManager.default.createFile(atPath: staging + "/.complete", contents: nil)
            try makeReadable(staging)
            if rename(staging, target) != 0 {
                // Another build wrote it first.
                try? FileManager.default.removeItem(atPath: staging)
            }
        } catch {
            throw .io(path: target, reason: "\(error)")
        }
        return target
    }

    private func fetchGit(url: String, ref: String?) throws(BuildError) -> String {
        let repository: GitRepository
        let mirror: String
        do {
            // Root's alone: a mirror's config holds its URL, credentials and all.
            try FileManager.default.createDirectory(atPath: "\(directory)/git", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            chmod("\(directory)/git", 0o700)
            mirror = try CacheSlot.directory(in: "\(directory)/git", for: url, suffix: ".git")
            if FileManager.default.fileExists(atPath: mirror) {
                repository = try GitRepository.open(mirror, environment: [:])
                try repository.fetchOrigin()
            } else {
                repository = try GitRepository.clone(url, into: mirror, bare: true)
            }
        } catch let error as BuildError {
            throw .buildpackUnavailable(url: url, reason: "\(error)")
        } catch {
            throw .buildpackUnavailable(url: url, reason: "\(error)")
        }
        let revision = try repository.resolve(ref ?? "HEAD")
        // Named after the mirror, which is this URL's alone.
        let checkout = "\(directory)/checkout/\(((mirror as NSString).lastPathComponent as NSString).deletingPathExtension)-\(revision)"
        if FileManager.default.fileExists(atPath: checkout + "/.complete") { return checkout }
        let staging = checkout + ".tmp-\(getpid())"
        try? FileManager.default.removeItem(atPath: staging)
        try? FileManager.default.createDirectory(atPath: "\(directory)/checkout", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        try repository.extract(revision, into: staging, submoduleCache: "\(directory)/git")
        FileManager.default.createFile(atPath: staging + "/.complete", contents: nil)
        try makeReadable(staging)
        if rename(staging, checkout) != 0 { try? FileManager.default.removeItem(atPath: staging) }
        return checkout
    }

    private func fetchTarball(url: String) throws(BuildError) -> String {
        do {
            try FileManager.default.createDirectory(atPath: "\(directory)/tarball", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        } catch {
            throw .io(path: "\(directory)/tarball", reason: "\(error)")
        }
        let target = try CacheSlot.directory(in: "\(directory)/tarball", for: url)
        if FileManager.default.fileExists(atPath: target + "/.complete") { return target }
        let staging = target + ".tmp-\(getpid())"
        try? FileManager.default.removeItem(atPath: staging)
        do {
            try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        } catch {
            throw .io(path: staging, reason: "\(error)")
        }
        let archive = staging + "/.archive.tgz"
        // The URL after `--`, and only the protocols its reference allowed (a `file://` one
        // only when root set it at the console).
        let protocols = url.lowercased().hasPrefix("file://") ? "=file" : "=http,https"
        let download = Self.run("/usr/bin/curl", ["--fail", "--silent", "--show-error", "--location", "--max-time", "120", "--proto", protocols, "--proto-redir", "=http,https", "--output", archive, "--", url])
        guard download.status == 0 else { throw .buildpackUnavailable(url: url, reason: download.output) }
        let unpack = Self.run("/bin/tar", ["--extract", "--gzip", "--no-same-owner", "--no-same-permissions", "--file", archive, "--directory", staging])
        guard unpack.status == 0 else { throw .buildpackUnavailable(url: url, reason: unpack.output) }
        try? FileManager.default.removeItem(atPath: archive)
        // Archives often hold one top-level directory: use it as the buildpack root.
        var root = staging
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: staging), entries.count == 1,
            !FileManager.default.fileExists(atPath: staging + "/bin")
        {
            root = staging + "/" + entries[0]
        }
        guard FileManager.default.fileExists(atPath: root + "/bin/compile") else {
            throw .buildpackUnavailable(url: url, reason: "the archive has no bin/compile")
        }
        FileManager.default.createFile(atPath: staging + "/.complete", contents: nil)
        try makeReadable(staging)
        if rename(staging, target) != 0 { try? FileManager.default.removeItem(atPath: staging) }
        return root == staging ? target : target + "/" + (root as NSString).lastPathComponent
    }

    private func makeReadable(_ path: String) throws(BuildError) {
        let result = Self.run("/bin/chmod", ["-R", "a+rX", path])
        guard result.status == 0 else { throw .io(path: path, reason: result.output) }
        var parent = (path as NSString).deletingLastPathComponent
        while parent.hasPrefix(directory) && parent.count >= directory.count {
            chmod(parent, 0o755)
            parent = (parent as NSString).deletingLastPathComponent
        }
    }

    static func run(_ path: String, _ arguments: [String]) -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do { try process.run() } catch { return (127, "cannot run \(path): \(error)") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    static func hash(_ text: String) -> String {
        String(StableHash.fnv1a(text), radix: 16)
    }
}
