import Testing

@testable import RunnelStreams

private func fv(_ pairs: [(String, String)]) -> [[UInt8]] {
    pairs.flatMap { [Array($0.0.utf8), Array($0.1.utf8)] }
}

private func id(_ ms: UInt64, _ seq: UInt64 = 0) -> StreamID { StreamID(ms: ms, seq: seq) }

@Suite("Stream model")
struct StreamModelTests {
    func filled(_ n: Int, limits: Stream.NodeLimits = .init(), value: String = "v") -> Stream {
        var s = Stream()
        for i in 1...n {
            try! s.append(.explicit(id(UInt64(i))), fieldsAndValues: fv([("f", value + String(i))]), nowMs: 0, limits: limits)
        }
        return s
    }

    @Test("IDs: auto, ms-*, explicit, ordering errors")
    func ids() throws {
        var s = Stream()
        #expect(try s.append(.auto, fieldsAndValues: fv([("a", "1")]), nowMs: 100) == id(100, 0))
        #expect(try s.append(.auto, fieldsAndValues: fv([("a", "1")]), nowMs: 100) == id(100, 1))
        #expect(try s.append(.auto, fieldsAndValues: fv([("a", "1")]), nowMs: 50) == id(100, 2))
        #expect(try s.append(.autoSequence(ms: 100), fieldsAndValues: fv([("a", "1")]), nowMs: 0) == id(100, 3))
        #expect(try s.append(.autoSequence(ms: 200), fieldsAndValues: fv([("a", "1")]), nowMs: 0) == id(200, 0))
        #expect(throws: Stream.AppendError.idTooSmall) { try s.append(.explicit(id(200, 0)), fieldsAndValues: fv([("a", "1")]), nowMs: 0) }
        #expect(throws: Stream.AppendError.idTooSmall) { try s.append(.autoSequence(ms: 199), fieldsAndValues: fv([("a", "1")]), nowMs: 0) }
        #expect(try s.append(.explicit(id(300, .max)), fieldsAndValues: fv([("a", "1")]), nowMs: 0) == id(300, .max))
        #expect(throws: Stream.AppendError.sequenceExhausted) { try s.append(.autoSequence(ms: 300), fieldsAndValues: fv([("a", "1")]), nowMs: 0) }
        s.setMetadata(lastID: .max, entriesAdded: nil, maxDeletedID: nil)
        #expect(throws: Stream.AppendError.exhausted) { try s.append(.auto, fieldsAndValues: fv([("a", "1")]), nowMs: 0) }
        #expect(s.length == 6 && s.entriesAdded == 6)
    }

    @Test("entries round-trip, including fields that differ from the master entry")
    func roundTrip() throws {
        var s = Stream()
        let a = fv([("type", "order"), ("qty", "2")])
        let b = fv([("type", "refund"), ("qty", "1")])
        let c = fv([("other", "x")])
        let d = fv([("", ""), ("big", String(repeating: "z", count: 5000))])
        for (i, e) in [a, b, c, d].enumerated() {
            try s.append(.explicit(id(UInt64(i + 1), UInt64(i * 7))), fieldsAndValues: e, nowMs: 0)
        }
        let all = s.allEntries
        #expect(all.map(\.fieldsAndValues) == [a, b, c, d])
        #expect(all.map(\.id) == [id(1, 0), id(2, 7), id(3, 14), id(4, 21)])
        #expect(s.range(from: id(2), to: id(3, 99), reverse: true).map(\.id) == [id(3, 14), id(2, 7)])
        #expect(s.range(from: .zero, to: .max, limit: 2).count == 2)
        #expect(s.entry(id(2, 7))?.fieldsAndValues == b)
        #expect(s.entry(id(2, 8)) == nil)
    }

