import Logging
import RunnelStreams

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `appendfsync`, as Redis names it.
public enum FsyncPolicy: String, Sendable, CaseIterable {
    /// A reply waits for the fdatasync covering its records (shared by concurrent writers).
    case always
    /// Replies wait for write(2); fdatasync once a second.
    case everysec
    /// Replies wait for write(2); the kernel flushes when it likes.
    case no
}

/// What the writer has done, reported to the event loop after each batch.
public struct WriterProgress: Sendable, Equatable {
    /// Log offset handed to the kernel.
    public var written: UInt64
    /// Log offset covered by fdatasync.
    public var synced: UInt64
    /// The current write error, nil when healthy.
    public var error: StorageError?

    public init(written: UInt64, synced: UInt64, error: StorageError?) {
        self.written = written
        self.synced = synced
        self.error = error
    }
}

/// Counters for INFO persistence.
public struct WriterStats: Sendable {
    public var policy: FsyncPolicy = .everysec
    public var fsyncs = 0
    public var fsyncLatenciesUs: [Int] = []
    public var recordsSynced = 0
    public var rawBytes: UInt64 = 0
    public var compressedBytes: UInt64 = 0
    public var segmentsWritten = 0
    public var activeSegment: UInt64 = 0
    public var activeSegmentBytes = 0
    public var written: UInt64 = 0
    public var synced: UInt64 = 0
    public var lastError: StorageError?
    public var writeErrors = 0
    public var checkpoints = 0
    public var checkpointInProgress = false
    public var lastCheckpointMs: Int64 = 0
    public var lastCheckpointDurationMs = 0
    public var lastCheckpointBytes = 0
    public var lastCheckpointCopiedBytes = 0
    public var lastCheckpointStatus = "ok"

    /// Percentile of the recent fsync latencies (µs).
    public func fsyncPercentile(_ p: Double) -> Int {
        guard !fsyncLatenciesUs.isEmpty else { return 0 }
        let sorted = fsyncLatenciesUs.sorted()
        return sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * p + 0.5))]
    }
}

/// A snapshot to take (SAVE, BGSAVE).
public struct SnapshotRequest: Sendable {
    public var name: String
    public var createdMs: Int64
    public var summary: String
    /// Snapshots to keep (0: all).
    public var retain: Int
    public init(name: String, createdMs: Int64, summary: String, retain: Int) {
        self.name = name
        self.createdMs = createdMs
        self.summary = summary
        self.retain = retain
    }
}

public struct SnapshotOutcome: Sendable {
    public var name: String
    public var info: Snapshot.Info?
    public var durationMs: Int
    public var error: StorageError?
}

/// The result of a checkpoint, reported to the event loop.
public struct CheckpointOutcome: Sendable {
    public var baseSegment: UInt64
    public var bytes: Int
    public var durationMs: Int
    public var error: StorageError?
    /// Bytes copied from the previous checkpoint instead of compressed again.
    public var copiedBytes = 0
}

/// The dedicated writer thread: compresses chunks into frames, appends them to the active
/// segment, syncs by policy (one fdatasync for everything queued: group commit), rolls
/// segments, and hands checkpoints to a background thread. The event loop never waits on it.
public final class LogWriter: @unchecked Sendable {
    enum Item {
        case chunk(Chunk)
        case checkpoint(CheckpointState)
        case snapshot(SnapshotRequest)
    }

    public let directory: DataDirectory
    /// Guards the queue and shared state; the writer waits on `Self.writerCondition`, the syncer
    /// on `Self.syncerCondition`.
    private let signal = Signal(conditions: 2)
    private static let writerCondition = 0
    private static let syncerCondition = 1
    private var queue: [Item] = []
    private var stopping = false
    private var stopped = false
    private var _stats = WriterStats()
    private var _policy: FsyncPolicy
    public let segmentLimit: Int
    private let faultFile: String?
    private let logger: Logger
    private let onProgress: @Sendable (WriterProgress) -> Void
    private let onCheckpoint: @Sendable (CheckpointOutcome) -> Void
    private let onSnapshot: @Sendable (SnapshotOutcome) -> Void
    /// Held while the MANIFEST changes and old files are deleted, and while a snapshot links
    /// files, so a snapshot never links half of a checkpoint's switch.
    private let housekeeping = Signal()

