import Logging
import RunnelStreams

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Rebuilds the state of a data directory: the manifest's checkpoint, then every segment
/// after it, record by record.
public enum Recovery {
    public struct Report: Sendable {
        public var streams = 0
        public var entries = 0
        public var groups = 0
        public var pending = 0
        public var checkpointBytes = 0
        public var segmentBytes = 0
        public var segments = 0
        public var frames = 0
        public var records = 0
        public var rawBytes = 0
        /// Bytes cut from a torn tail.
        public var truncatedBytes = 0
        /// Index files written because they were missing or did not match their segment.
        public var indexesRebuilt = 0
        /// Read-only mode: index files that are missing (sealed segments), unreadable or wrong.
        public var indexProblems: [(file: String, message: String)] = []
        /// Read-only mode: where a torn tail starts (file, offset), if there is one.
        public var tornTail: (file: String, offset: Int, reason: String)?
        /// What `repair` dropped or rebuilt, if anything (several steps joined by "; ").
        public var repaired: String?
        public var durationMs = 0
        /// Of which reading the checkpoint.
        public var checkpointLoadMs = 0
        /// The segment the writer opens next.
        public var nextSegment: UInt64 = 1
        public var nextHandle: UInt64 = 1

        mutating func noteRepair(_ step: String) {
            repaired = repaired.map { $0 + "; " + step } ?? step
        }
    }

    public struct Result: Sendable {
        public var streams: [CheckpointStream]
        public var report: Report
    }

    /// A key's bytes as a dictionary key, hashed in one call (an array of bytes hashes
    /// byte by byte, which for a million keys was a noticeable part of a restart).
    struct KeyBytes: Hashable {
        let bytes: [UInt8]
        init(_ bytes: [UInt8]) { self.bytes = bytes }
        func hash(into hasher: inout Hasher) { bytes.withUnsafeBytes { hasher.combine(bytes: $0) } }
    }

    /// Live state while replaying: the streams in one array (the checkpoint's, as decoded,
    /// then those the log creates), found by handle through `positions`. A removed stream
    /// leaves a hole (handle 0, storage freed) until holes are half the array.
    struct Replay {
        var streams: [CheckpointStream] = []
        var positions: [UInt64: Int] = [:]
        var holes = 0
        /// Which stream holds each key, for the records that bind, free or move keys. Built
        /// on first need: a restart whose tail only appends (or that has no tail) never
        /// hashes the checkpoint's keys.
        var keys: [Int: [KeyBytes: UInt64]] = [:]
        var keysIndexed = true
        var nextHandle: UInt64 = 1
        /// Only keys and handles are tracked; stream contents are not rebuilt (verify).
        var shallow = false

        /// Takes a decoded checkpoint's streams as the starting state.
        mutating func start(with state: inout CheckpointState) {
            swap(&streams, &state.streams)
            swap(&positions, &state.positions)
            if positions.count != streams.count {
                positions = [:]
                positions.reserveCapacity(streams.count)
                for i in streams.indices { positions[streams[i].handle] = i }  // by index: no copies
            }
            keysIndexed = streams.isEmpty
        }

        /// Indexes the keys of every stream, once, before the first record that needs them.
        mutating func indexKeys() {
            guard !keysIndexed else { return }
            keysIndexed = true
            var perDB: [Int: Int] = [:]
            for i in streams.indices where streams[i].handle != 0 { perDB[streams[i].db, default: 0] += 1 }
            for (db, n) in perDB { keys[db, default: [:]].reserveCapacity(n) }
            for i in streams.indices where streams[i].handle != 0 {
                keys[streams[i].db, default: [:]][KeyBytes(streams[i].key)] = streams[i].handle
            }
        }

        mutating func add(_ stream: CheckpointStream) {
            positions[stream.handle] = streams.count
            streams.append(stream)
        }

        mutating func remove(_ h: UInt64) {
            guard let i = positions.removeValue(forKey: h) else { return }
            indexKeys()
            keys[streams[i].db]?[KeyBytes(streams[i].key)] = nil
            _ = CheckpointStream.take(&streams[i])  // leaves a hole, frees the stream
            holes += 1
            if holes > 1024 && holes > streams.count / 2 { compact() }
        }

