import RunnelStreams

/// One record of the log: a key-level change, or a stream's own `StreamRecord`.
///
/// Streams are named in records by a *handle*: a number given to a stream when it is created
/// and kept across RENAME, so a record never repeats the key and a rename is one record.
public enum LogRecord: Sendable, Equatable {
    /// A new (empty) stream bound to `key` in `db`.
    case streamNew(handle: UInt64, db: Int, key: [UInt8])
    /// The stream's key was deleted (DEL, UNLINK, expiry, overwritten by RENAME).
    case keyDelete(handle: UInt64)
    /// The stream now lives under `key` in `db`.
    case keyRename(handle: UInt64, db: Int, key: [UInt8])
    /// Absolute expiry time in Unix ms, or 0 for none (PERSIST).
    case keyExpire(handle: UInt64, atMs: Int64)
    /// FLUSHDB of `db`, or FLUSHALL when nil.
    case flush(db: Int?)
    /// COPY: a new stream `handle` bound to `key` in `db`, holding a copy of stream `from` as
    /// it is at this point (entries, metadata, groups, consumers, pending entries).
    case keyCopy(from: UInt64, handle: UInt64, db: Int, key: [UInt8])
    /// SWAPDB: the keys of the two databases trade places.
    case swapDB(Int, Int)
    /// An entry appended (kept apart from `stream` so the hot path avoids per-field arrays).
    case append(handle: UInt64, id: StreamID, fields: FieldList, newNode: Bool)
    /// Any other change of a stream.
    case stream(handle: UInt64, StreamRecord)

    public var handle: UInt64? {
        switch self {
        case .streamNew(let h, _, _), .keyDelete(let h), .keyRename(let h, _, _), .keyExpire(let h, _),
            .keyCopy(_, let h, _, _), .append(let h, _, _, _), .stream(let h, _):
            return h
        case .flush, .swapDB:
            return nil
        }
    }
}

/// Record type codes (docs/FORMAT.md, "Records").
enum RecordType {
    static let streamNew: UInt8 = 0x01
    static let keyDelete: UInt8 = 0x02
    static let keyRename: UInt8 = 0x03
    static let keyExpire: UInt8 = 0x04
    static let flushDB: UInt8 = 0x05
    static let flushAll: UInt8 = 0x06
    static let keyCopy: UInt8 = 0x07
    static let swapDB: UInt8 = 0x08
    /// 0x10…0x13: append; bit 0 new node, bit 1 same field names as the previous append of
    /// this stream in the region.
    static let append: UInt8 = 0x10
    static let delete: UInt8 = 0x18
    static let trim: UInt8 = 0x19
    static let setMetadata: UInt8 = 0x1A
    static let groupCreate: UInt8 = 0x20
    static let groupSetID: UInt8 = 0x21
    static let groupDestroy: UInt8 = 0x22
    static let consumerCreate: UInt8 = 0x23
    static let consumerDelete: UInt8 = 0x24
    static let consumerSeen: UInt8 = 0x25
    static let deliverNew: UInt8 = 0x26
    static let redeliver: UInt8 = 0x27
    static let ack: UInt8 = 0x28
    static let claim: UInt8 = 0x29
    static let dropPending: UInt8 = 0x2A
    static let groupLastID: UInt8 = 0x2B
    static let consumerActive: UInt8 = 0x2C
}

/// Delta state shared by the encoder and decoder within one region (the records between
/// two restart points). Both start empty at every restart point, so a reader can begin at
/// any restart point.
struct RegionState {
    struct PerStream {
        var base = StreamID.zero
        var fieldNames = FieldList()
    }
    /// One stream's state, held by reference so the last one used is found again without
    /// hashing (most records follow one of the same stream: two dictionary lookups were ~2.5%
    /// of the instructions of a logged XADD).
    final class Slot {
        var value = PerStream()
    }
    private var streams: [UInt64: Slot] = [:]
    private var lastHandle: UInt64 = 0
    private var last: Slot?
    var baseTime: Int64 = 0

    mutating func reset() {
        streams.removeAll(keepingCapacity: true)
        last = nil
        baseTime = 0
    }

