import Foundation
import Proxy
import Testing

@testable import Platform

@Suite struct AppNameTests {
    @Test(arguments: ["myapp", "1994testapp", "a", "my-app.v2", String(repeating: "a", count: 63)])
    func acceptsDokkuNames(_ name: String) {
        #expect(AppName(name)?.rawValue == name)
    }

    @Test(arguments: ["", "TestApp", "test_app", "test/app", "testapp:latest", "test;id", "test$cmd", "-app", ".app", "../x", "a b", String(repeating: "a", count: 64)])
    func rejectsUnsafeNames(_ name: String) {
        #expect(AppName(name) == nil)
    }
}

@Suite struct ConfigVarsTests {
    let pairs: [(key: String, value: String)] = [("BKEY", "true"), ("aKey", "it's $x"), ("zKey", "line1\nline2")]

    @Test func memoryTakesDockersSizes() {
        #expect(ResourceSettings.memoryBytes("512MB") == 512 << 20)
        #expect(ResourceSettings.memoryBytes("512m") == 512 << 20)
        #expect(ResourceSettings.memoryBytes("1GiB") == 1 << 30)
        #expect(ResourceSettings.memoryBytes("1.5g") == 3 << 29)
        #expect(ResourceSettings.memoryBytes("100") == 100 << 20, "a bare number is megabytes")
        #expect(ResourceSettings.memoryBytes("2048b") == 2048)
        #expect(ResourceSettings.memoryBytes("12x") == nil)
        #expect(ResourceSettings.memoryBytes("m") == nil)
    }

    @Test func defaultDomainsAsDokkuMakesThem() {
        #expect(Domains.defaults(app: "shop", globals: ["dokku.test", "10.0.0.1", "example.com"]) == ["shop.dokku.test", "shop.example.com"])
        #expect(Domains.defaults(app: "test.dokku.test", globals: ["dokku.test"]) == ["test.dokku.test"], "an app named with a dot is its own domain")
        #expect(Domains.defaults(app: "shop", globals: []) == [])
    }

    @Test func runJoinsWordsAsTheHerokuCLIDoes() {
        #expect(Run.shellLine(["echo $PORT && ls"]) == "echo $PORT && ls", "one word is shell syntax")
        #expect(Run.shellLine(["python3", "-c", "print('a  b')"]) == #"python3 -c "print('a  b')""#)
        #expect(Run.shellLine(["echo", "$HOME", "|", "wc"]) == "echo $HOME | wc")
        #expect(Run.shellLine(["echo", #"say "hi" \ `x`"#]) == #"echo "say \"hi\" \\ \`x\`""#)
        #expect(Run.shellLine([]) == "")
    }

    @Test func keyRule() {
        #expect(ConfigVars.isValidKey("DATABASE_URL"))
        #expect(ConfigVars.isValidKey("_x1"))
        #expect(!ConfigVars.isValidKey("1X"))
        #expect(!ConfigVars.isValidKey("my-key"))
        #expect(!ConfigVars.isValidKey(""))
    }

    @Test func exportsFormatQuotesLikeDokku() {
        #expect(ConfigVars.export(pairs, as: .exports) == "export BKEY='true'\nexport aKey='it'\\''s $x'\nexport zKey='line1\nline2'\n")
    }

    @Test func shellFormatHasTrailingSpaceAndNoNewline() {
        #expect(ConfigVars.export([("BKEY", "true"), ("aKey", "true")], as: .shell) == "BKEY='true' aKey='true' ")
    }

    @Test func jsonFormats() {
        #expect(ConfigVars.export([("B", "1"), ("A", "x")], as: .json) == "{\"A\":\"x\",\"B\":\"1\"}\n")
        #expect(ConfigVars.export([("A", "x")], as: .jsonList) == "[{\"name\":\"A\",\"value\":\"x\"}]\n")
        #expect(ConfigVars.export([], as: .jsonList) == "null\n")
    }