        /// Drops the holes (amortized: only once they are half the array).
        mutating func compact() {
            var kept: [CheckpointStream] = []
            kept.reserveCapacity(streams.count - holes)
            for i in streams.indices where streams[i].handle != 0 {
                positions[streams[i].handle] = kept.count
                kept.append(CheckpointStream.take(&streams[i]))
            }
            streams = kept
            holes = 0
        }

        mutating func bind(_ h: UInt64, db: Int, key: [UInt8]) {
            indexKeys()
            if let other = keys[db]?[KeyBytes(key)], other != h { remove(other) }
            keys[db, default: [:]][KeyBytes(key)] = h
        }

        /// One list reused for every append replayed from an arena.
        var scratch = FieldList()
        /// The master field names of the last node replayed, shared by the next when equal.
        var names = FieldList()

        /// Applies an append decoded into `arena`; false when its stream does not exist.
        mutating func applyAppend(_ ref: AppendRef, _ arena: AppendArena) -> Bool {
            guard let i = positions[ref.handle] else { return false }
            if !shallow {
                arena.fill(ref, into: &scratch)
                streams[i].stream.replayAppend(ref.id, scratch, newNode: ref.newNode, sharing: &names)
            }
            return true
        }

        /// Applies one record; false when it names a stream that does not exist.
        mutating func apply(_ record: LogRecord) -> Bool {
            switch record {
            case .streamNew(let h, let db, let key):
                remove(h)
                bind(h, db: db, key: key)
                add(CheckpointStream(handle: h, db: db, key: key, expireAt: 0, stream: Stream()))
                nextHandle = max(nextHandle, h + 1)
            case .keyDelete(let h):
                guard positions[h] != nil else { return false }
                remove(h)
            case .keyRename(let h, let db, let key):
                guard let i = positions[h] else { return false }
                indexKeys()
                keys[streams[i].db]?[KeyBytes(streams[i].key)] = nil
                bind(h, db: db, key: key)
                // `bind` may have removed another stream, and compacted: look this one up again.
                let j = positions[h]!
                streams[j].db = db
                streams[j].key = key
            case .keyExpire(let h, let at):
                guard let i = positions[h] else { return false }
                streams[i].expireAt = at
            case .flush(let db):
                var gone: [UInt64] = []
                for i in streams.indices where streams[i].handle != 0 && (db == nil || streams[i].db == db) {
                    gone.append(streams[i].handle)
                }
                for h in gone { remove(h) }
            case .keyCopy(let from, let h, let db, let key):
                guard let source = positions[from], from != h else { return false }
                // A value copy, taken first (binding may remove the source): the two streams
                // share node storage until either changes it.
                var copy = streams[source]
                remove(h)
                bind(h, db: db, key: key)
                copy.handle = h
                copy.db = db
                copy.key = key
                copy.expireAt = 0
                add(copy)
                nextHandle = max(nextHandle, h + 1)
            case .swapDB(let a, let b):
                guard a != b else { return true }
                indexKeys()
                for i in streams.indices where streams[i].handle != 0 {
                    if streams[i].db == a { streams[i].db = b } else if streams[i].db == b { streams[i].db = a }
                }
                let keysA = keys[a]
                keys[a] = keys[b]
                keys[b] = keysA
            case .append(let h, let id, let fields, let newNode):
                guard let i = positions[h] else { return false }
                if !shallow { streams[i].stream.replayAppend(id, fields, newNode: newNode, sharing: &names) }
            case .stream(let h, let r):
                guard let i = positions[h] else { return false }
                if !shallow { streams[i].stream.apply(r) }
            }
            return true
        }

        /// The live streams, emptying the replay: ordered by (db, handle) when asked (tools
        /// list them that way), otherwise as they are (the server files them by key).
        mutating func finish(ordered: Bool) -> [CheckpointStream] {
            if holes > 0 { compact() }
            positions = [:]
            keys = [:]
            var out: [CheckpointStream] = []
            swap(&out, &streams)
            guard ordered else { return out }
            var sorted = true
            for i in out.indices.dropFirst() where (out[i - 1].db, out[i - 1].handle) > (out[i].db, out[i].handle) {
                sorted = false
                break
            }
            if sorted { return out }
            // Sorted as small (db, handle, index) triples, then each stream moved to its place.
            var order = out.indices.map { (db: out[$0].db, handle: out[$0].handle, index: $0) }
            order.sort { ($0.db, $0.handle) < ($1.db, $1.handle) }
            var result: [CheckpointStream] = []
            result.reserveCapacity(out.count)
            for o in order { result.append(CheckpointStream.take(&out[o.index])) }
            return result
        }
    }