    /// The stream's state in this region (empty on first use).
    @inline(__always)
    mutating func slot(_ h: UInt64) -> Slot {
        if let last, lastHandle == h { return last }
        return lookUp(h)
    }

    private mutating func lookUp(_ h: UInt64) -> Slot {
        let found: Slot
        if let s = streams[h] {
            found = s
        } else {
            found = Slot()
            streams[h] = found
        }
        lastHandle = h
        last = found
        return found
    }

    /// Drops the stream's state: its next record starts from empty state.
    mutating func forget(_ h: UInt64) {
        streams[h] = nil
        if lastHandle == h { last = nil }
    }
}

// MARK: - Encoding

extension ByteSink {
    /// An ID relative to the stream's previous ID in the region.
    @inline(__always)
    mutating func deltaID(_ id: StreamID, _ state: inout RegionState.PerStream) {
        let dms = Int64(bitPattern: id.ms &- state.base.ms)
        svarint(dms)
        if dms == 0 {
            svarint(Int64(bitPattern: id.seq &- state.base.seq))
        } else {
            varint(id.seq)
        }
        state.base = id
    }

    @inline(__always)
    mutating func time(_ t: Int64, _ region: inout RegionState) {
        svarint(t &- region.baseTime)
        region.baseTime = t
    }

    mutating func optionalCount(_ v: Int64?) {
        guard let v else { return varint(UInt64(0)) }
        varint(UInt64(bitPattern: (v << 1) ^ (v >> 63)) &+ 1)
    }

    mutating func idList(_ ids: [StreamID], _ state: inout RegionState.PerStream) {
        varint(ids.count)
        for id in ids { deltaID(id, &state) }
    }
}

/// Encodes records into the raw (uncompressed) record stream of a region.
struct RecordEncoding {
    /// Appends `[length][type][body]` for `record` to `out`.
    static func encode(_ record: LogRecord, into out: inout ByteSink, region: inout RegionState) {
        if case .stream(let h, .append(let id, let fields, let newNode)) = record {
            return encodeAppend(handle: h, id: id, fields: FieldList(fields), newNode: newNode, into: &out, region: &region)
        }
        var body = ByteSink(capacity: 32)
        switch record {
        case .streamNew(let h, let db, let key):
            body.byte(RecordType.streamNew)
            body.varint(h)
            body.varint(db)
            body.string(key)
            region.forget(h)
        case .keyDelete(let h):
            body.byte(RecordType.keyDelete)
            body.varint(h)
            region.forget(h)
        case .keyRename(let h, let db, let key):
            body.byte(RecordType.keyRename)
            body.varint(h)
            body.varint(db)
            body.string(key)
        case .keyExpire(let h, let at):
            body.byte(RecordType.keyExpire)
            body.varint(h)
            body.varint(UInt64(max(0, at)))
        case .flush(let db):
            if let db {
                body.byte(RecordType.flushDB)
                body.varint(db)
            } else {
                body.byte(RecordType.flushAll)
            }
        case .keyCopy(let from, let h, let db, let key):
            body.byte(RecordType.keyCopy)
            body.varint(h)
            body.varint(from)
            body.varint(db)
            body.string(key)
            region.forget(h)
        case .swapDB(let a, let b):
            body.byte(RecordType.swapDB)
            body.varint(a)
            body.varint(b)
        case .append(let h, let id, let fields, let newNode):
            encodeAppend(handle: h, id: id, fields: fields, newNode: newNode, into: &out, region: &region)
            return
        case .stream(let h, let r):
            encodeStream(h, r, &body, &region)
        }
        out.varint(body.count)
        out.bytes.append(contentsOf: body.bytes)
    }

    /// The hot path: an append straight from the model's field list.
    static func encodeAppend(
        handle h: UInt64, id: StreamID, fields: FieldList, newNode: Bool, into out: inout ByteSink,
        region: inout RegionState
    ) {
        encodeAppend(handle: h, id: id, fields: fields, newNode: newNode, into: &out, state: &region.slot(h).value)
    }

