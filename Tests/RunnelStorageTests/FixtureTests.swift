import Foundation
import Logging
import RunnelStreams
import Testing

@testable import RunnelStorage

/// The checked-in data directories in fixtures/data (made by tools/make-fixtures).
@Suite("Storage fixtures", .serialized)
struct FixtureTests {
    let logger = Logger(label: "test")

    /// A scratch copy of a fixture (recovery may truncate or rewrite files).
    func copy(_ name: String) throws -> DataDirectory {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let source = root.appendingPathComponent("fixtures/data/\(name)").path
        let target = tempDir("runnel-fixture-\(name)")
        for file in try FileManager.default.contentsOfDirectory(atPath: source) {
            try FileManager.default.copyItem(atPath: source + "/" + file, toPath: target + "/" + file)
        }
        return DataDirectory(target)
    }

    func describe(_ r: Recovery.Result) -> [String] {
        r.streams.map { "\($0.db)/\(String(decoding: $0.key, as: UTF8.self))\n\($0.stream.canonicalDescription)" }.sorted()
    }

    @Test("valid: checkpoint plus tail give the expected streams, groups and pending entries")
    func valid() throws {
        let dir = try copy("valid")
        // The fixtures are format version 1, read as they are (fixtures/README.md).
        for name in try FileManager.default.contentsOfDirectory(atPath: dir.path) where name.hasSuffix(".log") || name.hasSuffix(".ckpt") {
            #expect(Array(try Files.readAll(dir.file(name))[8..<12]) == [1, 0, 0, 0], "\(name)")
        }
        let r = try Recovery.recover(dir, repair: false, logger: logger)
        #expect(r.report.streams == 3)
        #expect(r.report.entries == 40 + 40 + 1 + 1 - 1)
        #expect(r.report.groups == 1)
        // 15 delivered to alice, 5 acked; 10 more to bob; one of alice's claimed by bob.
        #expect(r.report.pending == 20)
        // The newest segment (opened by the last start, empty) has no index until a start seals it.
        #expect(r.report.checkpointBytes > 0 && r.report.truncatedBytes == 0 && r.report.indexesRebuilt == 1)
        let orders = r.streams.first { $0.key == Array("orders".utf8) }!.stream
        let g = orders.groups[Array("shipping".utf8)]!
        #expect(g.pending[StreamID(ms: 1_700_000_000_000, seq: 7)]?.consumer == Array("bob".utf8))
        #expect(g.pending[StreamID(ms: 1_700_000_000_000, seq: 7)]?.deliveryCount == 3)
        #expect(g.lastID == StreamID(ms: 1_700_000_000_000, seq: 25))
        #expect(g.entriesRead == 25)
        #expect(orders.maxDeletedID == StreamID(ms: 1_700_000_000_001, seq: 50))
        #expect(r.streams.first { $0.key == Array("metrics".utf8) }?.db == 2)
    }

    @Test("torn: the half frame at the end is dropped and the state equals valid's")
    func torn() throws {
        let v = try Recovery.recover(try copy("valid"), repair: false, logger: logger)
        let dir = try copy("torn")
        let r = try Recovery.recover(dir, repair: false, logger: logger)
        #expect(r.report.truncatedBytes == 22)
        #expect(Files.size(dir.file("segment-00000003.log")) == Framing.headerSize)
        #expect(describe(r) == describe(v))
    }

    @Test("corrupt: refused with the file and offset; --repair keeps the prefix")
    func corrupt() throws {
        let dir = try copy("corrupt")
        var refusal: StorageError?
        do { _ = try Recovery.recover(dir, repair: false, logger: logger) } catch { refusal = error }
        guard case .corrupt(let file, let offset, let reason)? = refusal else {
            Issue.record("expected a corruption error, got \(String(describing: refusal))")
            return
        }
        #expect(file.hasSuffix("segment-00000002.log") && offset == 454 && reason.contains("CRC"))
        let r = try Recovery.recover(dir, repair: true, logger: logger)
        #expect(r.report.repaired?.contains("offset 454") == true)
        let v = try Recovery.recover(try copy("valid"), repair: false, logger: logger)
        #expect(r.report.entries < v.report.entries && r.report.entries >= 41)
    }

    @Test("missing-index: the index is rebuilt identical to the one the writer made")
    func missingIndex() throws {
        let dir = try copy("missing-index")
        let r = try Recovery.recover(dir, repair: false, logger: logger)
        #expect(r.report.indexesRebuilt == 2)
        let valid = try copy("valid")
        let rebuilt = try Files.readAll(dir.file(dir.indexName(2)))
        let original = try Files.readAll(valid.file(valid.indexName(2)))
        // The same points; the rebuilt file is a new file, so it has this build's version.
        #expect(try SegmentIndex.decode(rebuilt, file: "rebuilt") == SegmentIndex.decode(original, file: "original"))
        #expect(Array(rebuilt[8..<12]) == [2, 0, 0, 0] && Array(original[8..<12]) == [1, 0, 0, 0])
        #expect(rebuilt[Framing.headerSize...] == original[Framing.headerSize...])
    }
}
