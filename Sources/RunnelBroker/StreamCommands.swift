import NIOCore
import RunnelRESP
import RunnelStreams

/// XADD, XLEN, XRANGE, XREVRANGE, XDEL, XTRIM, XSETID: stream entries and metadata.
extension Broker {
    static let invalidStreamID = StreamIDArg.invalid

    static func registerStreamCommands(_ r: inout CommandRegistrar) {
        r.add("xadd", -5, ["write", "denyoom", "fast"], ["@write", "@stream", "@fast"], "stream", "Appends a new entry to a stream", "5.0.0", keys: (1, 1, 1)) { b, s, a in
            b.xadd(s, a)
        }
        r.add("xlen", 2, ["readonly", "fast"], ["@read", "@stream", "@fast"], "stream", "Return the number of entries in a stream", "5.0.0", keys: (1, 1, 1)) { b, s, a in
            s.out.integer(b.readStream(s.db, a[1])?.stream.length ?? 0)
        }
        r.add("xrange", -4, ["readonly"], ["@read", "@stream", "@slow"], "stream", "Return a range of elements in a stream, with IDs matching the specified IDs interval", "5.0.0", keys: (1, 1, 1), complexity: "O(N)") { b, s, a in
            b.xrange(s, a, reverse: false)
        }
        r.add("xrevrange", -4, ["readonly"], ["@read", "@stream", "@slow"], "stream", "Return a range of elements in a stream, with IDs matching the specified IDs interval, in reverse order (from greater to smaller IDs) compared to XRANGE", "5.0.0", keys: (1, 1, 1), complexity: "O(N)") { b, s, a in
            b.xrange(s, a, reverse: true)
        }
        r.add("xdel", -3, ["write", "fast"], ["@write", "@stream", "@fast"], "stream", "Removes the specified entries from the stream. Returns the number of items actually deleted, that may be different from the number of IDs passed in case certain IDs do not exist.", "5.0.0", keys: (1, 1, 1)) { b, s, a in
            // As in Redis 7.0: a missing key answers 0 before the IDs are checked.
            guard let box = b.stream(s.db, a[1]) else {
                s.out.integer(0)
                return
            }
            guard let ids = b.strictIDs(s, a.dropFirst(2)) else { return }
            let removed = box.stream.delete(ids)
            b.dirty &+= UInt64(removed)
            if removed > 0 {
                b.touchWatched(s.db, a[1])
                b.notifyKeyspaceEvent(.stream, "xdel", a[1], s.db)
            }
            s.out.integer(removed)
        }
        r.add("xtrim", -4, ["write"], ["@write", "@stream", "@slow"], "stream", "Trims the stream to (approximately if '~' is passed) a certain size", "5.0.0", keys: (1, 1, 1), complexity: "O(N)") { b, s, a in
            // The arguments are checked first; a missing key then answers 0.
            guard let parsed = b.parseTrimArgs(s, a, xadd: false) else { return }
            guard let strategy = parsed.strategy else {
                b.replyError(s, "ERR syntax error, XTRIM must be called with a trimming strategy")
                return
            }
            guard let box = b.stream(s.db, a[1]) else {
                s.out.integer(0)
                return
            }
            let removed = box.stream.trim(strategy, approximate: parsed.approximate, limit: parsed.limit,
                                          policy: parsed.policy ?? .keepReferences)
            b.dirty &+= UInt64(removed)
            if removed > 0 {
                b.touchWatched(s.db, a[1])
                b.notifyKeyspaceEvent(.stream, "xtrim", a[1], s.db)
            }
            s.out.integer(removed)
        }
        r.add("xdelex", -5, ["write", "fast"], ["@write", "@stream", "@fast"], "stream", "Deletes one or multiple entries from the stream.", "8.2.0", keys: (1, 1, 1)) { b, s, a in
            guard let (policy, ids) = b.parseIDsBlock(s, a, from: 2) else { return }
            s.out.arrayHeader(ids.count)
            guard let box = b.stream(s.db, a[1]) else {
                for _ in ids { s.out.integer(-1) }
                return
            }
            var deleted = 0
            for id in ids {
                let outcome = box.stream.delete(id, policy: policy)
                if outcome == .deleted { deleted += 1 }
                s.out.integer(outcome.rawValue)
            }
            b.dirty &+= UInt64(deleted)
            if deleted > 0 {
                b.touchWatched(s.db, a[1])
                b.notifyKeyspaceEvent(.stream, "xdel", a[1], s.db)
            }
        }
        r.add("xackdel", -6, ["write", "fast"], ["@write", "@stream", "@fast"], "stream", "Acknowledges and deletes one or multiple messages for a stream consumer group.", "8.2.0", keys: (1, 1, 1)) { b, s, a in
            guard let (policy, ids) = b.parseIDsBlock(s, a, from: 3) else { return }
            s.out.arrayHeader(ids.count)
            let group = Array(a[2].readableBytesView)
            guard let box = b.stream(s.db, a[1]), box.stream.groups[group] != nil else {
                for _ in ids { s.out.integer(-1) }
                return
            }
            var deleted = 0
            for id in ids {
                let acked = box.stream.acknowledge(group, [id]) == 1
                if acked { b.dirty &+= 1 }
                let outcome = box.stream.delete(id, policy: policy)
                switch outcome {
                case .deleted:
                    deleted += 1
                    b.dirty &+= 1
                    s.out.integer(1)
                case .stillReferenced:
                    s.out.integer(2)
                case .notFound:
                    s.out.integer(acked ? 1 : -1)
                }
            }
            // Acknowledging alone does not signal the key (see XACK); deleting entries does.
            if deleted > 0 {
                b.touchWatched(s.db, a[1])
                b.notifyKeyspaceEvent(.stream, "xdel", a[1], s.db)
            }
        }
        r.add("xsetid", -3, ["write", "denyoom", "fast"], ["@write", "@stream", "@fast"], "stream", "An internal command for replicating stream values", "5.0.0", keys: (1, 1, 1)) { b, s, a in
            b.xsetid(s, a)
        }
        registerGroupCommands(&r)
        registerReadCommands(&r)
        registerXInfo(&r)
    }