    @Test("field-name comparison: short names byte by byte, long ones with memcmp, lengths and counts first")
    func fieldNames() {
        let long = String(repeating: "n", count: 40)
        let list = FieldList([Array("sku".utf8), Array("1".utf8), Array(long.utf8), Array("v".utf8)])
        #expect(list.names == FieldList([Array("sku".utf8), Array(long.utf8)]))
        #expect(list.hasNames(FieldList([Array("sku".utf8), Array(long.utf8)])))
        #expect(!list.hasNames(FieldList([Array("skv".utf8), Array(long.utf8)])))
        #expect(!list.hasNames(FieldList([Array("sku".utf8), Array((long.dropLast() + "m").utf8)])))
        #expect(!list.hasNames(FieldList([Array("sk".utf8), Array(long.utf8)])))
        #expect(!list.hasNames(FieldList([Array("sku".utf8)])))
        #expect(FieldList([[], []]).hasNames(FieldList([[]])))
        // Names compared in place in both flat buffers: the bytes past a name (values, later
        // names) must not count, and a difference in any byte of the name must.
        func fields(_ parts: [String]) -> FieldList { FieldList(parts.map { Array($0.utf8) }) }
        let schema = ["a", "xxxxxxxxx", "qty", "yyyyyyyyy", "12345678", "zzzzzzzzz", "", "wwwwwwwww", "end", "v"]
        let entry = fields(schema)
        #expect(entry.hasNames(fields(["a", "qty", "12345678", "", "end"])))
        #expect(entry.hasNames(entry.names))
        for (i, name) in ["a", "qty", "12345678", "", "end"].enumerated() {
            var names = ["a", "qty", "12345678", "", "end"]
            for k in 0..<name.utf8.count {
                var bytes = Array(name.utf8)
                bytes[k] ^= 0x20
                names[i] = String(decoding: bytes, as: UTF8.self)
                #expect(!entry.hasNames(fields(names)), "name \(i) byte \(k)")
            }
            names[i] = name + "q"
            #expect(!entry.hasNames(fields(names)), "name \(i) longer")
        }
        // The same names followed by other bytes in the names list (a longer name after it).
        #expect(!fields(["ab", "1", "c", "2"]).hasNames(fields(["ab", "cd"])))
        #expect(fields(["ab", "1", "cd", "2"]).hasNames(fields(["ab", "cd"])))
        // Entries whose names match the master entry's are stored without names and read back whole.
        var s = Stream()
        for i in 1...3 {
            try? s.append(.explicit(id(UInt64(i))), fieldsAndValues: [Array("sku".utf8), Array("\(i)".utf8), Array(long.utf8), []], nowMs: 0)
        }
        #expect(s.allEntries.map { $0.fieldsAndValues[2] } == Array(repeating: Array(long.utf8), count: 3))
    }

    @Test("nodes split at stream-node-max-entries")
    func splitByEntries() {
        let s = filled(250)
        #expect(s.nodes.map(\.total) == [100, 100, 50])
        let small = filled(10, limits: .init(maxEntries: 3, maxBytes: 4096))
        #expect(small.nodes.map(\.total) == [3, 3, 3, 1])
    }

    @Test("nodes split at stream-node-max-bytes measured as listpack bytes")
    func splitByBytes() {
        let s = filled(60, value: String(repeating: "x", count: 200))
        // 200-byte values: about 19 per 4096-byte listpack.
        #expect(s.nodes.count > 2)
        #expect(s.nodes.allSatisfy { $0.listpackBytes < 4096 + 256 })
        #expect(s.nodes.dropLast().allSatisfy { $0.total < 100 })
    }

    @Test("listpack element sizes")
    func listpackSizes() {
        #expect(ListpackSize.integer(0) == 2)
        #expect(ListpackSize.integer(127) == 2)
        #expect(ListpackSize.integer(128) == 3)
        #expect(ListpackSize.integer(-4096) == 3)
        #expect(ListpackSize.integer(5000) == 4)
        #expect(ListpackSize.integer(1 << 40) == 10)
        #expect(ListpackSize.string(Array("12".utf8)) == 2)  // stored as an integer
        #expect(ListpackSize.string(Array("012".utf8)) == 5)  // a string: 1 + 3 + backlen 1
        #expect(ListpackSize.string([UInt8](repeating: 65, count: 100)) == 103)
    }

    @Test("XDEL marks entries, drops empty nodes, tracks first and max-deleted IDs")
    func delete() {
        var s = filled(150)
        let removed = s.delete([id(1), id(1), id(999)])
        #expect(removed == 1)
        #expect(s.firstID == id(2))
        #expect(s.maxDeletedID == id(1))
        let more = s.delete((2...100).map { id(UInt64($0)) })
        #expect(more == 99)
        #expect(s.nodes.count == 1)
        #expect(s.length == 50 && s.firstID == id(101))
        #expect(s.range(from: .zero, to: id(100)).isEmpty)
    }

    @Test("trimming: exact, approximate by whole nodes, MINID, LIMIT")
    func trim() {
        var s = filled(250)
        let r1 = s.trim(.maxLength(150), approximate: true, limit: 10000)
        #expect(r1 == 100 && s.length == 150)
        let r2 = s.trim(.maxLength(120), approximate: true, limit: 10000)
        #expect(r2 == 0)  // would split a node
        let r3 = s.trim(.maxLength(120), approximate: false, limit: 0)
        #expect(r3 == 30 && s.firstID == id(131))
        var t = filled(250)
        let r4 = t.trim(.maxLength(0), approximate: true, limit: 100)
        #expect(r4 == 100)  // LIMIT caps the work
        var u = filled(250)
        let r5 = u.trim(.minID(id(205)), approximate: true, limit: 0)
        #expect(r5 == 200)
        let r6 = u.trim(.minID(id(205)), approximate: false, limit: 0)
        #expect(r6 == 4 && u.firstID == id(205))
    }

