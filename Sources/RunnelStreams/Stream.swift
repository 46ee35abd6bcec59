/// A stream: entries in compact nodes, its metadata, and its consumer groups.
///
/// Value semantics, no I/O: commands mutate a `Stream` and read it back. Node boundaries
/// follow Redis's rules (`stream-node-max-entries`, `stream-node-max-bytes` measured in
/// listpack bytes) so that `~` trimming removes exactly the entries Redis removes.
public struct Stream: Sendable {
    public private(set) var nodes: [StreamNode] = []
    /// Live entries.
    public private(set) var length = 0
    /// The greatest ID ever added (or set by XSETID).
    public internal(set) var lastID: StreamID = .zero
    /// The first live entry's ID, or 0-0 when empty.
    public private(set) var firstID: StreamID = .zero
    /// The greatest ID ever deleted by XDEL (or set by XSETID).
    public internal(set) var maxDeletedID: StreamID = .zero
    /// Entries ever added (or set by XSETID).
    public internal(set) var entriesAdded: UInt64 = 0
    /// Consumer groups by name. Mutated only through the methods in StreamGroups.swift,
    /// which keep the journal complete.
    public internal(set) var groups: [[UInt8]: ConsumerGroup] = [:]
    /// When non-nil, receives the record that replays every mutation.
    public var journal: (any StreamJournal)?
    /// Passed to the journal with every record (the storage engine's handle of the stream).
    public var journalTag: UInt64 = 0

    public init() {}

    // MARK: - Appending

    /// Why an append was refused.
    public enum AppendError: Error, Sendable, Equatable {
        /// The requested ID is equal to or smaller than the stream's top item.
        case idTooSmall
        /// The stream's last ID is the maximum; no ID can follow it.
        case exhausted
        /// `ms-*` with `ms` the last ID's milliseconds and its sequence already at the maximum.
        case sequenceExhausted
        /// The entry's fields and values add up to more than `maxEntryBytes`.
        case tooLarge
    }

    /// The most bytes of fields and values one entry may hold: Redis's
    /// `STREAM_LISTPACK_MAX_SIZE` (1 GiB), above which XADD answers "Elements are too large".
    public static let maxEntryBytes = 1 << 30

    /// How the caller asked for the new entry's ID.
    public enum IDRequest: Sendable, Equatable {
        /// `*`: milliseconds from the clock, sequence chosen.
        case auto
        /// `ms-*`: given milliseconds, sequence chosen.
        case autoSequence(ms: UInt64)
        /// `ms-seq`.
        case explicit(StreamID)
    }

    /// Chooses the ID an append would get, without appending.
    public func nextID(for request: IDRequest, nowMs: UInt64) throws(AppendError) -> StreamID {
        if lastID == .max { throw .exhausted }
        switch request {
        case .auto:
            if nowMs > lastID.ms { return StreamID(ms: nowMs, seq: 0) }
            return lastID.successor!
        case .autoSequence(let ms):
            if ms == lastID.ms {
                guard lastID.seq < .max else { throw .sequenceExhausted }
                return StreamID(ms: ms, seq: lastID.seq + 1)
            }
            let id = StreamID(ms: ms, seq: 0)
            if id <= lastID { throw .idTooSmall }
            return id
        case .explicit(let id):
            if id <= lastID { throw .idTooSmall }
            return id
        }
    }

    /// Node size limits (`stream-node-max-entries`, `stream-node-max-bytes`).
    public struct NodeLimits: Sendable {
        public var maxEntries: Int
        public var maxBytes: Int
        public init(maxEntries: Int = 100, maxBytes: Int = 4096) {
            self.maxEntries = maxEntries
            self.maxBytes = maxBytes
        }
    }

    /// Appends an entry; returns its ID.
    @discardableResult
    public mutating func append(
        _ request: IDRequest, fieldsAndValues fv: [[UInt8]], nowMs: UInt64, limits: NodeLimits = NodeLimits()
    ) throws(AppendError) -> StreamID {
        try append(request, fields: FieldList(fv), nowMs: nowMs, limits: limits)
    }

    @discardableResult
    public mutating func append(
        _ request: IDRequest, fields: FieldList, nowMs: UInt64, limits: NodeLimits = NodeLimits()
    ) throws(AppendError) -> StreamID {
        var names = FieldList()
        return try append(request, fields: fields, nowMs: nowMs, limits: limits, sharing: &names)
    }

