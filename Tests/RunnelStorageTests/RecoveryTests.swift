import CRunnelSystem
import Logging
import RunnelStreams
import Testing

@testable import RunnelStorage

#if canImport(Glibc)
import Glibc
#endif

func tempDir(_ prefix: String) -> String {
    var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
    return String(cString: mkdtemp(&template)!)
}

/// Writes records through an encoder and a writer, as the broker does.
final class LogHarness: @unchecked Sendable {
    let dir: DataDirectory
    let encoder = LogEncoder()
    let writer: LogWriter
    let done = Signal()
    var lastProgress = WriterProgress(written: 0, synced: 0, error: nil)
    var checkpoints: [CheckpointOutcome] = []

    init(
        _ path: String, segment: UInt64 = 1, segmentLimit: Int = 1 << 20, policy: FsyncPolicy = .always, regionLimit: Int = 64 * 1024,
        wholeFrameMin: Int? = LogWriter.defaultWholeFrameMin
    ) throws {
        dir = DataDirectory(path)
        encoder.regionLimit = regionLimit
        let box = UnsafeBox()
        writer = try LogWriter(
            directory: dir, segment: segment, startOffset: 0, policy: policy, segmentLimit: segmentLimit,
            wholeFrameMin: wholeFrameMin, faultFile: nil, logger: Logger(label: "test"),
            onProgress: { p in box.harness?.done.withLock { box.harness?.lastProgress = p } },
            onCheckpoint: { o in box.harness?.done.withLock { box.harness?.checkpoints.append(o) } })
        box.harness = self
    }

    final class UnsafeBox: @unchecked Sendable { weak var harness: LogHarness? }

    func submit() {
        writer.submit(encoder.take())
    }

    func waitCheckpoints(_ n: Int) {
        for _ in 0..<1000 where done.withLock({ checkpoints.count }) < n { usleep(5000) }
    }
}

@Suite("Log writer and recovery", .serialized)
struct RecoveryTests {
    let logger = Logger(label: "test")

    /// A deterministic workload over three streams, applied to `model` and logged.
    func workload(_ h: LogHarness, _ model: inout [UInt64: Stream], rounds: Int) {
        for handle: UInt64 in 1...3 where model[handle] == nil {
            model[handle] = Stream()
            h.encoder.encode(.streamNew(handle: handle, db: Int(handle % 2), key: Array("s\(handle)".utf8)))
            let j = Forwarder(handle: handle, encoder: h.encoder)
            model[handle]!.journal = j
            _ = model[handle]!.createGroup(Array("g".utf8), lastID: .zero, entriesRead: 0)
        }
        var t: Int64 = 1_700_000_000_000
        for i in 0..<rounds {
            let handle = UInt64(i % 3 + 1)
            t += 3
            let fields = [Array("event".utf8), Array("{\"n\":\(i),\"kind\":\"order-\(i % 5)\"}".utf8)]
            let id = try! model[handle]!.append(.auto, fieldsAndValues: fields, nowMs: UInt64(t))
            if i % 4 == 0 {
                _ = model[handle]!.createConsumer(Array("g".utf8), Array("c\(i % 2)".utf8), now: t)
                model[handle]!.deliverNew(Array("g".utf8), consumer: Array("c\(i % 2)".utf8), ids: [id], now: t, noAck: false)
            }
            if i % 8 == 0 { _ = model[handle]!.acknowledge(Array("g".utf8), [id]) }
            if i % 50 == 49 { model[handle]!.trim(.maxLength(30), approximate: false, limit: 0) }
            if i % 97 == 0 { h.submit() }
        }
        h.submit()
    }

    final class Forwarder: StreamJournal, @unchecked Sendable {
        let handle: UInt64
        let encoder: LogEncoder
        init(handle: UInt64, encoder: LogEncoder) {
            self.handle = handle
            self.encoder = encoder
        }
        func record(_ record: StreamRecord, tag: UInt64) { encoder.encode(.stream(handle: handle, record)) }
        func recordAppend(id: StreamID, fields: FieldList, newNode: Bool, tag: UInt64) {
            encoder.encodeAppend(handle: handle, id: id, fields: fields, newNode: newNode)
        }
    }