    /// Strict stream IDs (no `-`/`+`) from arguments, or nil after replying with Redis's error.
    func strictIDs(_ s: ClientSession, _ args: Slice<CommandArgs>) -> [StreamID]? {
        var ids: [StreamID] = []
        ids.reserveCapacity(args.count)
        for arg in args {
            guard let (id, _) = StreamIDArg.parse(arg, strict: true, missingSeq: 0) else {
                replyError(s, Self.invalidStreamID)
                return nil
            }
            ids.append(id)
        }
        return ids
    }

    /// An integer argument, or nil after replying with `error`.
    func integerArg(_ s: ClientSession, _ arg: ByteBuffer, error: String = "ERR value is not an integer or out of range") -> Int? {
        guard let n = RESPInteger.parse(arg) else {
            replyError(s, error)
            return nil
        }
        return n
    }

    /// KEEPREF, DELREF or ACKED (Redis 8.2).
    static func deletionPolicy(_ arg: ByteBuffer) -> Stream.DeletionPolicy? {
        if arg.equalsIgnoringCase("keepref") { return .keepReferences }
        if arg.equalsIgnoringCase("delref") { return .deleteReferences }
        if arg.equalsIgnoringCase("acked") { return .acknowledgedOnly }
        return nil
    }

    /// `[KEEPREF | DELREF | ACKED] IDS numids id…` in any order (XDELEX, XACKDEL).
    func parseIDsBlock(_ s: ClientSession, _ a: CommandArgs, from start: Int) -> (Stream.DeletionPolicy, [StreamID])? {
        var policy: Stream.DeletionPolicy?
        var ids: [StreamID]?
        var i = start
        while i < a.count {
            if let p = Self.deletionPolicy(a[i]), policy == nil {
                policy = p
                i += 1
            } else if a[i].equalsIgnoringCase("ids") && i + 1 < a.count && ids == nil {
                guard let n = RESPInteger.parse(a[i + 1]), n >= 1 else {
                    replyError(s, "ERR Number of IDs must be a positive integer")
                    return nil
                }
                if n > a.count - i - 2 {
                    replyError(s, "ERR The `numids` parameter must match the number of arguments")
                    return nil
                }
                guard let parsed = strictIDs(s, a[(i + 2)..<(i + 2 + n)]) else { return nil }
                ids = parsed
                i += 2 + n
            } else {
                replyError(s, "ERR syntax error")
                return nil
            }
        }
        guard let ids else {
            replyError(s, "ERR syntax error")
            return nil
        }
        return (policy ?? .keepReferences, ids)
    }

    /// The stream at `key`, expiring it first if due.
    func stream(_ db: Int, _ key: Key) -> StreamBox? {
        if case .stream(let box)? = lookup(db, key) { return box }
        return nil
    }

    /// The same for a command that reads the stream (counted in keyspace_hits/misses where
    /// Redis's command looks the key up for reading: XLEN, XRANGE, XREAD, XACK, XCLAIM …).
    func readStream(_ db: Int, _ key: Key) -> StreamBox? {
        if case .stream(let box)? = lookup(db, key, stats: true) { return box }
        return nil
    }