    // Writer-thread state.
    /// The active segment's descriptor. Written by the writer thread under `fdLock` (and
    /// `signal`); the syncer reads it holding `fdLock`, so it never syncs a closed descriptor.
    private var fd: Int32 = -1
    private let fdLock = Signal()
    private var syncerStopped = false
    private var segmentID: UInt64
    /// `segmentID` for the syncer's messages (guarded by `signal`).
    private var segmentIDShared: UInt64 = 0
    private var segmentBytes = 0
    /// CRC-32 of the active segment's bytes so far (kept in its index when sealed).
    private var segmentCRC: UInt32 = 0
    private var deflater: Deflater
    /// Compresses frames of at least `wholeFrameMin` raw bytes as whole frames, when libdeflate
    /// is present; nil without it (or with `wholeFrameMin` nil).
    private let wholeDeflater: WholeDeflater?
    private let wholeFrameMin: Int
    /// Below this many raw bytes a frame stays in the shared deflate stream, whose window of
    /// earlier frames compresses small commits far better (DESIGN.md "Whole frames").
    public static let defaultWholeFrameMin = 16 << 10
    private var indexPoints: [IndexPoint] = []
    private var written: UInt64
    private var lastSyncNs: UInt64 = Files.monotonicNs()
    /// Records written but not yet covered by a sync (guarded by `signal`).
    private var unsyncedRecords = 0
    /// A failed fdatasync (guarded by `signal`); cleared by the next successful one.
    private var syncError: StorageError?
    private var failed: [UInt8]?
    private var reportedError: StorageError?
    private let compressionLevel: Int32
    /// Level for checkpoints (written off the commit path, but their speed bounds how far
    /// the log tail grows while one is written, and so the restart time).
    public var checkpointLevel: Int32 {
        get { signal.withLock { _checkpointLevel } }
        set { signal.withLock { _checkpointLevel = newValue } }
    }
    private var _checkpointLevel: Int32 = 1

    // Preallocation (`always` only). An fdatasync after an append that grows the file must
    // also commit the new size through the filesystem's journal; one after a write over
    // blocks that already exist and hold zeros only flushes the data (on this machine's ext4:
    // 131 µs against 85 µs at the median for a 2 KB commit). So the syncer thread keeps the
    // active segment zero-filled `preallocate` bytes ahead of the write position, and a
    // segment is cut back to its data when it is sealed. Readers end a segment at a run of
    // zeros that lasts to the end of the file (docs/FORMAT.md, "Segments").
    /// Bytes kept zero-filled past the write position under `always` (0: off).
    public let preallocate: Int
    /// Held while zeros are written, and while the writer claims the range it writes next, so
    /// zeros never land on records. Guards the `zero*` fields.
    private let zeroLock = Signal()
    /// The segment being zero-filled (0: none).
    private var zeroSegment: UInt64 = 0
    /// Zero-filled (or written) up to this offset of `zeroSegment`.
    private var zeroEnd = 0
    /// Where the writer's next write starts.
    private var zeroWritePos = 0
    /// A segment where zero-filling failed (disk full): not tried again.
    private var zeroFailedSegment: UInt64 = 0
    /// Syncer-thread state: its own descriptor of the segment it fills.
    private var zeroFD: Int32 = -1
    private var zeroFDSegment: UInt64 = 0
    /// Set (under `signal`) when the runway is short; the syncer fills it.
    private var zeroWanted = false
    static let zeroPiece = 256 << 10

    public init(
        directory: DataDirectory, segment: UInt64, startOffset: UInt64, policy: FsyncPolicy, segmentLimit: Int,
        compressionLevel: Int32 = 1, preallocate: Int = 1 << 20, wholeFrameMin: Int? = LogWriter.defaultWholeFrameMin,
        faultFile: String?, logger: Logger,
        onProgress: @escaping @Sendable (WriterProgress) -> Void,
        onCheckpoint: @escaping @Sendable (CheckpointOutcome) -> Void,
        onSnapshot: @escaping @Sendable (SnapshotOutcome) -> Void = { _ in }
    ) throws(StorageError) {
        self.directory = directory
        self.segmentID = segment
        self.written = startOffset
        _stats.synced = startOffset
        _stats.written = startOffset
        self._policy = policy
        self.segmentLimit = segmentLimit
        self.compressionLevel = compressionLevel
        self.preallocate = preallocate > 0 ? max(preallocate, 2 * Self.zeroPiece) : 0
        self.deflater = Deflater(level: compressionLevel)
        let whole = compressionLevel > 0 ? WholeDeflater(level: compressionLevel, libdeflate: wholeFrameMin != nil) : nil
        self.wholeDeflater = whole?.usesLibdeflate == true ? whole : nil
        self.wholeFrameMin = wholeFrameMin ?? .max
        self.faultFile = faultFile
        self.logger = logger
        self.onProgress = onProgress
        self.onCheckpoint = onCheckpoint
        self.onSnapshot = onSnapshot
        _stats.policy = policy
        try openSegment(segment)
        startThread(name: "runnel-writer") { [self] in run() }
        startThread(name: "runnel-sync") { [self] in runSyncer() }
    }

    public var policy: FsyncPolicy {
        get { signal.withLock { _policy } }
        set {
            signal.withLock {
                _policy = newValue
                _stats.policy = newValue
            }
            signal.signal(Self.writerCondition)
            signal.signal(Self.syncerCondition)
        }
    }

