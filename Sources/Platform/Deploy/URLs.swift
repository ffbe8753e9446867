import ArgumentParser
import Foundation

/// The URLs an app answers on, as Dokku builds them from domains and port maps.
struct URLs {
    let context: Context

    init(_ context: Context) {
        self.context = context
    }

    /// Every URL, sorted: for each domain (or the global domains, or the server's name
    /// when there is none), for each port map: `http://D` for 80, `https://D` for 443 with
    /// a certificate, else `scheme://D:PORT`.
    func all(_ app: AppName) throws -> [String] {
        Array(Set(try generated(app))).sorted()
    }

    /// The URLs in the order of the app's domains, as Dokku's `domains-urls` makes them.
    private func generated(_ app: AppName) throws -> [String] {
        let store = try context.store()
        var hosts = try store.domains(.app(app))
        if hosts.isEmpty { hosts = try store.domains(.global) }
        if hosts.isEmpty { hosts = [Self.hostname] }
        let hasCertificate = try Certificates(context).exists(app)
        let maps = try PortPlan.effective(app, context: context)
        var urls: [String] = []
        for host in hosts {
            for map in maps {
                switch (map.scheme, map.hostPort) {
                case (.https, _) where !hasCertificate: continue
                case (.http, 80): urls.append("http://\(host)")
                case (.https, 443): urls.append("https://\(host)")
                default: urls.append("\(map.scheme.rawValue)://\(host):\(map.hostPort)")
                }
            }
        }
        return urls
    }

    /// The app's main URL, as Dokku's `url`: the first of its domains' URLs with the default
    /// scheme (https when it has a certificate, else http).
    func first(_ app: AppName) throws -> String? {
        let urls = try generated(app)
        let scheme = try Certificates(context).exists(app) ? "https://" : "http://"
        return urls.first { $0.hasPrefix(scheme) } ?? urls.first
    }

    static var hostname: String {
        ProcessInfo.processInfo.hostName
    }
}

struct URLCommand: Command {
    static let configuration = CommandConfiguration(commandName: "url", abstract: "Show the first URL for an app")
    @Argument var app: String?

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        if let url = try URLs(context).first(app) { context.output.data(url) }
    }
}

struct URLsCommand: Command {
    static let configuration = CommandConfiguration(commandName: "urls", abstract: "Show all URLs for an app")
    @Argument var app: String?

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        for url in try URLs(context).all(app) { context.output.data(url) }
    }
}