    /// The append record, written in one pass into `out` (its length is computed first, so the
    /// body needs no buffer of its own): the hot path of every XADD.
    private static func encodeAppend(
        handle h: UInt64, id: StreamID, fields: FieldList, newNode: Bool, into out: inout ByteSink,
        state st: inout RegionState.PerStream
    ) {
        let pairs = fields.count / 2
        let same = pairs > 0 && fields.hasNames(st.fieldNames)
        fields.storage.withUnsafeBytes { src in
            func string(_ i: Int) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: src[fields.range(i)]) }
            // ID delta against the stream's previous ID in the region (`deltaID`).
            let dms = Int64(bitPattern: id.ms &- st.base.ms)
            let zms = Varint.zigzag(dms)
            let second = dms == 0 ? Varint.zigzag(Int64(bitPattern: id.seq &- st.base.seq)) : id.seq
            var body = 1 + Varint.size(h) + Varint.size(zms) + Varint.size(second) + Varint.size(UInt64(pairs))
            for j in 0..<fields.count where !same || j & 1 == 1 {
                body += Varint.stringSize(fields.range(j).count)
            }
            let total = Varint.size(UInt64(body)) + body
            let at = out.bytes.count
            RawBytes.grow(&out.bytes, by: total)
            out.bytes.withUnsafeMutableBytes { dst in
                let p = dst.baseAddress!
                var i = at
                Varint.put(UInt64(body), p, &i)
                p.storeBytes(of: RecordType.append | (newNode ? 1 : 0) | (same ? 2 : 0), toByteOffset: i, as: UInt8.self)
                i += 1
                Varint.put(h, p, &i)
                Varint.put(zms, p, &i)
                Varint.put(second, p, &i)
                Varint.put(UInt64(pairs), p, &i)
                // The names (unless the same as before), then the values.
                if !same { for j in 0..<pairs { Varint.putString(string(2 * j), p, &i) } }
                for j in 0..<pairs { Varint.putString(string(2 * j + 1), p, &i) }
            }
            if !same {
                st.fieldNames = fields.names
            }
        }
        st.base = id
    }

    private static func encodeStream(_ h: UInt64, _ r: StreamRecord, _ b: inout ByteSink, _ region: inout RegionState) {
        let slot = region.slot(h)
        var st = slot.value
        defer { slot.value = st }
        func head(_ type: UInt8) {
            b.byte(type)
            b.varint(h)
        }
        switch r {
        case .append:
            // `LogRecord.encode` routes appends to `encodeAppend` before reaching here.
            return
        case .delete(let ids):
            head(RecordType.delete)
            b.idList(ids, &st)
        case .trim(let through):
            head(RecordType.trim)
            b.id(through)
        case .setMetadata(let lastID, let added, let maxDel):
            head(RecordType.setMetadata)
            b.id(lastID)
            b.byte((added != nil ? 1 : 0) | (maxDel != nil ? 2 : 0))
            if let added { b.varint(added) }
            if let maxDel { b.id(maxDel) }
        case .groupCreate(let name, let lastID, let read):
            head(RecordType.groupCreate)
            b.string(name)
            b.id(lastID)
            b.optionalCount(read)
        case .groupSetID(let name, let lastID, let read):
            head(RecordType.groupSetID)
            b.string(name)
            b.id(lastID)
            b.optionalCount(read)
        case .groupDestroy(let name):
            head(RecordType.groupDestroy)
            b.string(name)
        case .consumerCreate(let g, let c, let t):
            head(RecordType.consumerCreate)
            b.string(g)
            b.string(c)
            b.time(t, &region)
        case .consumerDelete(let g, let c):
            head(RecordType.consumerDelete)
            b.string(g)
            b.string(c)
        case .consumerSeen(let g, let c, let t):
            head(RecordType.consumerSeen)
            b.string(g)
            b.string(c)
            b.time(t, &region)
        case .consumerActive(let g, let c, let t):
            head(RecordType.consumerActive)
            b.string(g)
            b.string(c)
            b.time(t, &region)
        case .deliverNew(let g, let c, let ids, let t, let noAck):
            head(RecordType.deliverNew)
            b.string(g)
            b.string(c)
            b.time(t, &region)
            b.byte(noAck ? 1 : 0)
            b.idList(ids, &st)
        case .redeliver(let g, let ids, let t):
            head(RecordType.redeliver)
            b.string(g)
            b.time(t, &region)
            b.idList(ids, &st)
        case .ack(let g, let ids):
            head(RecordType.ack)
            b.string(g)
            b.idList(ids, &st)
        case .claim(let g, let c, let id, let t, let count):
            head(RecordType.claim)
            b.string(g)
            b.string(c)
            b.deltaID(id, &st)
            b.time(t, &region)
            b.varint(count)
        case .dropPending(let g, let id):
            head(RecordType.dropPending)
            b.string(g)
            b.deltaID(id, &st)
        case .groupLastID(let g, let id):
            head(RecordType.groupLastID)
            b.string(g)
            b.id(id)
        }
    }
}

