import Foundation
import TestSupport
import Testing

/// A client keeps requesting through the proxy while the app is deployed and restarted
/// again and again: no request may fail, and the answers move from old to new.
@Suite(.enabled(if: Integration.systemdEnabled, "needs a systemd manager: run scripts/test"))
struct ZeroDowntimeTests {
    /// Requests in a loop (keep-alive, reconnecting after each error) until `stop` exists,
    /// then prints `requests failures` and the distinct bodies in order of first sight.
    static let client = """
        import http.client, os, sys, time
        port, host, stop = int(sys.argv[1]), sys.argv[2], sys.argv[3]
        seen, requests, failures, errors = [], 0, 0, []
        conn = None
        deadline = time.time() + 600
        while not os.path.exists(stop) and time.time() < deadline:
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("GET", "/", headers={"Host": host})
                response = conn.getresponse()
                body = response.read().decode()
                requests += 1
                if response.status != 200:
                    failures += 1
                    errors.append("%d %s" % (response.status, body[:80]))
                elif body not in seen:
                    seen.append(body)
            except Exception as error:
                requests += 1
                failures += 1
                errors.append(repr(error))
                conn = None
        print(requests, failures)
        print("|".join(seen))
        print("|".join(errors[:5]))
        """

    @Test func tenDeploysAndTenRestartsDropNoRequest() throws {
        _ = try #require(Integration.systemdBus, "DOKKULITE_SYSTEMD_BUS is not set; scripts/test sets it")
        let sandbox = try Sandbox("zerodowntime")
        try sandbox.run("domains:set-global", "dokku.test")
        try sandbox.run("checks:set", "--global", "wait-to-retire", "2")
        let proxy = try DaemonProcess(sandbox)
        let app = uniqueApp("zd")
        let source = try AppSource(sandbox, files: DeployTests.versionApp("v0"))
        #expect(try source.push(app).status == 0)
        #expect(proxy.get("\(app).dokku.test")?.body == "v0")

        let stop = sandbox.root + "/stop-client"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", Self.client, String(proxy.port), "\(app).dokku.test", stop]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        for version in 1...10 {
            try source.commit(["VERSION": "v\(version)\n"], message: "v\(version)")
            let push = try source.push(app)
            #expect(push.status == 0, "deploy v\(version): \(push.stderr.suffix(400))")
        }
        for round in 1...10 {
            let set = try sandbox.run("config:set", app, "GREETING=g\(round)")
            #expect(set.status == 0, "restart \(round): \(set)")
        }
        FileManager.default.createFile(atPath: stop, contents: nil)
        process.waitUntilExit()
        let lines = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        let counts = lines.first?.split(separator: " ").compactMap { Int($0) } ?? []
        #expect(counts.count == 2)
        #expect(counts.first ?? 0 > 100, "the client kept requesting: \(lines)")
        #expect(counts.last == 0, "no request failed during deploys and restarts: \(lines)")
        let seen = lines.count > 1 ? lines[1].split(separator: "|").map(String.init) : []
        #expect(seen.first == "v0")
        #expect(seen.last == "v10 g10")
        #expect(seen.count >= 5, "responses switched from old to new versions: \(seen)")
    }
}
