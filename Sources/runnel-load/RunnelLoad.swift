import ArgumentParser
import Histogram
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// Load generator for the workloads redis-benchmark cannot express: consumer groups with
/// end-to-end latency, a reader's latency during a write load, Pub/Sub fan-out with delivery
/// latency. Speaks plain RESP to any server; prints one JSON object of results.
@main
struct RunnelLoad: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runnel-load",
        abstract: "Load generator for side-by-side benchmarks (runnel-server or redis-server).",
        subcommands: [ConsumeDrain.self, ConsumeLatency.self, ReaderLatency.self, Fanout.self])
}

struct Target: ParsableArguments {
    @Option var host = "127.0.0.1"
    @Option var port = 6379
    @Option(help: "event-loop threads of the load generator") var threads = 1
}

// MARK: - shared plumbing

/// ~100-byte entry body of the benchmarks: a JSON-like event (varied, so compression is honest).
func eventPayload(_ i: Int) -> String {
    let kinds = ["order.created", "order.paid", "order.shipped"]
    let h = UInt64(truncatingIfNeeded: i) &* 0x9E37_79B9_7F4A_7C15
    return "{\"id\":\"\(String(h, radix: 16))\",\"type\":\"\(kinds[i % 3])\",\"user\":\(i % 200_000),\"sku\":\"SKU-\(i % 5000)\",\"qty\":\(i % 9 + 1)}"
}

func runScript(_ commands: [[String]], _ target: Target, _ group: any EventLoopGroup) throws -> [Reply] {
    let promise = group.next().makePromise(of: [Reply].self)
    let channels = try connectAll([Script(commands, done: promise)], host: target.host, port: target.port, group: group)
    let replies = try promise.futureResult.wait()
    for c in channels { try? c.close().wait() }
    if let bad = replies.first(where: \.isError), case .error(let text) = bad {
        throw ValidationError("setup failed: \(text)")
    }
    return replies
}

func sleepUntil(_ deadline: UInt64) {
    let now = nowNs()
    if deadline > now { usleep(useconds_t(min(deadline - now, 1 << 31) / 1000)) }
}

func closeAll(_ channels: [any Channel]) {
    for c in channels { _ = c.close() }
    for c in channels { try? c.closeFuture.wait() }
}

func waitClosed(_ channels: [any Channel], until deadline: UInt64) {
    while nowNs() < deadline && channels.contains(where: { $0.isActive }) { usleep(2_000) }
    closeAll(channels)
}

func merged(_ roles: [Role]) -> Histogram<UInt64> {
    var h = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
    for r in roles { h.add(r.latency) }
    return h
}

/// Prints results as one JSON object (latencies in microseconds).
func report(_ fields: [(String, Double)], latency: Histogram<UInt64>? = nil, roles: [Role]) {
    var all = fields
    if let h = latency, h.totalCount > 0 {
        all += [("p50_us", Double(h.valueAtPercentile(50)) / 1000), ("p99_us", Double(h.valueAtPercentile(99)) / 1000),
                ("p999_us", Double(h.valueAtPercentile(99.9)) / 1000), ("max_us", Double(h.max) / 1000),
                ("samples", Double(h.totalCount))]
    }
    let errors = roles.reduce(0) { $0 + $1.errors }
    all.append(("errors", Double(errors)))
    var text = "{" + all.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ")
    if let first = roles.lazy.compactMap(\.firstError).first {
        text += ", \"first_error\": \"\(String(first.map { $0 == "\"" ? "'" : $0 }))\""
    }
    print(text + "}")
}

// MARK: - workloads

struct ConsumeDrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consume-drain",
        abstract: "Preload N entries, then N consumers drain them with XREADGROUP COUNT c + XACK; entries/s.")
    @OptionGroup var target: Target
    @Option var entries = 200_000
    @Option var consumers = 10
    @Option var count = 10
    @Option var key = "bench:consume"

    func run() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: target.threads)
        defer { try? group.syncShutdownGracefully() }
        _ = try runScript([["DEL", key], ["XGROUP", "CREATE", key, "g", "$", "MKSTREAM"]], target, group)
        let loader = ClosedLoop(depth: 64, deadline: .max, limit: entries) { [key] _, out in
            encodeCommand(["XADD", key, "*", "data", eventPayload(0)], into: &out)
        }
        let loadChannels = try connectAll([loader], host: target.host, port: target.port, group: group)
        waitClosed(loadChannels, until: nowNs() + 600_000_000_000)
        let done = NIOLockedValueBox(true)
        let start = nowNs()
        let roles = (0..<consumers).map {
            Consumer(key: key, group: "g", name: "c\($0)", count: count, blockMs: nil, producersDone: done,
                     hardDeadline: start + 600_000_000_000)
        }
        let channels = try connectAll(roles, host: target.host, port: target.port, group: group)
        waitClosed(channels, until: start + 600_000_000_000)
        let end = roles.map(\.lastConsumedAt).max() ?? nowNs()
        let consumed = roles.reduce(0) { $0 + $1.consumed }
        let seconds = Double(end - start) / 1e9
        report([("consumed", Double(consumed)), ("seconds", seconds), ("entries_per_s", Double(consumed) / seconds)],
               roles: roles + [loader])
    }
}