// MARK: - Decoding

extension ByteSource {
    @inline(__always)
    mutating func deltaID(_ state: inout RegionState.PerStream) throws(Truncated) -> StreamID {
        let dms = try svarint()
        let id: StreamID
        if dms == 0 {
            id = StreamID(ms: state.base.ms, seq: state.base.seq &+ UInt64(bitPattern: try svarint()))
        } else {
            id = StreamID(ms: state.base.ms &+ UInt64(bitPattern: dms), seq: try varint())
        }
        state.base = id
        return id
    }

    @inline(__always)
    mutating func time(_ region: inout RegionState) throws(Truncated) -> Int64 {
        let t = region.baseTime &+ (try svarint())
        region.baseTime = t
        return t
    }

    mutating func optionalCount() throws(Truncated) -> Int64? {
        let v = try varint()
        if v == 0 { return nil }
        let z = v &- 1
        return Int64(bitPattern: (z >> 1) ^ (0 &- (z & 1)))
    }

    mutating func idList(_ state: inout RegionState.PerStream) throws(Truncated) -> [StreamID] {
        let n = try count(limit: remaining)
        var ids: [StreamID] = []
        ids.reserveCapacity(n)
        for _ in 0..<n { ids.append(try deltaID(&state)) }
        return ids
    }
}

/// Decodes the records of one region (the raw bytes from a restart point on), for tools and
/// micro-benchmarks; the storage code itself keeps the region state across frames.
public enum RecordCodec {
    public static func decodeRegion(_ raw: [UInt8], visit: (LogRecord) throws -> Void) throws {
        var region = RegionState()
        try RecordDecoding.decodeAll(raw, region: &region) { record, _ in try visit(record) }
    }
}

/// Decodes the raw record stream of one frame (continuing the region's state).
struct RecordDecoding {
    struct Bad: Error {
        let offset: Int
        let reason: String
    }

    /// Walks the records of `raw` (`bodyLen` + body each): `each` gets a source bounded to the
    /// record's body, which it must consume entirely, and the record's offset in `raw`.
    private static func walk(_ raw: [UInt8], _ each: (inout ByteSource, Int) throws -> Void) throws {
        var src = ByteSource(raw)
        while !src.isAtEnd {
            let start = src.position
            let length: Int
            do { length = try src.length() } catch { throw Bad(offset: start, reason: "truncated record length") }
            var body = ByteSource(raw, from: src.position, to: src.position + length)
            src.position += length
            try each(&body, start)
            guard body.isAtEnd else { throw Bad(offset: start, reason: "record has \(body.remaining) trailing bytes") }
        }
    }

    /// One record body as a `LogRecord`, with the walk's error reporting.
    private static func record(_ body: inout ByteSource, region: inout RegionState, start: Int) throws -> LogRecord {
        let bodyStart = body.position
        let record: LogRecord?
        do {
            record = try decode(&body, region: &region)
        } catch {
            throw Bad(offset: start, reason: "record body is truncated")
        }
        guard let record else { throw Bad(offset: start, reason: "unknown record type \(body.bytes[bodyStart])") }
        return record
    }

