#if canImport(Glibc)
internal import Glibc
#endif
internal import NIOConcurrencyHelpers
internal import NIOCore
internal import Synchronization

/// What the server shares across event loops: the route table (swapped whole) and the
/// configuration.
final class ProxyShared: Sendable {
    let routes: NIOLockedValueBox<RouteTable>
    /// Counts route updates, so each loop sees without taking the lock whether its copy
    /// of the table is current. Changed only with the lock held.
    let routesVersion = Atomic<Int>(0)
    let configuration: ProxyServer.Configuration
    /// Requests served so far, added up by each loop's sweep (not per request).
    let activity = Atomic<UInt64>(0)
    /// `HTTPProxyHandler`s in memory (one per connection and per HTTP/2 stream): back to
    /// zero once every connection has closed, or something keeps them (a test checks).
    let handlersAlive = Atomic<Int>(0)

    init(routes: RouteTable, configuration: ProxyServer.Configuration) {
        self.routes = NIOLockedValueBox(routes)
        self.configuration = configuration
    }

    func update(_ table: RouteTable) {
        routes.withLockedValue { routes in
            routes = table
            routesVersion.add(1, ordering: .releasing)
        }
    }

    /// The table and its version, read together.
    func current() -> (RouteTable, Int) {
        routes.withLockedValue { ($0, routesVersion.load(ordering: .relaxed)) }
    }
}

/// An app as one event loop routes to it: its instances, where to start the next
/// round-robin turn, and each instance's idle connections.
final class AppRoute {
    let app: RouteTable.App
    /// Idle connections per instance, in the order of `app.upstreams`.
    let idle: [IdleConnections]
    /// Carried over from the app's route in the table before, so an update (any app's)
    /// does not send every app's next request to its first instance.
    fileprivate var turn = 0
    /// This loop's counts of the app's requests, shared by its routes and kept across
    /// route updates.
    let traffic: AppTraffic

    init(app: RouteTable.App, pool: UpstreamPool, traffic: AppTraffic = AppTraffic()) {
        self.app = app
        idle = app.upstreams.map { pool.list(for: $0) }
        self.traffic = traffic
    }

    /// Until when each instance counts as down: it refused a connection (passive health,
    /// as nginx's `max_fails=1 fail_timeout=10s`). Per event loop, as nginx's is per worker.
    private var downUntil: [NIODeadline?] = []
    /// How long a refusing instance is left out.
    static let downFor = TimeAmount.seconds(10)

    /// The next instance in round-robin order, skipping those in `exclude` and, while any
    /// other is left, those marked down; its index in `app.upstreams`.
    func pick(excluding exclude: [Upstream]) -> Int? {
        let count = app.upstreams.count
        guard count > 0 else { return nil }
        defer { turn &+= 1 }
        if exclude.isEmpty, downUntil.isEmpty { return turn % count }
        let now = NIODeadline.now()
        let open = app.upstreams.indices.filter { !exclude.contains(app.upstreams[$0]) }
        let up = open.filter { index in index >= downUntil.count || (downUntil[index].map { $0 <= now } ?? true) }
        let candidates = up.isEmpty ? open : up
        guard !candidates.isEmpty else { return nil }
        if up.count == open.count, downUntil.allSatisfy({ $0.map { $0 <= now } ?? true }) { downUntil = [] }
        return candidates[turn % candidates.count]
    }

    /// An instance refused a connection: left out for `downFor`, unless it is the only one.
    func markDown(_ index: Int) {
        guard app.upstreams.count > 1, index < app.upstreams.count else { return }
        if downUntil.count < app.upstreams.count { downUntil += Array(repeating: nil, count: app.upstreams.count - downUntil.count) }
        downUntil[index] = .now() + Self.downFor
    }

