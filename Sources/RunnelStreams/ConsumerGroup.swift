/// A pending entry: delivered to a consumer and not yet acknowledged.
public struct PendingEntry: Sendable, Equatable {
    /// The consumer that owns the entry.
    public var consumer: [UInt8]
    /// Last delivery time, Unix milliseconds.
    public var deliveryTime: Int64
    /// Times delivered.
    public var deliveryCount: UInt64

    public init(consumer: [UInt8], deliveryTime: Int64, deliveryCount: UInt64) {
        self.consumer = consumer
        self.deliveryTime = deliveryTime
        self.deliveryCount = deliveryCount
    }
}

/// An ordered set of stream IDs with O(1) membership and amortized O(1) removal.
///
/// IDs are kept in a sorted array plus a membership set; removal only drops membership and
/// the array is compacted when more than half of it is stale. Deliveries arrive in increasing
/// ID order, so insertion is almost always an append.
public struct OrderedIDSet: Sendable {
    private var sorted: [StreamID] = []
    private var members: Set<StreamID> = []

    public init() {}

    public var count: Int { members.count }
    public var isEmpty: Bool { members.isEmpty }
    public func contains(_ id: StreamID) -> Bool { members.contains(id) }

    public mutating func insert(_ id: StreamID) {
        guard members.insert(id).inserted else { return }
        if let last = sorted.last, last >= id {
            // Out of order (XCLAIM of an older entry): binary-search the slot.
            var lo = 0
            var hi = sorted.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if sorted[mid] < id { lo = mid + 1 } else { hi = mid }
            }
            if lo < sorted.count && sorted[lo] == id { return }  // stale copy already there
            sorted.insert(id, at: lo)
        } else {
            sorted.append(id)
        }
    }

    @discardableResult
    public mutating func remove(_ id: StreamID) -> Bool {
        guard members.remove(id) != nil else { return false }
        if sorted.count > 32 && members.count * 2 < sorted.count {
            sorted.removeAll { !members.contains($0) }
        }
        return true
    }

    /// Members with `start <= id <= end`, ascending, at most `limit`.
    public func range(from start: StreamID, to end: StreamID, limit: Int = .max) -> [StreamID] {
        var lo = 0
        var hi = sorted.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if sorted[mid] < start { lo = mid + 1 } else { hi = mid }
        }
        var out: [StreamID] = []
        var i = lo
        var previous: StreamID?
        while i < sorted.count && out.count < limit {
            let id = sorted[i]
            if id > end { break }
            if members.contains(id) && id != previous { out.append(id) }
            previous = id
            i += 1
        }
        return out
    }

    public var first: StreamID? { range(from: .zero, to: .max, limit: 1).first }
    public var last: StreamID? {
        var i = sorted.count - 1
        while i >= 0 {
            if members.contains(sorted[i]) { return sorted[i] }
            i -= 1
        }
        return nil
    }

    public var all: [StreamID] { range(from: .zero, to: .max) }
}

/// A consumer of a group.
public struct Consumer: Sendable {
    public let name: [UInt8]
    /// Last time the consumer was seen (any read attempt or claim), Unix ms.
    public var seenTime: Int64
    /// Last time it read new entries or claimed some (Redis 7.2's active-time); -1 if never.
    public var activeTime: Int64 = -1
    /// Entries pending for this consumer.
    public var pending = OrderedIDSet()

    public init(name: [UInt8], seenTime: Int64) {
        self.name = name
        self.seenTime = seenTime
    }
}

/// A consumer group: its position, pending entries list (PEL) and consumers.
public struct ConsumerGroup: Sendable {
    /// Last ID delivered to any consumer of the group.
    public var lastID: StreamID
    /// Logical count of entries read by the group; nil when unknown.
    public var entriesRead: Int64?
    /// Pending entries of the whole group by ID.
    public var pending: [StreamID: PendingEntry] = [:]
    /// The same IDs, ordered.
    public var pendingOrder = OrderedIDSet()
    /// Consumers by name.
    public var consumers: [[UInt8]: Consumer] = [:]

    public init(lastID: StreamID, entriesRead: Int64?) {
        self.lastID = lastID
        self.entriesRead = entriesRead
    }

    /// Consumers sorted by name bytes, as Redis's radix tree orders them.
    public var sortedConsumers: [Consumer] {
        consumers.values.sorted { $0.name.lexicographicallyPrecedes($1.name) }
    }

    /// Creates the consumer if missing; returns true if it was created.
    @discardableResult
    public mutating func ensureConsumer(_ name: [UInt8], now: Int64) -> Bool {
        if consumers[name] != nil { return false }
        consumers[name] = Consumer(name: name, seenTime: now)
        return true
    }

    /// Records a delivery of `id` to `consumer` at `now` (new or re-delivery).
    public mutating func deliver(_ id: StreamID, to consumer: [UInt8], now: Int64, incrementCount: Bool = true) {
        if var nack = pending[id] {
            if nack.consumer != consumer {
                consumers[nack.consumer]?.pending.remove(id)
                consumers[consumer]?.pending.insert(id)
                nack.consumer = consumer
            }
            nack.deliveryTime = now
            if incrementCount { nack.deliveryCount &+= 1 }
            pending[id] = nack
        } else {
            pending[id] = PendingEntry(consumer: consumer, deliveryTime: now, deliveryCount: 1)
            pendingOrder.insert(id)
            consumers[consumer]?.pending.insert(id)
        }
    }

    /// Sets the pending entry `id` exactly, owned by `consumer` (created, seen at
    /// `deliveryTime`, if missing).
    public mutating func claim(_ id: StreamID, for consumer: [UInt8], deliveryTime: Int64, deliveryCount: UInt64) {
        ensureConsumer(consumer, now: deliveryTime)
        let entry = PendingEntry(consumer: consumer, deliveryTime: deliveryTime, deliveryCount: deliveryCount)
        if let old = pending.updateValue(entry, forKey: id) {
            if old.consumer != consumer { consumers[old.consumer]?.pending.remove(id) }
        } else {
            pendingOrder.insert(id)
        }
        consumers[consumer]!.pending.insert(id)
    }

    /// Acknowledges `id`; true if it was pending.
    @discardableResult
    public mutating func acknowledge(_ id: StreamID) -> Bool {
        guard let nack = pending.removeValue(forKey: id) else { return false }
        pendingOrder.remove(id)
        consumers[nack.consumer]?.pending.remove(id)
        return true
    }

    /// Deletes a consumer; returns how many pending entries it had (they are dropped).
    public mutating func deleteConsumer(_ name: [UInt8]) -> Int? {
        guard let c = consumers.removeValue(forKey: name) else { return nil }
        let ids = c.pending.all
        for id in ids {
            pending.removeValue(forKey: id)
            pendingOrder.remove(id)
        }
        return ids.count
    }
}