    func assertSame(_ recovered: [CheckpointStream], _ model: [UInt64: Stream]) {
        #expect(recovered.count == model.count)
        for cs in recovered {
            #expect(cs.stream.canonicalDescription == model[cs.handle]?.canonicalDescription, "handle \(cs.handle)")
            let a = cs.stream.groups[Array("g".utf8)]
            let b = model[cs.handle]?.groups[Array("g".utf8)]
            #expect(a?.pending == b?.pending && a?.lastID == b?.lastID && a?.entriesRead == b?.entriesRead)
        }
    }

    /// Closes the region, then checkpoints `model` (keys `s<handle>`, db `handle % 2`) through
    /// the writer and waits until `n` checkpoints have finished.
    /// Takes a checkpoint as the server does: stamps the model's streams, then copies them.
    func checkpoint(_ h: LogHarness, _ model: inout [UInt64: Stream], waitingFor n: Int) {
        h.encoder.restartRegion()
        h.submit()
        var streams: [CheckpointStream] = []
        // Stamps above every one given so far, so none repeats.
        var stamps = model.values.flatMap { $0.nodes.map(\.version) }.max() ?? 0
        for handle in model.keys.sorted() {
            model[handle]!.stampNodes(&stamps)
            var copy = model[handle]!
            copy.journal = nil
            streams.append(CheckpointStream(handle: handle, db: Int(handle % 2), key: Array("s\(handle)".utf8), expireAt: 0, stream: copy))
        }
        h.writer.submitCheckpoint(CheckpointState(baseSegment: 0, nextHandle: 4, createdMs: 1, streams: streams))
        h.waitCheckpoints(n)
    }

    @Test("always: commits of several non-pipelining clients are gathered into one sync, a lone client's never waits")
    func commitGathering() throws {
        let path = tempDir("runnel-gather")
        let h = try LogHarness(path)
        defer { h.writer.stop() }
        h.writer.commitDelayUs = 3_000_000  // long enough that a delay cannot be mistaken for a slow disk
        func synced() -> UInt64 { h.done.withLock { h.lastProgress.synced } }
        func waitSynced(_ offset: UInt64, seconds: Double) -> Bool {
            let until = Files.monotonicNs() + UInt64(seconds * 1e9)
            while synced() < offset {
                if Files.monotonicNs() > until { return false }
                usleep(1000)
            }
            return true
        }
        func append(_ i: Int) {
            h.encoder.encode(.append(handle: 1, id: StreamID(ms: UInt64(1000 + i), seq: 0), fields: FieldList([Array("k".utf8), Array("v\(i)".utf8)]), newNode: i == 0))
        }
        h.encoder.encode(.streamNew(handle: 1, db: 0, key: Array("s".utf8)))
        // A lone client (the last sync released one): synced at once.
        append(0)
        h.writer.submit(h.encoder.take(), waiters: 1, expected: 1)
        #expect(waitSynced(h.encoder.encodedBytes, seconds: 1), "a lone client's commit is not delayed")
        // Three clients were released; one is back: the writer waits for the others...
        append(1)
        h.writer.submit(h.encoder.take(), waiters: 1, expected: 3)
        let first = h.encoder.encodedBytes
        usleep(200_000)
        #expect(synced() < first, "gathering: one of three expected commits")
        // ... and writes as soon as they are in: one sync for all three.
        append(2)
        append(3)
        h.writer.submit(h.encoder.take(), waiters: 3, expected: 3)
        #expect(waitSynced(h.encoder.encodedBytes, seconds: 1), "the expected commits arrived")
        // Pipelining clients (many records each) are not delayed.
        for i in 4..<40 { append(i) }
        h.writer.submit(h.encoder.take(), waiters: 2, expected: 3)
        #expect(waitSynced(h.encoder.encodedBytes, seconds: 1), "36 records from two clients")
        // The delay is bounded.
        h.writer.commitDelayUs = 50_000
        append(40)
        h.writer.submit(h.encoder.take(), waiters: 1, expected: 3)
        #expect(waitSynced(h.encoder.encodedBytes, seconds: 2), "at most commitDelayUs")
    }