    /// Decodes every record of `raw`, calling `visit` with each and its offset in `raw`.
    static func decodeAll(
        _ raw: [UInt8], region: inout RegionState, visit: (LogRecord, Int) throws -> Void
    ) throws {
        try walk(raw) { body, start in try visit(try record(&body, region: &region, start: start), start) }
    }

    /// Decodes every record of one frame for replay: appends go into `arena` (their field
    /// bytes back to back, two allocations per frame instead of two per record), everything
    /// else becomes a `LogRecord`. Same validation and errors as `decodeAll`.
    static func decodeFrame(_ raw: [UInt8], region: inout RegionState) throws -> (items: [DecodedItem], arena: AppendArena) {
        var items: [DecodedItem] = []
        var arena = AppendArena()
        arena.bytes.reserveCapacity(raw.count)
        try walk(raw) { body, start in
            if body.remaining > 0, body.bytes[body.position] & ~3 == RecordType.append {
                do {
                    items.append(.append(try decodeAppend(&body, region: &region, into: &arena), at: start))
                } catch {
                    throw Bad(offset: start, reason: "record body is truncated")
                }
            } else {
                items.append(.record(try record(&body, region: &region, start: start), at: start))
            }
        }
        return (items, arena)
    }

    /// An append record body (type byte included) decoded into `arena`.
    static func decodeAppend(
        _ s: inout ByteSource, region: inout RegionState, into arena: inout AppendArena
    ) throws(ByteSource.Truncated) -> AppendRef {
        let type = try s.byte()
        let h = try s.varint()
        let slot = region.slot(h)
        var st = slot.value
        let id = try s.deltaID(&st)
        let pairs = try s.count(limit: s.remaining)
        if type & 2 != 0 {
            guard st.fieldNames.count == pairs else { throw ByteSource.Truncated() }
        } else {
            var names = FieldList()
            for _ in 0..<pairs { names.append(try s.string()) }
            st.fieldNames = names
        }
        let lo = arena.ends.count
        for j in 0..<pairs {
            arena.bytes.append(contentsOf: st.fieldNames[j])
            arena.ends.append(arena.bytes.count)
            let n = try s.length()
            s.bytes.withUnsafeBufferPointer { arena.bytes.append(contentsOf: UnsafeBufferPointer(rebasing: $0[s.position..<s.position + n])) }
            arena.ends.append(arena.bytes.count)
            s.position += n
        }
        slot.value = st
        return AppendRef(handle: h, id: id, newNode: type & 1 != 0, lo: lo, hi: arena.ends.count)
    }

