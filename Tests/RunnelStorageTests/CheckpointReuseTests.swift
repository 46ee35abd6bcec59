import Foundation
import RunnelStreams
import Testing

@testable import RunnelStorage

fileprivate typealias Stream = RunnelStreams.Stream

/// Incremental checkpoints: unchanged node groups are copied from the previous checkpoint
/// file; everything else is compressed anew; the result always decodes to the current state.
@Suite("Checkpoint reuse")
struct CheckpointReuseTests {
    /// Stamps the streams as the server does before a checkpoint copies them, then builds the
    /// checkpoint state.
    fileprivate func makeState(_ streams: inout [UInt64: Stream], counter: inout UInt64) -> CheckpointState {
        for k in Array(streams.keys) { streams[k]!.stampNodes(&counter) }
        return makeState(streams)
    }

    fileprivate func makeState(_ streams: [UInt64: Stream]) -> CheckpointState {
        CheckpointState(
            baseSegment: 1, nextHandle: 10, createdMs: 1,
            streams: streams.sorted { $0.key < $1.key }.map {
                CheckpointStream(handle: $0.key, db: 0, key: Array("s\($0.key)".utf8), expireAt: 0, stream: $0.value)
            })
    }

    fileprivate func fill(_ s: inout Stream, from: Int, count: Int) {
        for i in from..<(from + count) {
            let fields = [Array("event".utf8), Array("{\"n\":\(i),\"sku\":\"SKU-\(i * 7919 % 5000)\",\"kind\":\"order-\(i % 5)\"}".utf8)]
            try! s.append(.explicit(StreamID(ms: 1_700_000_000_000 + UInt64(i), seq: 0)), fieldsAndValues: fields, nowMs: 0)
        }
    }

    fileprivate func makeDir() throws -> String {
        let dir = NSTemporaryDirectory() + "runnel-reuse-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Fills stream 1 with 20,000 entries, writes a level 1 checkpoint of it to `dir` and
    /// makes it `reuse`'s previous file. Returns the file's bytes.
    fileprivate func firstCheckpoint(
        _ streams: inout [UInt64: Stream], _ counter: inout UInt64, _ reuse: CheckpointReuse, dir: String
    ) throws -> [UInt8] {
        fill(&streams[1]!, from: 0, count: 20_000)
        let first = CheckpointFile.encode(makeState(&streams, counter: &counter), level: 1, reuse: reuse)
        let path = dir + "/one.ckpt"
        #expect(FileManager.default.createFile(atPath: path, contents: Data(first)))
        reuse.commit(path: path)
        return first
    }

    fileprivate func assertDecodes(_ bytes: [UInt8], to streams: [UInt64: Stream]) throws {
        let back = try CheckpointFile.decode(bytes, file: "ckpt")
        #expect(back.streams.count == streams.count)
        for cs in back.streams {
            #expect(cs.stream.canonicalDescription == streams[cs.handle]?.canonicalDescription, "handle \(cs.handle)")
        }
    }

    @Test("unchanged groups are copied, changed ones recompressed, and the file decodes to the new state")
    func copiesUnchangedGroups() throws {
        let dir = NSTemporaryDirectory() + "runnel-reuse-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var streams: [UInt64: Stream] = [1: Stream(), 2: Stream(), 3: Stream()]
        fill(&streams[1]!, from: 0, count: 40_000)  // many groups
        fill(&streams[2]!, from: 0, count: 50)  // smaller than one group
        _ = streams[3]!.createGroup(Array("g".utf8), lastID: .zero, entriesRead: 0)
        fill(&streams[3]!, from: 0, count: 3000)
        _ = streams[3]!.createConsumer(Array("g".utf8), Array("c".utf8), now: 5)
        streams[3]!.deliverNew(Array("g".utf8), consumer: Array("c".utf8), ids: [StreamID(ms: 1_700_000_000_001, seq: 0)], now: 5, noAck: false)

        let reuse = CheckpointReuse()
        var counter: UInt64 = 0
        let first = CheckpointFile.encode(makeState(&streams, counter: &counter), level: 1, reuse: reuse)
        #expect(reuse.lastCopiedBytes == 0, "nothing to copy from")
        try assertDecodes(first, to: streams)
        // The same state without reuse compresses to the same bytes: grouping is deterministic.
        #expect(CheckpointFile.encode(makeState(streams), level: 1) == first)
        let path1 = dir + "/one.ckpt"
        #expect(FileManager.default.createFile(atPath: path1, contents: Data(first)))
        reuse.commit(path: path1)

        // Unchanged: everything in groups is copied and the file is identical.
        let same = CheckpointFile.encode(makeState(&streams, counter: &counter), level: 1, reuse: reuse)
        #expect(same == first)
        #expect(reuse.lastCopiedBytes > first.count * 9 / 10)
        reuse.discard()

        // Appends at the end, a deletion in the middle, the head trimmed by whole nodes.
        fill(&streams[1]!, from: 40_000, count: 5000)
        #expect(streams[1]!.delete([StreamID(ms: 1_700_000_000_000 + 20_000, seq: 0)]) == 1)
        _ = streams[1]!.trim(.maxLength(30_000), approximate: true, limit: 0)
        fill(&streams[2]!, from: 50, count: 10)
        let second = CheckpointFile.encode(makeState(&streams, counter: &counter), level: 1, reuse: reuse)
        try assertDecodes(second, to: streams)
        #expect(reuse.lastCopiedBytes > second.count / 2, "most groups survive a head trim, a deletion and appends")
        #expect(reuse.lastCopiedBytes < second.count * 95 / 100, "changed groups are not copied")
        let path2 = dir + "/two.ckpt"
        #expect(FileManager.default.createFile(atPath: path2, contents: Data(second)))
        reuse.commit(path: path2)

        // A damaged frame in the previous file is never copied: its group is compressed again.
        var damaged = second
        damaged[damaged.count / 2] ^= 0x40
        #expect(FileManager.default.createFile(atPath: path2, contents: Data(damaged)))
        let third = CheckpointFile.encode(makeState(&streams, counter: &counter), level: 1, reuse: reuse)
        try assertDecodes(third, to: streams)
        #expect(third == second, "the damaged group was recompressed to its original frame")
        #expect(reuse.lastCopiedBytes < second.count * 98 / 100)

        // Without a previous file (removed), everything is compressed.
        unlink(path2)
        let fourth = CheckpointFile.encode(makeState(&streams, counter: &counter), level: 1, reuse: reuse)
        #expect(reuse.lastCopiedBytes == 0)
        #expect(fourth == second)
    }

    @Test("level 0 (stored) after level 1: old groups keep their compressed frames, new ones are stored, all decode")
    func storedAfterCompressed() throws {
        let dir = try makeDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var streams: [UInt64: Stream] = [1: Stream()]
        var counter: UInt64 = 0
        let reuse = CheckpointReuse()
        let first = try firstCheckpoint(&streams, &counter, reuse, dir: dir)
        fill(&streams[1]!, from: 20_000, count: 20_000)
        let second = CheckpointFile.encode(makeState(&streams, counter: &counter), level: 0, reuse: reuse)
        try assertDecodes(second, to: streams)
        #expect(reuse.lastCopiedBytes > first.count * 9 / 10, "the first half is copied as compressed")
        let allStored = CheckpointFile.encode(makeState(streams), level: 0)
        let allCompressed = CheckpointFile.encode(makeState(streams), level: 1)
        #expect(allCompressed.count < second.count && second.count < allStored.count,
                "\(allCompressed.count) < \(second.count) < \(allStored.count)")
        #expect(allStored.count > 2 * allCompressed.count, "stored frames are the raw bytes")
    }

