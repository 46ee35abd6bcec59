import Testing

@testable import RunnelStreams

@Suite("DUMP payloads (Redis's RDB encoding of streams)")
struct RedisDumpTests {
    func id(_ ms: UInt64, _ seq: UInt64 = 0) -> StreamID { StreamID(ms: ms, seq: seq) }

    /// A stream with several nodes, deletions, integer-looking values, two groups and a PEL.
    func sample() -> Stream {
        var s = Stream()
        var rng = SplitMix(seed: 7)
        let limits = Stream.NodeLimits(maxEntries: 7, maxBytes: 4096)
        for i in 1...60 {
            var pairs: [[UInt8]] = [Array("type".utf8), Array("order".utf8), Array("qty".utf8), Array(String(Int(rng.next() % 2000) - 1000).utf8)]
            if i % 5 == 0 { pairs = [Array("other".utf8), Array(String(repeating: "x", count: Int(rng.next() % 300)).utf8)] }
            try! s.append(.explicit(id(UInt64(i), UInt64(i % 3))), fieldsAndValues: pairs, nowMs: 0, limits: limits)
        }
        _ = s.delete([id(3, 0), id(17, 2), id(18, 0)])
        _ = s.createGroup(Array("g1".utf8), lastID: .zero, entriesRead: nil)
        _ = s.createGroup(Array("42".utf8), lastID: id(30, 0), entriesRead: 29)
        _ = s.createConsumer(Array("g1".utf8), Array("alice".utf8), now: 1_700_000_000_100)
        _ = s.createConsumer(Array("g1".utf8), Array("bob".utf8), now: 1_700_000_000_100)
        _ = s.createConsumer(Array("42".utf8), Array("idle".utf8), now: 1_700_000_000_000)
        s.deliverNew(Array("g1".utf8), consumer: Array("alice".utf8), ids: [id(1, 1), id(2, 2)], now: 1_700_000_000_123, noAck: false)
        s.deliverNew(Array("g1".utf8), consumer: Array("bob".utf8), ids: [id(4, 1)], now: 1_700_000_000_456, noAck: false)
        return s
    }

    struct SplitMix {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test("CRC-64 is Redis's (Jones polynomial): the standard check value")
    func crc() {
        #expect(RedisDump.crc64(Array("123456789".utf8)[...]) == 0xE9C6_D914_C4B8_D9CA)
    }

    @Test("LZF output decodes to its input; incompressible input is refused")
    func lzf() {
        var rng = SplitMix(seed: 1)
        let words = ["{\"sku\":", "\"qty\":", "order", "12", "-", "shipped", "\"}", " "].map { Array($0.utf8) }
        for round in 0..<300 {
            let n = 21 + Int(rng.next() % 3000)
            var input: [UInt8] = []
            if round % 3 == 0 {
                input = (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }  // noise: rarely compresses
            } else {
                while input.count < n { input += words[Int(rng.next() % UInt64(words.count))] }
            }
            if let packed = RedisDump.lzfCompress(input, limit: input.count - 4) {
                #expect(packed.count <= input.count - 4)
                #expect(RedisDump.lzfDecompress(packed[...], length: input.count) == input)
            } else {
                #expect(round % 3 == 0 || input.count < 200, "\(input.count) bytes of repeated words should compress")
            }
        }
        #expect(RedisDump.lzfDecompress([0x1F, 1][...], length: 32) == nil)  // literal run past the input
        #expect(RedisDump.lzfDecompress([0x00, 7, 0x20, 5][...], length: 4) == nil)  // reference before the start
    }

    @Test("listpack elements round-trip with Redis's integer and string encodings")
    func listpack() throws {
        var w = RedisDump.ListpackWriter()
        let values: [Int64] = [0, 127, 128, -1, -4096, 4095, 4096, -32768, 32767, 40000, -8_388_608, 8_388_607, Int64(Int32.max), Int64.min, Int64.max]
        for v in values { w.integer(v) }
        let strings = ["", "a", String(repeating: "b", count: 63), String(repeating: "c", count: 64), String(repeating: "d", count: 5000), "007", "-0", "12"]
        for s in strings { w.string(Array(s.utf8)[...]) }
        let elements = try RedisDump.listpackElements(w.finish())
        var expected = values.map { RedisDump.Element.integer($0) }
        expected += strings.map { $0 == "12" ? .integer(12) : .string(Array($0.utf8)) }
        #expect(elements == expected)
        #expect(throws: RedisDump.Failure.self) { try RedisDump.listpackElements([7, 0, 0, 0, 0, 0, 0xC0]) }
    }

    @Test("a payload restores to the same stream, and dumps again to the same bytes")
    func roundTrip() throws {
        let s = sample()
        let payload = s.redisDumpPayload()
        var restored = Stream()
        for r in try Stream.records(fromRedisDump: payload) { restored.apply(r) }
        #expect(restored.length == s.length)
        #expect(restored.nodes.count == s.nodes.count)
        #expect(restored.lastID == s.lastID && restored.firstID == s.firstID && restored.maxDeletedID == s.maxDeletedID)
        #expect(restored.entriesAdded == s.entriesAdded)
        #expect(restored.groups[Array("g1".utf8)]?.pending.count == 3)
        #expect(restored.groups[Array("42".utf8)]?.entriesRead == 29)
        #expect(restored.redisDumpPayload() == payload)
    }

    @Test("damaged payloads are refused with Redis's errors, never a crash")
    func damaged() throws {
        let payload = sample().redisDumpPayload()
        #expect(throws: RedisDump.Failure.versionOrChecksum) { try Stream.records(fromRedisDump: Array(payload.dropLast())) }
        var flipped = payload
        flipped[20] ^= 0x40
        #expect(throws: RedisDump.Failure.versionOrChecksum) { try Stream.records(fromRedisDump: flipped) }
        // A string payload (type 0) is not a stream.
        var string: [UInt8] = [0, 3] + Array("abc".utf8) + [10, 0]
        let crc = RedisDump.crc64(string[...])
        for k in 0..<8 { string.append(UInt8((crc >> UInt64(8 * k)) & 0xFF)) }
        #expect(throws: RedisDump.Failure.notAStream(0)) { try Stream.records(fromRedisDump: string) }
        // Random damage behind a valid checksum: refused or loaded, never a trap.
        var rng = SplitMix(seed: 3)
        var refused = 0
        for _ in 0..<2000 {
            var body = Array(payload.dropLast(10))
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                let at = Int(rng.next() % UInt64(body.count))
                switch rng.next() % 3 {
                case 0: body[at] = UInt8(truncatingIfNeeded: rng.next())
                case 1: body.remove(at: at)
                default: body.insert(UInt8(truncatingIfNeeded: rng.next()), at: at)
                }
            }
            body += [10, 0]
            let c = RedisDump.crc64(body[...])
            for k in 0..<8 { body.append(UInt8((c >> UInt64(8 * k)) & 0xFF)) }
            if let records = try? Stream.records(fromRedisDump: body) {
                var s = Stream()
                for r in records { s.apply(r) }
            } else {
                refused += 1
            }
        }
        #expect(refused > 1000)
    }
}
