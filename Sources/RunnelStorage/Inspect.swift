import Logging
import RunnelStreams

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Read-only inspection of a data directory (the dump tool): segment summaries, index
/// checks and verification. Nothing here writes.
public enum Inspect {
    public struct Problem: Sendable, CustomStringConvertible {
        public var file: String
        public var offset: Int?
        public var message: String
        /// Notes do not make `verify` fail (a tail being written by a running server).
        public var isNote = false

        public var description: String {
            let at = offset.map { " at offset \($0)" } ?? ""
            return "\(isNote ? "note" : "error"): \(file)\(at): \(message)"
        }
    }

    public struct SegmentInfo: Sendable {
        public var id: UInt64
        public var name: String
        /// Bytes of the segment up to the end of its data (file size less `preallocated`).
        public var size: Int
        public var rawBytes = 0
        public var frames = 0
        public var records = 0
        public var restarts = 0
        public var streams = Set<UInt64>()
        public var firstID: StreamID?
        public var lastID: StreamID?
        /// False for the newest segment (the one a server appends to).
        public var sealed: Bool
        /// Bytes after the last good frame (a torn or in-progress tail, or damage).
        public var unreadableBytes = 0
        /// Zero bytes after the data: space preallocated by a server appending under
        /// `appendfsync always` (or left by one that stopped without sealing the segment).
        public var preallocated = 0
        public var problem: String?
        public var index: SegmentIndex?
        /// Keys given to handles by this segment's streamNew and keyRename records, in order.
        public var keys: [(handle: UInt64, db: Int, key: [UInt8])] = []

        public var ratio: Double { size > Framing.headerSize ? Double(rawBytes) / Double(size - Framing.headerSize) : 0 }
    }

    /// True when a server holds the directory's lock (its newest segment may be growing).
    public static func serverRunning(_ dir: DataDirectory) -> Bool {
        let fd = open(dir.lockPath, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) != 0 { return errno == EWOULDBLOCK }
        flock(fd, LOCK_UN)
        return false
    }

    public static func manifest(_ dir: DataDirectory) throws(StorageError) -> Manifest? {
        guard Files.exists(dir.manifestPath) else { return nil }
        return try Manifest.decode(try Files.readAll(dir.manifestPath), file: dir.manifestPath)
    }

    /// The live segments (from the MANIFEST's `segments-from`), each scanned frame by frame.
    public static func segments(_ dir: DataDirectory, progress: ((Int, Int) -> Void)? = nil) throws(StorageError) -> [SegmentInfo] {
        let from = try manifest(dir)?.segmentsFrom ?? 0
        let ids = try dir.segmentIDs().filter { $0 >= from }
        var out: [SegmentInfo] = []
        for (i, id) in ids.enumerated() {
            let path = dir.file(dir.segmentName(id))
            let bytes = try Files.readAll(path)
            var info = SegmentInfo(id: id, name: dir.segmentName(id), size: bytes.count, sealed: i < ids.count - 1)
            var points: [IndexPoint] = []
            do {
                let end = try SegmentDecoder.decode(id, bytes, isLast: i == ids.count - 1) { frame in
                    info.frames += 1
                    info.rawBytes += frame.rawBytes
                    info.records += frame.items.count
                    if frame.frame.restart { info.restarts += 1 }
                    SegmentIndex.note(frame, into: &points)
                    for (r, _) in frame.records {
                        if let h = r.handle { info.streams.insert(h) }
                        switch r {
                        case .streamNew(let h, let db, let key), .keyRename(let h, let db, let key): info.keys.append((h, db, key))
                        default: break
                        }
                        if case .append(_, let id, _, _) = r {
                            if info.firstID == nil { info.firstID = id }
                            info.lastID = id
                        }
                    }
                    return true
                }
                info.preallocated = bytes.count - end
                info.size = end
            } catch let stop as Recovery.Stop {
                info.unreadableBytes = bytes.count - stop.offset
                info.problem = (stop.tornTail ? "torn tail: " : "") + stop.reason
            } catch {
                info.problem = "\(error)"
            }
            let good = info.size - info.unreadableBytes
            info.index = SegmentIndex(segment: id, size: good, crc: bytes.withUnsafeBytes { Checksum.crc32(UnsafeRawBufferPointer(rebasing: $0[0..<good])) }, points: points)
            out.append(info)
            progress?(i + 1, ids.count)
        }
        return out
    }

    /// The key of every stream the checkpoint named by the MANIFEST holds, by handle, read
    /// from its stream records alone (node and group records are skipped unparsed).
    public static func checkpointKeys(_ dir: DataDirectory) throws(StorageError) -> [UInt64: (db: Int, key: [UInt8])] {
        guard let c = try manifest(dir)?.checkpoint else { return [:] }
        let path = dir.file(c.name)
        return try CheckpointFile.streamKeys(try Files.readAll(path), file: path)
    }

    /// What `verify` read.
    public struct Totals: Sendable {
        public var segments = 0
        public var frames = 0
        public var records = 0
        public var rawBytes = 0
        public init() {}
        init(segments: Int, frames: Int, records: Int, rawBytes: Int) {
            self.segments = segments
            self.frames = frames
            self.records = records
            self.rawBytes = rawBytes
        }
    }

    /// Checks everything in one pass: MANIFEST, checkpoint (size, CRC, decoding, totals),
    /// every frame's CRC and records (replayed, so every record must make sense), and index
    /// files against their segments.
    public static func verify(_ dir: DataDirectory, totals: inout Totals, progress: ((Int, Int) -> Void)? = nil) -> [Problem] {
        var problems: [Problem] = []
        let running = serverRunning(dir)
        do {
            let manifest = try Self.manifest(dir)
            if manifest == nil {
                problems.append(Problem(file: dir.manifestPath, offset: nil, message: "no MANIFEST (the segments are read from the lowest one)", isNote: true))
            }
        } catch {
            problems.append(Problem(file: dir.manifestPath, offset: 0, message: "\(error)"))
            return problems
        }
        do {
            // Shallow: every frame is checked and every record decoded and matched to its
            // stream, but stream contents are not rebuilt (the checkpoint is fully decoded).
            let result = try Recovery.recover(
                dir, repair: false, readOnly: true, shallow: true, logger: Logger(label: "verify"), visit: nil, progress: progress)
            let r = result.report
            totals = Totals(segments: r.segments, frames: r.frames, records: r.records, rawBytes: r.rawBytes)
            if let torn = r.tornTail {
                problems.append(
                    Problem(
                        file: torn.file, offset: torn.offset,
                        message: running ? "\(r.truncatedBytes) bytes being written by the running server" : "torn tail: \(torn.reason) (\(r.truncatedBytes) bytes)",
                        isNote: running))
            }
            for p in r.indexProblems { problems.append(Problem(file: p.file, offset: nil, message: p.message)) }
        } catch {
            problems.append(Problem(file: fileOf(error) ?? dir.path, offset: offsetOf(error), message: reason(error)))
        }
        return problems
    }

    static func reason(_ error: any Error) -> String {
        switch error as? StorageError {
        case .corrupt(_, _, let r)?, .malformed(_, _, let r)?: return r
        default: return "\(error)"
        }
    }

    static func offsetOf(_ error: any Error) -> Int? {
        switch error as? StorageError {
        case .corrupt(_, let o, _)?, .malformed(_, let o, _)?: return o
        default: return nil
        }
    }

    static func fileOf(_ error: any Error) -> String? {
        switch error as? StorageError {
        case .corrupt(let f, _, _)?, .malformed(let f, _, _)?: return f
        default: return nil
        }
    }
}