    /// Where replay stopped early.
    struct Stop: Error {
        let segment: UInt64
        let offset: Int
        let reason: String
        /// True when the problem is a torn write at the very end of the log.
        let tornTail: Bool
    }

    /// A record seen during replay, with where it was and the key its stream had then.
    public struct VisitedRecord {
        public var segment: UInt64
        public var frameOffset: Int
        public var rawOffset: Int
        public var record: LogRecord
        public var db: Int?
        public var key: [UInt8]?
    }

    /// `ordered`: the streams in (db, handle) order; the server, which files them by key,
    /// passes false and gets them in no particular order.
    public static func recover(_ dir: DataDirectory, repair: Bool, ordered: Bool = true, logger: Logger) throws(StorageError) -> Result {
        try recover(dir, repair: repair, readOnly: false, ordered: ordered, logger: logger, visit: nil)
    }

    /// `readOnly` changes nothing on disk (the dump tool, possibly beside a running server):
    /// a torn tail is only skipped, indexes are not rewritten, no MANIFEST is created.
    public static func recover(
        _ dir: DataDirectory, repair: Bool, readOnly: Bool, shallow: Bool = false, ordered: Bool = true, logger: Logger,
        visit: ((VisitedRecord) -> Void)?, progress: ((Int, Int) -> Void)? = nil
    ) throws(StorageError) -> Result {
        let start = Files.monotonicNs()
        if !readOnly { try dir.refuseIfSnapshot() }
        var report = Report()
        var replay = Replay()
        replay.shallow = shallow
        // Temporary files of an interrupted checkpoint, index or manifest write are garbage.
        if !readOnly {
            for name in try Files.list(dir.path) where name.hasSuffix(".tmp") {
                unlink(dir.file(name))
            }
        }
        var manifest: Manifest?
        var manifestRebuilt = false
        if Files.exists(dir.manifestPath) {
            do {
                manifest = try Manifest.decode(try Files.readAll(dir.manifestPath), file: dir.manifestPath)
            } catch {
                // A damaged MANIFEST is only ever replaced by an explicit repair, and kept aside.
                guard case .corrupt(let file, let offset, let reason) = error else { throw error }
                guard repair && !readOnly else {
                    throw .corrupt(
                        file: file, offset: offset,
                        reason: "\(reason). Run `runnel-dump repair \(dir.path)` or start `runnel-server --repair` to rebuild it from the newest complete checkpoint the log follows (the original is kept in \(dir.path)/damaged/); or restore a snapshot")
                }
                let bytes = try Files.readAll(dir.manifestPath)
                let target = try keepAside(dir, bytes, name: "MANIFEST", stamp: Files.nowMs())
                logger.warning("Repair: \(error); the MANIFEST is rebuilt (original in \(target))")
            }
        }
        var segments = try dir.segmentIDs()
        if manifest == nil, let origin = try missingManifestOrigin(dir, segments: segments) {
            // Without a MANIFEST the state would be the segments alone, but this directory's
            // beginning is in a checkpoint: replaying the log from its first segment would fail
            // on records naming streams it never saw, and a repair would then cut everything.
            guard repair && !readOnly else {
                throw .corrupt(
                    file: dir.manifestPath, offset: 0,
                    reason: "the MANIFEST is missing, but \(origin); the state before the log is in a checkpoint only the MANIFEST names. Run `runnel-dump repair \(dir.path)` or start `runnel-server --repair` to write a MANIFEST naming the newest complete checkpoint the log follows; or restore a snapshot")
            }
            if let found = try newestUsableCheckpoint(dir, segments: segments, logger: logger) {
                manifest = found
                manifestRebuilt = true
                let rebuilt = "wrote a MANIFEST naming \(found.checkpoint!.name), with the log from segment \(found.segmentsFrom) (\(origin))"
                report.noteRepair(rebuilt)
                logger.warning("Repair: \(rebuilt)")
            } else if segments.first ?? 1 != 1 {
                throw .corrupt(
                    file: dir.manifestPath, offset: 0,
                    reason: "the MANIFEST is missing and \(origin), but no complete checkpoint is followed by the log; nothing here rebuilds the state: restore a snapshot")
            } else {
                report.noteRepair("no usable checkpoint (\(origin)): the state is rebuilt from the whole log, which starts at segment 1")
                logger.warning("Repair: \(report.repaired!)")
            }
        }
        if let m = manifest, let c = m.checkpoint {
            let path = dir.file(c.name)
            let bytes = try Files.readAll(path)
            guard bytes.count == c.size, Checksum.crc32(bytes) == c.crc else {
                let replayable = segments.first == 1
                throw .corrupt(
                    file: path, offset: 0,
                    reason: "checkpoint size/CRC differ from the MANIFEST (\(bytes.count) bytes); restore from a snapshot"
                        + (replayable ? ", or remove MANIFEST to replay the segments alone (segment 1 is still here)" : ""))
            }
            var state = try CheckpointFile.decode(bytes, file: path)
            // The decoded array becomes the replay's: each stream stays where it was decoded.
            replay.start(with: &state)
            replay.nextHandle = state.nextHandle
            report.checkpointBytes = bytes.count
            report.checkpointLoadMs = Int((Files.monotonicNs() - start) / 1_000_000)
        }
        let from = manifest?.segmentsFrom ?? segments.first ?? 1
        segments = segments.filter { $0 >= from }
        if let first = segments.first, first != from, manifest?.checkpoint != nil {
            throw .corrupt(file: dir.file(dir.segmentName(from)), offset: 0, reason: "segment \(from) named by the MANIFEST is missing")
        }
        for (a, b) in zip(segments, segments.dropFirst()) where b != a + 1 {
            throw .corrupt(file: dir.file(dir.segmentName(a + 1)), offset: 0, reason: "segment missing between \(a) and \(b)")
        }
        var lastSegment = from > 0 ? from - 1 : 0
        // Segments decode one ahead: while this thread applies segment i, another inflates
        // segment i + 1 (each segment starts with a restart point, so they are independent).
        var prefetched: SegmentFeed? = nil
        defer { prefetched?.handoff.cancel() }
        segmentLoop: for (i, id) in segments.enumerated() {
            let isLast = i == segments.count - 1
            let path = dir.file(dir.segmentName(id))
            let feed: SegmentFeed
            if let p = prefetched {
                feed = p
            } else {
                feed = try SegmentFeed.start(id, path: path, isLast: isLast)
            }
            prefetched = nil
            if i + 1 < segments.count {
                let nextID = segments[i + 1]
                prefetched = try SegmentFeed.start(nextID, path: dir.file(dir.segmentName(nextID)), isLast: i + 2 == segments.count)
            }
            defer {
                feed.handoff.cancel()
                progress?(i + 1, segments.count)
            }
            let bytes = feed.bytes
            report.segments += 1
            lastSegment = id
            var points: [IndexPoint] = []
            var dataEnd = bytes.count
            defer {
                // Every segment found at startup is sealed: check its index, rebuild it if needed.
                let size = min(Files.size(path) ?? dataEnd, dataEnd)
                let built = SegmentIndex(segment: id, size: size, crc: bytes.withUnsafeBytes { Checksum.crc32(UnsafeRawBufferPointer(rebasing: $0[0..<size])) }, points: points)
                let idxPath = dir.file(dir.indexName(id))
                let storedBytes = try? Files.readAll(idxPath)
                let stored = storedBytes.flatMap { try? SegmentIndex.decode($0, file: idxPath) }
                if readOnly && stored != built {
                    if storedBytes == nil {
                        if !isLast { report.indexProblems.append((idxPath, "missing index of a sealed segment (rebuilt at the next start, or by `repair`)")) }
                    } else if stored == nil {
                        report.indexProblems.append((idxPath, "index file does not decode (rebuilt at the next start, or by `repair`)"))
                    } else {
                        report.indexProblems.append((idxPath, "index does not match its segment (rebuilt at the next start, or by `repair`)"))
                    }
                }
                if stored != built && Files.exists(path) && !readOnly {
                    if (try? Files.writeAtomically(idxPath, built.encoded(), directory: dir.path)) != nil {
                        report.indexesRebuilt += 1
                    }
                }
            }
            do {
                dataEnd = try replaySegment(feed, replay: &replay, report: &report, index: &points, visit: visit)
                // Zeros preallocated after the data (a server stopped without sealing the
                // segment) are cut, so every sealed segment ends at its last frame.
                if dataEnd < bytes.count && !readOnly && truncate(path, off_t(dataEnd)) != 0 {
                    throw StorageError.io(operation: "truncate", path: path, errno: errno)
                }
                report.segmentBytes += dataEnd
            } catch let stop as Stop {
                // Torn bytes: from the bad frame to the last non-zero byte (zeros preallocated
                // after it were never data, and are cut without counting).
                let torn = max(0, FrameScanner.trailingZerosStart(bytes, notBefore: stop.offset) - stop.offset)
                if stop.tornTail && readOnly {
                    report.tornTail = (path, stop.offset, stop.reason)
                    report.truncatedBytes += torn
                    report.segmentBytes += stop.offset
                    break segmentLoop
                }
                if stop.tornTail {
                    let dropped = torn
                    if repair {
                        // An explicit repair keeps the original bytes, as for a cut.
                        let target = try keepAside(dir, bytes, name: dir.segmentName(id), stamp: Files.nowMs())
                        report.noteRepair("truncated a torn tail of \(path) at offset \(stop.offset): dropped \(dropped) bytes (\(stop.reason)); original in \(target)")
                    }
                    if truncate(path, off_t(stop.offset)) != 0 {
                        throw .io(operation: "truncate", path: path, errno: errno)
                    }
                    report.truncatedBytes += dropped
                    report.segmentBytes += stop.offset
                    logger.warning("Torn tail in \(path): dropped the last \(dropped) bytes (offset \(stop.offset), \(stop.reason)); nothing acknowledged was in them")
                    break segmentLoop
                }
                guard repair && !readOnly else {
                    throw .corrupt(
                        file: path, offset: stop.offset,
                        reason: "\(stop.reason). The log after this point cannot be trusted. To keep the data before it, run `runnel-dump repair \(dir.path)` or start `runnel-server --repair` (the damaged files are moved to \(dir.path)/damaged/); or restore a snapshot")
                }
                // Cut here: move the damaged file and every later one aside, keep the prefix.
                let aside = dir.file(damagedDirectory)
                try Files.makeDirectory(aside)
                let stamp = Files.nowMs()
                var moved: [String] = []
                for later in segments[i...] {
                    let name = dir.segmentName(later)
                    let target = aside + "/\(stamp)-" + name
                    if later == id {
                        // Copy the original aside, then truncate in place.
                        _ = try keepAside(dir, bytes, name: name, stamp: stamp)
                        if truncate(path, off_t(stop.offset)) != 0 { throw .io(operation: "truncate", path: path, errno: errno) }
                    } else {
                        if rename(dir.file(name), target) != 0 { throw .io(operation: "rename", path: dir.file(name), errno: errno) }
                    }
                    unlink(dir.file(dir.indexName(later)))
                    moved.append(name)
                }
                let dropped = bytes.count - stop.offset
                let cut = "cut \(path) at offset \(stop.offset) (\(stop.reason)); dropped \(dropped) bytes of it and \(moved.count - 1) later segment(s); originals in \(aside)"
                report.noteRepair(cut)
                report.segmentBytes += stop.offset
                logger.warning("Repair: \(cut)")
                break segmentLoop
            } catch let e as StorageError {
                throw e
            } catch {
                throw .malformed(file: path, offset: 0, reason: "\(error)")
            }
        }
        let streams = replay.finish(ordered: ordered)
        report.streams = streams.count
        for i in streams.indices {  // by index: `for s in streams` copies each stream
            report.entries += streams[i].stream.length
            guard !streams[i].stream.groups.isEmpty else { continue }
            report.groups += streams[i].stream.groups.count
            for g in streams[i].stream.groups.values { report.pending += g.pending.count }
        }
        report.nextSegment = max(lastSegment + 1, from)
        report.nextHandle = replay.nextHandle
        if manifest == nil && !readOnly {
            try Files.writeAtomically(
                dir.manifestPath, Manifest(checkpoint: nil, segmentsFrom: segments.first ?? report.nextSegment).encoded(),
                directory: dir.path)
        } else if manifestRebuilt, let m = manifest {
            try Files.writeAtomically(dir.manifestPath, m.encoded(), directory: dir.path)
        }
        report.durationMs = Int((Files.monotonicNs() - start) / 1_000_000)
        return Result(streams: streams, report: report)
    }

