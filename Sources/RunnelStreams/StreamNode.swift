/// One entry of a stream: its ID and alternating field and value byte strings.
public struct StreamEntry: Sendable, Equatable {
    public var id: StreamID
    public var fieldsAndValues: [[UInt8]]

    public init(id: StreamID, fieldsAndValues: [[UInt8]]) {
        self.id = id
        self.fieldsAndValues = fieldsAndValues
    }
}

/// Alternating field and value byte strings of one entry, in one flat buffer (two allocations
/// instead of one per string).
public struct FieldList: Sendable, Equatable {
    /// The strings' bytes, one after another.
    @inlinable public var storage: [UInt8] { _storage }
    @usableFromInline var _storage: [UInt8] = []
    /// Where each string ends in `storage`.
    @usableFromInline var ends: [Int] = []

    public init() {}

    public init(_ parts: [[UInt8]]) {
        ends.reserveCapacity(parts.count)
        for p in parts { append(p) }
    }

    public init(capacity: Int, count: Int) {
        _storage.reserveCapacity(capacity)
        ends.reserveCapacity(count)
    }

    /// Empties the list, keeping its storage for reuse (a scratch list per server).
    public mutating func removeAll(reserving capacity: Int, count: Int) {
        _storage.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
        _storage.reserveCapacity(capacity)
        ends.reserveCapacity(count)
    }

    public mutating func append<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        _storage.append(contentsOf: bytes)
        ends.append(_storage.count)
    }

    /// Concrete overloads: the generic one is not specialized across modules.
    public mutating func append(_ bytes: ArraySlice<UInt8>) {
        bytes.withUnsafeBytes { append(raw: $0) }
    }

    public mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append(raw: $0) }
    }

    /// Replaces the contents with `count` strings, string `i` being `length(i)` bytes that
    /// `copy(i, destination)` writes: the storage grows once, with no append per string.
    @inlinable
    public mutating func assign(
        count: Int, length: (Int) -> Int, copy: (Int, UnsafeMutableRawBufferPointer) -> Void
    ) {
        _storage.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
        var total = 0
        for i in 0..<count {
            total += length(i)
            ends.append(total)
        }
        RawBytes.grow(&_storage, by: total)
        _storage.withUnsafeMutableBytes { dst in
            var start = 0
            for i in 0..<count {
                let end = ends[i]
                copy(i, UnsafeMutableRawBufferPointer(rebasing: dst[start..<end]))
                start = end
            }
        }
    }

    public mutating func append(raw bytes: UnsafeRawBufferPointer) {
        _storage.append(contentsOf: bytes)
        ends.append(_storage.count)
    }

    public var count: Int { ends.count }
    /// Sum of the lengths of all strings.
    public var totalLength: Int { _storage.count }

    public subscript(i: Int) -> ArraySlice<UInt8> {
        let start = i == 0 ? 0 : ends[i - 1]
        return _storage[start..<ends[i]]
    }

    /// Whether the field names (the strings at even positions) are exactly the strings of
    /// `names` (a list of names only, as `names` gives). Two flat buffers are compared, so no
    /// name is copied out (retained) on the way.
    @inlinable
    public func hasNames(_ names: FieldList) -> Bool {
        let n = names.count
        guard n == count / 2 else { return false }
        // Through raw pointers: the ends arrays' bounds checks and slices cost more than the
        // compare of a few short names itself.
        return _storage.withUnsafeBytes { src in
            names._storage.withUnsafeBytes { nb in
                ends.withUnsafeBufferPointer { e in
                    names.ends.withUnsafeBufferPointer { ne in
                        var nameStart = 0
                        for j in 0..<n {
                            let start = j == 0 ? 0 : e[2 * j - 1]
                            let end = e[2 * j]
                            let nameEnd = ne[j]
                            guard end - start == nameEnd - nameStart else { return false }
                            // An empty name needs no compare (and an empty buffer may have no address).
                            if end > start,
                                !RawBytes.equal(
                                    UnsafeRawBufferPointer(start: src.baseAddress! + start, count: end - start),
                                    UnsafeRawBufferPointer(start: nb.baseAddress! + nameStart, count: nameEnd - nameStart))
                            {
                                return false
                            }
                            nameStart = nameEnd
                        }
                        return true
                    }
                }
            }
        }
    }

    /// The field names (the strings at even positions), as a list of their own.
    public var names: FieldList {
        var bytes = 0
        for j in 0..<count / 2 { bytes += range(2 * j).count }
        var out = FieldList(capacity: bytes, count: count / 2)
        _storage.withUnsafeBytes { src in
            for j in 0..<count / 2 { out.append(raw: UnsafeRawBufferPointer(rebasing: src[range(2 * j)])) }
        }
        return out
    }

    /// Where string `i` lies in `storage`.
    @inlinable @inline(__always)
    public func range(_ i: Int) -> Range<Int> {
        (i == 0 ? 0 : ends[i - 1])..<ends[i]
    }

    public var arrays: [[UInt8]] { (0..<count).map { Array(self[$0]) } }
}

