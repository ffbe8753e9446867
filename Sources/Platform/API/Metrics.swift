import Foundation
import Proxy
import Supervisor

/// `/metrics` in Prometheus's text format: per app, the proxy's requests by status class
/// and their durations (a histogram), and per process, its memory, CPU time and restarts
/// from systemd's accounting of its unit.
///
/// Written by hand: the values are snapshots read from the proxy and systemd when asked,
/// not counters this process increments, which is what swift-prometheus's types hold.
struct MetricsText {
    let context: Context

    func render() throws -> String {
        var out = ""
        let traffic = (try ProxyControl(context).ask("traffic") ?? "").split(separator: "\n").compactMap(TrafficLine.init)
            .filter { AppName($0.app) != nil }
        out += "# HELP dokkulite_http_requests_total Requests the proxy answered for the app, by status class, since it started.\n"
        out += "# TYPE dokkulite_http_requests_total counter\n"
        for line in traffic {
            for (index, count) in line.counts.byClass.enumerated() {
                out += "dokkulite_http_requests_total{app=\"\(line.app)\",status=\"\(index + 1)xx\"} \(count)\n"
            }
        }
        out += "# HELP dokkulite_http_request_duration_seconds From a request's head to the end of its response, through the proxy.\n"
        out += "# TYPE dokkulite_http_request_duration_seconds histogram\n"
        for line in traffic {
            var cumulative: UInt64 = 0
            for (index, bound) in AppTraffic.bounds.enumerated() {
                cumulative += line.counts.byDuration[index]
                out += "dokkulite_http_request_duration_seconds_bucket{app=\"\(line.app)\",le=\"\(Self.seconds(bound))\"} \(cumulative)\n"
            }
            out += "dokkulite_http_request_duration_seconds_bucket{app=\"\(line.app)\",le=\"+Inf\"} \(line.counts.requests)\n"
            out += "dokkulite_http_request_duration_seconds_sum{app=\"\(line.app)\"} \(Self.seconds(line.counts.microseconds))\n"
            out += "dokkulite_http_request_duration_seconds_count{app=\"\(line.app)\"} \(line.counts.requests)\n"
        }

        var memory = "", cpu = "", restarts = ""
        let store = try context.store()
        let supervisor = try context.supervisor()
        for app in try store.apps() {
            for instance in try store.instances(app.name) where instance.state == .running {
                guard let status = try supervisor.status(of: instance.unit) else { continue }
                let labels = "app=\"\(app.name)\",process=\"\(instance.processType).\(instance.number)\""
                if let bytes = status.memoryBytes { memory += "dokkulite_process_memory_bytes{\(labels)} \(bytes)\n" }
                if let nanoseconds = status.cpuNanoseconds { cpu += "dokkulite_process_cpu_seconds_total{\(labels)} \(Double(nanoseconds) / 1e9)\n" }
                restarts += "dokkulite_process_restarts_total{\(labels)} \(status.restarts)\n"
            }
        }
        out += "# HELP dokkulite_process_memory_bytes Memory of the process's unit (its cgroup), as systemd counts it.\n"
        out += "# TYPE dokkulite_process_memory_bytes gauge\n" + memory
        out += "# HELP dokkulite_process_cpu_seconds_total CPU time of the process's unit.\n"
        out += "# TYPE dokkulite_process_cpu_seconds_total counter\n" + cpu
        out += "# HELP dokkulite_process_restarts_total Times systemd restarted the process since it was started.\n"
        out += "# TYPE dokkulite_process_restarts_total counter\n" + restarts
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