    @Test func envfileEscapesAndRoundTrips() throws {
        let text = ConfigVars.export(pairs, as: .envfile)
        #expect(text == "BKEY=\"true\"\naKey=\"it's \\$x\"\nzKey=\"line1\\nline2\"\n")
        let parsed = try ConfigVars.parseEnvfile(text)
        #expect(parsed.map(\.key) == pairs.map(\.key))
        #expect(parsed.map(\.value) == pairs.map(\.value))
    }

    @Test func envfileParserAcceptsCommonForms() throws {
        let parsed = try ConfigVars.parseEnvfile("# comment\nexport A=1\nB='two words'\nC: three # note\n\nD=\"q\\\"uote\"\n")
        #expect(parsed.map(\.key) == ["A", "B", "C", "D"])
        #expect(parsed.map(\.value) == ["1", "two words", "three", "q\"uote"])
    }

    @Test func alignedRowsPadToWidestKey() {
        #expect(ConfigVars.aligned([("A", "1"), ("LONG", " v ")], prefix: "  ") == ["  A:     1", "  LONG:  v"])
    }

    @Test func systemdEnvironmentFileEscapesOnlyWhatSystemdInterprets() {
        #expect(ConfigVars.systemdEnvironmentFile([("A", "a\"b\\c$d`e\nf")]) == "A=\"a\\\"b\\\\c\\$d\\`e\nf\"\n")
    }
}

@Suite struct PortMapTests {
    @Test func parsesSchemeHostContainer() throws {
        let map = try #require(PortMap("http:80:5000"))
        #expect(map == PortMap(scheme: .http, hostPort: 80, containerPort: 5000))
        #expect(map.description == "http:80:5000")
    }

    @Test(arguments: ["http:80", "ftp:21:21", "http:0:5000", "http:80:70000", "http:x:1", "tcp:80:5000:1"])
    func rejectsBadMaps(_ text: String) {
        #expect(PortMap(text) == nil)
    }

    @Test func dokkuErrorTexts() {
        #expect(throws: CommandError("Invalid port map http:80 [len=2]")) { try parsePortMaps(["http:80"]) }
        #expect(throws: CommandError("Invalid port map http:0:5000 [hostPort=0]")) { try parsePortMaps(["http:0:5000"]) }
        #expect(throws: CommandError("Invalid port map http:80:70000 [containerPort=70000]")) { try parsePortMaps(["http:80:70000"]) }
    }
}

@Suite struct RestartPolicyTests {
    @Test func parsesDokkuPolicies() {
        #expect(RestartPolicy("no") == .no)
        #expect(RestartPolicy("always") == .always)
        #expect(RestartPolicy("unless-stopped") == .unlessStopped)
        #expect(RestartPolicy("on-failure") == .onFailure(maxRetries: nil))
        #expect(RestartPolicy("on-failure:5") == .onFailure(maxRetries: 5))
        #expect(RestartPolicy("on-failure:x") == nil)
        #expect(RestartPolicy("sometimes") == nil)
        #expect(RestartPolicy.default.description == "on-failure:10")
    }
}

