/// The report of a Dokku-style settings namespace (`builder`, `app-json`, `logs`): each key
/// with its app value (`--NS-KEY`), its global value (`--NS-global-KEY`) and the value in
/// effect (`--NS-computed-KEY`: the app's, else the global one, else the default).
struct SettingsReport: Sendable {
    struct Key: Sendable {
        var name: String
        /// The computed value when neither the app nor the global setting has one.
        var fallback = ""
        /// Set for the whole server only (`logs` `vector-image`): no app value.
        var globalOnly = false
    }

    var namespace: String
    var keys: [Key]
    /// Keys that have an app value only, written by dokkulite itself (`builder` `detected`).
    var appOnly: [String] = []

    /// More values of an app's report (the `cron` report's task count).
    var extra: @Sendable (_ app: AppName, _ context: Context) throws -> [String: String] = { _, _ in [:] }

    /// Changes values before they are shown (the `logs` report hides sink secrets).
    var shown: @Sendable (_ values: inout [String: String], _ arguments: ReportArguments) -> Void = { _, _ in }

    func run(_ words: [String], context: Context) throws {
        let arguments = try ReportArguments(words)
        let store = try context.store()
        let global = try store.properties(.global, namespace)
        func globalShown() -> [String: String] {
            var values = globalValues(global)
            shown(&values, arguments)
            return values
        }
        try context.printReports(namespace, words, global: globalShown) { app in
            var values = self.values(own: try store.properties(.app(app), namespace), global: global)
            values.merge(try extra(app, context)) { $1 }
            shown(&values, arguments)
            return values
        }
    }

    /// The `--global` report's values: each key's global and computed value.
    func globalValues(_ global: [String: String]) -> [String: String] {
        var values: [String: String] = [:]
        for key in keys {
            values["--\(namespace)-global-\(key.name)"] = global[key.name] ?? ""
            values["--\(namespace)-computed-\(key.name)"] = global[key.name] ?? key.fallback
        }
        return values
    }

    /// An app's values, from its own properties (`own`) and the global ones.
    func values(own: [String: String], global: [String: String]) -> [String: String] {
        var values = globalValues(global)
        for key in keys where !key.globalOnly {
            values["--\(namespace)-\(key.name)"] = own[key.name] ?? ""
            values["--\(namespace)-computed-\(key.name)"] = own[key.name] ?? global[key.name] ?? key.fallback
        }
        for name in appOnly { values["--\(namespace)-\(name)"] = own[name] ?? "" }
        return values
    }
}