    public var stats: WriterStats { signal.withLock { _stats } }

    /// Zero-filled bytes ahead of the active segment's data (the runway under `always`).
    public var preallocatedBytes: Int {
        zeroLock.withLock { zeroSegment != 0 ? max(0, zeroEnd - zeroWritePos) : 0 }
    }

    /// Queues chunks (from the event loop).
    /// `waiters`: clients that started waiting for durability (their replies held) since the
    /// last durable advance; `expected`: clients that advance released, about how many
    /// commits are on their way. Under `always` the writer gathers commits until `waiters`
    /// reaches `expected`, for at most `commitDelayUs`.
    public func submit(_ chunks: [Chunk], waiters: Int = 0, expected: Int = 0) {
        guard !chunks.isEmpty else { return }
        signal.withLock {
            for c in chunks {
                queue.append(.chunk(c))
                queuedRecords += c.records
            }
            queuedWaiters = max(queuedWaiters, waiters)
            queuedExpected = max(queuedExpected, expected)
        }
        signal.signal(Self.writerCondition)
    }

    /// Queues a checkpoint of `state` (taken on the event loop after everything submitted so
    /// far): the writer seals the segment and the checkpoint covers every segment before the
    /// next one.
    public func submitCheckpoint(_ state: CheckpointState) {
        signal.withLock {
            _stats.checkpointInProgress = true
            queue.append(.checkpoint(state))
        }
        signal.signal(Self.writerCondition)
    }

    /// Queues a snapshot of everything submitted so far.
    public func submitSnapshot(_ request: SnapshotRequest) {
        signal.withLock { queue.append(.snapshot(request)) }
        signal.signal(Self.writerCondition)
    }

    /// Drains the queue, syncs, closes. Blocks the caller until done (shutdown only).
    public func stop() {
        signal.withLock { stopping = true }
        signal.signal(Self.writerCondition)
        let deadline = Files.monotonicNs() + 10_000_000_000
        while Files.monotonicNs() < deadline {
            if signal.withLock({ stopped }) { return }
            usleep(2000)
        }
        logger.warning("log writer did not stop within 10 s")
    }

    // MARK: - Writer thread

    private func run() {
        while true {
            if syncsInline { awaitNextCommit() }
            signal.lock()
            while queue.isEmpty && !stopping {
                if failed != nil {
                    signal.wait(ns: 200_000_000, on: Self.writerCondition)
                    break
                }
                signal.wait(ns: 1_000_000_000, on: Self.writerCondition)
            }
            if _policy == .always && queuedExpected >= 2 && queuedWaiters < queuedExpected
                && queuedRecords < Self.gatherRecordsPerClient * max(1, queuedWaiters) && _commitDelayUs > 0
                && failed == nil && !stopping
            {
                let delay = _commitDelayUs
                signal.unlock()
                gatherCommit(delayUs: delay)
                signal.lock()
            }
            let items = failed == nil ? queue : []
            if failed == nil {
                queue.removeAll(keepingCapacity: true)
                queuedWaiters = 0
                queuedExpected = 0
                queuedRecords = 0
            }
            let policy = _policy
            let stop = stopping && queue.isEmpty
            signal.unlock()

            syncsInline = policy == .always
            if failed != nil {
                retryFailed()
            } else if !items.isEmpty {
                process(items, policy: policy)
            }
            // Under `always` this thread syncs what it just wrote, then reports once: commands
            // that arrived meanwhile queue up and share the next sync (group commit). A separate
            // syncer would overlap the next write with this sync, but costs two more thread
            // hand-offs per commit, which on a small machine cost more than the overlap saves.
            if syncsInline {
                fdLock.lock()
                syncLocked()
                fdLock.unlock()
            }
            report()
            if stop {
                if failed != nil {
                    logger.error("shutting down with unwritten records after a write error: \(failed!.count) bytes")
                }
                // Final sync, then the syncer ends.
                fdLock.lock()
                syncLocked()
                cutRunway()
                signal.withLock { syncerStopped = true }
                signal.signal(Self.syncerCondition)
                if fd >= 0 { close(fd) }
                fd = -1
                fdLock.unlock()
                report()
                signal.withLock { stopped = true }
                return
            }
        }
    }

    /// Under `always`, before sleeping: the next commit usually arrives within tens of µs of
    /// the last report (the loop writes the replies, the clients answer), about what waking a
    /// thread from a futex costs on a VM. So look for it for up to `commitSpinUs`.
    private func awaitNextCommit() {
        spin(us: signal.withLock { _commitSpinUs }) { !queue.isEmpty || stopping }
    }