    static let damagedDirectory = "damaged"

    /// Why a directory without a MANIFEST cannot be the log alone: it holds checkpoints, or its
    /// log does not start at segment 1. Nil for a directory the log alone describes.
    static func missingManifestOrigin(_ dir: DataDirectory, segments: [UInt64]) throws(StorageError) -> String? {
        let checkpoints = try dir.checkpointIDs()
        if let newest = checkpoints.last {
            return "the directory holds \(checkpoints.count == 1 ? "" : "\(checkpoints.count) checkpoints, the newest ")\(dir.checkpointName(newest))"
        }
        if let first = segments.first, first > 1 {
            return "its log starts at segment \(first), not 1"
        }
        return nil
    }

    /// For a repair without a MANIFEST: the newest checkpoint that decodes completely and
    /// that the log follows (segments from its base segment on, or none yet), as a manifest.
    static func newestUsableCheckpoint(_ dir: DataDirectory, segments: [UInt64], logger: Logger) throws(StorageError) -> Manifest? {
        for id in try dir.checkpointIDs().reversed() {
            let later = segments.filter { $0 >= id }
            guard later.first.map({ $0 == id }) ?? true else {
                logger.warning("Repair: \(dir.checkpointName(id)) is not followed by segment \(id); not used")
                continue
            }
            let path = dir.file(dir.checkpointName(id))
            let bytes = try Files.readAll(path)
            do {
                _ = try CheckpointFile.decode(bytes, file: path)
            } catch {
                logger.warning("Repair: \(dir.checkpointName(id)) is not a complete checkpoint (\(error)); not used")
                continue
            }
            let ref = Manifest.CheckpointRef(baseSegment: id, name: dir.checkpointName(id), size: bytes.count, crc: Checksum.crc32(bytes))
            return Manifest(checkpoint: ref, segmentsFrom: id)
        }
        return nil
    }

