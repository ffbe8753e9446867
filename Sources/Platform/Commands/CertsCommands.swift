import ArgumentParser
import Beneath
import Foundation
import Proxy

struct CertsAdd: Command {
    static let configuration = CommandConfiguration(commandName: "certs:add", abstract: "Add an ssl endpoint to an app; can also import from a tarball on stdin")
    static let usage = "<app> CRT KEY"
    @Argument var app: String?
    @Argument var certificate: String?
    @Argument var key: String?

    func run(in context: Context) throws {
        try Self.add(app, certificate, key, in: context)
    }

    /// The largest certificate, key or archive accepted (a chain of a few certificates is
    /// a few kilobytes).
    static let sizeLimit = 1 << 20

    /// Installs a certificate and key from files, or from a tar on stdin when no files
    /// are named (`certs:add` and `certs:update`). Files on the server are for root at its
    /// console: over ssh, the tarball on stdin is the only way in, as in Dokku.
    static func add(_ app: String?, _ certificate: String?, _ key: String?, in context: Context) throws {
        let app = try context.existingApp(app)
        let (crt, keyBytes) = try read(certificate, key, in: context)
        try Certificates(context).install(app, certificate: crt, key: keyBytes)
    }

    /// The certificate and key from the files named (root at the console only), else from
    /// a tar on stdin.
    static func read(_ certificate: String?, _ key: String?, in context: Context) throws -> (certificate: [UInt8], key: [UInt8]) {
        guard let certificate, let key else { return try fromTarball(FileHandle.standardInput.readDataToEndOfFile()) }
        guard !context.settings.remoteCaller else {
            throw CommandError("certs:add reads files on the server only for root at its console; over ssh, send a tarball of server.crt and server.key on stdin", kind: .forbidden)
        }
        // As Dokku's test -r: a file the dokku user cannot read is not found.
        guard let c = try? CommandLineFile.read(certificate, limit: sizeLimit) else { throw CommandError("CRT file specified not found, please check file paths") }
        guard let k = try? CommandLineFile.read(key, limit: sizeLimit) else { throw CommandError("KEY file specified not found, please check file paths") }
        return (c, k)
    }

    /// The one `.crt` and one `.key` regular file of a tar (macOS `._*` resource files
    /// aside), unpacked as root into a directory only root can read, without owners,
    /// modes or links: a link in the archive is refused, never followed.
    static func fromTarball(_ data: Data) throws -> (certificate: [UInt8], key: [UInt8]) {
        guard !data.isEmpty else { throw CommandError("Tar archive containing server.crt and server.key expected on stdin") }
        guard data.count <= sizeLimit * 4 else { throw CommandError("Tar archive is larger than \(sizeLimit * 4) bytes") }
        let work = try Certificates.workDirectory()
        defer { try? Beneath.removeTree(work) }
        try SecretFile.write(Array(data), to: work + "/in.tar")
        try FileManager.default.createDirectory(atPath: work + "/files", withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        let unpack = try Subprocess.run("/bin/tar", ["--extract", "--no-same-owner", "--no-same-permissions", "--file", work + "/in.tar", "--directory", work + "/files"])
        guard unpack.status == 0 else { throw CommandError("Tar archive containing server.crt and server.key expected on stdin") }
        let files = ((FileManager.default.enumerator(atPath: work + "/files")?.allObjects as? [String]) ?? [])
            .filter { !($0 as NSString).lastPathComponent.hasPrefix("._") }
        let crts = files.filter { $0.hasSuffix(".crt") }, keys = files.filter { $0.hasSuffix(".key") }
        guard !crts.isEmpty else { throw CommandError("Tar archive is missing .crt file") }
        guard crts.count == 1 else { throw CommandError("Tar archive contains more than one .crt file") }
        guard !keys.isEmpty else { throw CommandError("Tar archive is missing .key file") }
        guard keys.count == 1 else { throw CommandError("Tar archive contains more than one .key file") }
        func read(_ name: String) throws -> [UInt8] {
            do {
                guard let bytes = try Beneath.read(name, in: work + "/files", limit: sizeLimit, links: .refused) else {
                    throw CommandError("Tar archive entry \(name) cannot be read")
                }
                return bytes
            } catch let failure as Beneath.Failure {
                throw CommandError("Tar archive entry \(failure.description)")
            }
        }
        return (try read(crts[0]), try read(keys[0]))
    }
}

struct CertsUpdate: Command {
    static let configuration = CommandConfiguration(commandName: "certs:update", abstract: "Update an SSL Endpoint on an app; can also import from a tarball on stdin")
    static let usage = "<app> CRT KEY"
    @Argument var app: String?
    @Argument var certificate: String?
    @Argument var key: String?