@Suite struct DomainTests {
    @Test(arguments: ["example.com", "*.example.com", "a--b.example.com", "_", "Example.COM"])
    func accepts(_ domain: String) { #expect(Domains.isValid(domain)) }

    @Test(arguments: ["http://x", "a b.com", "example.com.", "", "ex_ample.com"])
    func rejects(_ domain: String) { #expect(!Domains.isValid(domain)) }
}

/// URLs a key holder gives dokkulite to fetch as root.
@Suite struct RemoteSourceTests {
    @Test func networkURLsPassAndEverythingElseIsRefused() throws {
        try RemoteSource.check("https://example.test/app.tar", what: "archive url", allowingFiles: false)
        try RemoteSource.check("git://example.test/app", what: "git remote", allowingFiles: false, schemes: RemoteSource.gitSchemes)
        for url in ["-K/etc/shadow", "--output=/x", "file:///etc/shadow", "/etc/shadow", "ftp://h/x", "https://", "https://h/a b", "scp://h/x"] {
            #expect(throws: CommandError.self, "\(url)") { try RemoteSource.check(url, what: "archive url", allowingFiles: false) }
        }
        for remote in ["/var/lib/dokkulite/apps/x/repo.git", "file:///x", "ssh://git@h/x", "git@h:x", "--upload-pack=x"] {
            #expect(throws: CommandError.self, "\(remote)") { try RemoteSource.check(remote, what: "git remote", allowingFiles: false, schemes: RemoteSource.gitSchemes) }
        }
        // Root at the console may name files of the server.
        try RemoteSource.check("file:///srv/app.tar", what: "archive url", allowingFiles: true)
        try RemoteSource.check("/srv/app.git", what: "git remote", allowingFiles: true, schemes: RemoteSource.gitSchemes)
    }

    @Test func curlGetsTheURLAfterDoubleDashAndOnlyTheSchemesAllowed() {
        let arguments = RemoteSource.curlArguments(output: "/out", url: "-K/etc/shadow", allowingFiles: false)
        #expect(arguments.suffix(2) == ["--", "-K/etc/shadow"])
        #expect(arguments.firstIndex(of: "--proto").map { arguments[$0 + 1] } == "=http,https")
        #expect(arguments.firstIndex(of: "--proto-redir").map { arguments[$0 + 1] } == "=http,https")
    }
}

/// Config keys name files root writes (a build's ENV_DIR): only Dokku's shape is stored.
@Suite struct ConfigKeyTests {
    @Test(arguments: ["../../etc/x", "A/B", "", "1A", "A-B", "A B", "A\nB", "DOKKULITE_COMMAND"])
    func keysThatAreNotNamesAreRefused(_ key: String) {
        #expect(throws: CommandError.self) { try ConfigVars.validate(key: key) }
    }
}

@Suite struct InjectedCronTaskTests {
    @Test func idsAreTheLineInBase36AsDokkuMakesThem() {
        #expect(InjectedCronTask.id("@daily;;;/bin/true") == "5cruaotm4yzzpnjlsdunblj8qyjp")
        #expect(InjectedCronTask.id("\u{0}a") == "02p")
        #expect(InjectedCronTask.id("") == "")
    }
}

@Suite struct NginxDurationTests {
    @Test func nginxTimeSyntax() {
        #expect(NginxSettings.milliseconds("60") == 60_000)
        #expect(NginxSettings.milliseconds("45s") == 45_000)
        #expect(NginxSettings.milliseconds("2m") == 120_000)
        #expect(NginxSettings.milliseconds("500ms") == 500)
        #expect(NginxSettings.milliseconds("1m30s") == 90_000)
        #expect(NginxSettings.milliseconds("1h") == 3_600_000)
        for bad in ["", "s", "10x", "-5s", "0", "2d", "1.5s", "9999999999s"] { #expect(NginxSettings.milliseconds(bad) == nil, "\(bad)") }
    }
}

/// What an app's `x-forwarded-*` settings give the proxy: a stored value that nginx:set
/// would refuse today (kept by an older version) never reaches a request head.
@Suite struct ForwardedSettingsTests {
    @Test func storedValuesAreCheckedAgainWhenRead() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("forwarded-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try Store(path: directory + "/dokkulite.db")
        let app = try #require(AppName("web"))
        _ = try store.createApp(app)
        #expect(try NginxSettings.forwarded(app, store: store) == nil, "nothing set: the proxy's own values")
        try store.setProperty(.app(app), "nginx", "x-forwarded-ssl", "on\r\nX-Injected: 1")
        try store.setProperty(.app(app), "nginx", "x-forwarded-proto-value", "https\r\nX-Injected: 1")
        #expect(try NginxSettings.forwarded(app, store: store) == nil)
        try store.setProperty(.app(app), "nginx", "x-forwarded-ssl", "on")
        try store.setProperty(.app(app), "nginx", "x-forwarded-proto-value", nil)
        try store.setProperty(.app(app), "nginx", "x-forwarded-for-value", "$proxy_add_x_forwarded_for")
        try store.setProperty(.global, "nginx", "x-forwarded-proto-value", "https")
        #expect(try NginxSettings.forwarded(app, store: store) == .init(forValue: .appendPeer, proto: .literal("https"), ssl: "on"))
    }
}