    /// Under `always`, when the last sync released two or more clients, fewer than that wait
    /// now, and they do not pipeline: looks for up to `delayUs` for their next commits before
    /// writing, so that one fdatasync covers them all and fewer syncs (and reply bursts) take
    /// turns on the loop (PostgreSQL's `commit_delay` / `commit_siblings`, but ending as soon
    /// as the expected commits are in). A lone client is never delayed.
    private func gatherCommit(delayUs: Int) {
        spin(us: delayUs) { stopping || queuedWaiters >= queuedExpected }
    }

    /// Looks at `done` (under the lock) until it holds or `us` µs have passed, yielding the
    /// core to any other runnable thread between looks (`sched_yield`).
    private func spin(us: Int, until done: () -> Bool) {
        guard us > 0 else { return }
        let until = Files.monotonicNs() + UInt64(us) * 1000
        while Files.monotonicNs() < until {
            if signal.withLock(done) { return }
            sched_yield()
        }
    }

    /// The most `waiters` and `expected` reported by a `submit` since the writer last took
    /// the queue (lock held).
    private var queuedWaiters = 0
    private var queuedExpected = 0
    /// Records in the queue (lock held).
    private var queuedRecords = 0
    /// Commits are gathered only while clients send fewer records than this each: a
    /// pipelining client (16 at a time) already shares its sync well, and under a pipelined
    /// load waiting costs more throughput than the saved syncs give back.
    static let gatherRecordsPerClient = 4

    /// The longest the writer waits to gather commits under `always` (`gatherCommit`; µs; 0:
    /// never waits).
    public var commitDelayUs: Int {
        get { signal.withLock { _commitDelayUs } }
        set { signal.withLock { _commitDelayUs = max(0, newValue) } }
    }
    private var _commitDelayUs = 50

    /// How long the writer looks for the next commit before sleeping, under `always` (µs; 0
    /// sleeps at once). Measured here: one client +15%, 50 clients +4–10%, reader p50 halved.
    public var commitSpinUs: Int {
        get { signal.withLock { _commitSpinUs } }
        set { signal.withLock { _commitSpinUs = max(0, newValue) } }
    }
    private var _commitSpinUs = 100

    /// The syncer thread: fdatasync once a second under everysec, and retries of a failed sync
    /// every 200 ms under any policy (under `always` the writer thread syncs each batch itself).
    private func runSyncer() {
        while true {
            signal.lock()
            var go = false
            var fill = false
            while !syncerStopped {
                let pending = _stats.written > _stats.synced
                let since = Files.monotonicNs() - lastSyncNs
                if pending && syncError != nil && since >= 200_000_000 { go = true }
                else if pending && _policy == .everysec && since >= 1_000_000_000 { go = true }
                if zeroWanted {
                    zeroWanted = false
                    fill = true
                }
                if go || fill { break }
                signal.wait(ns: _policy == .always && syncError == nil ? 1_000_000_000 : 100_000_000, on: Self.syncerCondition)
            }
            let done = syncerStopped
            signal.unlock()
            if done {
                if zeroFD >= 0 { close(zeroFD) }
                zeroFD = -1
                return
            }
            if fill { fillRunway() }
            guard go else { continue }
            fdLock.lock()
            syncLocked()
            fdLock.unlock()
            report()
        }
    }

    /// Zero-fills the active segment up to `preallocate` bytes past the writer's position, a
    /// piece at a time (syncer thread). Each piece is written under `zeroLock` beyond every
    /// range the writer has claimed, then made durable (data and the new size) with this
    /// thread's own descriptor, so later commits overwrite initialized blocks.
    private func fillRunway() {
        let zeros = [UInt8](repeating: 0, count: Self.zeroPiece)
        while true {
            zeroLock.lock()
            guard zeroSegment != 0, zeroEnd - zeroWritePos < preallocate else {
                zeroLock.unlock()
                return
            }
            let segment = zeroSegment
            if zeroFDSegment != segment {
                if zeroFD >= 0 { close(zeroFD) }
                zeroFD = open(directory.file(directory.segmentName(segment)), O_WRONLY | O_CLOEXEC)
                zeroFDSegment = segment
            }
            let offset = zeroEnd
            // Segments roll at the first restart point past the limit: a region (~64 KiB raw)
            // past it at most. Small test segments get a small runway.
            let piece = min(Self.zeroPiece, segmentLimit + (64 << 10) - offset)
            guard piece > 0 else {
                zeroLock.unlock()
                return
            }
            let n = zeroFD < 0 ? -1 : zeros.withUnsafeBytes { pwrite(zeroFD, $0.baseAddress, piece, off_t(offset)) }
            if n != piece {
                let code = n < 0 ? errno : ENOSPC
                // Nothing is lost: commits append past the zeros as without preallocation.
                zeroFailedSegment = segment
                zeroSegment = 0
                zeroLock.unlock()
                logger.notice("could not preallocate segment \(segment) (\(String(cString: strerror(code)))); appending without it")
                return
            }
            zeroEnd = offset + n
            zeroLock.unlock()
            _ = fdatasync(zeroFD)
        }
    }

