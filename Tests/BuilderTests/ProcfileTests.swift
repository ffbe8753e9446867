import Testing

@testable import Builder

@Suite struct ProcfileTests {
    @Test func parsesTypesCommentsAndBlankLines() throws {
        let procfile = try Procfile(parsing: "# comment\nweb: python app.py --port $PORT\n\nworker:   bundle exec sidekiq  \r\nrelease: ./migrate\n")
        #expect(procfile.types == ["web", "worker", "release"])
        #expect(procfile["web"] == "python app.py --port $PORT")
        #expect(procfile["worker"] == "bundle exec sidekiq")
    }

    @Test func commandsMayContainColons() throws {
        let procfile = try Procfile(parsing: "web: gunicorn app:app -b 0.0.0.0:$PORT")
        #expect(procfile["web"] == "gunicorn app:app -b 0.0.0.0:$PORT")
    }

    @Test func errorsNameTheLine() {
        #expect(throws: BuildError.invalidProcfile(file: "Procfile", line: 2, reason: "expected \"type: command\"")) {
            try Procfile(parsing: "web: x\nnonsense\n")
        }
        #expect(throws: BuildError.invalidProcfile(file: "Procfile", line: 2, reason: "process type \"web\" is defined twice")) {
            try Procfile(parsing: "web: x\nweb: y\n")
        }
        #expect(throws: BuildError.self) { try Procfile(parsing: "Web: x") }
        #expect(throws: BuildError.self) { try Procfile(parsing: "web-: x") }
        #expect(throws: BuildError.self) { try Procfile(parsing: "web:") }
    }

    @Test func typeRule() {
        #expect(Procfile.isValidType("web"))
        #expect(Procfile.isValidType("a-b-1"))
        #expect(!Procfile.isValidType(String(repeating: "a", count: 64)))
        #expect(!Procfile.isValidType("-a"))
        #expect(!Procfile.isValidType("web_1"))
    }
}