    @Test("node stamps: kept while a node is unchanged, reset by every change, never reused")
    func nodeStamps() throws {
        var s = Stream()
        fill(&s, from: 0, count: 250)  // three nodes
        #expect(s.nodes.allSatisfy { $0.version == 0 }, "new nodes are unstamped")
        var counter: UInt64 = 0
        s.stampNodes(&counter)
        let stamps = s.nodes.map(\.version)
        #expect(Set(stamps).count == stamps.count && !stamps.contains(0))
        s.stampNodes(&counter)
        #expect(s.nodes.map(\.version) == stamps, "stamping again changes nothing")
        fill(&s, from: 250, count: 1)  // appends to the last node
        #expect(s.nodes.last!.version == 0)
        #expect(s.delete([StreamID(ms: 1_700_000_000_000 + 5, seq: 0)]) == 1)  // first node
        #expect(s.nodes[0].version == 0)
        #expect(s.nodes[1].version == stamps[1], "untouched")
        s.stampNodes(&counter)
        #expect(s.nodes[0].version > stamps.max()! && s.nodes.last!.version > stamps.max()!)
        // A copy shares stamps; a change to the copy does not reach the original.
        var copy = s
        fill(&copy, from: 300, count: 1)
        #expect(copy.nodes.last!.version == 0 && s.nodes.last!.version != 0)
    }

    @Test("an unstamped change in a group means compressing it again")
    func unstampedNotReused() throws {
        let dir = try makeDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var streams: [UInt64: Stream] = [1: Stream()]
        var counter: UInt64 = 0
        let reuse = CheckpointReuse()
        _ = try firstCheckpoint(&streams, &counter, reuse, dir: dir)
        // Deleting one entry in every node, without stamping: nothing may be copied.
        for i in stride(from: 0, to: 20_000, by: 50) {
            #expect(streams[1]!.delete([StreamID(ms: 1_700_000_000_000 + UInt64(i), seq: 0)]) == 1)
        }
        let second = CheckpointFile.encode(makeState(streams), level: 1, reuse: reuse)
        #expect(reuse.lastCopiedBytes == 0)
        try assertDecodes(second, to: streams)
        #expect(second == CheckpointFile.encode(makeState(streams), level: 1))
    }

    @Test("the streaming encoder hands out the same file in bounded pieces")
    func streamedPieces() throws {
        var streams: [UInt64: Stream] = [1: Stream()]
        fill(&streams[1]!, from: 0, count: 60_000)
        let whole = CheckpointFile.encode(makeState(streams), level: 0)  // stored: several MiB
        var pieces: [[UInt8]] = []
        CheckpointFile.encode(makeState(streams), level: 0) { pieces.append($0) }
        #expect(pieces.count > 2, "\(whole.count) bytes in \(pieces.count) pieces")
        #expect(pieces.allSatisfy { $0.count < CheckpointFile.pieceBytes + CheckpointFile.groupMaxRaw + 4096 })
        #expect(pieces.flatMap { $0 } == whole)
        try assertDecodes(whole, to: streams)
    }
}