struct ConsumeLatency: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consume-latency",
        abstract: "Producers XADD at a fixed rate; consumers (XREADGROUP BLOCK + XACK) keep up; end-to-end latency.")
    @OptionGroup var target: Target
    @Option(help: "entries per second, all producers together") var rate = 10_000.0
    @Option var producers = 4
    @Option var consumers = 10
    @Option var count = 10
    @Option var seconds = 5.0
    @Option var key = "bench:latency"

    func run() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: target.threads)
        defer { try? group.syncShutdownGracefully() }
        _ = try runScript([["DEL", key], ["XGROUP", "CREATE", key, "g", "$", "MKSTREAM"]], target, group)
        let producersDone = NIOLockedValueBox(false)
        let start = nowNs() + 200_000_000
        let deadline = start + UInt64(seconds * 1e9)
        let consumerRoles = (0..<consumers).map {
            Consumer(key: key, group: "g", name: "c\($0)", count: count, blockMs: 100, producersDone: producersDone,
                     hardDeadline: deadline + 10_000_000_000)
        }
        let consumerChannels = try connectAll(consumerRoles, host: target.host, port: target.port, group: group)
        let payload = String(eventPayload(1).prefix(80))
        let producerRoles = (0..<producers).map { _ in
            Paced(perSecond: rate / Double(producers), start: start, deadline: deadline) { [key] now, out in
                encodeCommand(["XADD", key, "*", "ts", String(now), "data", payload], into: &out)
            }
        }
        let producerChannels = try connectAll(producerRoles, host: target.host, port: target.port, group: group)
        sleepUntil(deadline + 300_000_000)
        producersDone.withLockedValue { $0 = true }
        waitClosed(consumerChannels, until: deadline + 12_000_000_000)
        closeAll(producerChannels)
        let produced = producerRoles.reduce(0) { $0 + $1.replies }
        let consumed = consumerRoles.reduce(0) { $0 + $1.consumed }
        report([("produced", Double(produced)), ("consumed", Double(consumed)), ("seconds", seconds),
                ("entries_per_s", Double(consumed) / seconds)],
               latency: merged(consumerRoles), roles: consumerRoles + producerRoles)
    }
}

struct ReaderLatency: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reader",
        abstract: "One reader's XRANGE COUNT 10 latency while N writers XADD without pipelining.")
    @OptionGroup var target: Target
    @Option var writers = 50
    @Option var seconds = 5.0
    @Option var key = "bench:reader"

    func run() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: target.threads)
        defer { try? group.syncShutdownGracefully() }
        _ = try runScript([["DEL", key]] + (0..<100).map { ["XADD", key, "*", "data", eventPayload($0)] }, target, group)
        let start = nowNs() + 100_000_000
        let deadline = start + UInt64(seconds * 1e9)
        var n = 0
        let writerRoles = (0..<writers).map { _ in
            ClosedLoop(depth: 1, deadline: deadline) { [key] _, out in
                n &+= 1
                encodeCommand(["XADD", key, "*", "data", eventPayload(n)], into: &out)
            }
        }
        let writerChannels = try connectAll(writerRoles, host: target.host, port: target.port, group: group)
        sleepUntil(start)
        let reader = ClosedLoop(depth: 1, deadline: deadline) { [key] _, out in
            encodeCommand(["XRANGE", key, "-", "+", "COUNT", "10"], into: &out)
        }
        let readerChannels = try connectAll([reader], host: target.host, port: target.port, group: group)
        sleepUntil(deadline)
        waitClosed(readerChannels + writerChannels, until: deadline + 10_000_000_000)
        let written = writerRoles.reduce(0) { $0 + $1.replies }
        report([("reads_per_s", Double(reader.replies) / seconds), ("writes_per_s", Double(written) / seconds)],
               latency: reader.latency, roles: [reader] + writerRoles)
    }
}

struct Fanout: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fanout",
        abstract: "P publishers PUBLISH to one channel that S subscribers follow; deliveries/s and delivery latency.")
    @OptionGroup var target: Target
    @Option var publishers = 1
    @Option var subscribers = 10
    @Option(help: "PUBLISH commands in flight per publisher") var pipeline = 4
    @Option var size = 100
    @Option var seconds = 5.0

    func run() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: target.threads)
        defer { try? group.syncShutdownGracefully() }
        let subscribed = NIOLockedValueBox(0)
        let start = nowNs() + 300_000_000
        let deadline = start + UInt64(seconds * 1e9)
        let subRoles = (0..<subscribers).map { _ in
            Subscriber(channel: "bench:fanout", subscribed: subscribed, countUntil: deadline)
        }
        let subChannels = try connectAll(subRoles, host: target.host, port: target.port, group: group)
        let ready = nowNs() + 10_000_000_000
        while subscribed.withLockedValue({ $0 }) < subscribers && nowNs() < ready { usleep(1_000) }
        sleepUntil(start)
        let padding = String(repeating: "x", count: max(0, size - 21))
        let pubRoles = (0..<publishers).map { _ in
            ClosedLoop(depth: pipeline, deadline: deadline) { now, out in
                encodeCommand(["PUBLISH", "bench:fanout", "\(now):\(padding)"], into: &out)
            }
        }
        let pubChannels = try connectAll(pubRoles, host: target.host, port: target.port, group: group)
        sleepUntil(deadline)
        waitClosed(pubChannels, until: deadline + 10_000_000_000)
        usleep(500_000)  // let the last deliveries arrive
        closeAll(subChannels)
        let published = pubRoles.reduce(0) { $0 + $1.replies }
        let delivered = subRoles.reduce(0) { $0 + $1.deliveredInWindow }
        report([("published_per_s", Double(published) / seconds), ("deliveries_per_s", Double(delivered) / seconds),
                ("subscribed", Double(subscribed.withLockedValue { $0 }))],
               latency: merged(subRoles), roles: pubRoles + subRoles)
    }
}
