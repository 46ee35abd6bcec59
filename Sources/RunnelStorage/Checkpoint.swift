import RunnelStreams

/// One stream as a checkpoint holds it.
public struct CheckpointStream: Sendable {
    public var handle: UInt64
    public var db: Int
    public var key: [UInt8]
    /// Absolute expiry (Unix ms), 0 for none.
    public var expireAt: Int64
    public var stream: Stream

    public init(handle: UInt64, db: Int, key: [UInt8], expireAt: Int64, stream: Stream) {
        self.handle = handle
        self.db = db
        self.key = key
        self.expireAt = expireAt
        self.stream = stream
    }

    /// Moves the value out of `slot`, leaving an empty placeholder (no copy of the stream's
    /// storage references, so no retain and release of each).
    public static func take(_ slot: inout CheckpointStream) -> CheckpointStream {
        var out = CheckpointStream(handle: 0, db: 0, key: [], expireAt: 0, stream: Stream())
        swap(&out, &slot)
        return out
    }
}

/// The complete state at the start of segment `baseSegment`.
public struct CheckpointState: Sendable {
    public var baseSegment: UInt64
    public var nextHandle: UInt64
    public var createdMs: Int64
    public var streams: [CheckpointStream]
    /// Where each handle is in `streams`, when the state was decoded from a file (recovery
    /// starts from it instead of indexing the streams again).
    var positions: [UInt64: Int] = [:]

    public init(baseSegment: UInt64, nextHandle: UInt64, createdMs: Int64, streams: [CheckpointStream]) {
        self.baseSegment = baseSegment
        self.nextHandle = nextHandle
        self.createdMs = createdMs
        self.streams = streams
    }

    public struct Totals: Sendable, Equatable {
        public var streams = 0
        public var entries = 0
        public var groups = 0
        public var pending = 0
        public init(streams: Int = 0, entries: Int = 0, groups: Int = 0, pending: Int = 0) {
            self.streams = streams
            self.entries = entries
            self.groups = groups
            self.pending = pending
        }
    }

    public var totals: Totals {
        var t = Totals()
        for i in streams.indices {  // by index: `for s in streams` copies each stream
            t.streams += 1
            t.entries += streams[i].stream.length
            guard !streams[i].stream.groups.isEmpty else { continue }
            t.groups += streams[i].stream.groups.count
            for g in streams[i].stream.groups.values { t.pending += g.pending.count }
        }
        return t
    }
}

/// Checkpoint record types (docs/FORMAT.md, "Checkpoint files").
enum CheckpointRecord {
    static let meta: UInt8 = 0x40
    static let stream: UInt8 = 0x41
    static let node: UInt8 = 0x42
    static let end: UInt8 = 0x4F
}

/// Writes and reads checkpoint files: the file header, then independently compressed
/// frames (every frame a restart point) of checkpoint records.
public enum CheckpointFile {
    static let frameRaw = 256 * 1024

    /// Node groups: a stream's nodes are cut into groups at content-defined points (after a
    /// node whose master ID hashes to a multiple of 4, once the group holds `groupMinRaw`
    /// bytes; at the latest at `groupMaxRaw`), and each complete group is a frame of its own.
    /// Cutting by content keeps the boundaries where they were when the head of the stream is
    /// trimmed, so an unchanged group compresses to the same frame in the next checkpoint,
    /// which copies it from the previous file (`CheckpointReuse`) instead of compressing it.
    static let groupMinRaw = 64 * 1024
    static let groupMaxRaw = 256 * 1024

    static func cutsAfter(_ id: StreamID) -> Bool {
        var x = id.ms &* 0x9E37_79B9_7F4A_7C15 ^ id.seq &* 0xC2B2_AE3D_27D4_EB4F
        x ^= x >> 29
        x = x &* 0xBF58_476D_1CE4_E5B9
        x ^= x >> 32
        return x & 3 == 0
    }