    func run(in context: Context) throws {
        // As in Dokku, where `update` is `add` under another name.
        try CertsAdd.add(app, certificate, key, in: context)
    }
}

struct CertsGenerate: Command {
    static let configuration = CommandConfiguration(commandName: "certs:generate", abstract: "Generate a key and certificate signing request (and self-signed certificate)")
    static let usage = "<app> DOMAIN"
    @Argument var app: String?
    @Argument var domain: String?

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        let certs = Certificates(context)
        if certs.hasEither(app) {
            context.output.step("\(app) has an SSL endpoint already defined")
            return
        }
        if let domain { try Domains.validate([domain]) }
        // Dokku asks openssl's questions on the terminal; here the subject is the domain
        // (or the app's first domain), which is also the certificate's one hostname.
        let name = try domain ?? context.store().domains(.app(app)).first ?? app.rawValue
        let work = try Certificates.workDirectory()
        defer { try? FileManager.default.removeItem(atPath: work) }
        FileManager.default.createFile(atPath: work + "/san.ext", contents: Data("subjectAltName=DNS:\(name)\n".utf8))
        for arguments in [
            ["genrsa", "-out", "server.key", "2048"],
            ["req", "-new", "-key", "server.key", "-out", "server.csr", "-subj", "/CN=\(name)"],
            ["x509", "-req", "-days", "365", "-in", "server.csr", "-signkey", "server.key", "-out", "server.crt", "-extfile", "san.ext"],
        ] {
            let made = try Subprocess.run("/usr/bin/openssl", arguments, directory: work)
            guard made.status == 0 else {
                throw CommandError("openssl \(arguments[0]) failed: \(made.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
        }
        context.output.step("Installing certificate and key...")
        func made(_ name: String) throws -> [UInt8] {
            guard let data = FileManager.default.contents(atPath: work + "/" + name) else { throw CommandError("openssl did not write \(name)") }
            return Array(data)
        }
        try certs.install(app, certificate: made("server.crt"), key: made("server.key"), request: made("server.csr"))
        if let domain {
            // As Dokku: the certificate is in place whatever happens to the domain.
            do {
                try DomainsAdd.parse([app.rawValue, domain]).run(in: context)
            } catch {
                context.output.warn("Could not add \(domain) to \(app): \((error as? CommandError)?.message ?? "\(error)")")
            }
        }
        context.output.step("The following is a certificate signing request that can be used")
        context.output.step("to generate an 'officially' signed SSL certificate for \(app) at \(name)")
        context.output.step("by a CA of your choosing.")
        context.output.data(try String(contentsOfFile: work + "/server.csr", encoding: .utf8).trimmingCharacters(in: .newlines))
    }
}

struct CertsRemove: Command {
    static let configuration = CommandConfiguration(commandName: "certs:remove", abstract: "Remove an SSL Endpoint from an app")
    @Argument var app: String?

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        let certs = Certificates(context)
        guard try certs.exists(app) else { throw CommandError("An app-specific SSL endpoint is not defined") }
        context.output.step("Removing SSL endpoint from \(app)")
        try certs.remove(app)
    }
}

struct CertsShow: Command {
    static let configuration = CommandConfiguration(commandName: "certs:show", abstract: "Show the server.crt or server.key on stdout")
    static let usage = "<app> (crt|key)"
    @Argument var app: String?
    @Argument var kind: String?

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        guard let kind, kind == "crt" || kind == "key" else { throw CommandError("specify either 'key' or 'crt'") }
        let certs = Certificates(context)
        guard try certs.exists(app) else { throw CommandError("\(app) doesn't have an SSL endpoint defined") }
        let contents = try String(contentsOfFile: certs.directory(app) + "/server.\(kind)", encoding: .utf8)
        context.output.data(contents.hasSuffix("\n") ? String(contents.dropLast()) : contents)
    }
}