    /// Claims `[segmentBytes, end)` for a write (writer thread): zeros are never written below
    /// `end` afterwards. Asks the syncer for more zeros when the runway is short.
    private func claimWrite(end: Int) {
        let wanted = zeroLock.withLock { () -> Bool in
            if preallocate > 0 && syncsInline && zeroSegment != segmentID && zeroFailedSegment != segmentID {
                zeroSegment = segmentID
            } else if !syncsInline {
                zeroSegment = 0
            }
            zeroWritePos = end
            zeroEnd = max(zeroEnd, end)
            return zeroSegment != 0 && zeroEnd - end < preallocate / 2
        }
        if wanted {
            signal.withLock { zeroWanted = true }
            signal.signal(Self.syncerCondition)
        }
    }

    /// Stops zero-filling the active segment and cuts it back to its data (before it is
    /// sealed or closed; writer thread, `fdLock` held). If that fails the zeros stay: readers
    /// stop at them, and recovery cuts them.
    private func cutRunway() {
        let filled = zeroLock.withLock { () -> Int in
            let end = zeroEnd
            zeroSegment = 0
            zeroEnd = 0
            zeroWritePos = 0
            return end
        }
        guard filled > segmentBytes, fd >= 0 else { return }
        if ftruncate(fd, off_t(segmentBytes)) != 0 || fdatasync(fd) != 0 {
            let path = directory.file(directory.segmentName(segmentID))
            logger.warning("could not cut the preallocated tail of \(path): \(String(cString: strerror(errno))) (readers stop at it)")
        }
    }

    /// Whether the writer thread syncs after each batch (`always`); writer thread only.
    private var syncsInline = false
    private var pendingRaw = ByteSink()
    private var pendingRestart = false
    private var pendingRecords = 0
    private var pendingEnd: UInt64 = 0
    private var out: [UInt8] = []

    /// Puts unprocessed items back at the front of the queue after a write error.
    private func requeue(_ rest: ArraySlice<Item>) {
        guard !rest.isEmpty else { return }
        signal.withLock { queue.insert(contentsOf: rest, at: 0) }
    }

    private func process(_ items: [Item], policy: FsyncPolicy) {
        out.removeAll(keepingCapacity: true)
        for (i, item) in items.enumerated() {
            switch item {
            case .chunk(let c):
                // Segments roll at the first restart point past the size limit.
                if segmentBytes + out.count >= segmentLimit && c.restart {
                    if !rollNow() { return requeue(items[i...]) }
                }
                if c.restart || pendingRaw.count >= 1 << 20 { emitFrame() }
                if pendingRaw.count == 0 { pendingRestart = c.restart || pendingRestart }
                if c.restart {
                    indexPoints.append(IndexPoint(offset: segmentBytes + out.count, spans: [:]))
                }
                pendingRaw.bytes.append(contentsOf: c.bytes)
                pendingRecords += c.records
                pendingEnd = c.endOffset
                if !indexPoints.isEmpty {
                    for (h, s) in c.spans {
                        if var old = indexPoints[indexPoints.count - 1].spans[h] {
                            old.last = s.last
                            old.count += s.count
                            indexPoints[indexPoints.count - 1].spans[h] = old
                        } else {
                            indexPoints[indexPoints.count - 1].spans[h] = s
                        }
                    }
                }
            case .checkpoint(var state):
                if !rollNow() {
                    signal.withLock { _stats.checkpointInProgress = false }
                    let e = signal.withLock { reportedError ?? syncError }
                    onCheckpoint(CheckpointOutcome(baseSegment: 0, bytes: 0, durationMs: 0, error: e))
                    return requeue(items[(i + 1)...])
                }
                state.baseSegment = segmentID
                let dir = directory
                let level = checkpointLevel
                let job = state
                startThread(name: "runnel-ckpt", priority: .background) { [self] in writeCheckpoint(job, dir: dir, level: level) }
            case .snapshot(let request):
                takeSnapshot(request)
            }
        }
        emitFrame()
        _ = writeOut()
    }

    private func emitFrame() {
        guard pendingRaw.count > 0 else { return }
        if pendingRestart { deflater.reset() }
        let frame: [UInt8]
        if let whole = wholeDeflater, pendingRaw.count >= wholeFrameMin {
            // A large batch (a busy group commit) as a whole frame: libdeflate is faster than
            // zlib's streaming deflate, and at this size the shared window gains little.
            frame = Framing.frame(
                payload: whole.compress(pendingRaw.bytes), rawLength: pendingRaw.count, restart: pendingRestart, whole: true)
        } else {
            let payload = deflater.compress(pendingRaw.bytes)
            frame = Framing.frame(payload: payload, rawLength: pendingRaw.count, restart: pendingRestart)
        }
        out.append(contentsOf: frame)
        signal.withLock {
            _stats.rawBytes += UInt64(pendingRaw.count)
            _stats.compressedBytes += UInt64(frame.count)
            unsyncedRecords += pendingRecords
        }
        pendingRaw = ByteSink(capacity: 4096)
        pendingRestart = false
        pendingRecords = 0
    }