    /// One record body; nil for an unknown type.
    static func decode(_ s: inout ByteSource, region: inout RegionState) throws(ByteSource.Truncated) -> LogRecord? {
        let type = try s.byte()
        switch type {
        case RecordType.streamNew:
            let h = try s.varint()
            region.forget(h)
            return .streamNew(handle: h, db: try s.count(), key: try s.string())
        case RecordType.keyDelete:
            let h = try s.varint()
            region.forget(h)
            return .keyDelete(handle: h)
        case RecordType.keyRename:
            return .keyRename(handle: try s.varint(), db: try s.count(), key: try s.string())
        case RecordType.keyExpire:
            let h = try s.varint()
            let at = try s.varint()
            guard at <= UInt64(Int64.max) else { throw ByteSource.Truncated() }
            return .keyExpire(handle: h, atMs: Int64(at))
        case RecordType.flushDB:
            return .flush(db: try s.count())
        case RecordType.flushAll:
            return .flush(db: nil)
        case RecordType.keyCopy:
            let h = try s.varint()
            region.forget(h)
            return .keyCopy(from: try s.varint(), handle: h, db: try s.count(), key: try s.string())
        case RecordType.swapDB:
            return .swapDB(try s.count(), try s.count())
        case RecordType.append...(RecordType.append | 3):
            // The replay path's decoder, then one field list for this record alone.
            s.position -= 1
            var arena = AppendArena()
            let ref = try decodeAppend(&s, region: &region, into: &arena)
            var fields = FieldList()
            arena.fill(ref, into: &fields)
            return .append(handle: ref.handle, id: ref.id, fields: fields, newNode: ref.newNode)
        default:
            break
        }
        let h = try s.varint()
        let slot = region.slot(h)
        var st = slot.value
        defer { slot.value = st }
        let r: StreamRecord
        switch type {
        case RecordType.delete:
            r = .delete(ids: try s.idList(&st))
        case RecordType.trim:
            r = .trim(through: try s.id())
        case RecordType.setMetadata:
            let last = try s.id()
            let flags = try s.byte()
            let added = flags & 1 != 0 ? try s.varint() : nil
            let maxDel = flags & 2 != 0 ? try s.id() : nil
            r = .setMetadata(lastID: last, entriesAdded: added, maxDeletedID: maxDel)
        case RecordType.groupCreate:
            r = .groupCreate(name: try s.string(), lastID: try s.id(), entriesRead: try s.optionalCount())
        case RecordType.groupSetID:
            r = .groupSetID(name: try s.string(), lastID: try s.id(), entriesRead: try s.optionalCount())
        case RecordType.groupDestroy:
            r = .groupDestroy(name: try s.string())
        case RecordType.consumerCreate:
            r = .consumerCreate(group: try s.string(), consumer: try s.string(), time: try s.time(&region))
        case RecordType.consumerDelete:
            r = .consumerDelete(group: try s.string(), consumer: try s.string())
        case RecordType.consumerSeen:
            r = .consumerSeen(group: try s.string(), consumer: try s.string(), time: try s.time(&region))
        case RecordType.consumerActive:
            r = .consumerActive(group: try s.string(), consumer: try s.string(), time: try s.time(&region))
        case RecordType.deliverNew:
            let g = try s.string()
            let c = try s.string()
            let t = try s.time(&region)
            let noAck = try s.byte() != 0
            r = .deliverNew(group: g, consumer: c, ids: try s.idList(&st), time: t, noAck: noAck)
        case RecordType.redeliver:
            let g = try s.string()
            let t = try s.time(&region)
            r = .redeliver(group: g, ids: try s.idList(&st), time: t)
        case RecordType.ack:
            r = .ack(group: try s.string(), ids: try s.idList(&st))
        case RecordType.claim:
            let g = try s.string()
            let c = try s.string()
            let id = try s.deltaID(&st)
            let t = try s.time(&region)
            r = .claim(group: g, consumer: c, id: id, deliveryTime: t, deliveryCount: try s.varint())
        case RecordType.dropPending:
            r = .dropPending(group: try s.string(), id: try s.deltaID(&st))
        case RecordType.groupLastID:
            r = .groupLastID(group: try s.string(), id: try s.id())
        default:
            return nil
        }
        return .stream(handle: h, r)
    }
}

/// The field bytes of a frame's appends, back to back; `ends[i]` is where field i ends.
struct AppendArena {
    var bytes: [UInt8] = []
    var ends: [Int] = []

    /// Fills `list` with the fields of `ref` (reusing its storage).
    func fill(_ ref: AppendRef, into list: inout FieldList) {
        guard ref.hi > ref.lo else { return list.removeAll(reserving: 0, count: 0) }
        let start = ref.lo == 0 ? 0 : ends[ref.lo - 1]
        list.removeAll(reserving: ends[ref.hi - 1] - start, count: ref.hi - ref.lo)
        bytes.withUnsafeBytes { all in
            var from = start
            for i in ref.lo..<ref.hi {
                list.append(raw: UnsafeRawBufferPointer(rebasing: all[from..<ends[i]]))
                from = ends[i]
            }
        }
    }
}

/// An append decoded into an `AppendArena`: its fields are `ends[lo..<hi]`.
struct AppendRef {
    var handle: UInt64
    var id: StreamID
    var newNode: Bool
    var lo: Int
    var hi: Int
}

enum DecodedItem {
    case record(LogRecord, at: Int)
    case append(AppendRef, at: Int)

    var offset: Int {
        switch self {
        case .record(_, let at), .append(_, let at): return at
        }
    }
}
