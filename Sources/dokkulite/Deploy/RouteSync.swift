/// Tells the proxy which upstreams serve an app after its web instances change.
struct RouteSync {
    let context: Context

    init(_ context: Context) {
        self.context = context
    }

    /// Pushes the app's current routes to the running proxy, if one runs.
    func update(_ app: AppName) throws {}
}