    @Test("records written across segment rolls and restart points recover to the same state")
    func roundTrip() throws {
        let path = tempDir("runnel-rt")
        var model: [UInt64: Stream] = [:]
        do {
            let h = try LogHarness(path, segmentLimit: 4 * 1024, regionLimit: 2048)
            workload(h, &model, rounds: 3000)
            h.writer.stop()
            #expect(h.writer.stats.activeSegment > 2, "small segments roll")
        }
        let result = try Recovery.recover(DataDirectory(path), repair: false, logger: logger)
        assertSame(result.streams, model)
        #expect(result.report.truncatedBytes == 0)
        #expect(result.report.nextSegment > 2)
        // Each sealed segment has an index whose points are restart frames.
        let ids = try DataDirectory(path).segmentIDs()
        let idx = try SegmentIndex.decode(try Files.readAll(path + "/" + DataDirectory(path).indexName(ids[0])), file: "idx")
        #expect(!idx.points.isEmpty)
        let seg = try Files.readAll(path + "/" + DataDirectory(path).segmentName(ids[0]))
        #expect(idx.size == seg.count)
        var scanner = FrameScanner(seg)
        var restarts: [Int] = []
        while let n = scanner.next(), case .success(let f) = n {
            if f.restart { restarts.append(f.offset) }
        }
        #expect(restarts.first == idx.points.first?.offset)
        #expect(idx.points.map(\.offset) == restarts)
        // The writer's indexes agree with the ones recovery builds: only the last segment
        // (active when the writer stopped) had none.
        #expect(result.report.indexesRebuilt == 1)
        // A missing or damaged index is rebuilt identically.
        let idxPath = path + "/" + DataDirectory(path).indexName(ids[0])
        let original = try Files.readAll(idxPath)
        unlink(idxPath)
        var damaged = try Files.readAll(path + "/" + DataDirectory(path).indexName(ids[1]))
        damaged[damaged.count - 3] ^= 0x10
        let fd = open(path + "/" + DataDirectory(path).indexName(ids[1]), O_WRONLY | O_TRUNC)
        try Files.writeAll(fd, damaged, path: "idx")
        close(fd)
        let again = try Recovery.recover(DataDirectory(path), repair: false, logger: logger)
        #expect(again.report.indexesRebuilt == 2)
        #expect(try Files.readAll(idxPath) == original)
        #expect(SegmentIndex.build(segment: ids[0], bytes: seg) == idx)
    }

    @Test("whole frames (libdeflate) and shared-stream frames mix in one segment and recover exactly")
    func wholeFramesMix() throws {
        let path = tempDir("whole")
        var model: [UInt64: Stream] = [:]
        do {
            // Submits of ~97 records make frames of a few KiB, some above and some below the
            // threshold; small segments put restart points and rolls among them.
            let h = try LogHarness(path, segmentLimit: 64 * 1024, regionLimit: 16 * 1024, wholeFrameMin: 3000)
            workload(h, &model, rounds: 3000)
            checkpoint(h, &model, waitingFor: 1)
            workload(h, &model, rounds: 1500)
            h.writer.stop()
        }
        var kinds: Set<String> = []
        for id in try DataDirectory(path).segmentIDs() {
            var scanner = FrameScanner(try Files.readAll(path + "/" + DataDirectory(path).segmentName(id)))
            while let n = scanner.next(), case .success(let f) = n {
                kinds.insert(f.whole ? (f.restart ? "whole restart" : "whole") : (f.restart ? "restart" : "shared"))
            }
        }
        if runnel_libdeflate_available() == 1 {
            #expect(kinds == ["whole restart", "whole", "restart", "shared"], "\(kinds)")
        } else {
            #expect(kinds == ["restart", "shared"], "without libdeflate every frame stays in the shared stream: \(kinds)")
        }
        let result = try Recovery.recover(DataDirectory(path), repair: false, logger: logger)
        assertSame(result.streams, model)
        #expect(result.report.truncatedBytes == 0)
    }

    /// A data directory of small segments: 2000 records, a checkpoint, 500 more; and the model.
    func checkpointedLog(_ prefix: String) throws -> (path: String, model: [UInt64: Stream]) {
        let path = tempDir(prefix)
        var model: [UInt64: Stream] = [:]
        let h = try LogHarness(path, segmentLimit: 32 * 1024)
        workload(h, &model, rounds: 2000)
        checkpoint(h, &model, waitingFor: 1)
        #expect(h.checkpoints.first?.error == nil)
        workload(h, &model, rounds: 500)
        h.writer.stop()
        return (path, model)
    }

    @Test("a checkpoint replaces the segments before it and recovery reads checkpoint plus tail")
    func checkpointThenTail() throws {
        let (path, model) = try checkpointedLog("runnel-ck")
        let dir = DataDirectory(path)
        let manifest = try Manifest.decode(try Files.readAll(dir.manifestPath), file: "MANIFEST")
        #expect(manifest.checkpoint != nil)
        #expect(try dir.segmentIDs().allSatisfy { $0 >= manifest.segmentsFrom }, "older segments deleted")
        let result = try Recovery.recover(dir, repair: false, logger: logger)
        assertSame(result.streams, model)
        #expect(result.report.checkpointBytes > 0)
        #expect(result.report.nextHandle == 4)
    }