    /// The instances marked down now, with when each comes back.
    func down(at now: NIODeadline) -> [(Upstream, NIODeadline)] {
        downUntil.indices.compactMap { index in
            guard index < app.upstreams.count, let until = downUntil[index], until > now else { return nil }
            return (app.upstreams[index], until)
        }
    }

    /// An instance answered: up again.
    func markUp(_ index: Int) {
        guard index < downUntil.count, downUntil[index] != nil else { return }
        downUntil[index] = nil
    }
}

/// One event loop's copy of the route table, with an `AppRoute` per app, so a request
/// finds its app and an idle connection without a lock or a second lookup.
struct LoopRoutes {
    private var hosts: [String: AppRoute] = [:]
    private var wildcards: [(suffix: String, app: AppRoute)] = []
    private var portDefaults: [Int: AppRoute] = [:]
    private var tcp: [Int: AppRoute] = [:]
    /// Every route, by app name.
    private var byName: [String: [AppRoute]] = [:]

    init() {}

    init(_ table: RouteTable, pool: UpstreamPool, previous: LoopRoutes) {
        // One route per app, shared by its domains, so they take turns together.
        var made: [String: [AppRoute]] = [:]
        func route(_ app: RouteTable.App) -> AppRoute {
            if let same = made[app.name]?.first(where: { $0.app == app }) { return same }
            let traffic = made[app.name]?.first?.traffic ?? previous.byName[app.name]?.first?.traffic ?? AppTraffic()
            let route = AppRoute(app: app, pool: pool, traffic: traffic)
            route.turn = previous.byName[app.name]?.first?.turn ?? 0
            made[app.name, default: []].append(route)
            return route
        }
        defer { byName = made }
        hosts = table.hosts.mapValues(route)
        wildcards = table.wildcards.map { ($0.suffix, route($0.app)) }
        portDefaults = table.portDefaults.mapValues(route)
        tcp = table.tcp.mapValues(route)
    }

    func app(forHost host: String?, port: Int) -> AppRoute? {
        RouteTable.find(host, port: port, hosts: hosts, wildcards: wildcards, portDefaults: portDefaults)
    }

    func app(forTCPPort port: Int) -> AppRoute? {
        tcp[port]
    }

    /// Every app's counts on this loop, by app name.
    func traffic() -> [String: AppTraffic.Counts] {
        byName.compactMapValues { $0.first?.traffic.counts }
    }

    /// Every app's instances marked down now, by app name.
    func down(at now: NIODeadline) -> [String: [(Upstream, NIODeadline)]] {
        byName.compactMapValues { routes in
            let down = routes.flatMap { $0.down(at: now) }
            return down.isEmpty ? nil : down
        }
    }
}

/// State that belongs to one event loop: its upstream pool, request ids, and buffered
/// access log lines. Only ever touched from that loop (channels of the loop and tasks
/// scheduled on it), which is what makes the unchecked Sendable sound.
final class LoopState: @unchecked Sendable {
    let pool: UpstreamPool
    /// The zstd and brotli encoders at work on this loop (`ResponseCompression.Budget`).
    let encoders = ResponseCompression.Budget()
    private var dateSecond = -1
    private var date: [UInt8] = []
    private let idPrefix: [UInt8]
    private var counter: UInt64 = 0
    /// Access log lines not yet written: one line per request on stdout (the journal keeps
    /// it under systemd), written in batches off the request path.
    var log = ByteBuffer()

    private let upstreamIdleTimeout: TimeAmount

    private let shared: ProxyShared
    private var routes = LoopRoutes()
    private var routesVersion = -1

    init(eventLoop: any EventLoop, shared: ProxyShared) {
        self.shared = shared
        let configuration = shared.configuration
        upstreamIdleTimeout = configuration.upstreamIdleTimeout
        pool = UpstreamPool(eventLoop: eventLoop, configuration: configuration)
        idPrefix = Array((String(UInt64.random(in: 0...UInt64.max), radix: 16) + "-").utf8)
    }

