import RunnelStreams

/// First and last ID appended to one stream within a region (one index point).
public struct IndexSpan: Sendable, Equatable {
    public var first: StreamID
    public var last: StreamID
    public var count: Int
}

/// Records encoded on the event loop, waiting for the writer thread.
public struct Chunk: Sendable {
    public var bytes: [UInt8]
    /// The chunk opens a region: the writer starts a new frame with a fresh deflate stream.
    public var restart: Bool
    /// Logical log offset (raw record bytes ever encoded) at the chunk's end.
    public var endOffset: UInt64
    public var records: Int
    /// Appends per stream handle in this chunk (for the segment index).
    public var spans: [UInt64: IndexSpan]
}

/// Turns records into the raw record stream, cut into regions of about `regionLimit` bytes
/// each starting at a restart point. Confined to the broker's event loop: every record is
/// encoded in the order the model produced it, then handed to the writer in chunks.
public final class LogEncoder {
    /// Raw record bytes encoded so far; the position replies wait for.
    public private(set) var encodedBytes: UInt64 = 0
    public private(set) var encodedRecords: UInt64 = 0
    public var regionLimit = 64 * 1024
    private var current = ByteSink(capacity: 4096)
    private var currentRecords = 0
    /// Appends per stream in the current chunk, held by reference so the stream used last is
    /// found again without hashing.
    private final class SpanSlot {
        var span: IndexSpan
        init(_ span: IndexSpan) { self.span = span }
    }
    private var currentSpans: [UInt64: SpanSlot] = [:]
    private var lastSpanHandle: UInt64 = 0
    private var lastSpan: SpanSlot?
    private var region = RegionState()
    private var regionBytes = 0
    private var nextRestart = true
    private var chunks: [Chunk] = []

    public init() {}

    /// Whether records wait to be taken.
    public var hasPending: Bool { !chunks.isEmpty || current.count > 0 }
    private var takenBytes: UInt64 = 0
    /// Bytes encoded and not yet taken.
    public var pendingBytes: Int { Int(encodedBytes - takenBytes) }

    /// Ends the current region now; the next record starts a new region (the writer rolls
    /// the segment for a checkpoint between the two).
    public func restartRegion() {
        closeChunk()
        region.reset()
        regionBytes = 0
        nextRestart = true
    }

    /// A unit (one command, or one transaction) is bracketed by `beginUnit`/`endUnit`. While
    /// one is open no region is cut, so no frame ends inside it: a torn tail, which loses whole
    /// frames, loses whole commands, and a restart never replays half of one (half a RENAME, or
    /// the first XADDs of an EXEC). A unit past `unitLimit` is cut all the same, which bounds a
    /// frame (FORMAT.md §4); outside units every record may start a region, as before. Units
    /// nest (serving blocked readers is one, inside the command that woke them or on its own).
    private var unitDepth = 0
    public var unitLimit = 256 << 20

    public func beginUnit() { unitDepth += 1 }

    /// Ends a unit; the end of the outermost one is where a full region is cut. (Every record
    /// the broker writes is inside a unit, so without this cut regions — and with them restart
    /// points, index points and segment rolls — would come only every `unitLimit` bytes.)
    public func endUnit() {
        unitDepth = max(0, unitDepth - 1)
        if unitDepth == 0 && regionBytes >= regionLimit { restartRegion() }
    }
    /// Whether a unit is open (its records so far must not be handed on alone).
    public var inUnit: Bool { unitDepth > 0 }

    @inline(__always)
    private func beforeRecord() {
        if regionBytes >= regionLimit && (unitDepth == 0 || regionBytes >= unitLimit) { restartRegion() }
    }

    @inline(__always)
    private func afterRecord(_ before: Int) {
        let n = current.count - before
        regionBytes += n
        encodedBytes += UInt64(n)
        encodedRecords += 1
        currentRecords += 1
    }

    public func encode(_ record: LogRecord) {
        beforeRecord()
        let before = current.count
        RecordEncoding.encode(record, into: &current, region: &region)
        if case .append(let h, let id, _, _) = record { noteSpan(h, id) }
        afterRecord(before)
    }

    public func encodeAppend(handle: UInt64, id: StreamID, fields: FieldList, newNode: Bool) {
        beforeRecord()
        let before = current.count
        RecordEncoding.encodeAppend(handle: handle, id: id, fields: fields, newNode: newNode, into: &current, region: &region)
        noteSpan(handle, id)
        afterRecord(before)
    }

    @inline(__always)
    private func noteSpan(_ h: UInt64, _ id: StreamID) {
        if let slot = lastSpan, lastSpanHandle == h { return Self.extend(&slot.span, to: id) }
        let slot: SpanSlot
        if let found = currentSpans[h] {
            slot = found
        } else {
            slot = SpanSlot(IndexSpan(first: id, last: id, count: 0))
            currentSpans[h] = slot
        }
        lastSpanHandle = h
        lastSpan = slot
        Self.extend(&slot.span, to: id)
    }

    @inline(__always)
    private static func extend(_ span: inout IndexSpan, to id: StreamID) {
        span.last = id
        span.count += 1
    }

    private func closeChunk() {
        guard current.count > 0 else { return }
        chunks.append(
            Chunk(bytes: current.bytes, restart: nextRestart, endOffset: encodedBytes,
                  records: currentRecords, spans: currentSpans.mapValues(\.span)))
        current = ByteSink(capacity: 4096)
        currentRecords = 0
        currentSpans = [:]
        lastSpan = nil
        nextRestart = false
    }

    /// Everything encoded since the last call.
    public func take() -> [Chunk] {
        closeChunk()
        takenBytes = encodedBytes
        defer { chunks.removeAll(keepingCapacity: true) }
        return chunks
    }
}