    /// Writes `out`; on failure keeps it for retry and truncates any partial write.
    private func writeOut() -> Bool {
        guard !out.isEmpty else { return true }
        let bytes = out
        out.removeAll(keepingCapacity: true)
        claimWrite(end: segmentBytes + bytes.count)
        do {
            try checkFault("write")
            try Files.writeAll(fd, bytes, path: directory.file(directory.segmentName(segmentID)))
        } catch {
            failed = bytes
            failedEnd = pendingEnd
            noteError(error)
            undoWrite()
            return false
        }
        segmentBytes += bytes.count
        segmentCRC = Checksum.crc32(bytes, seed: segmentCRC)
        written = pendingEnd
        signal.withLock {
            _stats.activeSegmentBytes = segmentBytes
            _stats.written = written
        }
        if !syncsInline { signal.signal(Self.syncerCondition) }
        return true
    }

    private var failedEnd: UInt64 = 0

    /// Drops a partial write (and any zeros after it) so the segment ends at its last record.
    private func undoWrite() {
        zeroLock.withLock {
            zeroFailedSegment = segmentID
            zeroSegment = 0
            zeroEnd = segmentBytes
            zeroWritePos = segmentBytes
        }
        _ = ftruncate(fd, off_t(segmentBytes))
        _ = lseek(fd, off_t(segmentBytes), SEEK_SET)
    }

    private func retryFailed() {
        guard let bytes = failed else { return }
        claimWrite(end: segmentBytes + bytes.count)
        do {
            try checkFault("write")
            try Files.writeAll(fd, bytes, path: directory.file(directory.segmentName(segmentID)))
        } catch {
            undoWrite()
            return
        }
        failed = nil
        segmentBytes += bytes.count
        segmentCRC = Checksum.crc32(bytes, seed: segmentCRC)
        written = failedEnd
        logger.notice("log writes succeed again after the error; resuming")
        signal.withLock {
            reportedError = nil
            _stats.lastError = syncError
            _stats.activeSegmentBytes = segmentBytes
            _stats.written = written
        }
        signal.signal(Self.syncerCondition)
    }

    private func noteError(_ error: StorageError) {
        let first = signal.withLock { () -> Bool in
            let first = reportedError == nil && syncError == nil
            reportedError = error
            _stats.lastError = error
            _stats.writeErrors += 1
            return first
        }
        if first {
            logger.error("Error writing the log: \(error). Write commands are refused (MISCONF) until writes succeed again.")
        }
    }

    private func checkFault(_ op: String) throws(StorageError) {
        if let faultFile, access(faultFile, F_OK) == 0 {
            throw .io(operation: op, path: directory.file(directory.segmentName(segmentID)), errno: ENOSPC)
        }
    }

    /// fdatasync of the active segment; the caller holds `fdLock`.
    private func syncLocked() {
        let (target, records, fd) = signal.withLock { (_stats.written, unsyncedRecords, self.fd) }
        guard target > signal.withLock({ _stats.synced }), fd >= 0 else { return }
        let start = Files.monotonicNs()
        var failure: StorageError?
        if let faultFile, access(faultFile, F_OK) == 0 {
            failure = .io(operation: "fdatasync", path: directory.file(directory.segmentName(segmentIDShared)), errno: ENOSPC)
        } else if fdatasync(fd) != 0 {
            failure = .io(operation: "fdatasync", path: directory.file(directory.segmentName(segmentIDShared)), errno: errno)
        }
        let end = Files.monotonicNs()
        let firstFailure = signal.withLock { () -> Bool in
            lastSyncNs = end
            if let failure {
                // The page cache may have dropped the dirty pages: the data is not known to be
                // on disk. Writes are refused until a later fdatasync succeeds and covers it.
                let first = syncError == nil && reportedError == nil
                syncError = failure
                _stats.lastError = failure
                _stats.writeErrors += 1
                return first
            }
            syncError = nil
            if reportedError == nil { _stats.lastError = nil }
            _stats.synced = max(_stats.synced, target)
            _stats.fsyncs += 1
            _stats.recordsSynced += records
            unsyncedRecords -= records
            _stats.fsyncLatenciesUs.append(Int((end - start) / 1000))
            if _stats.fsyncLatenciesUs.count > 1024 { _stats.fsyncLatenciesUs.removeFirst(512) }
            return false
        }
        if let failure, firstFailure {
            logger.error("Error syncing the log: \(failure). Write commands are refused (MISCONF) until a sync succeeds.")
        }
    }