    /// XADD: as `append`, and a node it starts shares `names` as its master field list when
    /// the entry's names are the same, otherwise sets `names` to its own (the broker passes
    /// one list for all streams: a million small streams of one schema keep one copy of it).
    @discardableResult
    public mutating func append(
        _ request: IDRequest, fields: FieldList, nowMs: UInt64, limits: NodeLimits, sharing names: inout FieldList
    ) throws(AppendError) -> StreamID {
        let id = try nextID(for: request, nowMs: nowMs)
        // After the ID checks, as Redis's streamAppendItem.
        guard fields.totalLength <= Self.maxEntryBytes else { throw .tooLarge }
        let newNode = startsNode(fields, limits: limits)
        appendReplayed(id, fields, newNode: newNode, sharing: &names)
        journal?.recordAppend(id: id, fields: fields, newNode: newNode, tag: journalTag)
        return id
    }

    /// Whether an entry of `fv` goes into a new node (Redis's rules).
    private func startsNode(_ fv: FieldList, limits: NodeLimits) -> Bool {
        guard !nodes.isEmpty else { return true }
        let tail = nodes[nodes.count - 1]
        let maxBytes = (limits.maxBytes == 0 || limits.maxBytes > Self.maxEntryBytes) ? Self.maxEntryBytes : limits.maxBytes
        if tail.listpackBytes + fv.totalLength >= maxBytes { return true }
        return limits.maxEntries > 0 && tail.total >= limits.maxEntries
    }

    /// Appends with an ID known to be greater than `lastID` (replay, restore).
    public mutating func appendUnchecked(_ id: StreamID, _ fv: FieldList, limits: NodeLimits) {
        let newNode = startsNode(fv, limits: limits)
        appendReplayed(id, fv, newNode: newNode)
        journal?.recordAppend(id: id, fields: fv, newNode: newNode, tag: journalTag)
    }

    /// Stamps every node changed since the last call with a fresh version from `counter`
    /// (which only grows, so a stamp is never reused). A checkpoint stamps the live streams
    /// before copying them; a node group whose stamps match the previous checkpoint's is
    /// copied from that file instead of being serialized again.
    public mutating func stampNodes(_ counter: inout UInt64) {
        for i in nodes.indices where nodes[i].version == 0 { nodes[i].stamp(&counter) }
    }

    /// Appends with the node decision already made (replay).
    mutating func appendReplayed(_ id: StreamID, _ fv: FieldList, newNode: Bool) {
        var names = FieldList()
        appendReplayed(id, fv, newNode: newNode, sharing: &names)
    }

    /// `names`: a master field list new nodes share when their names are the same.
    mutating func appendReplayed(_ id: StreamID, _ fv: FieldList, newNode: Bool, sharing names: inout FieldList) {
        if newNode || nodes.isEmpty {
            if !nodes.isEmpty { nodes[nodes.count - 1].shrinkToFit() }
            nodes.append(StreamNode(first: id, fields: fv, sharing: &names))
        } else {
            nodes[nodes.count - 1].append(id, fv)
        }
        length += 1
        entriesAdded &+= 1
        lastID = id
        if length == 1 { firstID = id }
    }

    // MARK: - Reading