    /// The last Host looked up, its port and its answer: most requests on a loop name the
    /// same host as the one before, and comparing bytes is cheaper than making a String
    /// and hashing it.
    private var lastHost: [UInt8]?
    private var lastPort = 0
    private var lastRoute: AppRoute?

    /// `Date: <IMF-fixdate>\r\n` for now, made at most once a second on this loop.
    func dateField() -> [UInt8] {
        let now = time(nil)
        if now != dateSecond {
            dateSecond = now
            date = Array("Date: \(Self.imfFixdate(now))\r\n".utf8)
        }
        return date
    }

    /// RFC 9110's preferred date format: `Sun, 06 Nov 1994 08:49:37 GMT`.
    static func imfFixdate(_ time: time_t) -> String {
        var seconds = time
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) \(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }

    /// How long a client has to send a request head: the table's server-wide setting, else
    /// the server's default.
    func headerTimeout() -> TimeAmount {
        refreshRoutes()
        return headerTimeoutSetting ?? shared.configuration.headerTimeout
    }
    private var headerTimeoutSetting: TimeAmount?

    /// The app a Host header value is routed to on this loop, from the current route table.
    func app(forHost host: UnsafeRawBufferPointer?, port: Int) -> AppRoute? {
        refreshRoutes()
        if port == lastPort, let lastHost, let host, Self.same(lastHost, host) { return lastRoute }
        let name = host.map { String(decoding: $0, as: UTF8.self) }
        let route = Self.find(in: &routes) { $0.app(forHost: name, port: port) }
        lastHost = host.map(Array.init)
        lastPort = port
        lastRoute = route
        return route
    }

    /// The app whose processes take connections to a TCP listener's port.
    func app(forTCPPort port: Int) -> AppRoute? {
        refreshRoutes()
        return Self.find(in: &routes) { $0.app(forTCPPort: port) }
    }

    /// Looks into the routes in place: read as a property, the table would be copied out
    /// of this object first, a retain and a release of each of its dictionaries.
    private static func find(in routes: inout LoopRoutes, _ lookup: (inout LoopRoutes) -> AppRoute?) -> AppRoute? {
        lookup(&routes)
    }

    private static func same(_ bytes: [UInt8], _ other: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count == other.count else { return false }
        guard let base = other.baseAddress else { return true }
        return bytes.withUnsafeBytes { memcmp($0.baseAddress!, base, other.count) == 0 }
    }

    /// Rebuilds this loop's copy of the table after an update (one atomic read otherwise).
    private func refreshRoutes() {
        guard shared.routesVersion.load(ordering: .acquiring) != routesVersion else { return }
        let (table, version) = shared.current()
        routes = LoopRoutes(table, pool: pool, previous: routes)
        headerTimeoutSetting = table.headerTimeoutMilliseconds.map { .milliseconds($0) }
        routesVersion = version
        pool.retire(keeping: table.upstreams)
        lastHost = nil
        lastRoute = nil
    }

    /// Every app's counts on this loop, by app name.
    func traffic() -> [String: AppTraffic.Counts] {
        routes.traffic()
    }

    /// The instances this loop has marked down (passive health), by app name, each with
    /// the seconds (rounded up) until it is tried again, counted now on this loop.
    func downInstances() -> [String: [(Upstream, Int)]] {
        let now = NIODeadline.now()
        return routes.down(at: now).mapValues { instances in
            instances.map { ($0.0, Int(($0.1 - now).nanoseconds + 999_999_999) / 1_000_000_000) }
        }
    }

    /// The number of this loop's next request, for its id.
    func nextRequestNumber() -> UInt64 {
        counter &+= 1
        return counter
    }

    /// A request id unique to this process: the loop's random prefix and the request's number.
    func appendRequestID(_ number: UInt64, to out: inout HeadWriter) {
        out.append(idPrefix)
        out.append(hex: number)
    }