/// A run of consecutive entries stored compactly, as one Redis radix-tree node holds one
/// listpack.
///
/// Encoding of `data`, entry after entry:
///
///     flags:u8  (bit 0 deleted, bit 1 same fields as the master entry)
///     ms-delta:varint            id.ms − master.ms
///     seq:varint                 id.seq − master.seq if ms-delta is 0, else id.seq
///     [field-count:varint, (len:varint, bytes)…]   only without the same-fields flag
///     (len:varint, bytes)…       one value per field
///
/// The master entry is the first entry's field list, shared by later entries that repeat it.
public struct StreamNode: Sendable {
    public private(set) var masterID: StreamID
    /// A stamp of the node's content, for incremental checkpoints: 0 after any change, a
    /// fresh never-reused number once stamped (`Stream.stampNodes`). Equal non-zero stamps
    /// mean unchanged content. Every method that changes what the node stores resets it.
    public private(set) var version: UInt64 = 0
    /// The master entry's field names (a list of names only).
    private(set) var masterFields: FieldList
    private(set) var data: [UInt8] = []
    /// Entries stored, live and deleted.
    public private(set) var total = 0
    /// Entries not deleted.
    public private(set) var live = 0
    /// ID of the last entry stored (even if deleted), as Redis reads a node's edge.
    public private(set) var lastID: StreamID
    /// Listpack bytes except the live/deleted counters (see `ListpackSize`).
    private var lpFixedBytes: Int

    public var deleted: Int { total - live }
    /// Size this node would have as a Redis listpack.
    public var listpackBytes: Int {
        lpFixedBytes + ListpackSize.integer(Int64(live)) + ListpackSize.integer(Int64(deleted))
    }
    /// Bytes of memory this node's storage uses (for INFO/benchmarks).
    public var storageBytes: Int { data.capacity + masterFields.totalLength + 32 * masterFields.count + 96 }

    /// A node whose master field list is `shared` when the entry's names are the same (its
    /// storage then serves both nodes: replaying a million small streams with one schema
    /// keeps one copy of the names instead of a million); otherwise `shared` becomes this
    /// entry's names.
    init(first id: StreamID, fields fv: FieldList, sharing shared: inout FieldList) {
        if shared.count == 0 || !fv.hasNames(shared) { shared = fv.names }
        self.init(first: id, names: shared, fields: fv)
    }

    private init(first id: StreamID, names: FieldList, fields fv: FieldList) {
        masterID = id
        lastID = id
        masterFields = names
        lpFixedBytes = ListpackSize.empty + ListpackSize.integer(Int64(masterFields.count)) + ListpackSize.integer(0)
        for j in 0..<masterFields.count { lpFixedBytes += ListpackSize.string(masterFields[j]) }
        append(id, fv)
    }

    /// A node's complete state as plain values: what checkpoints store, so loading a
    /// checkpoint copies node bytes instead of re-appending every entry.
    public struct Image: Sendable, Equatable {
        public var masterID: StreamID
        /// The master entry's field names (a list of names only).
        public var masterFields: FieldList
        /// Entry encoding documented on `StreamNode` (and in docs/FORMAT.md).
        public var data: [UInt8]
        public var total: Int
        public var live: Int
        public var lastID: StreamID
        public var listpackFixedBytes: Int

        public init(
            masterID: StreamID, masterFields: FieldList, data: [UInt8], total: Int, live: Int, lastID: StreamID,
            listpackFixedBytes: Int
        ) {
            self.masterID = masterID
            self.masterFields = masterFields
            self.data = data
            self.total = total
            self.live = live
            self.lastID = lastID
            self.listpackFixedBytes = listpackFixedBytes
        }
    }

    public var image: Image {
        Image(
            masterID: masterID, masterFields: masterFields, data: data, total: total, live: live, lastID: lastID,
            listpackFixedBytes: lpFixedBytes)
    }

    /// Rebuilds a node from its image; nil when the image is inconsistent (its entries do
    /// not decode to `total` entries, `live` of them live, the last being `lastID`).
    public init?(image: consuming Image) {
        masterID = image.masterID
        masterFields = image.masterFields
        data = image.data
        total = image.total
        live = image.live
        lastID = image.lastID
        lpFixedBytes = image.listpackFixedBytes
        guard image.total > 0, image.live >= 0, image.live <= image.total, validateImage() else { return nil }
    }

