/// One field/value pair list of a stream entry, as raw bytes.
public struct StreamEntry: Sendable, Equatable {
    public var id: StreamID
    /// Alternating field and value byte strings.
    public var fieldsAndValues: [[UInt8]]

    public init(id: StreamID, fieldsAndValues: [[UInt8]]) {
        self.id = id
        self.fieldsAndValues = fieldsAndValues
    }
}

/// A stream's entries and metadata.
///
/// This first version keeps entries in an ordered array; the compact chunked representation
/// and consumer groups come with the streams work (see docs/DESIGN.md).
public struct Stream: Sendable {
    public private(set) var entries: [StreamEntry] = []
    /// The greatest ID ever added (entries may have been deleted since).
    public private(set) var lastID: StreamID = .zero
    /// Total entries ever added.
    public private(set) var entriesAdded: UInt64 = 0
    /// The greatest ID ever deleted.
    public private(set) var maxDeletedID: StreamID = .zero

    public init() {}

    public var count: Int { entries.count }

    /// Why an append was refused.
    public enum AppendError: Error, Sendable, Equatable {
        /// The requested ID is equal to or smaller than the stream's top item.
        case idTooSmall
        /// `0-0` can never be added.
        case idZero
        /// The stream's last ID is the maximum; no ID can follow it.
        case exhausted
    }

    /// How the caller asked for the new entry's ID.
    public enum IDRequest: Sendable, Equatable {
        /// `*`: milliseconds from the clock, sequence chosen.
        case auto
        /// `ms-*`: given milliseconds, sequence chosen.
        case autoSequence(ms: UInt64)
        /// `ms-seq`.
        case explicit(StreamID)
    }

    /// Chooses the ID an append would get, without appending.
    public func nextID(for request: IDRequest, nowMs: UInt64) throws(AppendError) -> StreamID {
        switch request {
        case .auto:
            if nowMs > lastID.ms { return StreamID(ms: nowMs, seq: 0) }
            guard let next = lastID.successor else { throw .exhausted }
            return next
        case .autoSequence(let ms):
            if ms > lastID.ms { return StreamID(ms: ms, seq: 0) }
            if ms == lastID.ms {
                guard lastID.seq < .max else { throw .idTooSmall }
                return StreamID(ms: ms, seq: lastID.seq + 1)
            }
            throw .idTooSmall
        case .explicit(let id):
            if id == .zero { throw .idZero }
            if id <= lastID { throw .idTooSmall }
            return id
        }
    }

    /// Appends an entry with an ID chosen by `request`.
    @discardableResult
    public mutating func append(_ request: IDRequest, fieldsAndValues: [[UInt8]], nowMs: UInt64) throws(AppendError)
        -> StreamID
    {
        let id = try nextID(for: request, nowMs: nowMs)
        entries.append(StreamEntry(id: id, fieldsAndValues: fieldsAndValues))
        lastID = id
        entriesAdded += 1
        return id
    }

    /// Entries with `start <= id <= end`, in order (or reverse order), at most `limit`.
    public func range(from start: StreamID, to end: StreamID, limit: Int? = nil, reverse: Bool = false) -> [StreamEntry] {
        guard start <= end, !entries.isEmpty else { return [] }
        let lo = lowerBound(start)
        let hi = lowerBound(end.successor ?? .max, inclusiveMax: end == .max)
        guard lo < hi else { return [] }
        var slice = Array(entries[lo..<hi])
        if reverse { slice.reverse() }
        if let limit, limit >= 0, slice.count > limit { slice = Array(slice.prefix(limit)) }
        return slice
    }

    /// Deletes the entries with these IDs; returns how many existed.
    public mutating func delete(_ ids: [StreamID]) -> Int {
        var removed = 0
        for id in ids {
            let i = lowerBound(id)
            if i < entries.count && entries[i].id == id {
                entries.remove(at: i)
                removed += 1
                if id > maxDeletedID { maxDeletedID = id }
            }
        }
        return removed
    }

    private func lowerBound(_ id: StreamID, inclusiveMax: Bool = false) -> Int {
        if inclusiveMax { return entries.count }
        var lo = 0
        var hi = entries.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if entries[mid].id < id { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}