    var nodeLimits: Stream.NodeLimits {
        Stream.NodeLimits(maxEntries: config.streamNodeMaxEntries, maxBytes: config.streamNodeMaxBytes)
    }

    struct TrimArgs {
        var strategy: Stream.TrimStrategy?
        var approximate = false
        var limit = 0
        var noMkStream = false
        var policy: Stream.DeletionPolicy?
        var idRequest: Stream.IDRequest = .auto
        var idGiven = false
        /// Index of the first field (XADD).
        var next = 0
    }

    /// XADD/XTRIM options, parsed as Redis's `streamParseAddOrTrimArgsOrReply`.
    func parseTrimArgs(_ s: ClientSession, _ a: CommandArgs, xadd: Bool) -> TrimArgs? {
        var t = TrimArgs()
        var limitGiven = false
        var i = 2
        while i < a.count {
            // XADD's usual `*` ends the options before any slice (retain) is made.
            if xadd && a.isOnly(i, UInt8(ascii: "*")) { break }
            let more = a.count - 1 - i
            let opt = a[i]
            if opt.equalsIgnoringCase("maxlen") && more > 0 || opt.equalsIgnoringCase("minid") && more > 0 {
                let isMaxlen = opt.equalsIgnoringCase("maxlen")
                if t.strategy != nil {
                    replyError(s, "ERR syntax error, MAXLEN and MINID options at the same time are not compatible")
                    return nil
                }
                t.approximate = false
                let next = a[i + 1]
                if more >= 2 && next.isOnly(UInt8(ascii: "~")) {
                    t.approximate = true
                    i += 1
                } else if more >= 2 && next.isOnly(UInt8(ascii: "=")) {
                    i += 1
                }
                if isMaxlen {
                    guard let n = RESPInteger.parse(a[i + 1]) else {
                        replyError(s, "ERR value is not an integer or out of range")
                        return nil
                    }
                    if n < 0 {
                        replyError(s, "ERR The MAXLEN argument must be >= 0.")
                        return nil
                    }
                    t.strategy = .maxLength(n)
                } else {
                    guard let (id, _) = StreamIDArg.parse(a[i + 1], strict: true, missingSeq: 0) else {
                        replyError(s, Self.invalidStreamID)
                        return nil
                    }
                    t.strategy = .minID(id)
                }
                i += 2
            } else if opt.equalsIgnoringCase("limit") && more > 0 {
                guard let n = RESPInteger.parse(a[i + 1]) else {
                    replyError(s, "ERR value is not an integer or out of range")
                    return nil
                }
                if n < 0 {
                    replyError(s, "ERR The LIMIT argument must be >= 0.")
                    return nil
                }
                t.limit = n
                limitGiven = true
                i += 2
            } else if let p = Self.deletionPolicy(opt) {
                if t.policy != nil {
                    replyError(s, "ERR syntax error")
                    return nil
                }
                t.policy = p
                i += 1
            } else if xadd && opt.equalsIgnoringCase("nomkstream") {
                t.noMkStream = true
                i += 1
            } else if xadd {
                guard let (id, autoSeq) = StreamIDArg.parse(opt, strict: true, missingSeq: 0, allowAutoSeq: true) else {
                    replyError(s, Self.invalidStreamID)
                    return nil
                }
                t.idRequest = autoSeq ? .autoSequence(ms: id.ms) : .explicit(id)
                t.idGiven = true
                break
            } else {
                replyError(s, "ERR syntax error")
                return nil
            }
        }
        if limitGiven && t.strategy == nil {
            replyError(s, "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy")
            return nil
        }
        if limitGiven {
            if !t.approximate {
                replyError(s, "ERR syntax error, LIMIT cannot be used without the special ~ option")
                return nil
            }
        } else if t.approximate {
            t.limit = 100 * config.streamNodeMaxEntries
            if t.limit <= 0 { t.limit = 10000 }
            if t.limit > 1_000_000 { t.limit = 1_000_000 }
        } else {
            t.limit = 0
        }
        t.next = i + 1
        return t
    }