    /// Walks the entry encoding with bounds checks.
    private func validateImage() -> Bool {
        var pos = 0
        var count = 0
        var liveCount = 0
        var last = masterID
        func varint() -> UInt64? {
            var result: UInt64 = 0
            var shift: UInt64 = 0
            while pos < data.count, shift < 64 {
                let b = data[pos]
                pos += 1
                result |= UInt64(b & 0x7F) << shift
                if b < 0x80 { return result }
                shift += 7
            }
            return nil
        }
        while pos < data.count {
            let flags = data[pos]
            pos += 1
            guard let msDelta = varint(), let seqPart = varint() else { return false }
            let ms = masterID.ms &+ msDelta
            last = StreamID(ms: ms, seq: msDelta == 0 ? masterID.seq &+ seqPart : seqPart)
            let fieldCount: UInt64
            if flags & 2 != 0 {
                fieldCount = UInt64(masterFields.count)
            } else {
                guard let n = varint(), n <= UInt64(data.count) else { return false }
                fieldCount = n
                for _ in 0..<n {
                    guard let len = varint(), len <= UInt64(data.count - pos) else { return false }
                    pos += Int(len)
                }
            }
            for _ in 0..<fieldCount {
                guard let len = varint(), len <= UInt64(data.count - pos) else { return false }
                pos += Int(len)
            }
            count += 1
            if flags & 1 == 0 { liveCount += 1 }
        }
        return count == total && liveCount == live && last == lastID
    }

