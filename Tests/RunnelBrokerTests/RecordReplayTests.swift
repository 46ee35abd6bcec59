import NIOCore
import NIOEmbedded
import RunnelStreams
import RunnelTestSupport
import Testing

@testable import RunnelBroker

@Suite("Stream records replay to the identical state")
struct RecordReplayTests {
    @Test("random command sequences: replaying each stream's records rebuilds it exactly", arguments: [11, 12, 13, 14] as [UInt64])
    func replay(seed: UInt64) throws {
        let client = try EmbeddedClient()
        client.broker.journalStreams = true
        // A clock that moves 7 ms per command, so every time-stamped field differs.
        nonisolated(unsafe) var fakeNow: Int64 = 1_700_000_000_000
        client.broker.clockOverride = {
            fakeNow += 7
            return fakeNow
        }
        var gen = StreamScriptGenerator(seed: seed)
        for _ in 0..<3000 {
            var line = gen.command()
            if line.hasPrefix("~") { line.removeFirst() }
            _ = try client.send(line + "\r\n")
        }
        var checked = 0
        for key in ["s1", "s2", "s3"] {
            guard case .stream(let box)? = client.broker.dbs[0].rawValue(ByteBuffer(string: key)) else { continue }
            let records = (box.stream.journal as? RecordingJournal)?.records ?? []
            var replayed = Stream()
            for r in records { replayed.apply(r) }
            #expect(replayed.canonicalDescription == box.stream.canonicalDescription, "seed \(seed) key \(key): \(records.count) records")
            checked += 1
        }
        #expect(checked > 0)
    }

    @Test("records carry outcomes: a trim records the last ID it removed")
    func trimRecord() throws {
        var s = Stream()
        let journal = RecordingJournal()
        s.journal = journal
        for i in 1...5 {
            try s.append(.explicit(StreamID(ms: UInt64(i), seq: 0)), fieldsAndValues: [Array("f".utf8), Array("v".utf8)], nowMs: 0)
        }
        s.trim(.maxLength(2), approximate: false, limit: 0)
        #expect(journal.records.last == .trim(through: StreamID(ms: 3, seq: 0)))
        #expect(journal.records.first == .append(id: StreamID(ms: 1, seq: 0), fields: [Array("f".utf8), Array("v".utf8)], newNode: true))
    }
}
