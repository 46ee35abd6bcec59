/// Consumer-group mutations of a stream. Each one updates the groups and, when the journal is
/// on, records what it did (`StreamRecord`).
extension Stream {
    @inline(__always)
    mutating func log(_ record: @autoclosure () -> StreamRecord) {
        if let journal { journal.record(record(), tag: journalTag) }
    }

    /// Creates a group; false if one with that name exists.
    public mutating func createGroup(_ name: [UInt8], lastID: StreamID, entriesRead: Int64?) -> Bool {
        guard groups[name] == nil else { return false }
        groups[name] = ConsumerGroup(lastID: lastID, entriesRead: entriesRead)
        log(.groupCreate(name: name, lastID: lastID, entriesRead: entriesRead))
        return true
    }

    public mutating func setGroupID(_ name: [UInt8], lastID: StreamID, entriesRead: Int64?) {
        guard groups[name] != nil else { return }
        groups[name]!.lastID = lastID
        groups[name]!.entriesRead = entriesRead
        log(.groupSetID(name: name, lastID: lastID, entriesRead: entriesRead))
    }

    public mutating func destroyGroup(_ name: [UInt8]) -> Bool {
        guard groups.removeValue(forKey: name) != nil else { return false }
        log(.groupDestroy(name: name))
        return true
    }

    /// Creates a consumer if missing; true if created.
    public mutating func createConsumer(_ group: [UInt8], _ consumer: [UInt8], now: Int64) -> Bool {
        guard groups[group] != nil, groups[group]!.ensureConsumer(consumer, now: now) else { return false }
        log(.consumerCreate(group: group, consumer: consumer, time: now))
        return true
    }

    /// Deletes a consumer; its pending count, or nil if it did not exist.
    public mutating func deleteConsumer(_ group: [UInt8], _ consumer: [UInt8]) -> Int? {
        guard groups[group] != nil, let n = groups[group]!.deleteConsumer(consumer) else { return nil }
        log(.consumerDelete(group: group, consumer: consumer))
        return n
    }

    /// Records that a consumer was seen (reads, claims).
    public mutating func touchConsumer(_ group: [UInt8], _ consumer: [UInt8], now: Int64) {
        guard groups[group]?.consumers[consumer] != nil else { return }
        groups[group]!.consumers[consumer]!.seenTime = now
        log(.consumerSeen(group: group, consumer: consumer, time: now))
    }

    /// New entries delivered through `>`. The group is looked up once (its name hashed once),
    /// not once per ID.
    public mutating func deliverNew(_ group: [UInt8], consumer: [UInt8], ids: [StreamID], now: Int64, noAck: Bool) {
        guard !ids.isEmpty, let gi = groups.index(forKey: group) else { return }
        for id in ids {
            advance(groupAt: gi, to: id)
            if noAck { continue }
            if groups.values[gi].pending[id] != nil {
                // Re-delivery through '>' after SETID: new owner, count restarts.
                groups.values[gi].deliver(id, to: consumer, now: now, incrementCount: false)
                groups.values[gi].pending[id]!.deliveryCount = 1
            } else {
                groups.values[gi].deliver(id, to: consumer, now: now)
            }
        }
        // Reading new entries is a successful interaction (replay derives it from this record).
        if groups.values[gi].consumers[consumer] != nil { groups.values[gi].consumers[consumer]!.activeTime = now }
        log(.deliverNew(group: group, consumer: consumer, ids: ids, time: now, noAck: noAck))
    }

    /// Records a consumer's successful claim (XCLAIM, XAUTOCLAIM, XREADGROUP CLAIM).
    public mutating func markActive(_ group: [UInt8], _ consumer: [UInt8], now: Int64) {
        guard groups[group]?.consumers[consumer] != nil else { return }
        groups[group]!.consumers[consumer]!.activeTime = now
        log(.consumerActive(group: group, consumer: consumer, time: now))
    }

    /// History re-reads of pending entries: count +1, time now.
    public mutating func redeliver(_ group: [UInt8], ids: [StreamID], now: Int64) {
        guard !ids.isEmpty, let gi = groups.index(forKey: group) else { return }
        for id in ids {
            groups.values[gi].pending[id]?.deliveryTime = now
            groups.values[gi].pending[id]?.deliveryCount &+= 1
        }
        log(.redeliver(group: group, ids: ids, time: now))
    }

    /// XACK; returns how many were pending.
    public mutating func acknowledge(_ group: [UInt8], _ ids: [StreamID]) -> Int {
        guard let gi = groups.index(forKey: group) else { return 0 }
        var acked: [StreamID] = []
        for id in ids where groups.values[gi].acknowledge(id) { acked.append(id) }
        if !acked.isEmpty { log(.ack(group: group, ids: acked)) }
        return acked.count
    }

    /// Sets a pending entry exactly, moving it to `consumer` (created if needed).
    public mutating func claim(_ group: [UInt8], consumer: [UInt8], id: StreamID, deliveryTime: Int64, deliveryCount: UInt64) {
        guard let gi = groups.index(forKey: group) else { return }
        groups.values[gi].claim(id, for: consumer, deliveryTime: deliveryTime, deliveryCount: deliveryCount)
        log(.claim(group: group, consumer: consumer, id: id, deliveryTime: deliveryTime, deliveryCount: deliveryCount))
    }

    /// Drops a pending entry whose stream entry is gone.
    public mutating func dropPending(_ group: [UInt8], _ id: StreamID) {
        guard groups[group] != nil, groups[group]!.acknowledge(id) else { return }
        log(.dropPending(group: group, id: id))
    }

    /// XCLAIM LASTID: raises the group's last-delivered ID; false if it was not lower.
    @discardableResult
    public mutating func raiseGroupLastID(_ group: [UInt8], to id: StreamID) -> Bool {
        guard groups[group] != nil, id > groups[group]!.lastID else { return false }
        groups[group]!.lastID = id
        log(.groupLastID(group: group, id: id))
        return true
    }
}