    /// Copies a file's original bytes to `DIR/damaged/<stamp>-<name>` before a repair changes it.
    static func keepAside(_ dir: DataDirectory, _ bytes: [UInt8], name: String, stamp: Int64) throws(StorageError) -> String {
        let aside = dir.file(damagedDirectory)
        try Files.makeDirectory(aside)
        let target = aside + "/\(stamp)-" + name
        try Files.writeFile(target, bytes, sync: true)
        return target
    }

    /// Replays one segment image; throws `Stop` at the first frame that cannot be used.
    /// A segment being inflated and decoded on its own thread.
    final class SegmentFeed: @unchecked Sendable {
        let id: UInt64
        let bytes: [UInt8]
        /// Up to ~a segment ahead, so the next segment inflates while this one is applied.
        let handoff = Handoff<Swift.Result<DecodedFrame, Stop>>(limit: 1 << 16, limitBytes: 96 << 20)

        init(id: UInt64, bytes: [UInt8]) {
            self.id = id
            self.bytes = bytes
        }

        static func start(_ id: UInt64, path: String, isLast: Bool) throws(StorageError) -> SegmentFeed {
            let feed = SegmentFeed(id: id, bytes: try Files.readAll(path))
            startThread(name: "runnel-replay") {
                let handoff = feed.handoff
                do {
                    try SegmentDecoder.decode(id, feed.bytes, isLast: isLast) { frame in
                        handoff.put(.success(frame), cost: frame.rawBytes)
                    }
                } catch let stop as Stop {
                    handoff.put(.failure(stop))
                } catch {
                    handoff.put(.failure(Stop(segment: id, offset: 0, reason: "\(error)", tornTail: false)))
                }
                handoff.finish()
            }
            return feed
        }
    }