    private func report() {
        let p = signal.withLock { WriterProgress(written: _stats.written, synced: _stats.synced, error: reportedError ?? syncError) }
        onProgress(p)
    }

    // MARK: - Segments

    private func openSegment(_ id: UInt64) throws(StorageError) {
        let path = directory.file(directory.segmentName(id))
        let fd = try Files.open(path, O_WRONLY | O_CREAT | O_TRUNC)
        let header = Framing.header(.segment, id: id)
        do throws(StorageError) {
            try Files.writeAll(fd, header, path: path)
            if fdatasync(fd) != 0 { throw StorageError.io(operation: "fdatasync", path: path, errno: errno) }
            try Files.fsyncDirectory(directory.path)
        } catch {
            close(fd)
            throw error
        }
        signal.withLock {
            self.fd = fd
            segmentIDShared = id
        }
        segmentID = id
        segmentBytes = header.count
        segmentCRC = Checksum.crc32(header)
        indexPoints = []
        deflater.reset()
        signal.withLock {
            _stats.activeSegment = id
            _stats.activeSegmentBytes = header.count
            _stats.segmentsWritten += 1
        }
    }

    /// Seals the active segment (sync, index file) and opens the next one.
    private func rollNow() -> Bool {
        emitFrame()
        guard writeOut() else { return false }
        fdLock.lock()
        defer { fdLock.unlock() }
        syncLocked()
        guard signal.withLock({ syncError == nil && _stats.synced >= written }) else { return false }
        cutRunway()
        let index = SegmentIndex(segment: segmentID, size: segmentBytes, crc: segmentCRC, points: indexPoints)
        do {
            try Files.writeAtomically(directory.file(directory.indexName(segmentID)), index.encoded(), directory: directory.path)
        } catch {
            logger.warning("could not write the index of segment \(segmentID): \(error) (it is rebuilt when needed)")
        }
        let old = fd
        do {
            try openSegment(segmentID + 1)
        } catch {
            // Keep appending to the current segment; the roll is retried at the next region.
            noteError(error)
            failed = []
            failedEnd = written
            return false
        }
        close(old)
        return true
    }

    // MARK: - Snapshots

    /// Captures the state as of everything written so far (links and one prefix copy, on this
    /// thread, while nothing is appended), then checksums and publishes it on another thread.
    private func takeSnapshot(_ request: SnapshotRequest) {
        let start = Files.monotonicNs()
        emitFrame()
        guard writeOut() else {
            let e = signal.withLock { reportedError ?? syncError }
            onSnapshot(SnapshotOutcome(name: request.name, info: nil, durationMs: 0, error: e))
            return
        }
        let captured: (tmp: String, names: [String], known: [String: Snapshot.FileEntry])
        do throws(StorageError) {
            housekeeping.lock()
            defer { housekeeping.unlock() }
            captured = try Snapshot.capture(directory, name: request.name, activeSegment: segmentID, activeBytes: segmentBytes)
        } catch {
            logger.warning("snapshot failed: \(error)")
            onSnapshot(SnapshotOutcome(name: request.name, info: nil, durationMs: 0, error: error))
            return
        }
        let dir = directory
        let done = onSnapshot
        let log = logger
        startThread(name: "runnel-snap", priority: .background) {
            var outcome = SnapshotOutcome(name: request.name, info: nil, durationMs: 0, error: nil)
            do throws(StorageError) {
                outcome.info = try Snapshot.finish(
                    dir, tmp: captured.tmp, name: request.name, files: captured.names, known: captured.known,
                    createdMs: request.createdMs,
                    summary: request.summary, retain: request.retain)
            } catch {
                outcome.error = error
                log.warning("snapshot failed: \(error)")
            }
            outcome.durationMs = Int((Files.monotonicNs() - start) / 1_000_000)
            done(outcome)
        }
    }

    // MARK: - Checkpoints

    /// The previous checkpoint's node groups, copied into the next one when unchanged.
    private let checkpointReuse = CheckpointReuse()