    func xadd(_ s: ClientSession, _ a: CommandArgs) {
        guard let t = parseTrimArgs(s, a, xadd: true) else { return }
        let fieldCount = a.count - t.next
        if fieldCount < 2 || fieldCount % 2 == 1 {
            replyError(s, "ERR wrong number of arguments for 'xadd' command")
            return
        }
        if case .explicit(let id) = t.idRequest, id == .zero {
            replyError(s, "ERR The ID specified in XADD must be greater than 0-0")
            return
        }
        let key = a[1]
        var box = stream(s.db, key)
        var created = false
        if box == nil {
            if t.noMkStream {
                s.out.null()
                return
            }
            box = newStreamBox(journaled: journalStreams)
            created = true
        }
        let target = box!
        // A new stream is stored before its first append, so the log names it first.
        if created { dbs[s.db].set(key, .stream(target)) }
        if target.stream.lastID == .max {
            replyError(s, "ERR The stream has exhausted the last possible ID, unable to add more items")
            return
        }
        // The stream copies the fields into its node, so one scratch list serves every XADD.
        // Swapped out and back, so the scratch list's storage is moved, never retained.
        var values = FieldList()
        swap(&values, &xaddScratch)
        // Read in place: `a[i]` would make (retain and release) a slice per argument.
        let first = t.next
        values.assign(
            count: a.count - first, length: { a.length(first + $0) },
            copy: { i, destination in a.withUnsafeBytes(first + i) { destination.copyMemory(from: $0) } })
        let id: StreamID
        do {
            id = try target.stream.append(
                t.idRequest, fields: values, nowMs: UInt64(max(0, turnTimeMs)), limits: nodeLimits, sharing: &masterNames)
            swap(&values, &xaddScratch)
        } catch {
            switch error {
            case .idTooSmall:
                replyError(s, "ERR The ID specified in XADD is equal or smaller than the target stream top item")
            case .exhausted:
                replyError(s, "ERR The stream has exhausted the last possible ID, unable to add more items")
            case .sequenceExhausted, .tooLarge:
                // Redis 7.0's streamAppendItem fails on an exhausted sequence without setting
                // errno, and XADD then takes the failure for an oversized entry: this is its
                // reply to both, byte for byte. (A stream XADD created stays, empty, as in Redis.)
                replyError(s, "ERR Elements are too large to be stored")
            }
            return
        }
        s.out.bulkStreamID(ms: id.ms, seq: id.seq)
        dirty &+= 1  // one, whatever MAXLEN/MINID trimmed with it (Redis 7.0)
        touchWatched(s.db, key)
        notifyKeyspaceEvent(.stream, "xadd", key, s.db)
        if let strategy = t.strategy,
            target.stream.trim(strategy, approximate: t.approximate, limit: t.limit, policy: t.policy ?? .keepReferences) > 0
        {
            notifyKeyspaceEvent(.stream, "xtrim", key, s.db)
        }
        signalStreamReady(s.db, key)
    }

    func xrange(_ s: ClientSession, _ a: CommandArgs, reverse: Bool) {
        let startArg = reverse ? a[3] : a[2]
        let endArg = reverse ? a[2] : a[3]
        guard let start = intervalBound(s, startArg, isStart: true), let end = intervalBound(s, endArg, isStart: false)
        else { return }
        var count = -1
        var j = 4
        while j < a.count {
            if a[j].equalsIgnoringCase("count") && j + 1 < a.count {
                guard let n = RESPInteger.parse(a[j + 1]) else {
                    replyError(s, "ERR value is not an integer or out of range")
                    return
                }
                count = max(0, n)
                j += 2
            } else {
                replyError(s, "ERR syntax error")
                return
            }
        }
        // Redis looks the key up before it looks at COUNT: a missing key is an empty array
        // whatever the count, COUNT 0 (or negative) on a stream a null array.
        guard let box = readStream(s.db, a[1]) else {
            s.out.emptyArray()
            return
        }
        if count == 0 {
            s.out.nullArray()
            return
        }
        writeEntries(s, box.stream, from: start, to: end, limit: count < 0 ? .max : count, reverse: reverse)
    }

    /// Writes `[[id, [field, value, …]], …]` for a range straight from node storage: entries
    /// go to a scratch buffer first so the array length can precede them, as Redis's deferred
    /// lengths do. Returns the IDs written.
    @discardableResult
    func writeEntries(
        _ s: ClientSession, _ stream: Stream, from start: StreamID, to end: StreamID, limit: Int, reverse: Bool = false
    ) -> [StreamID] {
        var scratch = RESPWriter(buffer: entryScratch, version: s.out.version)
        entryScratch = ByteBuffer()
        scratch.buffer.clear()
        let ids = Self.appendEntries(&scratch, stream, from: start, to: end, limit: limit, reverse: reverse)
        s.out.arrayHeader(ids.count)
        s.out.buffer.writeImmutableBuffer(scratch.buffer)
        entryScratch = scratch.buffer
        if entryScratch.capacity > 1 << 20 { entryScratch = ByteBuffer() }
        return ids
    }