    /// Index of the node that would hold `id` (the last node whose master ID ≤ id), or 0.
    private func nodeIndex(for id: StreamID) -> Int {
        var lo = 0
        var hi = nodes.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if nodes[mid].masterID <= id { lo = mid + 1 } else { hi = mid }
        }
        return max(0, lo - 1)
    }

    /// Live entries with `start <= id <= end`, ascending (or descending), at most `limit`.
    public func range(from start: StreamID, to end: StreamID, limit: Int = .max, reverse: Bool = false) -> [StreamEntry] {
        guard start <= end, length > 0, limit > 0 else { return [] }
        var out: [StreamEntry] = []
        if !reverse {
            var i = nodeIndex(for: start)
            while i < nodes.count && out.count < limit {
                if nodes[i].masterID > end { break }
                nodes[i].entries(from: start, to: end, limit: limit, into: &out)
                i += 1
            }
        } else {
            var i = nodeIndex(for: end)
            while i >= 0 && out.count < limit {
                if nodes[i].lastID < start { break }
                for e in nodes[i].liveEntries(from: start, to: end).reversed() {
                    out.append(e)
                    if out.count >= limit { break }
                }
                i -= 1
            }
        }
        return out
    }

    /// Visits live entries in `start...end` without copying them, ascending or descending,
    /// at most `limit`; returns how many were visited.
    @discardableResult
    public func visit(
        from start: StreamID, to end: StreamID, limit: Int = .max, reverse: Bool = false,
        _ body: (StreamID, EntryFields) -> Void
    ) -> Int {
        guard start <= end, length > 0, limit > 0 else { return 0 }
        var visited = 0
        if !reverse {
            var i = nodeIndex(for: start)
            while i < nodes.count && visited < limit {
                if nodes[i].masterID > end { break }
                let more = nodes[i].visit(from: start, to: end) { id, fields in
                    body(id, fields)
                    visited += 1
                    return visited < limit
                }
                if !more { break }
                i += 1
            }
        } else {
            var i = nodeIndex(for: end)
            while i >= 0 && visited < limit {
                if nodes[i].lastID < start { break }
                let node = nodes[i]
                for (id, flags, position) in node.liveSlots(from: start, to: end).reversed() {
                    body(id, EntryFields(node: node, flags: flags, position: position))
                    visited += 1
                    if visited >= limit { break }
                }
                i -= 1
            }
        }
        return visited
    }

    /// Counts live entries in `start...end`, at most `limit` (for reply headers).
    public func count(from start: StreamID, to end: StreamID, limit: Int = .max) -> Int {
        var n = 0
        visit(from: start, to: end, limit: limit) { _, _ in n += 1 }
        return n
    }

    /// The live entry with this ID.
    public func entry(_ id: StreamID) -> StreamEntry? {
        guard length > 0, !nodes.isEmpty else { return nil }
        return nodes[nodeIndex(for: id)].entry(id)
    }

    /// The last live entry's ID (0-0 when empty).
    public var lastLiveID: StreamID {
        for node in nodes.reversed() {
            if let id = node.edgeLiveID(first: false) { return id }
        }
        return .zero
    }

    /// All entries, in order (tests and snapshots).
    public var allEntries: [StreamEntry] { range(from: .zero, to: .max) }

    // MARK: - Deleting and trimming

    /// XDEL: deletes these IDs; returns how many existed.
    public mutating func delete(_ ids: [StreamID]) -> Int {
        var removed = 0
        var removedIDs: [StreamID] = []
        var firstTouched = false
        for id in ids {
            guard length > 0, !nodes.isEmpty else { break }
            let i = nodeIndex(for: id)
            guard nodes[i].markDeleted(id) else { continue }
            removed += 1
            if journal != nil { removedIDs.append(id) }
            length -= 1
            if id == firstID { firstTouched = true }
            if nodes[i].live == 0 { nodes.remove(at: i) }
            if id > maxDeletedID { maxDeletedID = id }
        }
        if firstTouched || length == 0 { refreshFirstID() }
        if !removedIDs.isEmpty { log(.delete(ids: removedIDs)) }
        return removed
    }

    private mutating func refreshFirstID() {
        firstID = .zero
        for node in nodes {
            if let id = node.edgeLiveID(first: true) {
                firstID = id
                return
            }
        }
    }

    /// A trimming request: MAXLEN or MINID, exact or approximate (`~`), with a work LIMIT.
    public enum TrimStrategy: Sendable, Equatable {
        case maxLength(Int)
        case minID(StreamID)
    }

    /// Trims from the head as Redis's `streamTrim` does; returns the entries removed.
    /// With `approximate`, only whole nodes are removed; `limit` (0 = none) caps the work.
    @discardableResult
    public mutating func trim(_ strategy: TrimStrategy, approximate: Bool, limit: Int) -> Int {
        var deleted = 0
        var through: StreamID?
        defer {
            if let through { log(.trim(through: through)) }
        }
        while !nodes.isEmpty {
            if case .maxLength(let maxlen) = strategy, length <= maxlen { break }
            let node = nodes[0]
            if limit > 0 && deleted + node.live > limit { break }
            let removeWhole: Bool
            switch strategy {
            case .maxLength(let maxlen): removeWhole = length - node.live >= maxlen
            case .minID(let minID): removeWhole = node.lastID < minID
            }
            if removeWhole {
                nodes.removeFirst()
                length -= node.live
                deleted += node.live
                through = max(through ?? .zero, node.lastID)
                continue
            }
            if approximate { break }
            var remaining = length
            var lastMarked: StreamID?
            let removed: Int
            switch strategy {
            case .maxLength(let maxlen):
                removed = nodes[0].deleteLeading { id, isDeleted in
                    if remaining <= maxlen { return false }
                    if !isDeleted {
                        remaining -= 1
                        lastMarked = id
                    }
                    return true
                }
            case .minID(let minID):
                removed = nodes[0].deleteLeading { id, isDeleted in
                    guard id < minID else { return false }
                    if !isDeleted { lastMarked = id }
                    return true
                }
            }
            length -= removed
            deleted += removed
            if let lastMarked { through = max(through ?? .zero, lastMarked) }
            break
        }
        refreshFirstID()
        return deleted
    }

    /// Replays a trim: drops nodes whose last ID ≤ `through`, then marks live entries ≤
    /// `through` in the first remaining node.
    mutating func trimThrough(_ through: StreamID) {
        while let first = nodes.first, first.lastID <= through {
            length -= first.live
            nodes.removeFirst()
        }
        if !nodes.isEmpty {
            let removed = nodes[0].deleteLeading { id, _ in id <= through }
            length -= removed
        }
        refreshFirstID()
    }

    // MARK: - Consumer-group bookkeeping (Redis's lag rules)

    /// Whether a deleted entry (tombstone) may lie within `start...end`.
    public func rangeHasTombstones(from start: StreamID = .zero, to end: StreamID = .max) -> Bool {
        if length == 0 || maxDeletedID == .zero { return false }
        if firstID > maxDeletedID { return false }
        return start <= maxDeletedID && end >= maxDeletedID
    }

    /// The logical read counter of `id` (how many entries were added up to it), when knowable.
    public func estimateEntriesRead(upTo id: StreamID) -> Int64? {
        Self.estimateEntriesRead(
            upTo: id, entriesAdded: entriesAdded, length: length, lastID: lastID, firstID: firstID,
            maxDeletedID: maxDeletedID)
    }

    /// `estimateEntriesRead(upTo:)` from the stream's counters alone (also used while a RESTORE
    /// payload is decoded, before any stream exists). `firstID` is the first live entry's ID.
    static func estimateEntriesRead(
        upTo id: StreamID, entriesAdded: UInt64, length: Int, lastID: StreamID, firstID: StreamID,
        maxDeletedID: StreamID
    ) -> Int64? {
        if entriesAdded == 0 { return 0 }
        // Wrapping arithmetic on the bit pattern, as Redis's C does: a RESTOREd payload may
        // carry any 64-bit counters.
        let added = Int64(bitPattern: entriesAdded)
        if length == 0 && id <= lastID { return added }
        if id == lastID { return added }
        if id > lastID { return nil }
        if maxDeletedID == .zero || maxDeletedID < firstID {
            if id < firstID { return added &- Int64(length) }
            if id == firstID { return added &- Int64(length) &+ 1 }
        }
        return nil
    }

    /// A group's lag: entries added after its last-delivered ID, or nil when unknowable.
    public func lag(of group: ConsumerGroup) -> Int64? {
        if entriesAdded == 0 { return 0 }
        if let read = group.entriesRead, !rangeHasTombstones(from: group.lastID) {
            return Int64(bitPattern: entriesAdded) &- read
        }
        if let read = estimateEntriesRead(upTo: group.lastID) {
            return Int64(bitPattern: entriesAdded) &- read
        }
        return nil
    }

    /// Records that `group` delivered `id` (a new entry) as Redis does for `>` reads.
    mutating func advance(group name: [UInt8], to id: StreamID) {
        guard let gi = groups.index(forKey: name) else { return }
        advance(groupAt: gi, to: id)
    }

    /// `advance` for a group already looked up (`gi` indexes `groups`).
    mutating func advance(groupAt gi: Dictionary<[UInt8], ConsumerGroup>.Index, to id: StreamID) {
        guard id > groups.values[gi].lastID else { return }
        if let read = groups.values[gi].entriesRead, !rangeHasTombstones(from: id) {
            groups.values[gi].entriesRead = read &+ 1
        } else if entriesAdded > 0 {
            groups.values[gi].entriesRead = estimateEntriesRead(upTo: id)
        }
        groups.values[gi].lastID = id
    }

    /// XSETID's metadata change.
    public mutating func setMetadata(lastID: StreamID, entriesAdded: UInt64?, maxDeletedID: StreamID?) {
        self.lastID = lastID
        if let entriesAdded { self.entriesAdded = entriesAdded }
        if let maxDeletedID { self.maxDeletedID = maxDeletedID }
        log(.setMetadata(lastID: lastID, entriesAdded: entriesAdded, maxDeletedID: maxDeletedID))
    }

    /// Approximate bytes used by entries (for INFO and benchmarks).
    public var storageBytes: Int { nodes.reduce(0) { $0 + $1.storageBytes } }
}