    @Test("lag and entries-read follow Redis's rules")
    func lag() {
        var s = filled(10)
        var g = ConsumerGroup(lastID: .zero, entriesRead: nil)
        #expect(s.lag(of: g) == 10)
        g.lastID = id(10)
        #expect(s.lag(of: g) == 0)
        g.lastID = id(5)
        #expect(s.lag(of: g) == nil)  // an arbitrary ID in the middle: unknowable
        s.groups[Array("g".utf8)] = ConsumerGroup(lastID: .zero, entriesRead: 0)
        s.advance(group: Array("g".utf8), to: id(1))
        s.advance(group: Array("g".utf8), to: id(2))
        #expect(s.groups[Array("g".utf8)]!.entriesRead == 2)
        #expect(s.lag(of: s.groups[Array("g".utf8)]!) == 8)
        let tomb = s.delete([id(7)])
        #expect(tomb == 1)
        // A tombstone after the group's position makes its counter unusable.
        #expect(s.lag(of: s.groups[Array("g".utf8)]!) == nil)
        #expect(s.estimateEntriesRead(upTo: id(10)) == 10)
    }

    @Test("ordered ID set: out-of-order inserts, removal, re-insertion, ranges")
    func orderedSet() {
        var set = OrderedIDSet()
        for i in [5, 1, 9, 3, 7] { set.insert(id(UInt64(i))) }
        #expect(set.all == [1, 3, 5, 7, 9].map { id($0) })
        for i in 0..<100 { set.insert(id(UInt64(100 + i))) }
        for i in 0..<90 { set.remove(id(UInt64(100 + i))) }
        #expect(set.count == 15)
        set.insert(id(150))
        #expect(set.range(from: id(6), to: id(160)) == [7, 9, 150].map { id($0) } + (190..<200).map { id(UInt64($0)) }.filter { $0 <= id(160) })
        #expect(set.first == id(1) && set.last == id(199))
        #expect(set.range(from: .zero, to: .max, limit: 2) == [id(1), id(3)])
    }

    @Test("consumer groups: delivery, ownership transfer, ack, consumer deletion")
    func groups() {
        var g = ConsumerGroup(lastID: .zero, entriesRead: 0)
        g.ensureConsumer(Array("a".utf8), now: 1)
        g.ensureConsumer(Array("b".utf8), now: 1)
        g.deliver(id(1), to: Array("a".utf8), now: 10)
        g.deliver(id(2), to: Array("a".utf8), now: 10)
        g.deliver(id(1), to: Array("b".utf8), now: 20)
        #expect(g.pending[id(1)] == PendingEntry(consumer: Array("b".utf8), deliveryTime: 20, deliveryCount: 2))
        #expect(g.consumers[Array("a".utf8)]!.pending.all == [id(2)])
        let first = g.acknowledge(id(2))
        let second = g.acknowledge(id(2))
        #expect(first && !second)
        let dropped = g.deleteConsumer(Array("b".utf8))
        #expect(dropped == 1)
        #expect(g.pending.isEmpty && g.pendingOrder.isEmpty)
        #expect(g.sortedConsumers.map(\.name) == [Array("a".utf8)])
    }

    @Test("new nodes share one master field list when the names are the same, across streams, and read back exactly")
    func sharedMasterNames() throws {
        var names = FieldList()
        var a = Stream()
        var b = Stream()
        let small = Stream.NodeLimits(maxEntries: 2, maxBytes: 4096)
        for i in 1...5 {
            try a.append(.explicit(id(UInt64(i))), fields: FieldList(fv([("user", "a\(i)"), ("event", "login")])), nowMs: 0, limits: small, sharing: &names)
            try b.append(.explicit(id(UInt64(i))), fields: FieldList(fv([("user", "b\(i)"), ("event", "x")])), nowMs: 0, limits: small, sharing: &names)
        }
        func base(_ f: FieldList) -> UnsafeRawPointer? { f.storage.withUnsafeBytes { $0.baseAddress } }
        #expect(a.nodes.count == 3 && b.nodes.count == 3)
        let shared = base(a.nodes[0].masterFields)
        #expect(shared != nil)
        #expect((a.nodes + b.nodes).allSatisfy { base($0.masterFields) == shared }, "one list for every node of both streams")
        // Different names get their own list, which the next node with those names shares.
        var c = Stream()
        try c.append(.explicit(id(1)), fields: FieldList(fv([("other", "1")])), nowMs: 0, limits: small, sharing: &names)
        try c.append(.explicit(id(2)), fields: FieldList(fv([("other", "2")])), nowMs: 0, limits: small, sharing: &names)
        try c.append(.explicit(id(3)), fields: FieldList(fv([("other", "3")])), nowMs: 0, limits: small, sharing: &names)
        #expect(base(c.nodes[0].masterFields) != shared && base(c.nodes[1].masterFields) == base(c.nodes[0].masterFields))
        // The same entries as without sharing.
        var plain = Stream()
        for i in 1...5 {
            try plain.append(.explicit(id(UInt64(i))), fieldsAndValues: fv([("user", "a\(i)"), ("event", "login")]), nowMs: 0, limits: small)
        }
        #expect(a.range(from: .zero, to: .max) == plain.range(from: .zero, to: .max))
        #expect(a.canonicalDescription == plain.canonicalDescription)
        #expect(b.range(from: .zero, to: .max).map(\.fieldsAndValues).last == fv([("user", "b5"), ("event", "x")]))
    }

}
