import Beneath
import Foundation
import Testing

/// A directory someone else could have filled: links out, links in, FIFOs, big files.
@Suite final class BeneathTests {
    let root: String
    let outside: String

    deinit { try? Beneath.removeTree((outside as NSString).deletingLastPathComponent) }

    init() throws {
        // Under a root-owned directory (not /tmp, which everyone may write).
        let base = "/var/lib/dokkulite-tests/beneath-\(UUID().uuidString.prefix(8))"
        root = base + "/tree"
        outside = base + "/secret"
        try FileManager.default.createDirectory(atPath: root + "/sub", withIntermediateDirectories: true)
        try "top secret\n".write(toFile: outside, atomically: true, encoding: .utf8)
        try "web: run\n".write(toFile: root + "/Procfile", atomically: true, encoding: .utf8)
        try "inner\n".write(toFile: root + "/sub/file", atomically: true, encoding: .utf8)
    }

    func text(_ name: String, links: Beneath.Links = .inside, limit: Int = 1024) throws -> String? {
        try Beneath.readText(name, in: root, limit: limit, links: links)
    }

    @Test func readsAPlainFileAndAnswersNilForAMissingOne() throws {
        #expect(try text("Procfile") == "web: run\n")
        #expect(try text("sub/file") == "inner\n")
        #expect(try text("nothing") == nil)
        #expect(try text("Procfile/below") == nil)
    }

    @Test func refusesEveryWayOut() throws {
        try FileManager.default.createSymbolicLink(atPath: root + "/absolute", withDestinationPath: outside)
        try FileManager.default.createSymbolicLink(atPath: root + "/relative", withDestinationPath: "../secret")
        try FileManager.default.createSymbolicLink(atPath: root + "/sub/up", withDestinationPath: "../..")
        for name in ["absolute", "relative", "../secret", outside, "sub/up/secret"] {
            #expect(throws: Beneath.Failure.self, "\(name) leads out") { try text(name) }
        }
        let failure = #expect(throws: Beneath.Failure.self) { try text("absolute") }
        #expect(failure?.description.contains("leads outside") == true)
    }

    @Test func followsLinksInsideOnlyWhenAllowed() throws {
        try FileManager.default.createSymbolicLink(atPath: root + "/alias", withDestinationPath: "sub/file")
        #expect(try text("alias") == "inner\n")
        #expect(throws: Beneath.Failure.self) { try text("alias", links: .refused) }
    }

    @Test func theWalkWithoutOpenat2AgreesWithTheKernel() throws {
        // What a process under systemd's RestrictSUIDSGID= uses (openat2 answers ENOSYS).
        try FileManager.default.createSymbolicLink(atPath: root + "/absolute", withDestinationPath: outside)
        try FileManager.default.createSymbolicLink(atPath: root + "/relative", withDestinationPath: "../secret")
        try FileManager.default.createSymbolicLink(atPath: root + "/alias", withDestinationPath: "sub/file")
        try FileManager.default.createSymbolicLink(atPath: root + "/sub/back", withDestinationPath: "../Procfile")
        try FileManager.default.createSymbolicLink(atPath: root + "/loop", withDestinationPath: "loop")
        let directory = try Beneath.openDirectory(root)
        defer { close(directory) }
        for links in [Beneath.Links.inside, .refused] {
            for name in ["Procfile", "sub/file", "sub/../Procfile", "../secret", "absolute", "relative", "alias", "sub/back", "loop", "nothing", "sub/nothing", ".", "sub"] {
                func outcome(_ fd: CInt) -> String {
                    if fd < 0 { return "errno \(errno)" }
                    defer { close(fd) }
                    var buffer = [UInt8](repeating: 0, count: 64)
                    return "read " + String(decoding: buffer[..<max(0, read(fd, &buffer, 64))], as: UTF8.self)
                }
                let kernel = outcome(Beneath.open(name, at: directory, flags: O_RDONLY, links: links))
                let walked = outcome(Beneath.walk(name, at: directory, flags: O_RDONLY, mode: 0, links: links))
                #expect(kernel == walked, "\(name) with links \(links)")
            }
        }
    }