    /// A directory whose MANIFEST is lost or damaged but whose beginning is in a checkpoint:
    /// replaying the log alone would fail on streams it never saw, and cutting there would drop
    /// everything. Recovery refuses and says how to repair; a repair names the newest complete
    /// checkpoint the log follows, keeps a damaged MANIFEST aside, and refuses (changing nothing)
    /// when no checkpoint can be used and the log does not start at segment 1.
    @Test("a lost or damaged MANIFEST is refused; repair rebuilds it from the newest complete checkpoint the log follows")
    func lostManifest() throws {
        let (path, model) = try checkpointedLog("runnel-manifest")
        let dir = DataDirectory(path)
        let original = try Files.readAll(dir.manifestPath)
        let manifest = try Manifest.decode(original, file: "MANIFEST")
        #expect(manifest.segmentsFrom > 1 && manifest.checkpoint != nil)
        let pristine = tempDir("runnel-manifest-copy")
        for name in try Files.list(path) where name != "LOCK" {
            try Files.writeFile(pristine + "/" + name, try Files.readAll(path + "/" + name), sync: false)
        }
        func refusal(_ d: DataDirectory, repair: Bool = false) -> String? {
            do {
                _ = try Recovery.recover(d, repair: repair, logger: logger)
                return nil
            } catch {
                return "\(error)"
            }
        }

        // Lost: refused, naming the checkpoint and the repair; nothing written.
        unlink(dir.manifestPath)
        let lost = refusal(dir)
        #expect(lost?.contains("the MANIFEST is missing, but the directory holds \(manifest.checkpoint!.name)") == true)
        #expect(lost?.contains("runnel-dump repair \(path)") == true)
        #expect(!Files.exists(dir.manifestPath))
        // Repair writes the same MANIFEST the server had, and the state is exact.
        let repaired = try Recovery.recover(dir, repair: true, logger: logger)
        assertSame(repaired.streams, model)
        #expect(repaired.report.repaired?.hasPrefix("wrote a MANIFEST naming \(manifest.checkpoint!.name)") == true)
        #expect(try Files.readAll(dir.manifestPath) == original)
        assertSame(try Recovery.recover(dir, repair: false, logger: logger).streams, model)

        // Damaged: refused with the repair named; repair keeps the original aside.
        try Files.writeFile(dir.manifestPath, Array("runnel-manifest 1\ncheckpoint none\nsegments-from 1\ncrc 0\n".utf8), sync: false)
        #expect(refusal(dir)?.contains("manifest CRC mismatch. Run `runnel-dump repair") == true)
        try Files.writeFile(dir.manifestPath, [], sync: false)
        #expect(refusal(dir)?.contains("empty MANIFEST. Run `runnel-dump repair") == true)
        assertSame(try Recovery.recover(dir, repair: true, logger: logger).streams, model)
        #expect(try Files.readAll(dir.manifestPath) == original)
        #expect(try Files.list(path + "/damaged").contains { $0.hasSuffix("-MANIFEST") })
        // A newer format's MANIFEST is not "repaired" away.
        try Files.writeFile(dir.manifestPath, Array("runnel-manifest 2\nwhatever\n".utf8), sync: false)
        #expect(refusal(dir, repair: true)?.contains("not a version-1 manifest") == true)

        // Lost, and the checkpoint incomplete, with segment 1 gone: repair refuses, writes nothing.
        let copy = DataDirectory(pristine)
        unlink(copy.manifestPath)
        let ckpt = copy.file(manifest.checkpoint!.name)
        try Files.writeFile(ckpt, Array(try Files.readAll(ckpt).prefix(200)), sync: false)
        let segmentsBefore = try copy.segmentIDs().map { Files.size(copy.file(copy.segmentName($0))) }
        #expect(refusal(copy, repair: true)?.contains("no complete checkpoint is followed by the log") == true)
        #expect(!Files.exists(copy.manifestPath))
        #expect(try copy.segmentIDs().map { Files.size(copy.file(copy.segmentName($0))) } == segmentsBefore)
    }

