// Micro-benchmarks of the hot paths: RESP parse/encode, stream append/range, log-record
// encode/decode, frame compress/decompress, CRC. Each reports wall time, throughput and
// mallocs (the MallocInterposer trait counts every allocation); hot paths aim at zero.
import Benchmark
import NIOCore
import NIOEmbedded
import RunnelBroker
import RunnelRESP
import RunnelStorage
import RunnelStreams

/// A ~100-byte entry of five fields, as the side-by-side benchmarks use.
func entryFields(_ i: Int) -> [[UInt8]] {
    [
        Array("sku".utf8), Array("SKU-\(i % 5000)".utf8),
        Array("qty".utf8), Array("\(i % 9 + 1)".utf8),
        Array("price".utf8), Array("\(1000 + i % 9000)".utf8),
        Array("store".utf8), Array("\(i % 300)".utf8),
        Array("note".utf8), Array("xxxxxxxxxxxxxxxxxxxxxxxx".utf8),
    ]
}

/// JSON-like events (~100 B) for the storage codecs: what compression sees in production.
func jsonEvent(_ i: Int) -> [UInt8] {
    let kinds = ["order.created", "order.paid", "order.shipped"]
    let agents = ["Mozilla/5.0 (X11; Linux x86_64)", "okhttp/4.12.0", "curl/8.5.0"]
    let id = String(UInt64(truncatingIfNeeded: i) &* 0x9E37_79B9_7F4A_7C15, radix: 16)
    return Array("{\"id\":\"\(id)\",\"type\":\"\(kinds[i % 3])\",\"user\":\(i % 200_000),\"sku\":\"SKU-\(i % 5000)\",\"qty\":\(i % 9),\"ua\":\"\(agents[i % 3])\"}".utf8)
}

func xaddCommand(_ i: Int) -> [UInt8] {
    let parts: [[UInt8]] = [Array("XADD".utf8), Array("orders".utf8), Array("*".utf8)] + entryFields(i)
    var out = Array("*\(parts.count)\r\n".utf8)
    for p in parts { out += Array("$\(p.count)\r\n".utf8) + p + Array("\r\n".utf8) }
    return out
}