    /// Applies one segment's decoded frames; throws `Stop` at the first frame that cannot be used.
    static func replaySegment(
        _ feed: SegmentFeed, replay: inout Replay, report: inout Report, index: inout [IndexPoint],
        visit: ((VisitedRecord) -> Void)? = nil
    ) throws -> Int {
        let id = feed.id
        let handoff = feed.handoff
        var failure: Stop?
        var end = Framing.headerSize
        while let item = handoff.take() {
            guard failure == nil else { continue }  // drain so the producer can finish
            switch item {
            case .failure(let stop):
                failure = stop
            case .success(let decoded):
                end = decoded.frame.end
                SegmentIndex.note(decoded, into: &index)
                for item in decoded.items {
                    if let visit {
                        let record = decoded.record(item)
                        var v = VisitedRecord(segment: id, frameOffset: decoded.frame.offset, rawOffset: item.offset, record: record)
                        if let h = record.handle, let i = replay.positions[h] {
                            v.db = replay.streams[i].db
                            v.key = replay.streams[i].key
                        }
                        visit(v)
                    }
                    let ok: Bool
                    let handle: UInt64
                    switch item {
                    case .record(let record, _):
                        ok = replay.apply(record)
                        handle = record.handle ?? 0
                    case .append(let ref, _):
                        ok = replay.applyAppend(ref, decoded.arena)
                        handle = ref.handle
                    }
                    if !ok {
                        failure = Stop(
                            segment: id, offset: decoded.frame.offset,
                            reason: "record at raw offset \(item.offset) names unknown stream handle \(handle)", tornTail: false)
                        break
                    }
                }
                report.records += decoded.items.count
                report.frames += 1
                report.rawBytes += decoded.rawBytes
            }
        }
        if let failure { throw failure }
        return end
    }
}