    @Test("a second checkpoint copies unchanged node groups from the first; recovery reads it back exactly")
    func incrementalCheckpoint() throws {
        let path = tempDir("runnel-ck2")
        var model: [UInt64: Stream] = [:]
        func appendMany(_ h: LogHarness, from: Int, count: Int) {
            for i in from..<(from + count) {
                let fields = [Array("event".utf8), Array("{\"n\":\(i),\"sku\":\"SKU-\(i * 7919 % 5000)\"}".utf8)]
                _ = try! model[1]!.append(.auto, fieldsAndValues: fields, nowMs: UInt64(1_800_000_000_000 + i))
                if i % 500 == 0 { h.submit() }
            }
            h.submit()
        }
        do {
            let h = try LogHarness(path, segmentLimit: 256 * 1024)
            workload(h, &model, rounds: 300)
            appendMany(h, from: 0, count: 20_000)
            checkpoint(h, &model, waitingFor: 1)
            appendMany(h, from: 20_000, count: 2000)
            checkpoint(h, &model, waitingFor: 2)
            let outcomes = h.done.withLock { h.checkpoints }
            #expect(outcomes.count == 2 && outcomes.allSatisfy { $0.error == nil })
            #expect(outcomes.first?.copiedBytes == 0)
            #expect((outcomes.last?.copiedBytes ?? 0) > (outcomes.last?.bytes ?? 0) / 2, "most of the second checkpoint is copied")
            #expect(h.writer.stats.lastCheckpointCopiedBytes == outcomes.last?.copiedBytes)
            appendMany(h, from: 22_000, count: 300)
            h.writer.stop()
        }
        let dir = DataDirectory(path)
        #expect(try dir.checkpointIDs().count == 1, "the first checkpoint is deleted once the second is in the MANIFEST")
        let result = try Recovery.recover(dir, repair: false, logger: logger)
        assertSame(result.streams, model)
        #expect(result.streams.first { $0.handle == 1 }?.stream.length == model[1]?.length)
    }

    @Test("a torn last frame is cut off; earlier records survive")
    func tornTail() throws {
        let path = tempDir("runnel-torn")
        var model: [UInt64: Stream] = [:]
        do {
            let h = try LogHarness(path)
            workload(h, &model, rounds: 300)
            h.writer.stop()
        }
        let dir = DataDirectory(path)
        let segPath = path + "/" + dir.segmentName(1)
        let size = Files.size(segPath)!
        // Append half of a frame copied from the file's own bytes.
        var bytes = try Files.readAll(segPath)
        let tail = Array(bytes[(Framing.headerSize)..<(Framing.headerSize + 40)])
        bytes.append(contentsOf: tail)
        let fd = open(segPath, O_WRONLY | O_TRUNC)
        try Files.writeAll(fd, bytes, path: segPath)
        close(fd)
        let result = try Recovery.recover(dir, repair: false, logger: logger)
        #expect(result.report.truncatedBytes == 40)
        #expect(Files.size(segPath) == size)
        assertSame(result.streams, model)
    }