    /// Appends entries of a range to `w`; returns their IDs.
    static func appendEntries(
        _ w: inout RESPWriter, _ stream: Stream, from start: StreamID, to end: StreamID, limit: Int, reverse: Bool = false,
        claimShape: Bool = false
    ) -> [StreamID] {
        var ids: [StreamID] = []
        stream.visit(from: start, to: end, limit: limit, reverse: reverse) { id, fields in
            ids.append(id)
            writeEntry(&w, id, fields, claimShape: claimShape)
        }
        return ids
    }

    /// `[id, [field, value, ...]]`; with `claimShape` (a new entry served by XREADGROUP CLAIM)
    /// `[id, fields, 0, 0]`: no idle time and no earlier delivery, as claimed entries carry theirs.
    static func writeEntry(_ w: inout RESPWriter, _ id: StreamID, _ fields: EntryFields, claimShape: Bool = false) {
        w.arrayHeader(claimShape ? 4 : 2)
        w.bulkStreamID(ms: id.ms, seq: id.seq)
        w.arrayHeader(fields.pairCount * 2)
        fields.forEach { w.bulk(slice: $0) }
        if claimShape {
            w.integer(0)
            w.integer(0)
        }
    }

    /// An interval bound (`-`, `+`, `ms[-seq]`, exclusive `(id`) as an inclusive ID, or nil
    /// after replying with Redis's error.
    func intervalBound(_ s: ClientSession, _ arg: ByteBuffer, isStart: Bool) -> StreamID? {
        guard let (id, exclusive) = StreamIDArg.parseInterval(arg, missingSeq: isStart ? 0 : .max) else {
            replyError(s, Self.invalidStreamID)
            return nil
        }
        guard exclusive else { return id }
        guard let adjusted = isStart ? id.successor : id.predecessor else {
            replyError(s, isStart ? "ERR invalid start ID for the interval" : "ERR invalid end ID for the interval")
            return nil
        }
        return adjusted
    }

    func writeEntry(_ s: ClientSession, _ e: StreamEntry) {
        s.out.arrayHeader(2)
        s.out.bulkStreamID(ms: e.id.ms, seq: e.id.seq)
        s.out.arrayHeader(e.fieldsAndValues.count)
        for fv in e.fieldsAndValues { s.out.bulk(slice: fv[...]) }
    }

    func xsetid(_ s: ClientSession, _ a: CommandArgs) {
        guard let (id, _) = StreamIDArg.parse(a[2], strict: true, missingSeq: 0) else {
            replyError(s, Self.invalidStreamID)
            return
        }
        var entriesAdded: Int?
        var maxDeleted = StreamID.zero
        var i = 3
        while i < a.count {
            let more = a.count - 1 - i
            if a[i].equalsIgnoringCase("entriesadded") && more > 0 {
                guard let n = RESPInteger.parse(a[i + 1]) else {
                    replyError(s, "ERR value is not an integer or out of range")
                    return
                }
                if n < 0 {
                    replyError(s, "ERR entries_added must be positive")
                    return
                }
                entriesAdded = n
                i += 2
            } else if a[i].equalsIgnoringCase("maxdeletedid") && more > 0 {
                guard let (m, _) = StreamIDArg.parse(a[i + 1], strict: true, missingSeq: 0) else {
                    replyError(s, Self.invalidStreamID)
                    return
                }
                if id < m {
                    replyError(s, "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id")
                    return
                }
                maxDeleted = m
                i += 2
            } else {
                replyError(s, "ERR syntax error")
                return
            }
        }
        guard let box = stream(s.db, a[1]) else {
            replyError(s, "ERR no such key")
            return
        }
        if box.stream.length > 0 {
            if id < box.stream.lastLiveID {
                replyError(s, "ERR The ID specified in XSETID is smaller than the target stream top item")
                return
            }
            if let n = entriesAdded, box.stream.length > n {
                replyError(s, "ERR The entries_added specified in XSETID is smaller than the target stream length")
                return
            }
        }
        // Redis 7.0 checks the new ID against the top item and a given MAXDELETEDID only, not
        // against the stream's current max-deleted-entry-id (later versions added that check).
        box.stream.setMetadata(
            lastID: id, entriesAdded: entriesAdded.map { UInt64($0) }, maxDeletedID: maxDeleted == .zero ? nil : maxDeleted)
        dirty &+= 1
        notifyKeyspaceEvent(.stream, "xsetid", a[1], s.db)
        s.out.ok()
    }
}