extension SegmentIndex {
    /// Adds a decoded frame to index points being built: a restart frame opens a point, and
    /// appends extend their stream's span in the current point.
    static func note(_ decoded: DecodedFrame, into points: inout [IndexPoint]) {
        if decoded.frame.restart { points.append(IndexPoint(offset: decoded.frame.offset, spans: [:])) }
        guard !points.isEmpty else { return }
        for item in decoded.items {
            let h: UInt64
            let id: StreamID
            switch item {
            case .append(let ref, _):
                h = ref.handle
                id = ref.id
            case .record(.append(let rh, let rid, _, _), _):
                h = rh
                id = rid
            default:
                continue
            }
            if var span = points[points.count - 1].spans[h] {
                span.last = id
                span.count += 1
                points[points.count - 1].spans[h] = span
            } else {
                points[points.count - 1].spans[h] = IndexSpan(first: id, last: id, count: 1)
            }
        }
    }

    /// Builds a segment's index by scanning it (missing or damaged index files).
    public static func build(segment id: UInt64, bytes: [UInt8]) -> SegmentIndex {
        var points: [IndexPoint] = []
        let end = (try? SegmentDecoder.decode(id, bytes, isLast: true) {
            note($0, into: &points)
            return true
        }) ?? bytes.count
        return SegmentIndex(segment: id, size: end, crc: Checksum.crc32(Array(bytes[0..<end])), points: points)
    }
}

/// One frame of a segment, inflated and decoded.
struct DecodedFrame: @unchecked Sendable {
    var frame: FrameInfo
    var items: [DecodedItem]
    var arena: AppendArena
    var rawBytes: Int

    /// Item `i` as a self-contained record (tools; replay applies appends from the arena).
    func record(_ item: DecodedItem) -> LogRecord {
        switch item {
        case .record(let r, _):
            return r
        case .append(let ref, _):
            var fields = FieldList()
            arena.fill(ref, into: &fields)
            return .append(handle: ref.handle, id: ref.id, fields: fields, newNode: ref.newNode)
        }
    }

    /// Every record with its raw offset, materialized.
    var records: [(LogRecord, Int)] { items.map { (record($0), $0.offset) } }
}

