import Histogram

/// HdrHistogram of call durations in ns (the name avoids Prometheus's `Histogram`).
typealias LatencyHistogram = Histogram<UInt64>

/// Call counts in HdrHistogram's bucket layout for 1 ns…1 s at two significant digits, without
/// its bookkeeping: recording is an index and an add (every command pays it). `histogram`
/// rebuilds the HdrHistogram, identical to one recorded directly, when a report asks.
struct LatencyCounts {
    /// 24 buckets of 128 sub-buckets (256 in the first): values below 2^31 ns.
    private var counts = [UInt64](repeating: 0, count: 24 * 128 + 128)
    private(set) var total: UInt64 = 0

    @inline(__always)
    mutating func record(_ ns: UInt64) {
        let bucket = 56 - (ns | 255).leadingZeroBitCount
        let index = (bucket << 7) + Int(truncatingIfNeeded: ns >> UInt64(bucket))
        counts.withUnsafeMutableBufferPointer { $0[Swift.min(index, $0.count - 1)] &+= 1 }
        total &+= 1
    }

    var histogram: LatencyHistogram {
        var h = LatencyHistogram(lowestDiscernibleValue: 1, highestTrackableValue: 1_000_000_000, numberOfSignificantValueDigits: .two)
        for (index, count) in counts.enumerated() where count > 0 {
            let bucket = Swift.max(0, (index >> 7) - 1)
            let value = UInt64(index - (bucket << 7)) << UInt64(bucket)
            _ = h.record(Swift.max(1, value), count: count)
        }
        return h
    }
}

// Latency tracking (per-command histograms, as redis-server's `latency-tracking`) and the
// human-readable side of the latency monitor: LATENCY HISTOGRAM, DOCTOR and GRAPH.

extension Broker {
    /// Records one call of `spec` that took `us` microseconds. Redis keeps nanoseconds from 1 ns
    /// to 1 s with two significant digits; so does this.
    @inline(__always)
    func trackLatency(_ spec: CommandSpec, us: Int) {
        let ns = UInt64(min(max(us, 0), 1_000_000) * 1000)
        if spec.latencyTracker == nil { spec.latencyTracker = LatencyCounts() }
        spec.latencyTracker!.record(max(ns, 1))
    }

    /// The value at percentile `p` as redis-server's hdr_histogram computes it: the call at
    /// rank round(p% of calls) (at least the first), reported as its bucket's highest value
    /// (lowest for p0).
    static func percentileValue(_ h: LatencyHistogram, _ p: Double) -> UInt64 {
        let target = Swift.max(1, UInt64(Swift.min(p, 100) / 100 * Double(h.totalCount) + 0.5))
        var total: UInt64 = 0
        for v in h.recordedValues() {
            total += UInt64(v.count)
            if total >= target {
                return p == 0 ? h.lowestEquivalentForValue(v.value) : h.highestEquivalentForValue(v.value)
            }
        }
        return 0
    }

    /// LATENCY HISTOGRAM's buckets: at 1024 ns and each doubling, the bucket's upper bound in µs
    /// and the calls at or below it, listed where the count grows.
    static func cumulativeBuckets(_ h: LatencyHistogram) -> [(usec: Int, calls: Int)] {
        var out: [(Int, Int)] = []
        var previous = 0
        var level: UInt64 = 1024
        while level <= 2_000_000_000 {
            let high = h.highestEquivalentForValue(level)
            let calls = Int(h.count(within: 0...high))
            if calls > previous {
                out.append((Int(high / 1000), calls))
                previous = calls
            }
            if UInt64(calls) >= h.totalCount { break }
            level *= 2
        }
        return out
    }

    /// LATENCY HISTOGRAM [command …]: every tracked command, or the named ones (a container
    /// names all its subcommands); commands never called are left out.
    func latencyHistogram(_ s: ClientSession, _ names: [String]) {
        var specs: [CommandSpec] = []
        if names.isEmpty {
            specs = commands.all.flatMap(\.allSpecs)
        } else {
            for name in names {
                guard let spec = lookupFullName(name.lowercased()) else { continue }
                specs += spec.subcommands.isEmpty ? [spec] : spec.allSpecs.dropFirst()
            }
        }
        var seen = Set<String>()
        let tracked = specs.filter { ($0.latencyTracker?.total ?? 0) > 0 && seen.insert($0.fullName).inserted }
        s.out.mapHeader(tracked.count)
        for spec in tracked {
            let h = spec.latencyTracker!.histogram
            s.out.bulk(spec.fullName)
            s.out.mapHeader(2)
            s.out.bulk("calls" as StaticString)
            s.out.integer(Int(h.totalCount))
            s.out.bulk("histogram_usec" as StaticString)
            let buckets = Self.cumulativeBuckets(h)
            s.out.mapHeader(buckets.count)
            for b in buckets {
                s.out.integer(b.usec)
                s.out.integer(b.calls)
            }
        }
    }

