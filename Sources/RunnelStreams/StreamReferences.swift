/// Redis 8.2's reference-aware deletion: KEEPREF, DELREF and ACKED.
extension Stream {
    /// How deleting or trimming treats consumer groups' references to the entries.
    public enum DeletionPolicy: Sendable, Equatable {
        /// Delete entries; pending entries that point at them stay (XDEL's behaviour).
        case keepReferences
        /// Delete entries and remove every group's pending reference to them.
        case deleteReferences
        /// Delete only entries that every group has read and acknowledged.
        case acknowledgedOnly
    }

    /// Whether some group still needs `id`: it is pending somewhere, or some group has not
    /// yet been delivered up to it.
    public func isReferenced(_ id: StreamID) -> Bool {
        for g in groups.values {
            if g.pending[id] != nil || id > g.lastID { return true }
        }
        return false
    }

    /// Removes `id` from every group's pending list; true if any reference existed.
    @discardableResult
    public mutating func removeReferences(_ id: StreamID) -> Bool {
        var removed = false
        for name in groups.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) where groups[name]!.pending[id] != nil {
            dropPending(name, id)
            removed = true
        }
        return removed
    }

    /// Outcome of deleting one ID with a policy (XDELEX/XACKDEL reply codes).
    public enum DeletionOutcome: Int, Sendable {
        case notFound = -1
        case deleted = 1
        case stillReferenced = 2
    }

    /// XDELEX for one ID.
    public mutating func delete(_ id: StreamID, policy: DeletionPolicy) -> DeletionOutcome {
        switch policy {
        case .acknowledgedOnly:
            if entry(id) != nil && isReferenced(id) { return .stillReferenced }
        case .deleteReferences:
            removeReferences(id)
        case .keepReferences:
            break
        }
        return delete([id]) == 1 ? .deleted : .notFound
    }

    /// Live IDs from the head that no group references (the ACKED trimming bound).
    func unreferencedPrefixEnd() -> StreamID? {
        var last: StreamID?
        for node in nodes {
            for id in node.liveIDs {
                if isReferenced(id) { return last }
                last = id
            }
        }
        return last
    }

    /// Trims with a deletion policy; returns the entries removed.
    @discardableResult
    public mutating func trim(_ strategy: TrimStrategy, approximate: Bool, limit: Int, policy: DeletionPolicy) -> Int {
        switch policy {
        case .keepReferences:
            return trim(strategy, approximate: approximate, limit: limit)
        case .deleteReferences:
            // A trim removes a prefix of the live entries: the first `removed` of the old ones.
            let old = self
            let removed = trim(strategy, approximate: approximate, limit: limit)
            if removed > 0 && !groups.isEmpty {
                old.visit(from: .zero, to: .max, limit: removed) { id, _ in removeReferences(id) }
            }
            return removed
        case .acknowledgedOnly:
            guard !groups.isEmpty else { return trim(strategy, approximate: approximate, limit: limit) }
            // Only the unreferenced head may go: cap the trim at it.
            guard let bound = unreferencedPrefixEnd() else { return 0 }
            let cap = StreamID(ms: bound.ms, seq: bound.seq).successor ?? .max
            switch strategy {
            case .minID(let minID):
                return trim(.minID(min(minID, cap)), approximate: approximate, limit: limit)
            case .maxLength(let maxlen):
                let removable = range(from: .zero, to: bound).count
                return trim(.maxLength(max(maxlen, length - removable)), approximate: approximate, limit: limit)
            }
        }
    }
}