/// Walks a segment image frame by frame: CRC, inflate, decode.
enum SegmentDecoder {
    /// Calls `visit` with each frame; throws `Recovery.Stop` at the first unusable one.
    /// `visit` returns false to stop early. Returns where the segment's data ends: after its
    /// last frame (zeros preallocated after it are not data).
    @discardableResult
    static func decode(_ id: UInt64, _ bytes: [UInt8], isLast: Bool, visit: (DecodedFrame) -> Bool) throws -> Int {
        typealias Stop = Recovery.Stop
        do {
            let headerID = try Framing.parseHeader(bytes, kind: .segment, file: "segment \(id)")
            guard headerID == id else { throw Stop(segment: id, offset: 0, reason: "header names segment \(headerID)", tornTail: false) }
        } catch let e as StorageError {
            // A segment cut short before its header was complete is an empty tail.
            if isLast && bytes.count < Framing.headerSize && Array(bytes) == Array(Framing.header(.segment, id: id).prefix(bytes.count)) {
                throw Stop(segment: id, offset: 0, reason: "incomplete header", tornTail: true)
            }
            throw Stop(segment: id, offset: 0, reason: "\(e)", tornTail: false)
        }
        var scanner = FrameScanner(bytes, zeroTail: true)
        let inflater = Inflater()
        var region = RegionState()
        var started = false
        while let next = scanner.next() {
            switch next {
            case .failure(.truncated(let offset)):
                throw Stop(segment: id, offset: offset, reason: "the file ends inside a frame", tornTail: isLast)
            case .failure(.corrupt(let offset, let reason)):
                // A bad frame that reaches the end of the last segment's data (its end, or the
                // zeros preallocated after it) is a torn write too.
                var probe = ByteSource(bytes, from: offset + 4)
                let len = (try? probe.varint()) ?? 0
                _ = try? probe.varint()
                _ = try? probe.byte()
                let reachesEnd = probe.position + Int(min(len, UInt64(bytes.count))) >= scanner.dataEnd
                throw Stop(segment: id, offset: offset, reason: reason, tornTail: isLast && reachesEnd)
            case .success(let frame):
                if frame.restart {
                    inflater.reset()
                    region.reset()
                    started = true
                }
                guard started else {
                    throw Stop(segment: id, offset: frame.offset, reason: "first frame is not a restart point", tornTail: false)
                }
                let raw: [UInt8]
                do {
                    raw = try inflater.inflate(frame, in: bytes)
                } catch {
                    throw Stop(segment: id, offset: frame.offset, reason: "deflate data error \(error.code)", tornTail: false)
                }
                // Decode the whole frame before handing any of it on, so a frame is all or nothing.
                let decoded: (items: [DecodedItem], arena: AppendArena)
                do {
                    decoded = try RecordDecoding.decodeFrame(raw, region: &region)
                } catch let bad as RecordDecoding.Bad {
                    throw Stop(
                        segment: id, offset: frame.offset, reason: "record at raw offset \(bad.offset): \(bad.reason)", tornTail: false)
                }
                if !visit(DecodedFrame(frame: frame, items: decoded.items, arena: decoded.arena, rawBytes: raw.count)) {
                    return scanner.position
                }
            }
        }
        return scanner.position
    }
}

/// A bounded queue between one producer thread and one consumer.
final class Handoff<T>: @unchecked Sendable {
    private let signal = Signal()
    private var items: [T] = []
    private var head = 0
    private var finished = false
    private var cancelled = false
    private let limit: Int
    private let limitBytes: Int
    private var queuedBytes = 0
    private var costs: [Int] = []

    init(limit: Int, limitBytes: Int = .max) {
        self.limit = limit
        self.limitBytes = limitBytes
    }

    /// Queues an item; false once the consumer cancelled (the producer should stop).
    @discardableResult
    func put(_ item: T, cost: Int = 0) -> Bool {
        signal.lock()
        while (items.count - head >= limit || (queuedBytes > 0 && queuedBytes + cost > limitBytes)) && !cancelled {
            signal.wait(ns: 10_000_000)
        }
        if cancelled {
            signal.unlock()
            return false
        }
        if head > 1024 {
            items.removeFirst(head)
            costs.removeFirst(head)
            head = 0
        }
        items.append(item)
        costs.append(cost)
        queuedBytes += cost
        signal.unlock()
        signal.signal()
        return true
    }

    /// The consumer is done: drop what is queued and release a waiting producer.
    func cancel() {
        signal.withLock {
            cancelled = true
            items.removeAll()
            costs.removeAll()
            queuedBytes = 0
            head = 0
        }
        signal.signal()
    }

    func finish() {
        signal.withLock { finished = true }
        signal.signal()
    }

    /// The next item, or nil once the producer finished and everything was taken.
    func take() -> T? {
        signal.lock()
        defer { signal.unlock() }
        while head == items.count && !finished { signal.wait(ns: 10_000_000) }
        guard head < items.count else { return nil }
        let item = items[head]
        queuedBytes -= costs[head]
        head += 1
        signal.signal()
        return item
    }
}
