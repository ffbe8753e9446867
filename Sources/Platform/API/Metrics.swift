import Foundation
import Proxy
import Supervisor

/// `/metrics` in Prometheus's text format: per app, the proxy's requests by status class
/// and their durations (a histogram), and per process, its memory, CPU time, restarts and
/// network bytes from systemd's accounting of its unit.
///
/// Written by hand: the values are snapshots read from the proxy and systemd when asked,
/// not counters this process increments, which is what swift-prometheus's types hold.
struct MetricsText {
    let context: Context

    func render() throws -> String {
        let snapshot = try MetricsSnapshot.take(context)
        var out = ""
        let traffic = snapshot.traffic.sorted { $0.key < $1.key }
        out += "# HELP dokkulite_http_requests_total Requests the proxy answered for the app, by status class, since it started.\n"
        out += "# TYPE dokkulite_http_requests_total counter\n"
        for (app, counts) in traffic {
            for (index, count) in counts.byClass.enumerated() {
                out += "dokkulite_http_requests_total{app=\"\(app)\",status=\"\(index + 1)xx\"} \(count)\n"
            }
        }
        out += "# HELP dokkulite_http_request_duration_seconds From a request's head to the end of its response, through the proxy.\n"
        out += "# TYPE dokkulite_http_request_duration_seconds histogram\n"
        for (app, counts) in traffic {
            var cumulative: UInt64 = 0
            for (index, bound) in AppTraffic.bounds.enumerated() {
                cumulative += counts.byDuration[index]
                out += "dokkulite_http_request_duration_seconds_bucket{app=\"\(app)\",le=\"\(Self.seconds(bound))\"} \(cumulative)\n"
            }
            out += "dokkulite_http_request_duration_seconds_bucket{app=\"\(app)\",le=\"+Inf\"} \(counts.requests)\n"
            out += "dokkulite_http_request_duration_seconds_sum{app=\"\(app)\"} \(Self.seconds(counts.microseconds))\n"
            out += "dokkulite_http_request_duration_seconds_count{app=\"\(app)\"} \(counts.requests)\n"
        }
        var memory = "", cpu = "", restarts = "", received = "", sent = ""
        for (app, processes) in snapshot.processes.sorted(by: { $0.key < $1.key }) {
            for process in processes {
                let labels = "app=\"\(app)\",process=\"\(process.name)\""
                if let bytes = process.memoryBytes { memory += "dokkulite_process_memory_bytes{\(labels)} \(bytes)\n" }
                if let nanoseconds = process.cpuNanoseconds { cpu += "dokkulite_process_cpu_seconds_total{\(labels)} \(Double(nanoseconds) / 1e9)\n" }
                restarts += "dokkulite_process_restarts_total{\(labels)} \(process.restarts)\n"
                if let bytes = process.receivedBytes { received += "dokkulite_process_network_receive_bytes_total{\(labels)} \(bytes)\n" }
                if let bytes = process.sentBytes { sent += "dokkulite_process_network_transmit_bytes_total{\(labels)} \(bytes)\n" }
            }
        }
        out += "# HELP dokkulite_process_memory_bytes Memory of the process's unit (its cgroup), as systemd counts it.\n"
        out += "# TYPE dokkulite_process_memory_bytes gauge\n" + memory
        out += "# HELP dokkulite_process_cpu_seconds_total CPU time of the process's unit.\n"
        out += "# TYPE dokkulite_process_cpu_seconds_total counter\n" + cpu
        out += "# HELP dokkulite_process_restarts_total Times systemd restarted the process since it was started.\n"
        out += "# TYPE dokkulite_process_restarts_total counter\n" + restarts
        out += "# HELP dokkulite_process_network_receive_bytes_total Bytes the process's unit received over IP (loopback included), as systemd counts them.\n"
        out += "# TYPE dokkulite_process_network_receive_bytes_total counter\n" + received
        out += "# HELP dokkulite_process_network_transmit_bytes_total Bytes the process's unit sent over IP (loopback included).\n"
        out += "# TYPE dokkulite_process_network_transmit_bytes_total counter\n" + sent
        return out
    }

    /// Microseconds as seconds, without trailing zeros (`0.005`, `2.5`, `10`).
    static func seconds(_ microseconds: UInt64) -> String {
        let whole = microseconds / 1_000_000, fraction = microseconds % 1_000_000
        guard fraction > 0 else { return String(whole) }
        var digits = String(fraction)
        digits = String(repeating: "0", count: 6 - digits.count) + digits
        while digits.hasSuffix("0") { digits.removeLast() }
        return "\(whole).\(digits)"
    }
}