    /// Appends an entry (the caller checked ordering and node capacity). The entry's size is
    /// computed first and the bytes written in one pass from the field list's storage: no
    /// slice (each would retain the list) and no per-byte append.
    mutating func append(_ id: StreamID, _ fv: FieldList) {
        version = 0
        let fieldCount = fv.count / 2
        let msDelta = id.ms &- masterID.ms
        let seqDelta = id.seq &- masterID.seq
        let second = msDelta == 0 ? seqDelta : id.seq
        fv.storage.withUnsafeBytes { src in
            func string(_ i: Int) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: src[fv.range(i)]) }
            let same = fv.hasNames(masterFields)
            // Listpack accounting, mirroring Redis's layout of the same entry.
            var lp = ListpackSize.integer(same ? 2 : 0) + ListpackSize.integer(Int64(bitPattern: msDelta))
                + ListpackSize.integer(Int64(bitPattern: seqDelta))
            var size = 1 + Varint.size(msDelta) + Varint.size(second)
            if !same {
                lp += ListpackSize.integer(Int64(fieldCount))
                size += Varint.size(UInt64(fieldCount))
            }
            for j in 0..<(2 * fieldCount) where !same || j & 1 == 1 {
                let f = string(j)
                size += Varint.stringSize(f.count)
                lp += ListpackSize.string(raw: f)
            }
            let at = data.count
            if data.capacity < at + size {
                // Grow in power-of-two allocations (Swift's 32-byte array header included), as
                // byte-by-byte appends did: the sizes a bulk append grows to (72, 152, 312, …
                // 10,232 bytes), freed at each step and at the node's final shrink, left the
                // heap fragmented — RSS after 1M XADDs rose from 99 to 143 MiB.
                var chunk = 128
                while chunk - 40 < at + size { chunk <<= 1 }
                data.reserveCapacity(chunk - 40)
            }
            RawBytes.grow(&data, by: size)
            data.withUnsafeMutableBytes { dst in
                let p = dst.baseAddress!
                var i = at
                p.storeBytes(of: same ? 2 : 0, toByteOffset: i, as: UInt8.self)
                i += 1
                Varint.put(msDelta, p, &i)
                Varint.put(second, p, &i)
                if !same { Varint.put(UInt64(fieldCount), p, &i) }
                // The names (unless the master entry's), then the values.
                if !same { for j in 0..<fieldCount { Varint.putString(string(2 * j), p, &i) } }
                for j in 0..<fieldCount { Varint.putString(string(2 * j + 1), p, &i) }
            }
            let lpCount = fieldCount + 3 + (same ? 0 : fieldCount + 1)
            lp += ListpackSize.integer(Int64(lpCount))
            lpFixedBytes += lp
        }
        total += 1
        live += 1
        lastID = id
    }

    /// Gives the node the next content stamp (`Stream.stampNodes` calls it for unstamped nodes).
    mutating func stamp(_ counter: inout UInt64) {
        counter += 1
        version = counter
    }

    /// Releases spare capacity once the node is sealed (no more appends). The content, and
    /// so the version, stay.
    mutating func shrinkToFit() {
        if data.capacity > data.count + 16 { data = Array(data[0..<data.count]) }
    }

    /// A decoded entry position: its offset in `data`, ID and deleted flag.
    struct Slot {
        let offset: Int
        let id: StreamID
        let deleted: Bool
    }

    /// Walks entries in order; `body` returns false to stop.
    func forEachSlot(_ body: (Slot, inout Reader) -> Bool) {
        var r = Reader(data: data, position: 0)
        while r.position < data.count {
            let offset = r.position
            let flags = r.byte()
            let msDelta = r.varint()
            let seqRaw = r.varint()
            let id = StreamID(ms: masterID.ms &+ msDelta, seq: msDelta == 0 ? masterID.seq &+ seqRaw : seqRaw)
            let slot = Slot(offset: offset, id: id, deleted: flags & 1 != 0)
            var fieldsReader = r
            // Skip the body so the next iteration starts at the next entry.
            let same = flags & 2 != 0
            let count = same ? masterFields.count : Int(r.varint())
            if !same { for _ in 0..<count { r.skipBytes() } }
            for _ in 0..<count { r.skipBytes() }
            if !body(slot, &fieldsReader) { return }
        }
    }

    /// Decodes the fields and values of the entry whose header was just read by `r`.
    func decodeBody(flags: UInt8, _ r: inout Reader) -> [[UInt8]] {
        let same = flags & 2 != 0
        let count = same ? masterFields.count : Int(r.varint())
        var out: [[UInt8]] = []
        out.reserveCapacity(count * 2)
        if same {
            for j in 0..<count {
                out.append(Array(masterFields[j]))
                out.append(r.bytes())
            }
        } else {
            var fields: [[UInt8]] = []
            fields.reserveCapacity(count)
            for _ in 0..<count { fields.append(r.bytes()) }
            for j in 0..<count {
                out.append(fields[j])
                out.append(r.bytes())
            }
        }
        return out
    }

    /// Visits live entries with `lo <= id <= hi` in order without copying their bytes;
    /// `body` returns false to stop.
    func visit(from lo: StreamID, to hi: StreamID, _ body: (StreamID, EntryFields) -> Bool) -> Bool {
        var keepGoing = true
        forEachSlot { slot, r in
            if slot.id > hi { return false }
            if slot.id >= lo && !slot.deleted {
                keepGoing = body(slot.id, EntryFields(node: self, flags: data[slot.offset], position: r.position))
                return keepGoing
            }
            return true
        }
        return keepGoing
    }

    /// Offsets of live entries with `lo <= id <= hi`, in order (for reverse visits).
    func liveSlots(from lo: StreamID, to hi: StreamID) -> [(StreamID, UInt8, Int)] {
        var out: [(StreamID, UInt8, Int)] = []
        forEachSlot { slot, r in
            if slot.id > hi { return false }
            if slot.id >= lo && !slot.deleted { out.append((slot.id, data[slot.offset], r.position)) }
            return true
        }
        return out
    }

    /// Live entries with `lo <= id <= hi`, in order.
    func entries(from lo: StreamID, to hi: StreamID, limit: Int, into out: inout [StreamEntry]) {
        forEachSlot { slot, r in
            if slot.id > hi || out.count >= limit { return false }
            if slot.id >= lo && !slot.deleted {
                out.append(StreamEntry(id: slot.id, fieldsAndValues: decodeBody(flags: data[slot.offset], &r)))
            }
            return true
        }
    }

    /// All live entries with `lo <= id <= hi` (for reverse scans, which reverse them).
    func liveEntries(from lo: StreamID, to hi: StreamID) -> [StreamEntry] {
        var out: [StreamEntry] = []
        entries(from: lo, to: hi, limit: .max, into: &out)
        return out
    }

    /// The live entry with this ID.
    func entry(_ id: StreamID) -> StreamEntry? {
        var found: StreamEntry?
        forEachSlot { slot, r in
            if slot.id > id { return false }
            if slot.id == id && !slot.deleted {
                found = StreamEntry(id: id, fieldsAndValues: decodeBody(flags: data[slot.offset], &r))
                return false
            }
            return true
        }
        return found
    }

    /// Marks an entry deleted; false if absent or already deleted.
    mutating func markDeleted(_ id: StreamID) -> Bool {
        var offset: Int?
        forEachSlot { slot, _ in
            if slot.id > id { return false }
            if slot.id == id && !slot.deleted { offset = slot.offset }
            return offset == nil
        }
        guard let offset else { return false }
        version = 0
        data[offset] |= 1
        live -= 1
        return true
    }

    /// Marks live entries deleted from the start while `shouldDelete(id, alreadyDeleted)`
    /// says so; returns the count newly deleted. Stops at the first entry it must keep.
    mutating func deleteLeading(while shouldDelete: (StreamID, Bool) -> Bool) -> Int {
        version = 0
        var offsets: [Int] = []
        forEachSlot { slot, _ in
            guard shouldDelete(slot.id, slot.deleted) else { return false }
            if !slot.deleted { offsets.append(slot.offset) }
            return true
        }
        for o in offsets { data[o] |= 1 }
        live -= offsets.count
        return offsets.count
    }

    /// IDs of the live entries, in order.
    var liveIDs: [StreamID] {
        var ids: [StreamID] = []
        forEachSlot { slot, _ in
            if !slot.deleted { ids.append(slot.id) }
            return true
        }
        return ids
    }

    /// First or last live ID.
    func edgeLiveID(first: Bool) -> StreamID? {
        var result: StreamID?
        forEachSlot { slot, _ in
            if !slot.deleted {
                result = slot.id
                if first { return false }
            }
            return true
        }
        return result
    }
}

