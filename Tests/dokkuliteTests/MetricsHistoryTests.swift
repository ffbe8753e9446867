import Foundation
import Testing

@testable import Platform
@testable import Proxy

/// The metrics history's arithmetic, without sockets: differences between snapshots, a
/// restart's counters starting again, and percentiles from the duration buckets.
@Suite struct MetricsHistoryTests {
    func counts(ok: UInt64, serverErrors: UInt64 = 0, fast: UInt64, slow: UInt64 = 0) -> AppTraffic.Counts {
        var counts = AppTraffic.Counts()
        counts.byClass[1] = ok
        counts.byClass[4] = serverErrors
        counts.byDuration[0] = fast
        counts.byDuration[6] = slow
        return counts
    }

    @Test func samplesAreTheDifferencesAndARestartCountsFromZero() {
        var history = MetricsHistory()
        var first = MetricsSnapshot()
        first.traffic["a"] = counts(ok: 10, fast: 10)
        first.processes["a"] = [.init(name: "web.1", unit: "u1", memoryBytes: 100, cpuNanoseconds: 1_000_000_000, restarts: 0)]
        #expect(history.samples(first, at: 100, seconds: 10).isEmpty, "nothing to compare the first with")

        var second = first
        second.traffic["a"] = counts(ok: 25, serverErrors: 2, fast: 20, slow: 7)
        second.processes["a"] = [.init(name: "web.1", unit: "u1", memoryBytes: 300, cpuNanoseconds: 3_000_000_000, restarts: 0)]
        let samples = history.samples(second, at: 110, seconds: 10)
        #expect(samples.count == 1)
        let sample = samples[0]
        #expect(sample.requests == 17 && sample.serverErrors == 2 && sample.cpuNanoseconds == 2_000_000_000 && sample.memoryBytes == 300)
        #expect(sample.durations[0] == 10 && sample.durations[6] == 7)
        #expect(sample.percentileMilliseconds(0.5) == 5 && sample.percentileMilliseconds(0.95) == 500)

        // The proxy restarted (its counts are lower) and the process is a new unit.
        var third = second
        third.traffic["a"] = counts(ok: 3, fast: 3)
        third.processes["a"] = [.init(name: "web.1", unit: "u2", memoryBytes: 50, cpuNanoseconds: 400_000_000, restarts: 0)]
        let after = history.samples(third, at: 120, seconds: 10)[0]
        #expect(after.requests == 3 && after.cpuNanoseconds == 400_000_000 && after.serverErrors == 0)
        #expect(MetricSample(app: "a", at: 0, seconds: 10, requests: 0, clientErrors: 0, serverErrors: 0, durations: [], cpuNanoseconds: 0, memoryBytes: 0, restarts: 0)
            .percentileMilliseconds(0.95) == nil)
    }

    @Test func trafficLinesGoThroughTheControlSocketWhole() {
        let counts = counts(ok: 4, serverErrors: 1, fast: 3, slow: 2)
        let line = TrafficLine(app: "shop", counts: counts)
        #expect(TrafficLine(Substring(line.text)) == line)
        #expect(TrafficLine("shop 1 2 3") == nil)
        #expect(MetricsText.seconds(5_000) == "0.005" && MetricsText.seconds(2_500_000) == "2.5" && MetricsText.seconds(10_000_000) == "10")
    }

    /// The API's times are ISO8601DateFormatter's, written without one.
    @Test func apiTimesAreISO8601() {
        for seconds in [0, 951_782_400, 1_700_000_000.7, 1_799_999_999.999, 4_102_444_799] as [Double] {
            let date = Date(timeIntervalSince1970: seconds)
            #expect(APIAccess.time(date) == ISO8601DateFormatter().string(from: date), "\(seconds)")
        }
    }
}