/// What the proxy and systemd say of every app at one moment.
struct MetricsSnapshot: Sendable {
    struct Process: Sendable {
        /// `web.1`.
        var name: String
        var unit: String
        var memoryBytes: UInt64?
        var cpuNanoseconds: UInt64?
        var restarts: Int
        var receivedBytes: UInt64?
        var sentBytes: UInt64?
    }

    /// The proxy's counts since it started, by app (apps only: not the API's own route).
    var traffic: [String: AppTraffic.Counts] = [:]
    /// The running processes, by app.
    var processes: [String: [Process]] = [:]

    static func take(_ context: Context) throws -> MetricsSnapshot {
        var snapshot = MetricsSnapshot()
        for line in (try ProxyControl(context).ask("traffic") ?? "").split(separator: "\n").compactMap(TrafficLine.init) where AppName(line.app) != nil {
            snapshot.traffic[line.app] = line.counts
        }
        let store = try context.store()
        let supervisor = try context.supervisor()
        for app in try store.apps() {
            for instance in try store.instances(app.name) where instance.state == .running {
                guard let status = try supervisor.status(of: instance.unit) else { continue }
                snapshot.processes[app.name.rawValue, default: []].append(
                    Process(name: "\(instance.processType).\(instance.number)", unit: instance.unit, memoryBytes: status.memoryBytes, cpuNanoseconds: status.cpuNanoseconds, restarts: status.restarts,
                        receivedBytes: status.receivedBytes, sentBytes: status.sentBytes))
            }
        }
        return snapshot
    }
}

/// Turns snapshots taken every interval into the history's samples: what happened between
/// two (counts that went down, after a proxy or process restart, count from zero).
struct MetricsHistory {
    private var previous: MetricsSnapshot?

    mutating func samples(_ snapshot: MetricsSnapshot, at time: Int, seconds: Int) -> [MetricSample] {
        defer { previous = snapshot }
        guard let previous else { return [] }
        func delta(_ now: UInt64, _ before: UInt64?) -> UInt64 { now >= (before ?? 0) ? now - (before ?? 0) : now }
        let apps = Set(snapshot.traffic.keys).union(snapshot.processes.keys)
        return apps.sorted().map { app in
            let now = snapshot.traffic[app] ?? AppTraffic.Counts(), before = previous.traffic[app]
            let durations = now.byDuration.indices.map { delta(now.byDuration[$0], before?.byDuration[$0]) }
            let processes = snapshot.processes[app] ?? []
            let earlier = Dictionary((previous.processes[app] ?? []).map { ($0.unit, $0) }, uniquingKeysWith: { a, _ in a })
            let cpu = processes.reduce(UInt64(0)) { $0 + delta($1.cpuNanoseconds ?? 0, earlier[$1.unit]?.cpuNanoseconds) }
            let received = processes.reduce(UInt64(0)) { $0 + delta($1.receivedBytes ?? 0, earlier[$1.unit]?.receivedBytes) }
            let sent = processes.reduce(UInt64(0)) { $0 + delta($1.sentBytes ?? 0, earlier[$1.unit]?.sentBytes) }
            return MetricSample(
                app: app, at: time, seconds: seconds, requests: delta(now.requests, before?.requests),
                clientErrors: delta(now.byClass[3], before?.byClass[3]), serverErrors: delta(now.byClass[4], before?.byClass[4]),
                durations: durations, cpuNanoseconds: cpu, memoryBytes: processes.reduce(0) { $0 + ($1.memoryBytes ?? 0) },
                restarts: processes.reduce(0) { $0 + $1.restarts }, receivedBytes: received, sentBytes: sent)
        }
    }
}

extension MetricSample {
    /// The duration under which `fraction` of the interval's requests finished, as the
    /// upper bound of its bucket in milliseconds (nil without requests; past the largest
    /// bound, that bound).
    func percentileMilliseconds(_ fraction: Double) -> Double? {
        let total = durations.reduce(0, +)
        guard total > 0 else { return nil }
        var cumulative: UInt64 = 0
        for (index, count) in durations.enumerated() {
            cumulative += count
            if Double(cumulative) >= fraction * Double(total) {
                return Double(AppTraffic.bounds[min(index, AppTraffic.bounds.count - 1)]) / 1000
            }
        }
        return Double(AppTraffic.bounds.last!) / 1000
    }
}
