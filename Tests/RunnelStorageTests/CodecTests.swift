import Foundation
import CRunnelSystem
import CZlib
import RunnelStreams
import Testing

@testable import RunnelStorage

@Suite("Record codec")
struct CodecTests {
    // Found by tools/fuzz (fixtures/fuzz/log/regression-record-length-past-end): a record
    // length that counted its own varint bytes as available read past the end of the frame.
    @Test("lengths that run past the end are errors, never out-of-bounds reads")
    func overlongLengths() throws {
        #expect(throws: (any Error).self) { try RecordCodec.decodeRegion([0x01]) { _ in } }
        #expect(throws: (any Error).self) { try RecordCodec.decodeRegion([0x02, 0x05]) { _ in } }
        var s = ByteSource([0x03, 0x41, 0x42])
        #expect(throws: ByteSource.Truncated.self) { try s.string() }
        // A source never reaches past its array, whatever bounds it was given.
        var clamped = ByteSource([1, 2], from: 1, to: 10)
        #expect(clamped.remaining == 1)
        #expect(try clamped.byte() == 2)
        #expect(throws: ByteSource.Truncated.self) { try clamped.byte() }
        // The fuzzer's input, framed into a segment, is reported, not a crash.
        var segment = Framing.header(.segment, id: 1)
        let deflater = Deflater(level: 1)
        segment += Framing.frame(payload: deflater.compress([0x01]), rawLength: 1, restart: true)
        #expect(SegmentIndex.build(segment: 1, bytes: segment).points.isEmpty)
    }

