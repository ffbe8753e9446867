import ArgumentParser

/// Validates `APP DOMAIN...` for the per-app domain commands, in Dokku's order: the domain
/// list is checked before the app.
private func appAndDomains(_ words: [String], context: Context) throws -> (AppName, [String]) {
    let domains = Array(words.dropFirst())
    guard !domains.isEmpty else {
        throw CommandError("Please specify a domain name. Usage: \(Program.dokku) \(words.first ?? "")  <domain> [<domain> ...]")
    }
    let app = try context.existingApp(words.first)
    try Domains.validate(domains)
    return (app, domains)
}

private func requireDomains(_ domains: [String]) throws {
    guard !domains.isEmpty else {
        throw CommandError("Please specify a domain name. Usage: \(Program.dokku)  <domain> [<domain> ...]")
    }
    try Domains.validate(domains)
}

struct DomainsAdd: Command {
    static let configuration = CommandConfiguration(commandName: "domains:add", abstract: "Add domains to app")
    static let usage = "<app> <domain> [<domain> ...]"
    @Argument var words: [String] = []

    func run(in context: Context) throws {
        let (app, domains) = try appAndDomains(words, context: context)
        let store = try context.store()
        let existing = Set(try store.domains(.app(app)))
        try store.addDomains(.app(app), domains)
        for domain in domains {
            context.output.step(existing.contains(domain) ? "Skipping: \(domain) already added to \(app)" : "Added \(domain) to \(app)")
        }
        try DomainsSwitch.reenable(app, store: store)
        try RouteSync(context).update(app)
        try Plugins(context).fire("post-domains-update", [app.rawValue, "add"] + domains)
        LetsEncrypt(context: context).afterDomainsUpdate(app)
    }
}

struct DomainsRemove: Command {
    static let configuration = CommandConfiguration(commandName: "domains:remove", abstract: "Remove domains from app")
    static let usage = "<app> <domain> [<domain> ...]"
    @Argument var words: [String] = []

    func run(in context: Context) throws {
        let domains = Array(words.dropFirst())
        guard !domains.isEmpty else {
            throw CommandError("Please specify a domain name. Usage: \(Program.dokku) \(words.first ?? "")  <domain> [<domain> ...]")
        }
        let app = try context.existingApp(words.first)
        try context.store().removeDomains(.app(app), domains)
        for domain in domains { context.output.step("Removed \(domain) from \(app)") }
        try RouteSync(context).update(app)
        try Plugins(context).fire("post-domains-update", [app.rawValue, "remove"] + domains)
    }
}

struct DomainsSet: Command {
    static let configuration = CommandConfiguration(commandName: "domains:set", abstract: "Set domains for app")
    static let usage = "<app> <domain> [<domain> ...]"
    @Argument var words: [String] = []

    func run(in context: Context) throws {
        let (app, domains) = try appAndDomains(words, context: context)
        try context.store().setDomains(.app(app), domains)
        context.output.step("Set \(domains.joined(separator: " ")) for \(app)")
        try DomainsSwitch.reenable(app, store: try context.store())
        try RouteSync(context).update(app)
        try Plugins(context).fire("post-domains-update", [app.rawValue, "set"] + domains)
        LetsEncrypt(context: context).afterDomainsUpdate(app)
    }
}

struct DomainsClear: Command {
    static let configuration = CommandConfiguration(commandName: "domains:clear", abstract: "Clear all domains for app")
    @Argument var app: String?

    func run(in context: Context) throws {
        let apps: [AppName] = app == "--all" ? try context.store().apps().map(\.name) : [try context.existingApp(app)]
        for app in apps {
            try context.store().clearDomains(.app(app))
            context.output.step("Cleared domains in \(app)")
            try RouteSync(context).update(app)
        }
    }
}

struct DomainsReset: Command {
    static let configuration = CommandConfiguration(commandName: "domains:reset", abstract: "Reset app domains to global-configured domains")
    @Argument var app: String?

    func run(in context: Context) throws {
        let app = try context.existingApp(app)
        let store = try context.store()
        let defaults = Domains.defaults(app: app.rawValue, globals: try store.domains(.global))
        try store.setDomains(.app(app), defaults)
        context.output.step("Cleared domains in \(app)")
        if !defaults.isEmpty { context.output.step("Creating new app virtual host file...") }
        context.output.step("Reset domains for \(app)")
        try RouteSync(context).update(app)
    }
}

struct DomainsAddGlobal: Command {
    static let configuration = CommandConfiguration(commandName: "domains:add-global", abstract: "Add global domain names")
    static let usage = "<domain> [<domain> ...]"
    static let takesApp = false
    @Argument var domains: [String] = []