    @Test func refusesFIFOsDirectoriesAndFilesOverTheCap() throws {
        #expect(mkfifo(root + "/fifo", 0o644) == 0)
        let fifo = #expect(throws: Beneath.Failure.self) { try text("fifo") }
        #expect(fifo?.reason == "is not a regular file")
        #expect(throws: Beneath.Failure.self) { try text("sub") }
        let big = #expect(throws: Beneath.Failure.self) { try text("Procfile", limit: 4) }
        #expect(big?.reason == "is larger than 4 bytes")
        // A hard link to a file outside is that file, wherever its name is.
        #expect(link(outside, root + "/hard") == 0)
        let hard = #expect(throws: Beneath.Failure.self) { try text("hard") }
        #expect(hard?.reason == "has other hard links")
    }

    @Test func removeTreeRemovesLinksNotWhatTheyNameAndMakeDirectoriesRefusesLinks() throws {
        let victim = (outside as NSString).deletingLastPathComponent + "/victim"
        try FileManager.default.createDirectory(atPath: victim, withIntermediateDirectories: true)
        try "keep".write(toFile: victim + "/kept", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: root + "/sub/link", withDestinationPath: victim)
        try Beneath.removeTree(root)
        #expect(!FileManager.default.fileExists(atPath: root))
        #expect(FileManager.default.fileExists(atPath: victim + "/kept"), "the link's target survives")
        try Beneath.removeTree(root)  // nothing there: fine

        let base = (outside as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: base + "/made", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: base + "/made/hop", withDestinationPath: victim)
        #expect(throws: Beneath.Failure.self) { try Beneath.makeDirectories("hop/inside", in: base + "/made", mode: 0o750) }
        #expect(!FileManager.default.fileExists(atPath: victim + "/inside"))
        let fd = try Beneath.makeDirectories("a/b", in: base + "/made", mode: 0o750)
        close(fd)
        var isDirectory: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: base + "/made/a/b", isDirectory: &isDirectory) && isDirectory.boolValue)
    }

    @Test func removeTreeTakesNamesThatAreNotUTF8AndTreesDeeperThanDescriptors() throws {
        // A name that is not UTF-8 (0xFF), as app code may make one.
        let odd: [CChar] = [0x6F, CChar(bitPattern: 0xFF), 0x64, 0]
        func fill() throws {
            let directory = try Beneath.openDirectory(root)
            defer { close(directory) }
            #expect(odd.withUnsafeBufferPointer { mkdirat(directory, $0.baseAddress!, 0o755) } == 0)
            // 3,000 levels: far more than the descriptors a process may hold open at once.
            var current = dup(directory)
            for _ in 0..<3000 {
                #expect(mkdirat(current, "d", 0o755) == 0)
                let next = openat(current, "d", O_RDONLY | O_DIRECTORY)
                close(current)
                current = next
            }
            close(current)
            #expect(FileManager.default.createFile(atPath: root + "/Procfile.bak", contents: Data("x".utf8)))
        }
        // Emptied, the directory stays, with its mode (`repo:purge-cache`).
        try fill()
        chmod(root, 0o711)
        try Beneath.emptyDirectory(root)
        #expect(try FileManager.default.contentsOfDirectory(atPath: root).isEmpty)
        #expect((try FileManager.default.attributesOfItem(atPath: root)[.posixPermissions] as? NSNumber)?.intValue == 0o711)
        // Removed, it goes too.
        try fill()
        try Beneath.removeTree(root)
        #expect(!FileManager.default.fileExists(atPath: root))
    }

    @Test func rootControlledPathsHaveNoLinksAndNoDirectoryOthersCanWrite() throws {
        #expect(Beneath.isRootControlled("/usr/share"))
        let shared = "/tmp/beneath-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: shared) }
        #expect(Beneath.isRootControlled(shared), "root's, in a sticky directory: nobody else may rename it")
        chown(shared, 65534, 65534)
        #expect(!Beneath.isRootControlled(shared), "another user's, in a directory everyone may write")
        #expect(!Beneath.isRootControlled(shared + "/below"))
        let base = (outside as NSString).deletingLastPathComponent
        try FileManager.default.createSymbolicLink(atPath: base + "/hop", withDestinationPath: "/usr")
        #expect(Beneath.isRootControlled(base), "a root-owned path with no links")
        #expect(!Beneath.isRootControlled(base + "/hop/share"), "a link on the way")
        chmod(base, 0o777)
        defer { chmod(base, 0o755) }
        #expect(!Beneath.isRootControlled(base + "/tree"), "a directory others can write holds it")
    }
}
