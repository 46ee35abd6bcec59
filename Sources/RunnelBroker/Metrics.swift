import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus

/// Prometheus metrics (`metrics-port`, off by default), built on swift-prometheus.
///
/// Counters that the broker already keeps for INFO (commands per name, bytes in and out,
/// fsyncs) are brought up to date at scrape time, on the event loop, by adding what changed
/// since the last scrape: the hot path pays nothing for them. The one per-command cost is the
/// latency histogram, recorded for each call only while metrics are on.
final class BrokerMetrics {
    let registry = PrometheusCollectorRegistry()
    /// Command latency buckets: 10 µs … 1 s.
    static let latencyBuckets: [Duration] = [
        .microseconds(10), .microseconds(25), .microseconds(50), .microseconds(100), .microseconds(250),
        .microseconds(500), .milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10),
        .milliseconds(25), .milliseconds(100), .milliseconds(1000),
    ]

    private var commandCounters: [String: (counter: Counter, seen: Int)] = [:]
    private var totals: [String: (counter: Counter, seen: Int)] = [:]
    private let gauges: [String: Gauge]

    init() {
        var g: [String: Gauge] = [:]
        for (name, help) in [
            ("runnel_connected_clients", "Client connections open now"),
            ("runnel_blocked_clients", "Clients waiting in XREAD/XREADGROUP BLOCK"),
            ("runnel_pubsub_channels", "Channels with at least one subscriber"),
            ("runnel_pubsub_patterns", "Patterns with at least one subscriber"),
            ("runnel_streams", "Stream keys in all databases"),
            ("runnel_stream_entries", "Entries in all streams"),
            ("runnel_consumer_groups", "Consumer groups in all streams"),
            ("runnel_pending_entries", "Delivered, unacknowledged entries in all groups"),
            ("runnel_disk_bytes", "Bytes of the data directory (log segments, indexes, checkpoint)"),
            ("runnel_log_durable_lag_bytes", "Log bytes encoded but not yet covered by fdatasync"),
            ("runnel_fsync_latency_p50_seconds", "Median fdatasync latency over the last 1,024 syncs"),
            ("runnel_fsync_latency_p99_seconds", "p99 fdatasync latency over the last 1,024 syncs"),
        ] {
            g[name] = registry.makeGauge(descriptor: described(name, help))
        }
        gauges = g
    }

    /// The latency histogram of one command (created on its first call).
    func histogram(for spec: CommandSpec) -> DurationHistogram {
        if let h = spec.latencyHistogram { return h }
        let h = registry.makeDurationHistogram(
            descriptor: described("runnel_command_duration_seconds", "Time spent executing each command"),
            labels: [("cmd", spec.fullName.lowercased())], buckets: Self.latencyBuckets)
        spec.latencyHistogram = h
        return h
    }

    private func bump(_ table: inout [String: (counter: Counter, seen: Int)], _ key: String, to value: Int, make: () -> Counter) {
        var entry = table[key] ?? (make(), 0)
        if value > entry.seen { entry.counter.increment(by: Int64(value - entry.seen)) }
        entry.seen = value
        table[key] = entry
    }

    private func total(_ name: String, _ help: String, _ value: Int) {
        bump(&totals, name, to: value) { registry.makeCounter(descriptor: described(name, help)) }
    }

    /// Brings every metric up to date from the broker and renders the exposition text.
    func render(_ b: Broker) -> [UInt8] {
        for spec in b.commands.byName.values.flatMap(\.allSpecs) where spec.calls > 0 {
            bump(&commandCounters, spec.fullName, to: spec.calls) {
                registry.makeCounter(
                    descriptor: described("runnel_commands_total", "Commands executed, by name"),
                    labels: [("cmd", spec.fullName.lowercased())])
            }
        }
        total("runnel_connections_received_total", "Client connections accepted", b.stats.connectionsReceived)
        total("runnel_net_input_bytes_total", "Bytes read from clients", b.stats.netInputBytes)
        total("runnel_net_output_bytes_total", "Bytes written to clients", b.stats.netOutputBytes)
        total("runnel_error_replies_total", "Error replies sent", b.stats.errorReplies)
        let t = b.streamTotals()
        gauges["runnel_connected_clients"]?.set(Double(b.clients.count))
        gauges["runnel_blocked_clients"]?.set(Double(b.blockedSessions.count + b.pausedWaiters.count))
        gauges["runnel_pubsub_channels"]?.set(Double(b.pubsub.channels.count))
        gauges["runnel_pubsub_patterns"]?.set(Double(b.pubsub.patterns.count))
        gauges["runnel_streams"]?.set(Double(t.streams))
        gauges["runnel_stream_entries"]?.set(Double(t.entries))
        gauges["runnel_consumer_groups"]?.set(Double(t.groups))
        gauges["runnel_pending_entries"]?.set(Double(t.pending))
        if let p = b.persistence {
            let w = p.writer.stats
            total("runnel_fsyncs_total", "fdatasync calls on the log", Int(w.fsyncs))
            total("runnel_log_records_total", "Records appended to the log", Int(p.encoder.encodedRecords))
            total("runnel_log_write_errors_total", "Failed log writes or syncs", Int(w.writeErrors))
            gauges["runnel_disk_bytes"]?.set(Double(p.diskUsage().total))
            gauges["runnel_log_durable_lag_bytes"]?.set(Double(p.encoder.encodedBytes - w.synced))
            gauges["runnel_fsync_latency_p50_seconds"]?.set(Double(w.fsyncPercentile(0.5)) / 1e6)
            gauges["runnel_fsync_latency_p99_seconds"]?.set(Double(w.fsyncPercentile(0.99)) / 1e6)
        }
        return registry.emitToBuffer()
    }
}

/// A metric's full name (units already in it, Prometheus style) and help text.
private func described(_ name: String, _ help: String) -> MetricNameDescriptor {
    MetricNameDescriptor(namespace: "", subsystem: "", metricName: name, unitName: "", helpText: help)
}

/// Serves `GET /metrics` over HTTP/1.1; everything else is 404.
final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let render: @Sendable () -> EventLoopFuture<[UInt8]>
    private var path = ""
    private var keepAlive = true

    init(render: @escaping @Sendable () -> EventLoopFuture<[UInt8]>) { self.render = render }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            path = head.method == .GET ? String(head.uri.split(separator: "?").first ?? "") : ""
            keepAlive = head.isKeepAlive
        case .body:
            break
        case .end:
            let keepAlive = keepAlive
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            guard path == "/metrics" else {
                respond(context, status: .notFound, body: Array("not found; metrics are at /metrics\n".utf8), keepAlive: keepAlive)
                return
            }
            render().hop(to: context.eventLoop).whenComplete { result in
                let (handler, context) = bound.value
                switch result {
                case .success(let text):
                    handler.respond(context, status: .ok, body: text, keepAlive: keepAlive)
                case .failure:
                    handler.respond(context, status: .internalServerError, body: [], keepAlive: keepAlive)
                }
            }
        }
    }

    private func respond(_ context: ChannelHandlerContext, status: HTTPResponseStatus, body: [UInt8], keepAlive: Bool) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: status == .ok ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain")
        headers.add(name: "Content-Length", value: String(body.count))
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        var buffer = context.channel.allocator.buffer(capacity: body.count)
        buffer.writeBytes(body)
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