    @Test("under always the active segment is zero-filled ahead; a crash copy recovers everything and is cut; stop cuts the zeros")
    func preallocatedSegment() throws {
        let path = tempDir("runnel-prealloc")
        let crashPath = tempDir("runnel-prealloc-crash")
        var model: [UInt64: Stream] = [:]
        let dir = DataDirectory(path)
        let segPath = path + "/" + dir.segmentName(1)
        do {
            let h = try LogHarness(path, segmentLimit: 8 << 20)
            workload(h, &model, rounds: 600)
            // Bounded wait: everything synced and the syncer has filled the runway.
            for _ in 0..<400 {
                let s = h.writer.stats
                if s.synced == h.encoder.encodedBytes && h.writer.preallocatedBytes >= 512 << 10 { break }
                usleep(5000)
            }
            let stats = h.writer.stats
            #expect(stats.synced == h.encoder.encodedBytes, "everything submitted is synced")
            #expect(h.writer.preallocatedBytes >= 512 << 10, "the runway is filled")
            let image = try Files.readAll(segPath)
            #expect(image.count >= stats.activeSegmentBytes + (512 << 10))
            #expect(image[stats.activeSegmentBytes...].allSatisfy { $0 == 0 }, "only zeros after the data")
            // The dump tool sees the data and the zeros apart, and no problem.
            let info = try Inspect.segments(dir)
            #expect(info.count == 1 && info[0].problem == nil)
            #expect(info[0].size == stats.activeSegmentBytes && info[0].preallocated == image.count - stats.activeSegmentBytes)
            // What a kill -9 leaves: the data, then zeros. Recovery reads every record and cuts them.
            let copy = open(crashPath + "/" + dir.segmentName(1), O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            try Files.writeAll(copy, image, path: crashPath)
            close(copy)
            let crashed = try Recovery.recover(DataDirectory(crashPath), repair: false, logger: logger)
            assertSame(crashed.streams, model)
            #expect(crashed.report.truncatedBytes == 0, "a zero tail is not a torn tail")
            #expect(Files.size(crashPath + "/" + dir.segmentName(1)) == stats.activeSegmentBytes)
            let idx = try SegmentIndex.decode(
                try Files.readAll(crashPath + "/" + dir.indexName(1)), file: "idx")
            #expect(idx.size == stats.activeSegmentBytes)
            h.writer.stop()
            #expect(Files.size(segPath) == h.writer.stats.activeSegmentBytes, "a stopped writer cuts the zeros")
        }
        let result = try Recovery.recover(dir, repair: false, logger: logger)
        assertSame(result.streams, model)
        // A torn frame followed by zeros is a torn tail: cut at the frame, earlier records kept.
        let size = Files.size(segPath)!
        var bytes = try Files.readAll(segPath)
        bytes.append(contentsOf: bytes[Framing.headerSize..<(Framing.headerSize + 40)])
        bytes.append(contentsOf: [UInt8](repeating: 0, count: 4096))
        let fd = open(segPath, O_WRONLY | O_TRUNC)
        try Files.writeAll(fd, bytes, path: segPath)
        close(fd)
        let torn = try Recovery.recover(dir, repair: false, logger: logger)
        #expect(torn.report.truncatedBytes == 40, "the torn bytes; the zeros after them were never data")
        #expect(Files.size(segPath) == size)
        assertSame(torn.streams, model)
    }

    @Test("a frame boundary followed only by zeros ends a segment; a frame may itself end in zeros")
    func zeroTailScan() throws {
        let frame = Framing.frame(payload: [7, 1, 0, 0, 0], rawLength: 5, restart: true)
        var bytes = Framing.header(.segment, id: 1) + frame + frame
        var scanner = FrameScanner(bytes + [UInt8](repeating: 0, count: 1000), zeroTail: true)
        #expect(scanner.dataEnd == bytes.count - 3)
        var ends: [Int] = []
        while case .success(let f)? = scanner.next() { ends.append(f.end) }
        #expect(ends == [Framing.headerSize + frame.count, bytes.count], "both frames, zeros in the payload included")
        #expect(scanner.next() == nil)
        // Without zeroTail (checkpoints, indexes) the zeros are a bad frame.
        var strict = FrameScanner(bytes + [UInt8](repeating: 0, count: 1000))
        _ = strict.next()
        _ = strict.next()
        guard case .failure(.corrupt)? = strict.next() else {
            Issue.record("zeros after the frames must be corrupt outside segments")
            return
        }
        // Non-zero bytes after zeros: the zero run is not a tail, so it is read as a frame.
        bytes += [UInt8](repeating: 0, count: 64) + [1]
        var mid = FrameScanner(bytes, zeroTail: true)
        _ = mid.next()
        _ = mid.next()
        guard case .failure(.corrupt)? = mid.next() else {
            Issue.record("zeros followed by data must not end the segment")
            return
        }
        #expect(FrameScanner.trailingZerosStart([0, 0, 0], notBefore: 0) == 0)
        #expect(FrameScanner.trailingZerosStart([1] + [UInt8](repeating: 0, count: 37), notBefore: 0) == 1)
        #expect(FrameScanner.trailingZerosStart([UInt8](repeating: 5, count: 37), notBefore: 0) == 37)
    }

    @Test("corruption in the middle is refused with file and offset, and --repair cuts there")
    func corruptMiddle() throws {
        let path = tempDir("runnel-bad")
        var model: [UInt64: Stream] = [:]
        do {
            let h = try LogHarness(path, regionLimit: 2048)
            workload(h, &model, rounds: 900)
            h.writer.stop()
        }
        let dir = DataDirectory(path)
        let segPath = path + "/" + dir.segmentName(1)
        var bytes = try Files.readAll(segPath)
        var scanner = FrameScanner(bytes)
        var frames: [FrameInfo] = []
        while case .success(let f)? = scanner.next() { frames.append(f) }
        #expect(frames.count > 4)
        let victim = frames[frames.count / 2]
        bytes[victim.payloadStart + 2] ^= 0xFF
        let fd = open(segPath, O_WRONLY | O_TRUNC)
        try Files.writeAll(fd, bytes, path: segPath)
        close(fd)
        let refusal = recoveryError(dir)
        guard case .corrupt(let file, let offset, let reason)? = refusal else {
            Issue.record("recovery must refuse a corrupt segment, got \(String(describing: refusal))")
            return
        }
        #expect(file == segPath && offset == victim.offset)
        #expect(reason.contains("--repair"))
        let repaired = try Recovery.recover(dir, repair: true, logger: logger)
        #expect(repaired.report.repaired != nil)
        #expect(Files.size(segPath) == victim.offset)
        #expect(try Files.list(path + "/damaged").count == 1)
        #expect(repaired.report.entries > 0)
        // After the repair the directory recovers cleanly.
        let again = try Recovery.recover(dir, repair: false, logger: logger)
        #expect(again.report.entries == repaired.report.entries)
    }

    func recoveryError(_ dir: DataDirectory) -> StorageError? {
        do {
            _ = try Recovery.recover(dir, repair: false, logger: logger)
            return nil
        } catch {
            return error
        }
    }

    @Test("the writer's threads carry their names (as top, ps -L and perf show them)")
    func threadNames() throws {
        let h = try LogHarness(tempDir("runnel-names"))
        defer { h.writer.stop() }
        var names = Set<String>()
        // The threads name themselves when they start: look for up to 5 s.
        for _ in 0..<500 {
            names = Set(((try? Files.list("/proc/self/task")) ?? []).map { tid in
                // procfs files report size 0: read until end of file.
                let fd = open("/proc/self/task/\(tid)/comm", O_RDONLY)
                defer { if fd >= 0 { close(fd) } }
                var buf = [UInt8](repeating: 0, count: 64)
                let n = fd < 0 ? 0 : max(0, read(fd, &buf, buf.count))
                return String(decoding: buf[..<n].filter { $0 != 0x0A }, as: UTF8.self)
            })
            if names.isSuperset(of: ["runnel-writer", "runnel-sync"]) { break }
            usleep(10_000)
        }
        #expect(names.isSuperset(of: ["runnel-writer", "runnel-sync"]), "threads: \(names.sorted())")
    }

    @Test("the directory lock refuses a second owner")
    func lock() throws {
        let dir = DataDirectory(tempDir("runnel-lock"))
        let first = try DirectoryLock(dir)
        #expect(throws: StorageError.locked(path: dir.path)) { try DirectoryLock(dir) }
        _ = first
    }

    /// Keyspace churn: thousands of streams created and deleted (the replay's holes are
    /// compacted several times), renames and copies over existing keys, binds over a key
    /// another stream still holds (replay drops that one), flushes and SWAPDB, around a
    /// checkpoint. Recovery must match the model exactly, ordered or not.
    @Test("keyspace churn (creates, deletes, renames, copies, flushes, swaps) around a checkpoint recovers exactly")
    func keyspaceChurn() throws {
        let path = tempDir("runnel-churn")
        struct Live { var db: Int; var key: [UInt8]; var stream: Stream }
        var live: [UInt64: Live] = [:]
        var byKey: [Int: [[UInt8]: UInt64]] = [:]
        var next: UInt64 = 1
        var rng: UInt64 = 0x9E37_79B9_7F4A_7C15
        func rand(_ n: Int) -> Int {
            rng = rng &* 6364136223846793005 &+ 1442695040888963407
            return Int((rng >> 33) % UInt64(n))
        }
        let h = try LogHarness(path, segmentLimit: 256 * 1024)
        func drop(_ handle: UInt64) {
            guard let l = live.removeValue(forKey: handle) else { return }
            byKey[l.db]?[l.key] = nil
        }
        func bind(_ handle: UInt64, db: Int, key: [UInt8]) {
            if let other = byKey[db]?[key], other != handle { drop(other) }
            byKey[db, default: [:]][key] = handle
        }
        func journaled(_ s: Stream, _ handle: UInt64) -> Stream {
            var s = s
            s.journal = Forwarder(handle: handle, encoder: h.encoder)
            return s
        }
        var deletions = 0
        // Live handles in a list, so that picks are the same in every run (a dictionary's
        // order is not).
        var handles: [UInt64] = []
        func pick() -> UInt64? {
            handles.removeAll { live[$0] == nil }
            return handles.isEmpty ? nil : handles[rand(handles.count)]
        }
        for step in 0..<24_000 {
            let db = rand(3)
            let key = Array("k\(rand(4000))".utf8)
            switch rand(100) {
            case 0..<40:
                // A new stream; over an existing key, half the time with the deletion logged
                // first (as the server does) and half the time without (replay must drop it).
                if let other = byKey[db]?[key], rand(2) == 0 {
                    h.encoder.encode(.keyDelete(handle: other))
                    drop(other)
                }
                let handle = next
                next += 1
                h.encoder.encode(.streamNew(handle: handle, db: db, key: key))
                bind(handle, db: db, key: key)
                var s = journaled(Stream(), handle)
                _ = try s.append(.auto, fieldsAndValues: [Array("f".utf8), Array("\(step)".utf8)], nowMs: UInt64(step + 1))
                live[handle] = Live(db: db, key: key, stream: s)
                handles.append(handle)
            case 40..<75:
                guard let handle = pick() else { continue }
                h.encoder.encode(.keyDelete(handle: handle))
                drop(handle)
                deletions += 1
            case 75..<85:
                guard let handle = pick() else { continue }
                var l = live[handle]!
                _ = try l.stream.append(.auto, fieldsAndValues: [Array("g".utf8), Array("\(step)".utf8)], nowMs: UInt64(step + 1))
                live[handle] = l
            case 85..<92:
                guard let handle = pick(), byKey[db]?[key] != handle else { continue }
                h.encoder.encode(.keyRename(handle: handle, db: db, key: key))
                let old = live[handle]!
                byKey[old.db]?[old.key] = nil
                bind(handle, db: db, key: key)
                live[handle]!.db = db
                live[handle]!.key = key
            case 92..<98:
                guard let from = pick(), byKey[db]?[key] != from else { continue }
                let handle = next
                next += 1
                h.encoder.encode(.keyCopy(from: from, handle: handle, db: db, key: key))
                if let other = byKey[db]?[key] { drop(other) }
                bind(handle, db: db, key: key)
                live[handle] = Live(db: db, key: key, stream: journaled(live[from]!.stream, handle))
                handles.append(handle)
            case 98:
                let other = rand(3)
                h.encoder.encode(.swapDB(db, other))
                guard db != other else { continue }
                for (k, var l) in live where l.db == db || l.db == other {
                    l.db = l.db == db ? other : db
                    live[k] = l
                }
                let a = byKey[db]
                byKey[db] = byKey[other]
                byKey[other] = a
            default:
                guard rand(4) == 0 else { continue }
                h.encoder.encode(.flush(db: db))
                for (k, l) in live where l.db == db { drop(k) }
            }
            if step % 200 == 0 { h.submit() }
            if step == 12_000 {
                h.encoder.restartRegion()
                h.submit()
                let streams = live.map { k, l in
                    var copy = l.stream
                    copy.journal = nil
                    return CheckpointStream(handle: k, db: l.db, key: l.key, expireAt: 0, stream: copy)
                }
                h.writer.submitCheckpoint(CheckpointState(baseSegment: 0, nextHandle: next, createdMs: 1, streams: streams))
                h.waitCheckpoints(1)
                #expect(h.checkpoints.first?.error == nil)
            }
        }
        h.submit()
        h.writer.stop()
        #expect(deletions > 3000, "enough deletions to compact the replay's holes")
        #expect(!live.isEmpty)
        let want = live.map { k, l in "\(l.db) \(k) \(String(decoding: l.key, as: UTF8.self)) \(l.stream.canonicalDescription)" }
        let ordered = try Recovery.recover(DataDirectory(path), repair: false, logger: logger)
        #expect(ordered.report.checkpointBytes > 0, "the checkpoint was used")
        let got = ordered.streams.map { "\($0.db) \($0.handle) \(String(decoding: $0.key, as: UTF8.self)) \($0.stream.canonicalDescription)" }
        #expect(got.count == want.count)
        #expect(Set(got) == Set(want))
        #expect(ordered.streams.map { [$0.db, Int($0.handle)] } == ordered.streams.map { [$0.db, Int($0.handle)] }.sorted { $0.lexicographicallyPrecedes($1) }, "(db, handle) order")
        let unordered = try Recovery.recover(DataDirectory(path), repair: false, ordered: false, logger: logger)
        #expect(Set(unordered.streams.map { "\($0.db) \($0.handle) \(String(decoding: $0.key, as: UTF8.self)) \($0.stream.canonicalDescription)" }) == Set(want))
        #expect(unordered.report.nextHandle == next)
    }

}

