import Logging
import NIOCore
import RunnelStorage
import RunnelStreams

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Sends streams' records to the log encoder, each under its stream's handle (the stream's
/// `journalTag`). One for all streams: a journal object per stream cost an allocation each
/// (a million of them at the start of a server holding a million small streams).
final class StoreJournal: StreamJournal, @unchecked Sendable {
    let encoder: LogEncoder

    init(encoder: LogEncoder) {
        self.encoder = encoder
    }

    func record(_ record: StreamRecord, tag handle: UInt64) {
        encoder.encode(.stream(handle: handle, record))
    }

    func recordAppend(id: StreamID, fields: FieldList, newNode: Bool, tag handle: UInt64) {
        encoder.encodeAppend(handle: handle, id: id, fields: fields, newNode: newNode)
    }
}

extension Stream {
    /// Connects the stream to a journal under `handle` (nil: disconnects it).
    mutating func attach(_ journal: StoreJournal?, handle: UInt64) {
        self.journal = journal
        journalTag = journal == nil ? 0 : handle
    }
}

/// The broker's side of the storage engine, confined to the event loop: it binds streams to
/// handles, encodes their records, hands them to the writer thread once per turn, holds each
/// writing client's replies until the log covers its records, and takes checkpoints.
final class Persistence: KeyspaceLog {
    let directory: DataDirectory
    private let lock: DirectoryLock
    let encoder: LogEncoder
    /// The journal of every logged stream (records go to `encoder`).
    let journal: StoreJournal
    private(set) var writer: LogWriter!
    private var nextHandle: UInt64 = 1
    /// Log offset up to which replies may be sent (written or synced, by policy).
    private(set) var released: UInt64 = 0
    private(set) var progress = WriterProgress(written: 0, synced: 0, error: nil)
    var policy: FsyncPolicy
    /// Sessions whose output waits for the log.
    private var waiting: [Int: ClientSession] = [:]
    /// Clients whose held replies the last durable advance sent: about how many commits the
    /// log writer can expect next (it gathers them when that is two or more).
    private var lastReleased = 0
    /// Clients that started waiting since the last durable advance.
    private var arrivals = 0
    private var checkpointRunning = false
    /// The last node content stamp given out (`Stream.stampNodes`); only grows.
    private var nodeVersions: UInt64 = 0
    private var offsetAtLastCheckpoint: UInt64 = 0
    private(set) var recordsAtLastCheckpoint: UInt64 = 0
    private var lastCheckpointBytes = 0
    private var lastCheckpointStartMs: Int64 = Clock.nowMs()
    let recovery: Recovery.Report
    unowned let broker: Broker

    /// The locked data directory and the keyspace rebuilt from it, on their way from the
    /// starting thread to the loop.
    final class Opened: @unchecked Sendable {
        let directory: DataDirectory
        let lock: DirectoryLock
        let report: Recovery.Report
        /// The journal of the rebuilt streams, and its encoder (the Persistence's own).
        let journal: StoreJournal
        /// Each database's keys, values and expiries, ready to be adopted as they are.
        var databases: [Database.Tables]

        init(directory: DataDirectory, lock: DirectoryLock, report: Recovery.Report, journal: StoreJournal, databases: [Database.Tables]) {
            self.directory = directory
            self.lock = lock
            self.report = report
            self.journal = journal
            self.databases = databases
        }
    }

    /// Opens (or creates) the data directory, locks it, recovers its state and builds the
    /// keyspace from it. Runs on the thread that starts the server, before the event loop has
    /// work: the rebuilt streams are then allocated from glibc's main arena, which grows with
    /// sbrk in 128 KiB steps and reuses what recovery freed, rather than from a thread arena,
    /// which grows page by page with an mprotect each (about a tenth of a 2M-entry restart
    /// went there, and first-touch page faults were half of installing a million streams).
    static func open(_ config: ServerConfig, logger: Logger) throws(StorageError) -> Opened {
        let directory = DataDirectory(config.dir)
        try directory.refuseIfSnapshot()
        try directory.create()
        let lock = try DirectoryLock(directory)
        var result = try Recovery.recover(directory, repair: config.repair, ordered: false, logger: logger)
        // As redis-server refuses a data file made with more databases than it has: dropping the
        // streams would lose them for good at the next checkpoint.
        if let highest = result.streams.lazy.map(\.db).max(), highest >= config.databases {
            throw .mismatch(path: directory.path, reason: "it holds streams in database \(highest), "
                + "but the server is configured with \(config.databases) databases; start it with "
                + "databases \(highest + 1) or more (--databases \(highest + 1))")
        }
        let journal = StoreJournal(encoder: LogEncoder())
        let databases = buildKeyspace(&result.streams, databases: config.databases, journal: journal, lfu: config.lfuPolicy)
        return Opened(directory: directory, lock: lock, report: result.report, journal: journal, databases: databases)
    }

    /// Moves recovered streams into keyspace tables (emptying `streams`). The keys are slices
    /// of shared buffers of up to 1 MiB that hold their bytes one after another — one
    /// allocation per thousands of keys instead of two per key; a key written later gets its
    /// own buffer (`Database.set` detaches it), and a shared one is freed with the last loaded
    /// key that uses it.
    static func buildKeyspace(
        _ streams: inout [CheckpointStream], databases: Int, journal: StoreJournal, lfu: Bool
    ) -> [Database.Tables] {
        var perDB = [Int](repeating: 0, count: databases)
        for i in streams.indices { perDB[streams[i].db] += 1 }  // by index: `for s in` copies each
        var tables = perDB.map { n in
            var t = Database.Tables()
            t.values.reserveCapacity(n)
            return t
        }
        let allocator = ByteBufferAllocator()
        let lru = StreamBox.fresh(nowMs: Clock.nowMs(), lfu: lfu)
        var start = 0
        while start < streams.count {
            // The keys of a batch of streams go into one buffer, written before it is sliced
            // (a write after a slice shares it would copy the whole buffer).
            var end = start
            var bytes = 0
            while end < streams.count && (end == start || bytes + streams[end].key.count <= 1 << 20) {
                bytes += streams[end].key.count
                end += 1
            }
            var keys = allocator.buffer(capacity: max(bytes, 1))
            for i in start..<end { keys.writeBytes(streams[i].key) }
            var at = 0
            for i in start..<end {
                let box = StreamBox(lru: lru)
                swap(&box.stream, &streams[i].stream)
                let handle = streams[i].handle
                box.handle = handle
                box.stream.attach(journal, handle: handle)
                let n = streams[i].key.count
                let key = keys.getSlice(at: at, length: n)!
                at += n
                tables[streams[i].db].values[key] = .stream(box)
                if streams[i].expireAt > 0 { tables[streams[i].db].expires[key] = streams[i].expireAt }
            }
            start = end
        }
        streams = []
        return tables
    }

    /// What a data directory holds from an earlier run ("N segments and a checkpoint, B
    /// bytes"), or nil when it holds no record (no directory, or only empty segments): said at
    /// startup with persistence off.
    static func persistedState(in path: String) -> String? {
        let held = DataDirectory(path).heldData()
        guard held.checkpointBytes > 0 || held.segmentBytes > held.segments * Framing.headerSize else { return nil }
        let what = "\(held.segments) segment\(held.segments == 1 ? "" : "s")" + (held.checkpointBytes > 0 ? " and a checkpoint" : "")
        return "\(what), \(held.segmentBytes + held.checkpointBytes) bytes"
    }

    /// Installs the recovered state into `broker.dbs` and starts the writer. Runs on the
    /// broker's loop before it serves anyone.
    init(broker: Broker, opened: Opened) throws(StorageError) {
        self.broker = broker
        directory = opened.directory
        lock = opened.lock
        journal = opened.journal
        encoder = opened.journal.encoder
        let config = broker.config
        policy = FsyncPolicy(rawValue: config.appendfsync) ?? .everysec
        recovery = opened.report
        nextHandle = opened.report.nextHandle
        // Taken, not copied: each database's tables are adopted as they are.
        for i in opened.databases.indices {
            broker.dbs[i].adopt(opened.databases[i])
            opened.databases[i] = Database.Tables()
        }
        lastCheckpointBytes = opened.report.checkpointBytes
        for i in broker.dbs.indices {
            broker.dbs[i].log = self
            broker.dbs[i].index = i
        }
        let loop = broker.eventLoop
        let bound = NIOLoopBound(self, eventLoop: loop)
        writer = try LogWriter(
            directory: directory, segment: opened.report.nextSegment, startOffset: 0, policy: policy,
            segmentLimit: config.segmentMaxBytes, compressionLevel: Int32(config.logCompressionLevel),
            faultFile: getenv("RUNNEL_FAULT_FILE").map { String(cString: $0) }, logger: broker.logger,
            onProgress: { p in loop.execute { bound.value.writerProgressed(p) } },
            onCheckpoint: { o in loop.execute { bound.value.checkpointFinished(o) } },
            onSnapshot: { o in loop.execute { bound.value.snapshotFinished(o) } })
        writer.commitSpinUs = config.logCommitSpinUs
        writer.commitDelayUs = config.logCommitDelayUs
    }

    // MARK: - KeyspaceLog

    func bound(db: Int, key: Key, box: StreamBox) {
        let bytes = Array(key.readableBytesView)
        if box.handle == 0 {
            box.handle = nextHandle
            nextHandle += 1
            encoder.encode(.streamNew(handle: box.handle, db: db, key: bytes))
            box.stream.attach(journal, handle: box.handle)
        } else {
            encoder.encode(.keyRename(handle: box.handle, db: db, key: bytes))
        }
    }

    func removed(_ box: StreamBox) {
        guard box.handle != 0 else { return }
        encoder.encode(.keyDelete(handle: box.handle))
        box.stream.attach(nil, handle: 0)
        box.handle = 0
    }

    func expireChanged(_ box: StreamBox, at: Int64) {
        guard box.handle != 0 else { return }
        encoder.encode(.keyExpire(handle: box.handle, atMs: at))
    }

    func copied(db: Int, key: Key, box: StreamBox, from source: StreamBox) {
        // Every stream in the keyspace has a handle while the log is on (`bound` gives one).
        box.handle = nextHandle
        nextHandle += 1
        encoder.encode(.keyCopy(from: source.handle, handle: box.handle, db: db, key: Array(key.readableBytesView)))
        box.stream.attach(journal, handle: box.handle)
    }

    func swapped(_ a: Int, _ b: Int) {
        encoder.encode(.swapDB(a, b))
    }

    func flushed(db: Int, boxes: [StreamBox]) {
        guard !boxes.isEmpty else { return }
        encoder.encode(.flush(db: db))
        for box in boxes {
            box.stream.attach(nil, handle: 0)
            box.handle = 0
        }
    }

    // MARK: - Commit path

    private var submitScheduled = false

    /// Called at the end of each connection's read turn. Under `always` the records go to
    /// the writer once per event-loop tick (after every readable connection was served, so
    /// one fdatasync covers them all); otherwise they are batched for up to 2 ms (or 256 KiB)
    /// so the writer thread wakes a few hundred times a second instead of once per command.
    func endOfTurn() {
        guard encoder.hasPending else { return }
        if encoder.pendingBytes >= 256 * 1024 {
            submit()
        } else if !submitScheduled {
            submitScheduled = true
            let bound = NIOLoopBound(self, eventLoop: broker.eventLoop)
            if policy == .always {
                broker.eventLoop.execute {
                    bound.value.submitScheduled = false
                    bound.value.submit()
                }
            } else {
                broker.eventLoop.scheduleTask(in: .milliseconds(2)) {
                    bound.value.submitScheduled = false
                    bound.value.submit()
                }
            }
        }
    }

    /// Hands everything encoded to the writer.
    func submit() {
        // Never half a unit: what a running command encoded goes with the rest of it.
        guard encoder.hasPending, !encoder.inUnit else { return }
        // Segments roll on the writer thread, at the first restart point past the limit.
        writer.submit(encoder.take(), waiters: arrivals, expected: lastReleased)
    }

    var writeError: StorageError? { progress.error }

    /// Replies wait for the log only under `always`; under everysec and no they go out at
    /// once (as Redis's: at most about a second of acknowledged writes at risk).
    var holdsReplies: Bool { policy == .always }

    func setPolicy(_ new: FsyncPolicy) {
        policy = new
        writer.policy = new
        writerProgressed(progress)
    }

    private func writerProgressed(_ p: WriterProgress) {
        progress = p
        let now = policy == .always ? p.synced : max(p.written, encoder.encodedBytes)
        guard now > released else { return }
        released = now
        let sessions = waiting
        waiting.removeAll(keepingCapacity: true)
        for (_, s) in sessions where broker.clients[s.id] === s {
            broker.flush(s)  // holds the session again if a later reply still waits
        }
        lastReleased = sessions.count - waiting.count
        arrivals = 0
    }

    /// Output of `session` must wait: remember to flush it when the log advances.
    func hold(_ session: ClientSession) {
        if waiting.updateValue(session, forKey: session.id) == nil { arrivals += 1 }
    }

    func forget(_ session: ClientSession) {
        waiting.removeValue(forKey: session.id)
    }

    // MARK: - Checkpoints

    /// Periodic check (cron): checkpoint when the log tail since the last one is large
    /// against the data, or old.
    func maybeCheckpoint(now: Int64) {
        guard !checkpointRunning, progress.error == nil else { return }
        let tail = encoder.encodedBytes - offsetAtLastCheckpoint
        guard tail > 0 else { return }
        let config = broker.config
        let bySize = tail >= UInt64(max(config.checkpointMinBytes, lastCheckpointBytes))
        let byTime = config.checkpointIntervalSeconds > 0
            && now - lastCheckpointStartMs >= Int64(config.checkpointIntervalSeconds) * 1000
        if bySize || byTime { checkpoint(now: now) }
    }

    /// Starts a checkpoint of the current state; false if one is running.
    @discardableResult
    func checkpoint(now: Int64) -> Bool {
        guard !checkpointRunning else { return false }
        checkpointRunning = true
        lastCheckpointStartMs = now
        if encoder.inUnit {
            checkpointAskedAt = now
        } else {
            startCheckpoint(now: now)
        }
        return true
    }

    // MARK: - Work that must not split a unit

    /// A checkpoint or snapshot asked for inside a unit — BGREWRITEAOF or BGSAVE queued in a
    /// MULTI — starts when the unit ends. Both hand the records encoded so far to the writer
    /// and cut the log there (a checkpoint rolls the segment; a snapshot copies the log as
    /// written), so starting one mid-EXEC would put the first half of the transaction on disk
    /// ahead of the rest, and a crash before the rest was written would bring back half a
    /// transaction. Deferred, the checkpoint or snapshot holds the whole EXEC — as Redis, which
    /// never forks inside EXEC and answers "… scheduled" there, starting the child afterwards.
    /// It is marked running at once, so one request in a transaction starts one.
    ///
    /// When the checkpoint / snapshot asked for in the open unit was asked (nil: none waits).
    private var checkpointAskedAt: Int64?
    private var snapshotAskedAt: Int64?
    var checkpointDeferred: Bool { checkpointAskedAt != nil }
    var snapshotDeferred: Bool { snapshotAskedAt != nil }

    /// The broker ended a unit: start what waited for it once no unit is open.
    func unitEnded() {
        guard checkpointAskedAt != nil || snapshotAskedAt != nil, !encoder.inUnit else { return }
        if let now = checkpointAskedAt {
            checkpointAskedAt = nil
            startCheckpoint(now: now)
        }
        if let now = snapshotAskedAt {
            snapshotAskedAt = nil
            startSnapshot(now: now)
        }
    }

    private func startCheckpoint(now: Int64) {
        let config = broker.config
        encoder.restartRegion()
        writer.submit(encoder.take())
        offsetAtLastCheckpoint = encoder.encodedBytes
        recordsAtLastCheckpoint = encoder.encodedRecords
        // Stamp what changed since the last checkpoint: unchanged node groups are then copied
        // from the previous file (CheckpointReuse).
        let streams = broker.loggedStreams { $0.stream.stampNodes(&self.nodeVersions) }
        writer.checkpointLevel = Int32(config.checkpointCompressionLevel)
        writer.submitCheckpoint(CheckpointState(baseSegment: 0, nextHandle: nextHandle, createdMs: now, streams: streams))
    }

    private func checkpointFinished(_ o: CheckpointOutcome) {
        checkpointRunning = false
        if o.error == nil {
            lastCheckpointBytes = o.bytes
            broker.logger.info(
                "Checkpoint of segment \(o.baseSegment) written: \(o.bytes) bytes (\(o.copiedBytes) copied from the previous) in \(o.durationMs) ms")
        }
        broker.checkpointWaiters.forEach { $0(o) }
        broker.checkpointWaiters.removeAll()
    }

    var isCheckpointRunning: Bool { checkpointRunning }

    // MARK: - Snapshots

    private(set) var snapshotRunning = false
    private(set) var snapshots = 0
    private(set) var lastSnapshotStatus = "ok"
    private(set) var lastSnapshotDurationMs = -1

    /// Starts a snapshot (SAVE, BGSAVE); false if one is running.
    @discardableResult
    func snapshot(now: Int64) -> Bool {
        guard !snapshotRunning else { return false }
        snapshotRunning = true
        if encoder.inUnit {
            snapshotAskedAt = now
        } else {
            startSnapshot(now: now)
        }
        return true
    }

    private func startSnapshot(now: Int64) {
        submit()
        let t = broker.streamTotals()
        broker.dirtyAtSave = broker.dirty
        let name = "snapshot-\(now)"
        writer.submitSnapshot(
            SnapshotRequest(
                name: name, createdMs: now, summary: "streams=\(t.streams) entries=\(t.entries) groups=\(t.groups) pending=\(t.pending)",
                retain: broker.config.snapshotRetain))
    }

    private func snapshotFinished(_ o: SnapshotOutcome) {
        snapshotRunning = false
        lastSnapshotDurationMs = o.durationMs
        if let info = o.info, o.error == nil {
            snapshots += 1
            lastSnapshotStatus = "ok"
            broker.lastSaveTime = info.createdMs / 1000
            broker.logger.notice("DB saved on disk: snapshot \(info.name), \(info.files.count) files, \(info.totalBytes) bytes, \(o.durationMs) ms")
        } else {
            lastSnapshotStatus = "err"
        }
        let waiters = broker.snapshotWaiters
        broker.snapshotWaiters.removeAll()
        waiters.forEach { $0(o) }
    }

    /// Bytes of the directory's segments and checkpoint (INFO; a directory listing, cheap).
    func diskUsage() -> (total: Int, checkpoint: Int, segments: Int) {
        directory.usage()
    }

    /// Drains the log (shutdown).
    func close() {
        submit()
        writer.stop()
        let s = writer.stats
        progress = WriterProgress(written: s.written, synced: s.synced, error: s.lastError)
    }

    /// After `close`: releases replies the final write covered.
    func releaseAll() {
        if progress.error == nil { released = max(released, policy == .always ? progress.synced : progress.written) }
        waiting.removeAll()
    }
}

extension Broker {
    /// Every stream the log holds (all of them while persistence is on), as a checkpoint or a
    /// snapshot sees it now: copies without the journal. `each` sees every box first.
    func loggedStreams(_ each: (StreamBox) -> Void = { _ in }) -> [CheckpointStream] {
        var streams: [CheckpointStream] = []
        for (db, database) in dbs.enumerated() {
            for (key, value) in database.values {
                guard case .stream(let box) = value, box.handle != 0 else { continue }
                each(box)
                var copy = box.stream
                copy.journal = nil
                streams.append(
                    CheckpointStream(
                        handle: box.handle, db: db, key: Array(key.readableBytesView),
                        expireAt: database.expireTime(key) ?? 0, stream: copy))
            }
        }
        return streams
    }

    /// The one-line startup summary of what was loaded.
    func logLoadSummary(_ r: Recovery.Report) {
        let seconds = String(format3(Double(r.durationMs) / 1000))
        logger.notice(
            "DB loaded from disk: \(r.streams) streams, \(r.entries) entries, \(r.groups) groups, \(r.pending) pending; \(r.checkpointBytes + r.segmentBytes) bytes (checkpoint \(r.checkpointBytes), log \(r.segmentBytes) in \(r.segments) segments, \(r.records) records replayed); \(seconds) seconds (checkpoint \(r.checkpointLoadMs) ms)"
        )
    }
}

func format3(_ v: Double) -> String {
    let ms = Int((v * 1000).rounded())
    let frac = String(ms % 1000)
    return "\(ms / 1000)." + String(repeating: "0", count: 3 - frac.count) + frac
}