    /// Samples, average, mean deviation and period of one latency event (Redis's analysis).
    struct LatencyAnalysis {
        var samples = 0
        var average = 0
        var meanDeviation = 0
        var periodSeconds = 0
    }

    func analyzeLatency(_ e: LatencyEvent, now: Int) -> LatencyAnalysis {
        var a = LatencyAnalysis()
        guard !e.samples.isEmpty else { return a }
        a.samples = e.samples.count
        a.average = e.samples.reduce(0) { $0 + $1.ms } / a.samples
        a.meanDeviation = e.samples.reduce(0) { $0 + abs(a.average - $1.ms) } / a.samples
        a.periodSeconds = Swift.max(1, now - (e.samples.map(\.time).min() ?? now))
        return a
    }

    /// LATENCY DOCTOR: what the monitor saw, event by event, and what to do about it.
    func latencyDoctorReport() -> String {
        if latencyEvents.isEmpty && config.latencyMonitorThreshold == 0 {
            return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n"
        }
        if latencyEvents.isEmpty {
            return "Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n"
        }
        let now = Int(Clock.nowMs() / 1000)
        var report = "Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n"
        var advice: [String] = []
        for (i, (name, e)) in latencyEvents.sorted(by: { $0.key < $1.key }).enumerated() {
            let a = analyzeLatency(e, now: now)
            let period = Self.fixed(Double(a.periodSeconds) / Double(Swift.max(1, a.samples)), digits: 2)
            report += "\(i + 1). \(name): \(a.samples) latency spikes (average \(a.average)ms, mean deviation \(a.meanDeviation)ms, period \(period) sec). Worst all time event \(e.maxMs)ms.\n"
            switch name {
            case "command":
                if config.slowlogSlowerThan < 0 {
                    advice.append("- There are latency issues with potentially slow commands you are using. Enable the slow log with 'CONFIG SET slowlog-log-slower-than \(config.latencyMonitorThreshold.multipliedReportingOverflow(by: 1000).partialValue)' and look at what it records.")
                } else if config.slowlogSlowerThan / 1000 > config.latencyMonitorThreshold {
                    advice.append("- The slow log threshold is above the latency monitor's: 'CONFIG SET slowlog-log-slower-than \(config.latencyMonitorThreshold.multipliedReportingOverflow(by: 1000).partialValue)' makes SLOWLOG show the commands behind these spikes.")
                }
                advice.append("- Check SLOWLOG GET for the commands that were slow. XRANGE/XREVRANGE and XREAD over many entries, XINFO STREAM FULL, KEYS, and DEL or FLUSHALL of large streams cost time in proportion to their size: use COUNT, SCAN and smaller ranges.")
            case "fast-command":
                advice.append("- Even O(1) commands were slow: the process was probably not scheduled (a busy or oversubscribed host, or a noisy virtual machine). Measure the host's intrinsic latency (redis-cli --intrinsic-latency 100) and give the broker a dedicated core.")
            default:
                break
            }
        }
        if advice.isEmpty {
            report += "\nWhile there are latency events logged, I'm not able to suggest any easy fix. Please use the Redis community to get some help, providing this report in your help request.\n"
        } else {
            report += "\nI have a few advices for you:\n\n" + advice.joined(separator: "\n") + "\n"
        }
        return report
    }

    /// LATENCY GRAPH <event>: the event's samples as an ASCII chart, one column per sample
    /// (the newest 80), scaled between the lowest and highest; labels say how long ago.
    func latencyGraph(_ name: String, _ e: LatencyEvent) -> String {
        let samples = e.samples.suffix(80)
        let low = samples.map(\.ms).min() ?? 0
        let high = samples.map(\.ms).max() ?? 0
        var out = "\(name) - high \(high) ms, low \(low) ms (all time high \(e.maxMs) ms)\n"
        out += String(repeating: "-", count: 80) + "\n"
        let rows = 4
        let levels = samples.map { s -> Int in
            high == low ? rows : 1 + (s.ms - low) * (rows - 1) / Swift.max(1, high - low)
        }
        for row in stride(from: rows, through: 1, by: -1) {
            var line = ""
            for level in levels { line += level > row ? "|" : level == row ? "#" : (row == 1 ? "_" : " ") }
            out += line + "\n"
        }
        // Age labels, written vertically: "12s", "3m", "2h"…
        let now = Int(Clock.nowMs() / 1000)
        let labels = samples.map { Self.shortAge(now - $0.time) }
        let height = labels.map(\.count).max() ?? 0
        for i in 0..<height {
            var line = ""
            for label in labels { line += i < label.count ? String(Array(label)[i]) : " " }
            out += line + "\n"
        }
        return out
    }

    static func shortAge(_ seconds: Int) -> String {
        if seconds < 60 { return "\(seconds)s" }
        if seconds < 3600 { return "\(seconds / 60)m" }
        if seconds < 86400 { return "\(seconds / 3600)h" }
        return "\(seconds / 86400)d"
    }
}