extension Stream {
    /// Every observable piece of state, node boundaries included, as text: two streams with
    /// equal descriptions are indistinguishable to every command (replay and snapshot tests).
    public var canonicalDescription: String {
        var out = "length=\(length) last=\(lastID) first=\(firstID) maxdel=\(maxDeletedID) added=\(entriesAdded)\n"
        for node in nodes {
            out += "node master=\(node.masterID) last=\(node.lastID) total=\(node.total) live=\(node.live) lp=\(node.listpackBytes)\n"
        }
        for e in allEntries {
            out += "\(e.id) " + e.fieldsAndValues.map { String(decoding: $0, as: UTF8.self) }.joined(separator: ",") + "\n"
        }
        for (name, g) in groups.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
            out += "group \(String(decoding: name, as: UTF8.self)) last=\(g.lastID) read=\(g.entriesRead.map(String.init) ?? "nil") pending=\(g.pending.count)\n"
            for id in g.pendingOrder.all {
                let p = g.pending[id]!
                out += "  pel \(id) \(String(decoding: p.consumer, as: UTF8.self)) t=\(p.deliveryTime) n=\(p.deliveryCount)\n"
            }
            for c in g.sortedConsumers {
                out += "  consumer \(String(decoding: c.name, as: UTF8.self)) seen=\(c.seenTime) active=\(c.activeTime) pel=\(c.pending.all.map(\.description).joined(separator: ","))\n"
            }
        }
        return out
    }
}