/// The fields and values of one stored entry, read in place.
public struct EntryFields {
    let node: StreamNode
    let flags: UInt8
    let position: Int

    /// Number of field/value pairs.
    public var pairCount: Int {
        if flags & 2 != 0 { return node.masterFields.count }
        var r = Reader(data: node.data, position: position)
        return Int(r.varint())
    }

    /// Calls `body` with each field and value, alternating, as slices of the node's storage.
    public func forEach(_ body: (ArraySlice<UInt8>) -> Void) {
        var r = Reader(data: node.data, position: position)
        let same = flags & 2 != 0
        let count = same ? node.masterFields.count : Int(r.varint())
        if same {
            for j in 0..<count {
                body(node.masterFields[j][...])
                body(r.slice())
            }
        } else {
            var fieldStart = r
            for _ in 0..<count { r.skipBytes() }
            for _ in 0..<count {
                body(fieldStart.slice())
                body(r.slice())
            }
        }
    }
}

/// Unsigned LEB128 varints.
/// LEB128 varints: 7 bits a byte, low bits first, high bit set on every byte but the last.
public enum Varint {
    /// Bytes `value` takes (0 takes one).
    @inlinable @inline(__always)
    public static func size(_ value: UInt64) -> Int {
        (70 - (value | 1).leadingZeroBitCount) / 7
    }

    /// Writes `value` at `p + i` and advances `i` (the caller reserved `size(value)` bytes).
    @inlinable @inline(__always)
    public static func put(_ value: UInt64, _ p: UnsafeMutableRawPointer, _ i: inout Int) {
        var v = value
        while v >= 0x80 {
            p.storeBytes(of: UInt8(truncatingIfNeeded: v) | 0x80, toByteOffset: i, as: UInt8.self)
            i += 1
            v >>= 7
        }
        p.storeBytes(of: UInt8(v), toByteOffset: i, as: UInt8.self)
        i += 1
    }

    /// A signed value zigzag-mapped so small magnitudes stay short.
    @inlinable @inline(__always)
    public static func zigzag(_ value: Int64) -> UInt64 {
        UInt64(bitPattern: (value << 1) ^ (value >> 63))
    }

    /// Bytes a length-prefixed string of `count` bytes takes.
    @inlinable @inline(__always)
    public static func stringSize(_ count: Int) -> Int {
        size(UInt64(count)) + count
    }

    /// Writes `bytes` length-prefixed at `p + i` and advances `i`.
    @inlinable @inline(__always)
    public static func putString(_ bytes: UnsafeRawBufferPointer, _ p: UnsafeMutableRawPointer, _ i: inout Int) {
        put(UInt64(bytes.count), p, &i)
        if bytes.count > 0 { (p + i).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
        i += bytes.count
    }
}

/// Sequential decoder over a node's bytes.
struct Reader {
    let data: [UInt8]
    var position: Int

    @inline(__always)
    mutating func byte() -> UInt8 {
        defer { position += 1 }
        return data[position]
    }

    @inline(__always)
    mutating func varint() -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = data[position]
            position += 1
            result |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return result }
            shift += 7
        }
    }

    mutating func bytes() -> [UInt8] {
        let n = Int(varint())
        defer { position += n }
        return Array(data[position..<(position + n)])
    }

    mutating func slice() -> ArraySlice<UInt8> {
        let n = Int(varint())
        defer { position += n }
        return data[position..<(position + n)]
    }

    mutating func skipBytes() {
        let n = Int(varint())
        position += n
    }
}
