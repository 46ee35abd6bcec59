/// One state change of a stream, produced by the model as it mutates.
///
/// Replaying a stream's records in order into an empty `Stream` rebuilds the identical state:
/// entries, node boundaries, metadata, groups, consumers and every pending entry with its
/// owner, delivery time and count. Records carry outcomes, not requests (a trim records what
/// it removed, a claim the resulting pending entry), so replay never depends on the clock or
/// on configuration. The storage engine logs these; see docs/FORMAT.md once it exists.
public enum StreamRecord: Sendable, Equatable {
    /// An entry appended; `newNode` when it started a new node.
    case append(id: StreamID, fields: [[UInt8]], newNode: Bool)
    /// XDEL of these (existing, live) IDs.
    case delete(ids: [StreamID])
    /// Trim: every node whose last ID ≤ `through` dropped, then live entries ≤ `through` of
    /// the first remaining node marked deleted.
    case trim(through: StreamID)
    /// XSETID.
    case setMetadata(lastID: StreamID, entriesAdded: UInt64?, maxDeletedID: StreamID?)
    case groupCreate(name: [UInt8], lastID: StreamID, entriesRead: Int64?)
    case groupSetID(name: [UInt8], lastID: StreamID, entriesRead: Int64?)
    case groupDestroy(name: [UInt8])
    case consumerCreate(group: [UInt8], consumer: [UInt8], time: Int64)
    case consumerDelete(group: [UInt8], consumer: [UInt8])
    case consumerSeen(group: [UInt8], consumer: [UInt8], time: Int64)
    /// A successful claim: the consumer's active time (reads of new entries set it through
    /// `deliverNew`).
    case consumerActive(group: [UInt8], consumer: [UInt8], time: Int64)
    /// New entries read through `>`: the group advances to each ID; unless `noAck`, each
    /// becomes pending for the consumer with count 1 at `time`.
    case deliverNew(group: [UInt8], consumer: [UInt8], ids: [StreamID], time: Int64, noAck: Bool)
    /// History re-reads: each pending ID's count +1, delivery time `time`.
    case redeliver(group: [UInt8], ids: [StreamID], time: Int64)
    case ack(group: [UInt8], ids: [StreamID])
    /// A pending entry set exactly (XCLAIM / XAUTOCLAIM), created if missing.
    case claim(group: [UInt8], consumer: [UInt8], id: StreamID, deliveryTime: Int64, deliveryCount: UInt64)
    /// A pending entry dropped because its stream entry no longer exists.
    case dropPending(group: [UInt8], id: StreamID)
    /// XCLAIM LASTID raising the group's last-delivered ID.
    case groupLastID(group: [UInt8], id: StreamID)
}

/// Receives a stream's records as it mutates. A journal is confined to the thread that
/// mutates its stream (the broker's event loop); copies of a stream made for other threads
/// (checkpoints) drop it.
///
/// Each record comes with the stream's `journalTag`, so that one journal can serve many
/// streams (the storage engine's tag is the stream's handle): no journal object per stream.
public protocol StreamJournal: AnyObject, Sendable {
    func record(_ record: StreamRecord, tag: UInt64)
    /// An append, without building a `StreamRecord` (the hot path).
    func recordAppend(id: StreamID, fields: FieldList, newNode: Bool, tag: UInt64)
}

/// A journal that keeps the records in memory (tests, tools).
public final class RecordingJournal: StreamJournal, @unchecked Sendable {
    public private(set) var records: [StreamRecord] = []
    /// `records`: what built the stream so far (a copy of another stream starts with its records).
    public init(records: [StreamRecord] = []) { self.records = records }
    public func record(_ record: StreamRecord, tag: UInt64 = 0) { records.append(record) }
    public func recordAppend(id: StreamID, fields: FieldList, newNode: Bool, tag: UInt64 = 0) {
        records.append(.append(id: id, fields: fields.arrays, newNode: newNode))
    }
}

extension Stream {
    /// Replays an append without building a `StreamRecord` (recovery's hot path).
    public mutating func replayAppend(_ id: StreamID, _ fields: FieldList, newNode: Bool) {
        appendReplayed(id, fields, newNode: newNode)
    }

    /// Replays an append; a node it starts shares `names` as its master field list when the
    /// names are the same, and otherwise sets `names` to its own (recovery passes one list
    /// for every stream it rebuilds).
    public mutating func replayAppend(_ id: StreamID, _ fields: FieldList, newNode: Bool, sharing names: inout FieldList) {
        appendReplayed(id, fields, newNode: newNode, sharing: &names)
    }

    /// Applies one record (replay). The journal, if on, is not fed by replay.
    public mutating func apply(_ record: StreamRecord) {
        let saved = journal
        journal = nil
        defer { journal = saved }
        switch record {
        case .append(let id, let fields, let newNode):
            appendReplayed(id, FieldList(fields), newNode: newNode)
        case .delete(let ids):
            _ = delete(ids)
        case .trim(let through):
            trimThrough(through)
        case .setMetadata(let lastID, let entriesAdded, let maxDeletedID):
            setMetadata(lastID: lastID, entriesAdded: entriesAdded, maxDeletedID: maxDeletedID)
        case .groupCreate(let name, let lastID, let entriesRead):
            _ = createGroup(name, lastID: lastID, entriesRead: entriesRead)
        case .groupSetID(let name, let lastID, let entriesRead):
            setGroupID(name, lastID: lastID, entriesRead: entriesRead)
        case .groupDestroy(let name):
            _ = destroyGroup(name)
        case .consumerCreate(let group, let consumer, let time):
            _ = createConsumer(group, consumer, now: time)
        case .consumerDelete(let group, let consumer):
            _ = deleteConsumer(group, consumer)
        case .consumerSeen(let group, let consumer, let time):
            touchConsumer(group, consumer, now: time)
        case .consumerActive(let group, let consumer, let time):
            markActive(group, consumer, now: time)
        case .deliverNew(let group, let consumer, let ids, let time, let noAck):
            deliverNew(group, consumer: consumer, ids: ids, now: time, noAck: noAck)
        case .redeliver(let group, let ids, let time):
            redeliver(group, ids: ids, now: time)
        case .ack(let group, let ids):
            _ = acknowledge(group, ids)
        case .claim(let group, let consumer, let id, let deliveryTime, let deliveryCount):
            claim(group, consumer: consumer, id: id, deliveryTime: deliveryTime, deliveryCount: deliveryCount)
        case .dropPending(let group, let id):
            dropPending(group, id)
        case .groupLastID(let group, let id):
            raiseGroupLastID(group, to: id)
        }
    }
}