/// One 64 KiB region of encoded append records, as the log writer hands it to zlib.
func encodedRegion() -> [UInt8] {
    let encoder = LogEncoder()
    var i = 0
    while encoder.pendingBytes < 60 * 1024 {
        let id = StreamID(ms: 1_700_000_000_000 + UInt64(i / 3), seq: UInt64(i % 3))
        encoder.encodeAppend(handle: 1, id: id, fields: FieldList([Array("data".utf8), jsonEvent(i)]), newNode: i % 100 == 0)
        i += 1
    }
    return encoder.take().flatMap(\.bytes)
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal, .instructions],
        maxDuration: .seconds(2), maxIterations: 10_000)
    // Fixtures are built once, outside the measured closures.
    var pipelined = ByteBufferAllocator().buffer(capacity: 4096)
    for i in 0..<16 { pipelined.writeBytes(xaddCommand(i)) }
    let batch = pipelined
    let replyFields = entryFields(7)
    let fieldLists = (0..<64).map { FieldList(entryFields($0)) }
    let jsonLists = (0..<64).map { FieldList([Array("data".utf8), jsonEvent($0)]) }
    var big = Stream()
    for i in 0..<100_000 {
        _ = try? big.append(.explicit(StreamID(ms: UInt64(i) + 1, seq: 0)), fields: fieldLists[i & 63], nowMs: 0)
    }
    let stream100k = big
    let region = encodedRegion()
    let payload = Deflater(level: 1).compress(region)

    // The whole server path for one read burst on an EmbeddedChannel: parse -> dispatch ->
    // stream append -> reply encode -> write, for 16 pipelined XADDs (no persistence).
    Benchmark("Broker 16 pipelined XADD, end to end", configuration: .init(scalingFactor: .kilo)) { benchmark in
        let loop = EmbeddedEventLoop()
        let broker = Broker(config: ServerConfig(), eventLoop: loop)
        let channel = EmbeddedChannel(handler: ConnectionHandler(broker: broker), loop: loop)
        channel.pipeline.fireChannelActive()
        func burst() throws {
            try channel.writeInbound(batch)
            channel.pipeline.fireChannelReadComplete()
            loop.run()
            while let out = try channel.readOutbound(as: ByteBuffer.self) { blackHole(out.readableBytes) }
        }
        for _ in 0..<100 { try burst() }  // warm: stream created, buffers sized
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            try channel.writeInbound(batch)
            channel.pipeline.fireChannelReadComplete()
            loop.run()
            while let out = try channel.readOutbound(as: ByteBuffer.self) { blackHole(out.readableBytes) }
        }
    }

    // PUBLISH of 16 pipelined messages to 10 subscribers on the same loop.
    Benchmark("Broker 16 pipelined PUBLISH to 10 subscribers, end to end", configuration: .init(scalingFactor: .kilo)) { benchmark in
        let loop = EmbeddedEventLoop()
        let broker = Broker(config: ServerConfig(), eventLoop: loop)
        let subscribers = (0..<10).map { _ in EmbeddedChannel(handler: ConnectionHandler(broker: broker), loop: loop) }
        for s in subscribers {
            s.pipeline.fireChannelActive()
            try s.writeInbound(ByteBuffer(string: "SUBSCRIBE bench\r\n"))
            s.pipeline.fireChannelReadComplete()
        }
        let publisher = EmbeddedChannel(handler: ConnectionHandler(broker: broker), loop: loop)
        publisher.pipeline.fireChannelActive()
        var publishes = ByteBufferAllocator().buffer(capacity: 4096)
        let message = String(repeating: "m", count: 100)
        for _ in 0..<16 { publishes.writeString("*3\r\n$7\r\nPUBLISH\r\n$5\r\nbench\r\n$100\r\n\(message)\r\n") }
        loop.run()
        for _ in 0..<100 {  // warm
            try publisher.writeInbound(publishes)
            publisher.pipeline.fireChannelReadComplete()
            loop.run()
            while let _ = try publisher.readOutbound(as: ByteBuffer.self) {}
        }
        for s in subscribers { while let _ = try s.readOutbound(as: ByteBuffer.self) {} }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            try publisher.writeInbound(publishes)
            publisher.pipeline.fireChannelReadComplete()
            loop.run()
            while let out = try publisher.readOutbound(as: ByteBuffer.self) { blackHole(out.readableBytes) }
            for s in subscribers {
                while let out = try s.readOutbound(as: ByteBuffer.self) { blackHole(out.readableBytes) }
            }
        }
    }

    // The harness's own allocations per iteration: subtract from the others.
    Benchmark("Baseline (empty iteration)") { benchmark in
        for i in benchmark.scaledIterations { blackHole(i) }
    }

    // RESP: 16 pipelined XADDs (~1.9 KB) parsed into argument slices; the argument array is
    // handed back to the parser, as the connection handler does.
    Benchmark("RESP parse 16 pipelined XADD", configuration: .init(scalingFactor: .kilo)) { benchmark in
        var parser = RESPCommandParser()
        for _ in benchmark.scaledIterations {
            var input = batch
            while var args = try parser.next(&input) {
                blackHole(args.count)
                parser.recycle(&args)
            }
        }
    }

    // RESP: an XRANGE-shaped reply of 10 entries x 5 fields into a reused buffer.
    Benchmark("RESP encode XRANGE reply, 10 entries", configuration: .init(scalingFactor: .kilo)) { benchmark in
        var writer = RESPWriter(buffer: ByteBufferAllocator().buffer(capacity: 8192), version: .resp2)
        for _ in benchmark.scaledIterations {
            writer.buffer.clear()
            writer.arrayHeader(10)
            for e in 0..<10 {
                writer.arrayHeader(2)
                writer.bulkStreamID(ms: 1_700_000_000_000, seq: UInt64(e))
                writer.arrayHeader(replyFields.count)
                for f in replyFields { writer.bulk(bytes: f) }
            }
            blackHole(writer.buffer.readableBytes)
        }
    }

    // Streams: append entries of five fields (~100 B); nodes fill and roll as in the server.
    Benchmark("Stream append", configuration: .init(scalingFactor: .kilo)) { benchmark in
        var stream = Stream()
        for i in benchmark.scaledIterations {
            _ = try? stream.append(.explicit(StreamID(ms: UInt64(i) + 1, seq: 0)), fields: fieldLists[i & 63], nowMs: 0)
        }
        blackHole(stream.length)
    }

    // Streams: visit 10 entries from a random point of a 100,000-entry stream (XRANGE's path).
    Benchmark("Stream range 10 of 100k", configuration: .init(scalingFactor: .kilo)) { benchmark in
        for i in benchmark.scaledIterations {
            let start = UInt64(1 + (i &* 7919) % 99_000)
            var bytes = 0
            stream100k.visit(from: StreamID(ms: start, seq: 0), to: .max, limit: 10) { id, _ in
                bytes &+= Int(id.seq)
            }
            blackHole(bytes)
        }
    }

    // Storage: encode append records (delta IDs, shared fields), taking chunks every MiB.
    Benchmark("Record encode append", configuration: .init(scalingFactor: .kilo)) { benchmark in
        let encoder = LogEncoder()
        for i in benchmark.scaledIterations {
            encoder.encodeAppend(handle: 1, id: StreamID(ms: UInt64(i), seq: 0), fields: jsonLists[i & 63], newNode: i % 100 == 0)
            if encoder.pendingBytes > 1 << 20 { blackHole(encoder.take().count) }
        }
        blackHole(encoder.take().count)
    }

    Benchmark("Record decode 64 KiB region") { benchmark in
        for _ in benchmark.scaledIterations {
            var n = 0
            try RecordCodec.decodeRegion(region) { _ in n += 1 }
            blackHole(n)
        }
    }

    Benchmark("Frame compress 64 KiB (zlib level 1)") { benchmark in
        let deflater = Deflater(level: 1)
        for _ in benchmark.scaledIterations {
            deflater.reset()
            blackHole(deflater.compress(region).count)
        }
    }

    Benchmark("Frame decompress 64 KiB") { benchmark in
        let inflater = Inflater()
        for _ in benchmark.scaledIterations {
            inflater.reset()
            blackHole(try inflater.inflate(payload, from: 0, to: payload.count, rawLength: region.count).count)
        }
    }

    Benchmark("CRC-32 64 KiB") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(Checksum.crc32(region))
        }
    }
}
