import ArgumentParser
import Foundation
import Proxy

struct CertsAdd: Command {
    static let configuration = CommandConfiguration(commandName: "certs:add", abstract: "Add an ssl endpoint to an app; can also import from a tarball on stdin")
    static let usage = "<app> CRT KEY"
    @Argument var app: String?
    @Argument var certificate: String?
    @Argument var key: String?

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        let work = NSTemporaryDirectory() + "dokkulite-certs-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: work) }
        let crt: String, keyFile: String
        if let certificate, let key {
            guard FileManager.default.isReadableFile(atPath: certificate) else { throw CommandError("CRT file specified not found, please check file paths") }
            guard FileManager.default.isReadableFile(atPath: key) else { throw CommandError("KEY file specified not found, please check file paths") }
            crt = certificate
            keyFile = key
        } else {
            let data = FileHandle.standardInput.readDataToEndOfFile()
            guard !data.isEmpty else { throw CommandError("Tar archive containing server.crt and server.key expected on stdin") }
            FileManager.default.createFile(atPath: work + "/in.tar", contents: data)
            let unpack = try Subprocess.run("/bin/tar", ["-xf", work + "/in.tar", "-C", work])
            guard unpack.status == 0 else { throw CommandError("Tar archive containing server.crt and server.key expected on stdin") }
            let files = (FileManager.default.enumerator(atPath: work)?.allObjects as? [String]) ?? []
            let crts = files.filter { $0.hasSuffix(".crt") }, keys = files.filter { $0.hasSuffix(".key") }
            guard !crts.isEmpty else { throw CommandError("Tar archive is missing .crt file") }
            guard crts.count == 1 else { throw CommandError("Tar archive contains more than one .crt file") }
            guard !keys.isEmpty else { throw CommandError("Tar archive is missing .key file") }
            guard keys.count == 1 else { throw CommandError("Tar archive contains more than one .key file") }
            crt = work + "/" + crts[0]
            keyFile = work + "/" + keys[0]
        }
        do {
            try TLSCertificates.check(certificatePath: crt, keyPath: keyFile)
        } catch {
            throw CommandError("The certificate and key cannot be used together: \(error)")
        }
        let directory = Certificates(context).directory(app)
        try FileManager.default.createDirectory(atPath: context.settings.paths.certs, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        for (source, name) in [(crt, "server.crt"), (keyFile, "server.key")] {
            let target = directory + "/" + name
            try? FileManager.default.removeItem(atPath: target + ".tmp")
            try FileManager.default.copyItem(atPath: source, toPath: target + ".tmp")
            chmod(target + ".tmp", 0o600)
            guard rename(target + ".tmp", target) == 0 else { throw CommandError("cannot write \(target)") }
        }
        try RouteSync(context).update(app)
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
        try FileManager.default.removeItem(atPath: certs.directory(app))
        try RouteSync(context).update(app)
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
                let info = try Subprocess.run("/usr/bin/openssl", ["x509", "-in", certs.directory(app) + "/server.crt", "-noout", "-subject", "-issuer", "-startdate", "-enddate", "-ext", "subjectAltName"])
                for line in info.stdout.split(separator: "\n").map(String.init) {
                    if line.hasPrefix("subject=") { values["--ssl-subject"] = String(line.dropFirst(8)).trimmingCharacters(in: .whitespaces) }
                    if line.hasPrefix("issuer=") { values["--ssl-issuer"] = String(line.dropFirst(7)).trimmingCharacters(in: .whitespaces) }
                    if line.hasPrefix("notBefore=") { values["--ssl-starts-at"] = String(line.dropFirst(10)) }
                    if line.hasPrefix("notAfter=") { values["--ssl-expires-at"] = String(line.dropFirst(9)) }
                    if line.contains("DNS:") {
                        values["--ssl-hostnames"] = line.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "DNS:", with: "") }.joined(separator: " ")
                    }
                }
                values["--ssl-verified"] = values["--ssl-subject"] == values["--ssl-issuer"] ? "self signed" : "unverified"
            }
            return values
        }
    }
}
