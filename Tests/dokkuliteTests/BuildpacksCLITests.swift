import Foundation
import TestSupport
import Testing

/// `buildpacks:*` through the built binary: which names Dokku takes, and what a refusal
/// leaves behind (nothing).
@Suite struct BuildpacksCLITests {
    @Test func helpNamesTheNamespaceAsDokkuDoes() throws {
        let sandbox = try Sandbox()
        #expect(try sandbox.run("buildpacks:help").stdout.contains("Manage buildpacks settings for an app"))
    }

    @Test func bareNamesPathsAndHostOnlyURLsAreRefused() throws {
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "web")
        for command in ["buildpacks:add", "buildpacks:set"] {
            for text in ["nodejs", "/nodejs", "http://nodejs"] {
                let result = try sandbox.run(command, "web", text)
                #expect(result.status == 1 && result.stderr == " !     Invalid buildpack specified: \(text)\n", "\(command) \(text): \(result)")
            }
        }
        #expect(try sandbox.run("--quiet", "buildpacks:list", "web").stdout == "")
        #expect(try sandbox.run("buildpacks:add", "web", "heroku/nodejs").status == 0)
        #expect(try sandbox.run("buildpacks:add", "web", "git@github.com:someone/pack.git").status == 0)
        #expect(try sandbox.run("--quiet", "buildpacks:list", "web").stdout
            == "https://github.com/heroku/heroku-buildpack-nodejs.git\ngit@github.com:someone/pack.git\n")
    }

    @Test func replaceNeedsABuildpackAndChangesNothingOnABadOne() throws {
        let sandbox = try Sandbox()
        try sandbox.run("apps:create", "web")
        try sandbox.run("buildpacks:add", "web", "heroku/nodejs")
        let none = try sandbox.run("buildpacks:set", "--replace", "web")
        #expect(none.status == 1 && none.stderr == " !     Must specify at least one buildpack, use buildpacks:clear to remove all buildpacks\n", "\(none)")
        let bad = try sandbox.run("buildpacks:set", "--replace", "web", "heroku/ruby", "nodejs")
        #expect(bad.status == 1 && bad.stderr == " !     Invalid buildpack specified: nodejs\n", "\(bad)")
        #expect(try sandbox.run("--quiet", "buildpacks:list", "web").stdout == "https://github.com/heroku/heroku-buildpack-nodejs.git\n")
    }
}