struct CertsReport: Command {
    static let configuration = CommandConfiguration(commandName: "certs:report", abstract: "Displays an ssl report for one or more apps")
    static let usage = "[<app>] [<flag>]"
    @Argument(parsing: .allUnrecognized) var words: [String] = []

    func run(in context: Context) throws {
        let certs = Certificates(context)
        try context.printReports("ssl", words) { app in
            var values = [
                "--ssl-dir": certs.directory(app), "--ssl-enabled": "false", "--ssl-expires-at": "", "--ssl-hostnames": "",
                "--ssl-issuer": "", "--ssl-starts-at": "", "--ssl-subject": "", "--ssl-verified": "",
            ]
            if try certs.exists(app) {
                values["--ssl-enabled"] = "true"
                let crt = certs.directory(app) + "/server.crt"
                let info = try Subprocess.run("/usr/bin/openssl", ["x509", "-in", crt, "-noout", "-subject", "-issuer", "-startdate", "-enddate", "-ext", "subjectAltName"])
                var names: [String] = [], plainSubject = ""
                for line in info.stdout.split(separator: "\n").map(String.init) {
                    if line.hasPrefix("subject=") { plainSubject = String(line.dropFirst(8)).trimmingCharacters(in: .whitespaces) }
                    if line.hasPrefix("issuer=") { values["--ssl-issuer"] = String(line.dropFirst(7)).trimmingCharacters(in: .whitespaces) }
                    if line.hasPrefix("notBefore=") { values["--ssl-starts-at"] = String(line.dropFirst(10)) }
                    if line.hasPrefix("notAfter=") { values["--ssl-expires-at"] = String(line.dropFirst(9)) }
                    if line.contains("DNS:") { names += Self.dnsNames(line) }
                }
                // The subject in the certificate's own order, as Dokku prints it.
                let subject = try Subprocess.run("/usr/bin/openssl", ["x509", "-in", crt, "-noout", "-subject", "-nameopt", "compat"])
                let fields = Self.subjectFields(subject.stdout)
                values["--ssl-subject"] = fields.joined(separator: "; ")
                if let commonName = fields.first(where: { $0.hasPrefix("CN=") }) { names.append(String(commonName.dropFirst(3))) }
                values["--ssl-hostnames"] = Set(names).sorted().joined(separator: " ")
                values["--ssl-verified"] = plainSubject == values["--ssl-issuer"] ? "self signed" : "unverified"
            }
            return values
        }
    }
}

extension CertsReport {
    /// The fields of openssl's `-subject -nameopt compat` line (`subject=/C=US/CN=x`):
    /// `["C=US", "CN=x"]`.
    static func subjectFields(_ line: String) -> [String] {
        var text = line.trimmingCharacters(in: .whitespacesAndNewlines)
        if text.hasPrefix("subject=") { text.removeFirst(8) }
        return text.split(separator: "/").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// The DNS names of a subjectAltName line (`DNS:a, DNS:b, IP Address:…`).
    static func dnsNames(_ line: String) -> [String] {
        line.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { $0.hasPrefix("DNS:") }.map { String($0.dropFirst(4)) }
    }
}