    /// Serializes and compresses a checkpoint. Returns the file bytes. With `reuse`, node
    /// groups whose nodes carry the stamps they had in the previous checkpoint file are copied
    /// from it (their frames verified by CRC first; the caller stamped the streams, see
    /// `Stream.stampNodes`) and `reuse` collects the groups of this file, to be
    /// committed once the file is durable.
    public static func encode(_ state: CheckpointState, level: Int32 = 1, reuse: CheckpointReuse? = nil) -> [UInt8] {
        var all: [UInt8] = []
        encode(state, level: level, reuse: reuse) { all.append(contentsOf: $0) }
        return all
    }

    /// Bytes handed out at a time by the streaming `encode`.
    static let pieceBytes = 1 << 20

    /// The same file, handed to `emit` in order in pieces of about a MiB, so writing a large
    /// state never holds the whole file image in memory.
    public static func encode(
        _ state: CheckpointState, level: Int32 = 1, reuse: CheckpointReuse? = nil, emit: ([UInt8]) -> Void
    ) {
        var file = Framing.header(.checkpoint, id: state.baseSegment)
        var emitted = 0  // bytes of the file handed to `emit` before those in `file`
        /// Appends a frame; returns its offset in the file.
        @discardableResult
        func append(frame: [UInt8]) -> Int {
            let offset = emitted + file.count
            file.append(contentsOf: frame)
            if file.count >= pieceBytes {
                emit(file)
                emitted += file.count
                file.removeAll(keepingCapacity: true)
            }
            return offset
        }
        let deflater = Deflater(level: level)
        var raw = ByteSink(capacity: frameRaw + 4096)
        var region = RegionState()
        let previous = reuse?.openPrevious()
        defer { previous?.close() }
        reuse?.beginEncode()
        // Every checkpoint frame is a restart frame, so nothing is lost by making each a whole
        // frame when libdeflate is there to do it faster.
        let whole = level > 0 ? WholeDeflater(level: level) : nil
        let wholeDeflater = whole?.usesLibdeflate == true ? whole : nil
        func compressed(_ bytes: [UInt8]) -> [UInt8] {
            if let w = wholeDeflater {
                return Framing.frame(payload: w.compress(bytes), rawLength: bytes.count, restart: true, whole: true)
            }
            deflater.reset()
            return Framing.frame(payload: deflater.compress(bytes), rawLength: bytes.count, restart: true)
        }
        func flushFrame() {
            guard raw.count > 0 else { return }
            append(frame: compressed(raw.bytes))
            raw = ByteSink(capacity: frameRaw + 4096)
            region.reset()
        }
        func put(_ body: ByteSink) {
            raw.varint(body.count)
            raw.bytes.append(contentsOf: body.bytes)
            if raw.count >= frameRaw { flushFrame() }
        }
        var group = ByteSink(capacity: groupMaxRaw + 8192)
        var groupVersions: [UInt64] = []
        var groupFirst = StreamID.zero
        func emitGroup(handle: UInt64) {
            flushFrame()
            let frame = compressed(group.bytes)
            let offset = append(frame: frame)
            reuse?.note(
                CheckpointReuse.Key(handle: handle, first: groupFirst),
                CheckpointReuse.Location(versions: groupVersions, rawLength: group.count, offset: offset, length: frame.count),
                copied: false)
            group.bytes.removeAll(keepingCapacity: true)
            groupVersions.removeAll()
        }
        var meta = ByteSink()
        meta.byte(CheckpointRecord.meta)
        meta.varint(state.nextHandle)
        meta.varint(UInt64(max(0, state.createdMs)))
        meta.varint(state.streams.count)
        put(meta)
        for cs in state.streams {
            let s = cs.stream
            var b = ByteSink(capacity: 64 + cs.key.count)
            b.byte(CheckpointRecord.stream)
            b.varint(cs.handle)
            b.varint(cs.db)
            b.string(cs.key)
            b.varint(UInt64(max(0, cs.expireAt)))
            b.id(s.lastID)
            b.id(s.maxDeletedID)
            b.varint(s.entriesAdded)
            b.varint(s.nodes.count)
            put(b)
            var n = ByteSink(capacity: 8192)
            let nodes = s.nodes
            var i = 0
            while i < nodes.count {
                if groupVersions.isEmpty, let previous, let (frame, old) = previous.frame(handle: cs.handle, nodes, from: i) {
                    // An unchanged group: its frame from the previous file, as it was.
                    flushFrame()
                    let offset = append(frame: frame)
                    reuse?.note(
                        CheckpointReuse.Key(handle: cs.handle, first: nodes[i].masterID),
                        CheckpointReuse.Location(versions: old.versions, rawLength: old.rawLength, offset: offset, length: frame.count),
                        copied: true)
                    i += old.versions.count
                    continue
                }
                let img = nodes[i].image
                if groupVersions.isEmpty { groupFirst = img.masterID }
                groupVersions.append(nodes[i].version)
                i += 1
                n.bytes.removeAll(keepingCapacity: true)
                n.byte(CheckpointRecord.node)
                n.varint(cs.handle)
                n.id(img.masterID)
                n.varint(img.masterFields.count)
                for j in 0..<img.masterFields.count { n.string(img.masterFields[j]) }
                n.varint(img.total)
                n.varint(img.live)
                n.id(img.lastID)
                n.varint(img.listpackFixedBytes)
                n.string(img.data)
                group.varint(n.count)
                group.bytes.append(contentsOf: n.bytes)
                if group.count >= groupMaxRaw || group.count >= groupMinRaw && cutsAfter(img.masterID) {
                    emitGroup(handle: cs.handle)
                }
            }
            // The nodes after the last cut travel with the records that follow.
            if !groupVersions.isEmpty {
                raw.bytes.append(contentsOf: group.bytes)
                group.bytes.removeAll(keepingCapacity: true)
                groupVersions.removeAll()
                if raw.count >= frameRaw { flushFrame() }
            }
            // Groups as the records that rebuild them: create, consumers, then every pending
            // entry as a claim with its owner, delivery time and count.
            for (name, g) in s.groups.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
                var records: [StreamRecord] = [.groupCreate(name: name, lastID: g.lastID, entriesRead: g.entriesRead)]
                for c in g.sortedConsumers {
                    records.append(.consumerCreate(group: name, consumer: c.name, time: c.seenTime))
                    if c.activeTime >= 0 { records.append(.consumerActive(group: name, consumer: c.name, time: c.activeTime)) }
                }
                for id in g.pendingOrder.all {
                    guard let p = g.pending[id] else { continue }
                    records.append(
                        .claim(group: name, consumer: p.consumer, id: id, deliveryTime: p.deliveryTime, deliveryCount: p.deliveryCount))
                }
                for r in records {
                    var rec = ByteSink()
                    RecordEncoding.encode(.stream(handle: cs.handle, r), into: &rec, region: &region)
                    raw.bytes.append(contentsOf: rec.bytes)
                    if raw.count >= frameRaw { flushFrame() }
                }
            }
        }
        let t = state.totals
        var end = ByteSink()
        end.byte(CheckpointRecord.end)
        end.varint(t.streams)
        end.varint(t.entries)
        end.varint(t.groups)
        end.varint(t.pending)
        put(end)
        flushFrame()
        if !file.isEmpty { emit(file) }
    }

    /// Calls `body` with each frame of a checkpoint image, CRC-checked and inflated, in order;
    /// throws at the first defect with the file and offset.
    static func inflatedFrames(
        _ bytes: [UInt8], file: String, _ body: (FrameInfo, [UInt8]) throws(StorageError) -> Void
    ) throws(StorageError) {
        var scanner = FrameScanner(bytes)
        let inflater = Inflater()
        while let next = scanner.next() {
            let frame: FrameInfo
            switch next {
            case .success(let f): frame = f
            case .failure(.truncated(let offset)): throw .corrupt(file: file, offset: offset, reason: "checkpoint ends inside a frame")
            case .failure(.corrupt(let offset, let reason)): throw .corrupt(file: file, offset: offset, reason: reason)
            }
            inflater.reset()
            let raw: [UInt8]
            do {
                raw = try inflater.inflate(frame, in: bytes)
            } catch {
                throw .corrupt(file: file, offset: frame.offset, reason: "deflate data error \(error)")
            }
            try body(frame, raw)
        }
    }

    /// The handle, database and key of every stream record of a checkpoint image; frames are
    /// checked and inflated, other records skipped by their length.
    public static func streamKeys(_ bytes: [UInt8], file: String) throws(StorageError) -> [UInt64: (db: Int, key: [UInt8])] {
        _ = try Framing.parseHeader(bytes, kind: .checkpoint, file: file)
        var out: [UInt64: (db: Int, key: [UInt8])] = [:]
        try inflatedFrames(bytes, file: file) { frame, raw throws(StorageError) in
            var src = ByteSource(raw)
            do {
                while !src.isAtEnd {
                    let n = try src.length()
                    var body = ByteSource(raw, from: src.position, to: src.position + n)
                    src.position += n
                    guard try body.byte() == CheckpointRecord.stream else { continue }
                    let h = try body.varint()
                    let db = try body.count()
                    out[h] = (db, try body.string())
                }
            } catch {
                throw .malformed(file: file, offset: frame.offset, reason: "truncated record")
            }
        }
        return out
    }

    /// Reads a checkpoint file image. Throws with the file and offset of any defect.
    public static func decode(_ bytes: [UInt8], file: String) throws(StorageError) -> CheckpointState {
        let base = try Framing.parseHeader(bytes, kind: .checkpoint, file: file)
        var state = CheckpointState(baseSegment: base, nextHandle: 1, createdMs: 0, streams: [])
        var byHandle: [UInt64: Int] = [:]
        var pendingNodes: [StreamNode] = []
        /// The stream being decoded: appended to `state.streams` (at `byHandle[handle]`) once
        /// its nodes are complete, so that it is stored once, whole.
        var pending: CheckpointStream?
        var pendingHeader = Stream.Header(lastID: .zero, maxDeletedID: .zero, entriesAdded: 0)
        var pendingCount = 0
        var sawEnd = false
        var sawMeta = false
        var region = RegionState()
        var scratch = FieldList()
        var names = FieldList()

        func finishStream() throws(StorageError) {
            var p: CheckpointStream? = nil
            swap(&p, &pending)  // moved out, not copied
            guard p != nil else { return }
            guard pendingNodes.count == pendingCount else {
                throw .malformed(file: file, offset: 0, reason: "stream nodes of handle \(p!.handle) are inconsistent")
            }
            var nodes: [StreamNode] = []
            swap(&nodes, &pendingNodes)
            guard let s = Stream(header: pendingHeader, nodes: nodes) else {
                throw .malformed(file: file, offset: 0, reason: "stream nodes of handle \(p!.handle) are inconsistent")
            }
            p!.stream = s
            state.streams.append(CheckpointStream.take(&p!))
        }

        // A second thread checks and inflates frames while this one parses them.
        let handoff = Handoff<Swift.Result<(FrameInfo, [UInt8]), StorageError>>(limit: 16)
        let image = bytes
        let producer = startJoinableThread(name: "runnel-ckload") {
            produce()
            handoff.finish()
        }
        // Joined before returning, on every path: nothing of that thread outlives the decode.
        defer { producer.join() }
        @Sendable func produce() {
            do throws(StorageError) {
                try inflatedFrames(image, file: file) { frame, raw in handoff.put(.success((frame, raw))) }
            } catch {
                handoff.put(.failure(error))
            }
        }
        var failure: StorageError?
        while let item = handoff.take() {
            if failure != nil { continue }  // drain so the producer can finish
            let frame: FrameInfo
            let raw: [UInt8]
            switch item {
            case .failure(let e):
                failure = e
                continue
            case .success(let (f, r)):
                frame = f
                raw = r
            }
            if sawEnd {
                failure = .malformed(file: file, offset: frame.offset, reason: "frames after the end record")
                continue
            }
            region.reset()
            var src = ByteSource(raw)
            while !src.isAtEnd {
                let at = src.position
                do {
                    let n = try src.length()
                    var body = ByteSource(raw, from: src.position, to: src.position + n)
                    src.position += n
                    let type = try body.byte()
                    switch type {
                    case CheckpointRecord.meta:
                        state.nextHandle = try body.varint()
                        state.createdMs = Int64(try body.varint())
                        let count = try body.count()
                        state.streams.reserveCapacity(count)
                        byHandle.reserveCapacity(count)
                        sawMeta = true
                    case CheckpointRecord.stream:
                        try finishStream()
                        let h = try body.varint()
                        let db = try body.count()
                        let key = try body.string()
                        let exp = Int64(try body.varint())
                        let header = Stream.Header(lastID: try body.id(), maxDeletedID: try body.id(), entriesAdded: try body.varint())
                        let nodes = try body.count()
                        guard byHandle[h] == nil else {
                            throw StorageError.malformed(file: file, offset: frame.offset, reason: "handle \(h) appears twice")
                        }
                        byHandle[h] = state.streams.count
                        pending = CheckpointStream(handle: h, db: db, key: key, expireAt: exp, stream: Stream())
                        pendingHeader = header
                        pendingCount = nodes
                        pendingNodes.reserveCapacity(nodes)
                    case CheckpointRecord.node:
                        let h = try body.varint()
                        guard pending?.handle == h else {
                            throw StorageError.malformed(file: file, offset: frame.offset, reason: "node of handle \(h) outside its stream")
                        }
                        let master = try body.id()
                        let fc = try body.count(limit: body.remaining)
                        scratch.removeAll(reserving: 0, count: fc)
                        for _ in 0..<fc { try body.appendString(to: &scratch) }
                        // Nodes with the same master names share one list (a million small
                        // streams of one schema keep one copy of it).
                        if scratch != names { names = scratch }
                        let fields = names
                        let total = try body.count()
                        let live = try body.count()
                        let last = try body.id()
                        let lp = try body.count()
                        let data = try body.string()
                        let img = StreamNode.Image(
                            masterID: master, masterFields: fields, data: data, total: total, live: live, lastID: last,
                            listpackFixedBytes: lp)
                        guard let node = StreamNode(image: img) else {
                            throw StorageError.malformed(file: file, offset: frame.offset, reason: "node \(master) of handle \(h) does not decode")
                        }
                        pendingNodes.append(node)
                    case CheckpointRecord.end:
                        try finishStream()
                        let t = state.totals
                        let want = CheckpointState.Totals(
                            streams: try body.count(), entries: try body.count(), groups: try body.count(), pending: try body.count())
                        guard t == want else {
                            throw StorageError.malformed(file: file, offset: frame.offset, reason: "totals \(t) differ from the end record's \(want)")
                        }
                        sawEnd = true
                    default:
                        try finishStream()
                        body.position -= 1
                        guard let rec = try RecordDecoding.decode(&body, region: &region),
                            case .stream(let h, let r) = rec, let i = byHandle[h]
                        else {
                            throw StorageError.malformed(file: file, offset: frame.offset, reason: "unexpected record type \(type)")
                        }
                        state.streams[i].stream.apply(r)
                    }
                    guard body.isAtEnd else {
                        throw StorageError.malformed(file: file, offset: frame.offset, reason: "record at \(at) has trailing bytes")
                    }
                } catch let e as StorageError {
                    failure = e
                    break
                } catch {
                    failure = .malformed(file: file, offset: frame.offset, reason: "truncated record at raw offset \(at)")
                    break
                }
            }
        }
        if let failure { throw failure }
        guard sawMeta && sawEnd else {
            throw .corrupt(file: file, offset: bytes.count, reason: "checkpoint has no end record (incomplete file)")
        }
        state.positions = byHandle
        return state
    }
}