extension Stream {
    /// Stream metadata as checkpoints store it (entries travel as node images).
    public struct Header: Sendable, Equatable {
        public var lastID: StreamID
        public var maxDeletedID: StreamID
        public var entriesAdded: UInt64
        public init(lastID: StreamID, maxDeletedID: StreamID, entriesAdded: UInt64) {
            self.lastID = lastID
            self.maxDeletedID = maxDeletedID
            self.entriesAdded = entriesAdded
        }
    }

    public var header: Header { Header(lastID: lastID, maxDeletedID: maxDeletedID, entriesAdded: entriesAdded) }

    /// Rebuilds a stream's entries and metadata from a checkpoint (groups are restored
    /// afterwards through the group API). Nil when the nodes are out of order or exceed
    /// `lastID`.
    public init?(header: Header, nodes restored: consuming [StreamNode]) {
        var previous: StreamID?
        var live = 0
        for i in restored.indices {  // by index: `for node in` copies each node (retains)
            if let previous, restored[i].masterID <= previous { return nil }
            guard restored[i].lastID >= restored[i].masterID else { return nil }
            previous = restored[i].lastID
            live += restored[i].live
        }
        if let previous, previous > header.lastID { return nil }
        nodes = restored
        length = live
        lastID = header.lastID
        maxDeletedID = header.maxDeletedID
        entriesAdded = header.entriesAdded
        refreshFirstID()
    }
}

extension Stream {
    /// How many nodes redis-server's radix tree (rax) has for this stream's nodes, reported
    /// by XINFO STREAM as `radix-tree-nodes`. The rax's keys are the nodes' master IDs as
    /// 16 big-endian bytes; its shape for a set of keys is: the root, one node per branching
    /// prefix, one per position just after a branch, and one leaf per key (runs between them
    /// are single compressed nodes). A set of positions, so a position that is two of these
    /// counts once. Checked against redis-server with random XADD/XDEL/XTRIM sequences.
    public var radixTreeNodeCount: Int {
        let keys = nodes.map { node -> [UInt8] in
            var k = [UInt8](repeating: 0, count: 16)
            for i in 0..<8 {
                k[i] = UInt8(truncatingIfNeeded: node.masterID.ms >> UInt64(56 - 8 * i))
                k[8 + i] = UInt8(truncatingIfNeeded: node.masterID.seq >> UInt64(56 - 8 * i))
            }
            return k
        }
        var positions: Set<ArraySlice<UInt8>> = [[]]
        for k in keys { positions.insert(k[...]) }
        var i = 1
        while i < keys.count {
            let a = keys[i - 1]
            let b = keys[i]
            var l = 0
            while l < 16 && a[l] == b[l] { l += 1 }
            positions.insert(a[..<l])
            if l < 16 {
                positions.insert(a[...l])
                positions.insert(b[...l])
            }
            i += 1
        }
        return positions.count
    }
}