    /// Milliseconds since the epoch, for `X-Request-Start: t=…`, as nginx's `t=${msec}`.
    static func millisecondsSinceEpoch() -> Int {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return now.tv_sec * 1000 + now.tv_nsec / 1_000_000
    }

    /// Client connections of this loop, whose deadlines the sweep checks.
    private var handlers: [ObjectIdentifier: HTTPProxyHandler] = [:]

    func track(_ handler: HTTPProxyHandler) {
        handlers[ObjectIdentifier(handler)] = handler
    }

    func untrack(_ handler: HTTPProxyHandler) {
        handlers.removeValue(forKey: ObjectIdentifier(handler))
    }

    /// Enforces every tracked connection's deadlines and ages out idle upstream connections
    /// (run once a second on the loop).
    func sweep() {
        let now = NIODeadline.now()
        for handler in Array(handlers.values) { handler.checkDeadlines(now) }
        pool.closeIdle(before: now - upstreamIdleTimeout, now: now)
        // This loop's requests since the last sweep, for the server's idle memory trim:
        // one shared add a second, nothing per request.
        if counter != counted {
            shared.activity.add(counter &- counted, ordering: .relaxed)
            counted = counter
        }
    }

    /// `counter` as of the last sweep.
    private var counted: UInt64 = 0

    /// Writes the buffered access log lines; called when the buffer is large and by a timer.
    func flushLog() {
        guard log.readableBytes > 0 else { return }
        log.withUnsafeReadableBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Glibc.write(1, bytes.baseAddress! + offset, bytes.count - offset)
                if written <= 0 { return }
                offset += written
            }
        }
        log.clear()
    }
}

/// A timeout without progress, sampled once per sweep: it fires when a progress count has
/// not moved for `limit`.
struct ProgressWatch {
    private var mark = Int.min
    private var since = NIODeadline.distantPast

    /// Whether `progress` has stood still for `limit` (the first sample starts the clock).
    mutating func stalled(_ progress: Int, _ now: NIODeadline, _ limit: TimeAmount) -> Bool {
        if progress != mark || mark == Int.min {
            mark = progress
            since = now
            return false
        }
        return now - since >= limit
    }

    /// Not watched now: the next watch starts afresh.
    mutating func reset() {
        mark = Int.min
    }
}

/// One event loop's counts of an app's requests since the proxy started: by status class,
/// and by time taken (a histogram over `bounds`), as `/metrics` reports them.
package final class AppTraffic {
    /// The histogram's upper bounds, in microseconds (Prometheus's default buckets).
    package static let bounds: [UInt64] = [5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000]

    package struct Counts: Sendable, Equatable {
        /// Requests answered with 1xx to 5xx (index 0 to 4).
        package var byClass = [UInt64](repeating: 0, count: 5)
        /// Requests that took at most `bounds[i]` and more than `bounds[i - 1]`; the last
        /// entry counts those over the largest bound.
        package var byDuration = [UInt64](repeating: 0, count: AppTraffic.bounds.count + 1)
        package var microseconds: UInt64 = 0

        package init() {}

        package var requests: UInt64 { byClass.reduce(0, +) }

        package mutating func add(_ other: Counts) {
            for i in byClass.indices { byClass[i] &+= other.byClass[i] }
            for i in byDuration.indices { byDuration[i] &+= other.byDuration[i] }
            microseconds &+= other.microseconds
        }
    }

    private(set) var counts = Counts()

    /// One finished request.
    @inline(__always)
    func record(status: Int, microseconds: UInt64) {
        let statusClass = status / 100 - 1
        guard (0..<5).contains(statusClass) else { return }
        counts.byClass[statusClass] &+= 1
        var bucket = 0
        while bucket < Self.bounds.count, microseconds > Self.bounds[bucket] { bucket += 1 }
        counts.byDuration[bucket] &+= 1
        counts.microseconds &+= microseconds
    }
}