    func run(in context: Context) throws {
        try requireDomains(domains)
        let store = try context.store()
        let existing = Set(try store.domains(.global))
        try store.addDomains(.global, domains)
        for domain in domains {
            context.output.step(existing.contains(domain) ? "Skipping \(domain): already added" : "Added \(domain)")
        }
    }
}

struct DomainsRemoveGlobal: Command {
    static let configuration = CommandConfiguration(commandName: "domains:remove-global", abstract: "Remove global domain names")
    static let usage = "<domain> [<domain> ...]"
    static let takesApp = false
    @Argument var domains: [String] = []

    func run(in context: Context) throws {
        guard !domains.isEmpty else {
            throw CommandError("Please specify a domain name. Usage: \(Program.dokku)  <domain> [<domain> ...]")
        }
        try context.store().removeDomains(.global, domains)
        for domain in domains { context.output.step("Removed \(domain)") }
    }
}

struct DomainsSetGlobal: Command {
    static let configuration = CommandConfiguration(commandName: "domains:set-global", abstract: "Set global domain names")
    static let usage = "<domain> [<domain> ...]"
    static let takesApp = false
    @Argument var domains: [String] = []

    func run(in context: Context) throws {
        try requireDomains(domains)
        try context.store().setDomains(.global, domains)
        context.output.step("Set \(domains.joined(separator: " "))")
    }
}

struct DomainsClearGlobal: Command {
    static let configuration = CommandConfiguration(commandName: "domains:clear-global", abstract: "Clear global domain names")
    static let usage = ""
    static let takesApp = false

    func run(in context: Context) throws {
        try context.store().clearDomains(.global)
        context.output.step("Clearing global domains")
    }
}

/// `domains:disable|enable`: an app without domains (Dokku's `NO_VHOST=1`) takes the
/// requests of its listener ports whatever their Host; enabling gives back the defaults.
enum DomainsSwitch {
    static func isDisabled(_ app: AppName, store: Store) throws -> Bool {
        try store.property(.app(app), "domains", "disabled") == "true"
    }

    /// Adding or setting domains turns domains back on, as in Dokku.
    static func reenable(_ app: AppName, store: Store) throws {
        if try isDisabled(app, store: store) { try store.setProperty(.app(app), "domains", "disabled", nil) }
    }

    /// `domains:enable` and `domains:disable`, with Dokku's messages.
    static func set(_ appWord: String?, enabled: Bool, context: Context) throws {
        let app = try context.existingApp(appWord)
        let store = try context.store()
        guard try isDisabled(app, store: store) == enabled else {
            context.output.step("Domains (VHOST) support is already \(enabled ? "enabled" : "disabled") for app (\(app))")
            return
        }
        if enabled {
            if try store.domains(.app(app)).isEmpty {
                try store.setDomains(.app(app), Domains.defaults(app: app.rawValue, globals: try store.domains(.global)))
            }
        } else {
            if try !store.domains(.app(app)).isEmpty { context.output.step("App virtual host support disabled") }
            try store.setDomains(.app(app), [])
        }
        try store.setProperty(.app(app), "domains", "disabled", enabled ? nil : "true")
        try RouteSync(context).update(app)
        try Plugins(context).fire("post-domains-update", [app.rawValue, enabled ? "enable" : "disable"])
    }
}

struct DomainsDisable: Command {
    static let configuration = CommandConfiguration(commandName: "domains:disable", abstract: "Disable VHOST support")
    @Argument var app: String?

    func run(in context: Context) throws {
        try DomainsSwitch.set(app, enabled: false, context: context)
    }
}

struct DomainsEnable: Command {
    static let configuration = CommandConfiguration(commandName: "domains:enable", abstract: "Enable VHOST support")
    @Argument var app: String?

    func run(in context: Context) throws {
        try DomainsSwitch.set(app, enabled: true, context: context)
    }
}

struct DomainsReport: Command {
    static let configuration = CommandConfiguration(commandName: "domains:report", abstract: "Displays a domains report for one or more apps")
    static let usage = "[<app>|--global] [<flag>]"
    @Argument(parsing: .allUnrecognized) var words: [String] = []

    func run(in context: Context) throws {
        let store = try context.store()
        let globals = try store.domains(.global)
        let globalValues = [
            "--domains-global-enabled": globals.isEmpty ? "false" : "true",
            "--domains-global-vhosts": globals.joined(separator: " "),
        ]
        try context.printReports("domains", words, global: { globalValues }) { app in
            var values = globalValues
            values["--domains-app-enabled"] = try DomainsSwitch.isDisabled(app, store: store) ? "false" : "true"
            values["--domains-app-vhosts"] = try store.domains(.app(app)).joined(separator: " ")
            return values
        }
    }
}