    /// Every input the log fuzzer ever crashed on (fixtures/fuzz/log/regression-*), replayed.
    @Test("fuzzer regressions: inputs that once crashed the log reader are handled")
    func fuzzRegressions() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("fixtures/fuzz/log")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix("regression-") }.sorted()
        #expect(names.count >= 2)
        for name in names {
            let bytes = [UInt8](try Data(contentsOf: dir.appendingPathComponent(name)))
            HostileInput.readLog(bytes)  // a trap here fails the run
        }
    }

    @Test("every record type round-trips through encode and decode")
    func roundTrip() throws {
        let g = Array("grp".utf8)
        let c = Array("alice".utf8)
        let records: [LogRecord] = [
            .streamNew(handle: 7, db: 3, key: Array("orders".utf8)),
            .append(handle: 7, id: StreamID(ms: 1_700_000_000_000, seq: 0), fields: FieldList([Array("f".utf8), Array("v".utf8)]), newNode: true),
            .append(handle: 7, id: StreamID(ms: 1_700_000_000_000, seq: 1), fields: FieldList([Array("f".utf8), Array("w".utf8)]), newNode: false),
            .append(handle: 7, id: StreamID(ms: 1_700_000_000_005, seq: 0), fields: FieldList([Array("g".utf8), Array("".utf8)]), newNode: false),
            // Several pairs: names differ, then repeat (the same-fields form), long and empty values.
            .append(
                handle: 7, id: StreamID(ms: 1_700_000_000_005, seq: 1),
                fields: FieldList([Array("sku".utf8), Array("A-1".utf8), Array("".utf8), Array(repeating: 0x61, count: 300), Array("qty".utf8), Array("2".utf8)]),
                newNode: false),
            .append(
                handle: 7, id: StreamID(ms: 1_700_000_000_004, seq: 0),
                fields: FieldList([Array("sku".utf8), Array("B".utf8), Array("".utf8), Array("".utf8), Array("qty".utf8), Array(repeating: 0x62, count: 20_000)]),
                newNode: true),
            .append(handle: 9, id: StreamID(ms: 1 << 50, seq: .max), fields: FieldList([Array("".utf8), Array("".utf8)]), newNode: false),
            .stream(handle: 7, .delete(ids: [StreamID(ms: 1_700_000_000_000, seq: 1), StreamID(ms: 5, seq: 9)])),
            .stream(handle: 7, .trim(through: StreamID(ms: 1_700_000_000_000, seq: 0))),
            .stream(handle: 7, .setMetadata(lastID: .max, entriesAdded: 99, maxDeletedID: nil)),
            .stream(handle: 7, .setMetadata(lastID: StreamID(ms: 3, seq: 3), entriesAdded: nil, maxDeletedID: StreamID(ms: 2, seq: 0))),
            .stream(handle: 7, .groupCreate(name: g, lastID: .zero, entriesRead: nil)),
            .stream(handle: 7, .groupSetID(name: g, lastID: StreamID(ms: 9, seq: 9), entriesRead: -1)),
            .stream(handle: 7, .groupSetID(name: g, lastID: StreamID(ms: 9, seq: 9), entriesRead: 12345)),
            .stream(handle: 7, .consumerCreate(group: g, consumer: c, time: 1_700_000_000_123)),
            .stream(handle: 7, .consumerSeen(group: g, consumer: c, time: 1_700_000_000_100)),
            .stream(handle: 7, .deliverNew(group: g, consumer: c, ids: [StreamID(ms: 1_700_000_000_005, seq: 0)], time: 1_700_000_000_200, noAck: false)),
            .stream(handle: 7, .deliverNew(group: g, consumer: c, ids: [], time: 5, noAck: true)),
            .stream(handle: 7, .redeliver(group: g, ids: [StreamID(ms: 1, seq: 1)], time: 1_700_000_000_300)),
            .stream(handle: 7, .ack(group: g, ids: [StreamID(ms: 1_700_000_000_005, seq: 0), StreamID(ms: 1_700_000_000_004, seq: 7)])),
            .stream(handle: 7, .claim(group: g, consumer: c, id: StreamID(ms: 4, seq: 4), deliveryTime: 0, deliveryCount: 17)),
            .stream(handle: 7, .dropPending(group: g, id: StreamID(ms: 4, seq: 4))),
            .stream(handle: 7, .groupLastID(group: g, id: StreamID(ms: 10, seq: 0))),
            .stream(handle: 7, .consumerDelete(group: g, consumer: c)),
            .stream(handle: 7, .groupDestroy(name: g)),
            .keyExpire(handle: 7, atMs: 1_800_000_000_000),
            .keyRename(handle: 7, db: 0, key: Array("renamed".utf8)),
            .keyCopy(from: 7, handle: 8, db: 2, key: Array("copy".utf8)),
            .append(handle: 8, id: StreamID(ms: 1_700_000_000_006, seq: 0), fields: FieldList([Array("f".utf8), Array("v".utf8)]), newNode: false),
            .swapDB(2, 15),
            .keyDelete(handle: 7),
            .flush(db: 4),
            .flush(db: nil),
        ]
        var sink = ByteSink()
        var region = RegionState()
        for r in records { RecordEncoding.encode(r, into: &sink, region: &region) }
        var decoded: [LogRecord] = []
        var readRegion = RegionState()
        try RecordDecoding.decodeAll(sink.bytes, region: &readRegion) { r, _ in decoded.append(r) }
        #expect(decoded == records)
    }

    @Test("appends with repeated field names and near IDs stay small")
    func compactAppends() throws {
        var sink = ByteSink()
        var region = RegionState()
        let fields = [Array("event".utf8), Array("x".utf8)]
        for i in 0..<100 {
            RecordEncoding.encode(
                .append(handle: 1, id: StreamID(ms: 1_700_000_000_000 + UInt64(i / 10), seq: UInt64(i % 10)), fields: FieldList(fields), newNode: false),
                into: &sink, region: &region)
        }
        // length, type, handle, id (2), pair count, value (2): 8 bytes after the first.
        #expect(sink.count < 100 * 9 + 20)
        var ids: [StreamID] = []
        var r2 = RegionState()
        try RecordDecoding.decodeAll(sink.bytes, region: &r2) { r, _ in
            if case .append(_, let id, let f, _) = r {
                ids.append(id)
                #expect(f.arrays == fields)
            }
        }
        #expect(ids.count == 100)
        #expect(ids.last == StreamID(ms: 1_700_000_000_009, seq: 9))
    }

    @Test("deflate frames survive the dropped sync marker and restart points")
    func deflateFrames() throws {
        let d = Deflater(level: 1)
        let inf = Inflater()
        var texts: [[UInt8]] = []
        var frames: [[UInt8]] = []
        for i in 0..<50 {
            let t = Array("{\"order\":\(i),\"sku\":\"ABC-\(i % 7)\",\"qty\":\(i % 3)}".utf8)
            if i == 25 { d.reset() }
            texts.append(t)
            frames.append(d.compress(t))
        }
        for (i, f) in frames.enumerated() {
            if i == 25 { inf.reset() }
            let out = try inf.inflate(f, from: 0, to: f.count, rawLength: texts[i].count)
            #expect(out == texts[i])
        }
        // A wrong declared length is an error, not a crash.
        let inf2 = Inflater()
        #expect(throws: Inflater.Failure.self) { try inf2.inflate(frames[0], from: 0, to: frames[0].count, rawLength: texts[0].count - 1) }
    }

    @Test("whole frames: libdeflate and zlib write and read the same format; damage is an error")
    func wholeFrames() throws {
        var text: [UInt8] = []
        for i in 0..<2000 { text += Array("{\"order\":\(i),\"sku\":\"ABC-\(i % 7)\",\"qty\":\(i % 3)}".utf8) }
        let viaZlib = WholeDeflater(level: 1, libdeflate: false)
        #expect(!viaZlib.usesLibdeflate)
        let viaLib = WholeDeflater(level: 1)
        #expect(viaLib.usesLibdeflate == (runnel_libdeflate_available() == 1))
        for payload in [viaZlib.compress(text), viaLib.compress(text), viaZlib.compress([7]), viaLib.compress(text)] {
            let raw = payload.count < 10 ? [7] : text
            for lib in [false, true] {
                let inf = Inflater()
                #expect(try inf.inflateWhole(payload, from: 0, to: payload.count, rawLength: raw.count, libdeflate: lib) == raw)
                // A wrong length, trailing bytes, a cut payload: errors, never a crash.
                #expect(throws: Inflater.Failure.self) {
                    try inf.inflateWhole(payload, from: 0, to: payload.count, rawLength: raw.count + 1, libdeflate: lib)
                }
                #expect(throws: Inflater.Failure.self) {
                    try inf.inflateWhole(payload + [0], from: 0, to: payload.count + 1, rawLength: raw.count, libdeflate: lib)
                }
                #expect(throws: Inflater.Failure.self) {
                    try inf.inflateWhole(payload, from: 0, to: payload.count - 1, rawLength: raw.count, libdeflate: lib)
                }
            }
        }
        #expect(viaZlib.compress(text).count < text.count / 3)
        // A whole frame between shared-stream frames leaves that stream alone.
        let d = Deflater(level: 1)
        let a = Array("first frame, shared stream ".utf8), b = Array("second frame, shared stream".utf8)
        var file = Framing.header(.segment, id: 1)
        file += Framing.frame(payload: d.compress(a), rawLength: a.count, restart: true)
        file += Framing.frame(payload: viaLib.compress(text), rawLength: text.count, restart: false, whole: true)
        file += Framing.frame(payload: d.compress(b), rawLength: b.count, restart: false)
        var scanner = FrameScanner(file)
        let inf = Inflater()
        var out: [[UInt8]] = []
        var flags: [Bool] = []
        while let n = scanner.next(), case .success(let f) = n {
            out.append(try inf.inflate(f, in: file))
            flags.append(f.whole)
        }
        #expect(out == [a, text, b] && flags == [false, true, false])
        // Bits other than restart and whole are still refused.
        var odd = Framing.frame(payload: Array("x".utf8), rawLength: 1, restart: true)
        let flagAt = 4 + 2
        odd[flagAt] |= 4
        let body = Array(odd[4...])
        let crc = Checksum.mask(Checksum.crc32(body))
        odd = withUnsafeBytes(of: crc.littleEndian) { Array($0) } + body
        var oddScanner = FrameScanner(Framing.header(.segment, id: 1) + odd)
        guard case .failure(.corrupt(_, let reason))? = oddScanner.next() else {
            Issue.record("unknown flags must be refused")
            return
        }
        #expect(reason.contains("unknown frame flags"))
    }

    @Test("files of format versions 1 and 2 are read; other versions are refused by name")
    func formatVersions() throws {
        for version: UInt32 in [1, 2, 3, 0] {
            var header = Framing.header(.segment, id: 9)
            header.replaceSubrange(8..<12, with: withUnsafeBytes(of: version.littleEndian) { Array($0) })
            let crc = Checksum.mask(Checksum.crc32(Array(header[0..<24])))
            header.replaceSubrange(24..<28, with: withUnsafeBytes(of: crc.littleEndian) { Array($0) })
            if version == 1 || version == 2 {
                #expect(try Framing.parseHeader(header, kind: .segment, file: "f") == 9)
            } else {
                #expect(throws: StorageError.self) { try Framing.parseHeader(header, kind: .segment, file: "f") }
                do {
                    _ = try Framing.parseHeader(header, kind: .segment, file: "f")
                } catch {
                    #expect("\(error)".contains("format version \(version), this build reads 1 to 2"), "\(error)")
                }
            }
        }
        #expect(Array(Framing.header(.segment, id: 1)[8..<12]) == [2, 0, 0, 0])
    }

    @Test("frame scanner reports truncation and CRC damage with offsets")
    func frameScanner() {
        var file = Framing.header(.segment, id: 1)
        let f1 = Framing.frame(payload: Array("hello".utf8), rawLength: 5, restart: true)
        let f2 = Framing.frame(payload: Array("world".utf8), rawLength: 5, restart: false)
        file += f1 + f2
        var s = FrameScanner(file)
        guard case .success(let a)? = s.next(), case .success(let b)? = s.next() else {
            Issue.record("two frames expected")
            return
        }
        #expect(a.offset == Framing.headerSize && a.restart && !b.restart)
        #expect(s.next() == nil)
        var torn = FrameScanner(Array(file.dropLast(2)))
        _ = torn.next()
        #expect(torn.next().map { if case .failure(.truncated(let o)) = $0 { return o } else { return -1 } } == b.offset)
        var flipped = file
        flipped[b.payloadStart + 1] ^= 0x40
        var bad = FrameScanner(flipped)
        _ = bad.next()
        guard case .failure(.corrupt(let o, _))? = bad.next() else {
            Issue.record("corruption expected")
            return
        }
        #expect(o == b.offset)
    }

    /// Regions (and so frames) are cut only between units: a command's or a transaction's
    /// records stay in one region, however far past `regionLimit`, unless the unit passes
    /// `unitLimit`. Outside units a region is cut at the first record past the limit.
    @Test("a unit's records are never split between regions, up to unitLimit")
    func unitsKeepRegionsWhole() {
        func append(_ e: LogEncoder, _ n: Int) {
            for i in 0..<n {
                e.encodeAppend(handle: 1, id: StreamID(ms: UInt64(i + 1), seq: 0), fields: FieldList([Array("f".utf8), Array(repeating: 120, count: 30)]), newNode: i == 0)
            }
        }
        let e = LogEncoder()
        e.regionLimit = 100
        e.encode(.streamNew(handle: 1, db: 0, key: Array("s".utf8)))
        e.beginUnit()
        append(e, 10)  // ~700 bytes in all: seven regions' worth, one unit
        e.beginUnit()  // a nested unit (blocked readers served by the command) ends inside it
        append(e, 2)
        e.endUnit()
        append(e, 8)
        e.endUnit()
        append(e, 10)  // outside a unit: a region at each limit
        let chunks = e.take()
        #expect(chunks.map(\.records).first == 21, "\(chunks.map(\.records))")
        #expect(chunks.count > 2 && chunks.dropFirst().allSatisfy { $0.restart && $0.records <= 3 }, "\(chunks.map(\.records))")
        // Past unitLimit a unit is cut after all, so frames stay bounded.
        let big = LogEncoder()
        big.regionLimit = 100
        big.unitLimit = 300
        big.encode(.streamNew(handle: 1, db: 0, key: Array("s".utf8)))
        big.beginUnit()
        append(big, 20)
        big.endUnit()
        let cut = big.take()
        #expect(cut.count > 1 && cut.allSatisfy { $0.records <= 10 }, "\(cut.map(\.records))")
        // What the broker writes: every command a unit of its own. A region is cut at the end
        // of the first unit past the limit, so regions (restart points, index points, segment
        // rolls) come every ~regionLimit bytes. Before this was so, the broker's records all
        // landed in one region until unitLimit, and segments never rolled by size.
        let commands = LogEncoder()
        commands.regionLimit = 100
        commands.encode(.streamNew(handle: 1, db: 0, key: Array("s".utf8)))
        for _ in 0..<20 {
            commands.beginUnit()
            append(commands, 1)
            commands.endUnit()
        }
        let regions = commands.take()
        #expect(regions.count >= 5 && regions.allSatisfy { $0.restart && $0.records <= 4 }, "\(regions.map(\.records))")
    }

    /// A frame holds at least one whole record, and one XADD may carry up to 1 GiB of fields
    /// (a checkpoint node as much): the reader's bounds must admit every frame a writer makes.
    /// 300 MB that do not compress, as stored deflate blocks (level 0, quick), give a payload
    /// past the old 256 MiB bound.
    @Test("a frame whose payload is larger than 256 MiB is read back whole")
    func largeFrame() throws {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        let raw = [UInt8](unsafeUninitializedCapacity: 300_000_000) { buf, n in
            let words = UnsafeMutableRawBufferPointer(buf).bindMemory(to: UInt64.self)
            for i in words.indices {
                state ^= state << 13
                state ^= state >> 7
                state ^= state << 17
                words[i] = state
            }
            n = words.count * 8
        }
        let payload = Deflater(level: 0).compress(raw)
        #expect(payload.count > 256 << 20)
        let file = Framing.header(.segment, id: 1) + Framing.frame(payload: payload, rawLength: raw.count, restart: true)
        var scanner = FrameScanner(file)
        guard case .success(let frame)? = scanner.next() else {
            Issue.record("the frame was refused")
            return
        }
        #expect(frame.rawLength == raw.count && scanner.next() == nil)
        #expect(try Inflater().inflate(file, from: frame.payloadStart, to: frame.end, rawLength: frame.rawLength) == raw)
    }

    /// zlib counts in 32 bits; the wrappers hand it buffers past 1 GiB in pieces.
    @Test("CRC-32 and deflate of a buffer past 1 GiB go to zlib in pieces and agree with one call")
    func zlibPieces() throws {
        let count = (1 << 30) + 12_345
        var raw = [UInt8](repeating: 0, count: count)
        raw[5] = 1
        raw[count - 3] = 0xAB
        let whole = raw.withUnsafeBytes {
            UInt32(CZlib.crc32(0, $0.bindMemory(to: UInt8.self).baseAddress, UInt32($0.count)))
        }
        #expect(Checksum.crc32(raw) == whole)
        let payload = Deflater(level: 1).compress(raw)
        #expect(payload.count < 16 << 20)
        #expect(try Inflater().inflate(payload, from: 0, to: payload.count, rawLength: count) == raw)
    }

    @Test("manifest round-trips and rejects a damaged copy")
    func manifest() throws {
        let m = Manifest(checkpoint: .init(baseSegment: 4, name: "checkpoint-00000004.ckpt", size: 1234, crc: 0xdeadbeef), segmentsFrom: 4)
        let bytes = m.encoded()
        #expect(try Manifest.decode(bytes, file: "M") == m)
        var bad = bytes
        bad[30] ^= 1
        #expect(throws: StorageError.self) { try Manifest.decode(bad, file: "M") }
    }
}