    private func writeCheckpoint(_ state: CheckpointState, dir: DataDirectory, level: Int32) {
        let start = Files.monotonicNs()
        var outcome = CheckpointOutcome(baseSegment: state.baseSegment, bytes: 0, durationMs: 0, error: nil)
        do throws(StorageError) {
            let name = dir.checkpointName(state.baseSegment)
            // Written a piece at a time as it is encoded: never the whole image in memory.
            var size = 0
            var crc: UInt32 = 0
            do throws(StorageError) {
                try checkFault("write")
                try Files.writeAtomically(dir.file(name), directory: dir.path) { write in
                    CheckpointFile.encode(state, level: level, reuse: checkpointReuse) { piece in
                        write(piece)
                        crc = Checksum.crc32(piece, seed: crc)
                        size += piece.count
                    }
                }
            } catch {
                checkpointReuse.discard()
                throw error
            }
            checkpointReuse.commit(path: dir.file(name))
            outcome.copiedBytes = checkpointReuse.lastCopiedBytes
            let manifest = Manifest(
                checkpoint: .init(baseSegment: state.baseSegment, name: name, size: size, crc: crc),
                segmentsFrom: state.baseSegment)
            housekeeping.lock()
            defer { housekeeping.unlock() }
            try Files.writeAtomically(dir.manifestPath, manifest.encoded(), directory: dir.path)
            // Everything before the base is now redundant.
            for id in (try? dir.segmentIDs()) ?? [] where id < state.baseSegment {
                unlink(dir.file(dir.segmentName(id)))
                unlink(dir.file(dir.indexName(id)))
            }
            for id in (try? dir.checkpointIDs()) ?? [] where id < state.baseSegment {
                unlink(dir.file(dir.checkpointName(id)))
            }
            outcome.bytes = size
        } catch {
            outcome.error = error
            logger.warning("checkpoint failed: \(error)")
        }
        outcome.durationMs = Int((Files.monotonicNs() - start) / 1_000_000)
        signal.withLock {
            _stats.checkpointInProgress = false
            if outcome.error == nil {
                _stats.checkpoints += 1
                _stats.lastCheckpointMs = Files.nowMs()
                _stats.lastCheckpointBytes = outcome.bytes
                _stats.lastCheckpointCopiedBytes = outcome.copiedBytes
                _stats.lastCheckpointStatus = "ok"
            } else {
                _stats.lastCheckpointStatus = "err"
            }
            _stats.lastCheckpointDurationMs = outcome.durationMs
        }
        onCheckpoint(outcome)
    }
}

/// One index point: a restart frame's offset and the appends of its region, per stream.
public struct IndexPoint: Sendable, Equatable {
    public var offset: Int
    public var spans: [UInt64: IndexSpan]
}

/// A segment's sparse index (docs/FORMAT.md, "Index files").
public struct SegmentIndex: Sendable, Equatable {
    public var segment: UInt64
    public var size: Int
    /// CRC-32 (plain, as in the MANIFEST) of the segment's `size` bytes.
    public var crc: UInt32
    public var points: [IndexPoint]

    public init(segment: UInt64, size: Int, crc: UInt32, points: [IndexPoint]) {
        self.segment = segment
        self.size = size
        self.crc = crc
        self.points = points
    }

    public func encoded() -> [UInt8] {
        var raw = ByteSink()
        raw.varint(size)
        raw.u32(crc)
        raw.varint(points.count)
        for p in points {
            raw.varint(p.offset)
            raw.varint(p.spans.count)
            for (h, s) in p.spans.sorted(by: { $0.key < $1.key }) {
                raw.varint(h)
                raw.id(s.first)
                raw.id(s.last)
                raw.varint(s.count)
            }
        }
        var file = Framing.header(.index, id: segment)
        let d = Deflater(level: 1)
        file.append(contentsOf: Framing.frame(payload: d.compress(raw.bytes), rawLength: raw.count, restart: true))
        return file
    }

    public static func decode(_ bytes: [UInt8], file: String) throws(StorageError) -> SegmentIndex {
        let id = try Framing.parseHeader(bytes, kind: .index, file: file)
        var scanner = FrameScanner(bytes)
        guard let first = scanner.next() else { throw .corrupt(file: file, offset: bytes.count, reason: "index has no frame") }
        let frame: FrameInfo
        switch first {
        case .success(let f): frame = f
        case .failure(.truncated(let o)): throw .corrupt(file: file, offset: o, reason: "index ends inside its frame")
        case .failure(.corrupt(let o, let r)): throw .corrupt(file: file, offset: o, reason: r)
        }
        let raw: [UInt8]
        do {
            raw = try Inflater().inflate(frame, in: bytes)
        } catch {
            throw .corrupt(file: file, offset: frame.offset, reason: "deflate data error")
        }
        var s = ByteSource(raw)
        do {
            let size = try s.count(limit: Int.max)
            let crc = try s.u32()
            let n = try s.count(limit: s.remaining)
            var points: [IndexPoint] = []
            for _ in 0..<n {
                let offset = try s.count(limit: Int.max)
                let m = try s.count(limit: s.remaining)
                var spans: [UInt64: IndexSpan] = [:]
                for _ in 0..<m {
                    let h = try s.varint()
                    spans[h] = IndexSpan(first: try s.id(), last: try s.id(), count: try s.count())
                }
                points.append(IndexPoint(offset: offset, spans: spans))
            }
            return SegmentIndex(segment: id, size: size, crc: crc, points: points)
        } catch {
            throw .malformed(file: file, offset: frame.offset, reason: "index points do not decode")
        }
    }
}
