import NIOCore
import RunnelRESP
import RunnelStreams

/// A client waiting in XREAD/XREADGROUP BLOCK.
final class BlockedRead {
    let session: ClientSession
    let db: Int
    var request: Broker.ReadRequest
    var timeout: Scheduled<Void>?
    /// What the client gets when the timeout ends the wait (or CLIENT UNBLOCK … TIMEOUT).
    enum TimeoutReply { case nullArray, integer(Int) }
    var timeoutReply = TimeoutReply.nullArray
    /// XREADGROUP CLAIM: fires when a pending entry becomes idle enough to claim.
    var claimTimer: Scheduled<Void>?

    init(session: ClientSession, db: Int, request: Broker.ReadRequest) {
        self.session = session
        self.db = db
        self.request = request
    }
}

/// XREAD and XREADGROUP, with blocking.
extension Broker {
    struct ReadRequest {
        var keys: [Key]
        /// Per key: read entries after this ID; `StreamID.max` with a group means "new entries" (`>`).
        var after: [StreamID]
        var count: Int
        var group: [UInt8]?
        var consumer: [UInt8] = []
        var noAck = false
        /// XREADGROUP CLAIM min-idle-time (Redis 8.4): idle pending entries come first.
        var claimMinIdle: Int64?
    }

    static func registerReadCommands(_ r: inout CommandRegistrar) {
        r.add("xread", -4, ["readonly", "blocking"], ["@read", "@stream", "@slow", "@blocking"], "stream", "Return never seen elements in multiple streams, with IDs greater than the ones reported by the caller for each stream. Can block.", "5.0.0", keys: (0, 0, 0)) { b, s, a in
            b.xread(s, a, group: false)
        }
        r.add("xreadgroup", -7, ["write", "blocking"], ["@write", "@stream", "@slow", "@blocking"], "stream", "Return new entries from a stream using a consumer group, or access the history of the pending entries for a given consumer. Can block.", "5.0.0", keys: (0, 0, 0)) { b, s, a in
            b.xread(s, a, group: true)
        }
    }

    func xread(_ s: ClientSession, _ a: CommandArgs, group isGroup: Bool) {
        var timeoutMs: Int?
        var count = 0
        var streamsAt = 0
        var streamCount = 0
        var groupName: ByteBuffer?
        var consumerName: ByteBuffer?
        var noAck = false
        var claimMinIdle: Int64?
        var i = 1
        while i < a.count {
            let more = a.count - i - 1
            let o = a[i]
            if o.equalsIgnoringCase("block") && more > 0 {
                i += 1
                guard let t = RESPInteger.parse(a[i]) else {
                    replyError(s, "ERR timeout is not an integer or out of range")
                    return
                }
                if t < 0 {
                    replyError(s, "ERR timeout is negative")
                    return
                }
                timeoutMs = t
            } else if o.equalsIgnoringCase("count") && more > 0 {
                i += 1
                guard let n = RESPInteger.parse(a[i]) else {
                    replyError(s, "ERR value is not an integer or out of range")
                    return
                }
                count = max(0, n)
            } else if o.equalsIgnoringCase("streams") && more > 0 {
                streamsAt = i + 1
                streamCount = a.count - streamsAt
                if streamCount % 2 != 0 {
                    replyError(s, "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.")
                    return
                }
                streamCount /= 2
                break
            } else if o.equalsIgnoringCase("group") && more >= 2 {
                if !isGroup {
                    replyError(s, "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.")
                    return
                }
                groupName = a[i + 1]
                consumerName = a[i + 2]
                i += 2
            } else if o.equalsIgnoringCase("claim") && more > 0 && isGroup {
                i += 1
                guard let n = RESPInteger.parse(a[i]) else {
                    replyError(s, "ERR min-idle-time is not an integer or out of range")
                    return
                }
                if n < 0 {
                    replyError(s, "ERR min-idle-time must be a positive integer")
                    return
                }
                claimMinIdle = Int64(n)
            } else if o.equalsIgnoringCase("noack") {
                if !isGroup {
                    replyError(s, "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.")
                    return
                }
                noAck = true
            } else {
                replyError(s, "ERR syntax error")
                return
            }
            i += 1
        }
        if streamsAt == 0 {
            replyError(s, "ERR syntax error")
            return
        }
        if isGroup && groupName == nil {
            replyError(s, "ERR Missing GROUP option for XREADGROUP")
            return
        }
        var request = ReadRequest(keys: [], after: [], count: count)
        request.group = groupName.map { Array($0.readableBytesView) }
        request.consumer = consumerName.map { Array($0.readableBytesView) } ?? []
        request.noAck = noAck
        request.claimMinIdle = claimMinIdle
        for k in 0..<streamCount {
            let key = a[streamsAt + k]
            let idArg = a[streamsAt + streamCount + k]
            let box = readStream(s.db, key)
            if let g = request.group, box?.stream.groups[g] == nil {
                replyError(s, "NOGROUP No such key '\(key.errorText)' or consumer group '\(groupName!.errorText)' in XREADGROUP with GROUP option")
                return
            }
            let id: StreamID
            if idArg.isOnly(UInt8(ascii: "$")) {
                if isGroup {
                    replyError(s, "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.")
                    return
                }
                id = box?.stream.lastID ?? .zero
            } else if idArg.isOnly(UInt8(ascii: ">")) {
                if !isGroup {
                    replyError(s, "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.")
                    return
                }
                id = .max
            } else {
                guard let (parsed, _) = StreamIDArg.parse(idArg, strict: true, missingSeq: 0) else {
                    replyError(s, Self.invalidStreamID)
                    return
                }
                id = parsed
            }
            request.keys.append(key.detached)
            request.after.append(id)
        }
        if serveRead(s, request, countStats: true) { return }
        guard let timeoutMs, !s.inExec else {
            s.out.nullArray()
            return
        }
        block(s, request, timeoutMs: timeoutMs)
    }

    /// Serves a read synchronously if any stream has something for it; true when replied.
    /// `countStats`: the command's own second pass over its keys, which Redis counts as read
    /// lookups (a blocked reader's wake-up is not).
    func serveRead(_ s: ClientSession, _ request: ReadRequest, countStats: Bool = false) -> Bool {
        /// Whether the k-th stream has something for the reader now.
        func servable(_ k: Int) -> Bool {
            let key = request.keys[k]
            guard let box = countStats ? readStream(s.db, key) : stream(s.db, key) else { return false }
            let after = request.after[k]
            if let g = request.group {
                guard let group = box.stream.groups[g] else { return false }
                if after != .max { return true }  // history: always served
                if box.stream.length > 0 && box.stream.lastLiveID > group.lastID { return true }
                if let minIdle = request.claimMinIdle, hasClaimable(group, minIdle: minIdle) { return true }
                return false
            }
            return box.stream.length > 0 && box.stream.lastLiveID > after
        }
        func writeStream(_ k: Int) {
            if s.resp == .resp2 { s.out.arrayHeader(2) }
            s.out.bulk(request.keys[k])
            writeReadResult(s, request.keys[k], request, index: k, byCommand: countStats)
        }
        // A group reader naming a key twice: as in Redis, each occurrence is looked at after the
        // previous one delivered (a second `>` then finds nothing new and is left out), so the
        // streams are written first and the header, whose count is known only then, put before.
        if request.group != nil && request.keys.count > 1 && Set(request.keys).count < request.keys.count {
            let start = s.out.buffer.writerIndex
            var count = 0
            for k in request.keys.indices where servable(k) {
                count += 1
                writeStream(k)
            }
            guard count > 0 else { return false }
            let body = s.out.buffer.getBytes(at: start, length: s.out.buffer.writerIndex - start) ?? []
            s.out.buffer.moveWriterIndex(to: start)
            if s.resp == .resp3 { s.out.mapHeader(count) } else { s.out.arrayHeader(count) }
            s.out.buffer.writeBytes(body)
            return true
        }
        let served = request.keys.indices.filter { servable($0) }
        guard !served.isEmpty else { return false }
        if s.resp == .resp3 { s.out.mapHeader(served.count) } else { s.out.arrayHeader(served.count) }
        for k in served { writeStream(k) }
        return true
    }

    /// Writes the entries one key yields for a read, updating group state. `byCommand`: served
    /// by the command itself, not when a blocked reader is woken.
    func writeReadResult(_ s: ClientSession, _ key: Key, _ request: ReadRequest, index k: Int, byCommand: Bool) {
        let box = stream(s.db, key)!
        let limit = request.count == 0 ? Int.max : request.count
        let now = turnTimeMs
        guard let g = request.group else {
            let start = request.after[k].successor ?? .max
            writeEntries(s, box.stream, from: start, to: .max, limit: limit)
            return
        }
        // Redis counts one change per stream a group read command serves (none when a blocked
        // reader is served), and one per consumer created.
        if byCommand { dirty &+= 1 }
        if box.stream.createConsumer(g, request.consumer, now: now) {
            dirty &+= 1
            notifyKeyspaceEvent(.stream, "xgroup-createconsumer", key, s.db)
        }
        box.stream.touchConsumer(g, request.consumer, now: now)
        if request.after[k] != .max {
            // History: this consumer's pending entries after the given ID.
            let start = request.after[k].successor ?? .max
            let ids = box.stream.groups[g]!.consumers[request.consumer]!.pending.range(from: start, to: .max, limit: limit)
            s.out.arrayHeader(ids.count)
            // Only entries still in the stream count as delivered again (Redis leaves the
            // count and time of a pending entry whose entry was deleted as they were).
            var delivered: [StreamID] = []
            delivered.reserveCapacity(ids.count)
            for id in ids {
                if let e = box.stream.entry(id) {
                    writeEntry(s, e)
                    delivered.append(id)
                } else {
                    s.out.arrayHeader(2)
                    s.out.bulkStreamID(ms: id.ms, seq: id.seq)
                    s.out.nullArray()
                }
            }
            box.stream.redeliver(g, ids: delivered, now: now)
            return
        }
        var w = RESPWriter(buffer: ByteBufferAllocator().buffer(capacity: 512), version: s.out.version)
        var written = 0
        if let minIdle = request.claimMinIdle {
            // Idle pending entries first, longest idle first, as [id, fields, idle, deliveries].
            for (id, nack) in idleCandidates(box.stream.groups[g]!, minIdle: minIdle, limit: limit) {
                guard let e = box.stream.entry(id) else {
                    box.stream.dropPending(g, id)
                    continue
                }
                w.arrayHeader(4)
                w.bulkStreamID(ms: id.ms, seq: id.seq)
                w.arrayHeader(e.fieldsAndValues.count)
                for fv in e.fieldsAndValues { w.bulk(slice: fv[...]) }
                w.integer(Int(max(0, now &- nack.deliveryTime)))
                w.integer(Int(truncatingIfNeeded: nack.deliveryCount))
                box.stream.claim(g, consumer: request.consumer, id: id, deliveryTime: now, deliveryCount: nack.deliveryCount &+ 1)
                written += 1
            }
        }
        let start = box.stream.groups[g]!.lastID.successor ?? .max
        let ids =
            written < limit
            ? Self.appendEntries(
                &w, box.stream, from: start, to: .max, limit: limit - written, claimShape: request.claimMinIdle != nil)
            : []
        s.out.arrayHeader(written + ids.count)
        s.out.buffer.writeImmutableBuffer(w.buffer)
        if written > 0 { box.stream.markActive(g, request.consumer, now: now) }
        box.stream.deliverNew(g, consumer: request.consumer, ids: ids, now: now, noAck: request.noAck)
    }

    /// Whether a pending entry of the group has been idle for at least `minIdle` ms.
    func hasClaimable(_ group: ConsumerGroup, minIdle: Int64) -> Bool {
        let now = turnTimeMs
        return group.pending.contains { now &- $0.value.deliveryTime >= minIdle }
    }

    /// Pending entries of a group idle for at least `minIdle` ms, longest idle first.
    func idleCandidates(_ group: ConsumerGroup, minIdle: Int64, limit: Int) -> [(StreamID, PendingEntry)] {
        let now = turnTimeMs
        var found: [(StreamID, PendingEntry)] = []
        for (id, nack) in group.pending where now &- nack.deliveryTime >= minIdle { found.append((id, nack)) }
        found.sort { $0.1.deliveryTime != $1.1.deliveryTime ? $0.1.deliveryTime < $1.1.deliveryTime : $0.0 < $1.0 }
        return Array(found.prefix(limit))
    }

    // MARK: - Blocking

    func block(_ s: ClientSession, _ request: ReadRequest, timeoutMs: Int, timeoutReply: BlockedRead.TimeoutReply = .nullArray) {
        let waiter = BlockedRead(session: s, db: s.db, request: request)
        waiter.timeoutReply = timeoutReply
        for key in request.keys {
            blockedReaders[s.db, default: [:]][key, default: []].append(waiter)
        }
        blockedSessions[s.id] = waiter
        s.suspended = true
        armClaimTimer(waiter)
        if timeoutMs > 0 {
            // Loop-bound: the task runs on this loop, and unblocking cancels it.
            let bound = NIOLoopBound((broker: self, waiter: waiter), eventLoop: eventLoop)
            // Timeouts beyond ~35 years (up to 2^63-1 ms are accepted) wait that long: the
            // loop's clock cannot represent more.
            waiter.timeout = eventLoop.scheduleTask(in: .milliseconds(Int64(Swift.min(timeoutMs, 1 << 40)))) {
                let (b, waiter) = bound.value
                guard b.blockedSessions[waiter.session.id] === waiter else { return }
                b.unblock(waiter)
                b.writeTimeoutReply(waiter)
                b.resume(waiter.session)
            }
        }
    }

    /// XREADGROUP CLAIM under BLOCK (Redis 8.4): a pending entry may reach `min-idle-time`
    /// while the client waits, and then it is served as if its key had received entries. One
    /// timer per such client, set for the first moment an entry of its groups becomes claimable
    /// (none while no entry is pending: waiting costs nothing). When it fires the client's keys
    /// are served in the usual FIFO order; if the entry was acknowledged or claimed meanwhile,
    /// the timer is set again from the pending entries as they are then.
    func armClaimTimer(_ waiter: BlockedRead) {
        waiter.claimTimer?.cancel()
        waiter.claimTimer = nil
        guard let minIdle = waiter.request.claimMinIdle, let g = waiter.request.group else { return }
        var first: Int64?
        for (k, key) in waiter.request.keys.enumerated() where waiter.request.after[k] == .max {
            guard let group = stream(waiter.db, key)?.stream.groups[g] else { continue }
            for (_, nack) in group.pending {
                let at = nack.deliveryTime &+ minIdle
                if first == nil || at < first! { first = at }
            }
        }
        guard let first else { return }
        let delay = min(max(1, first &- turnTimeMs), 1 << 40)
        let bound = NIOLoopBound((broker: self, waiter: waiter), eventLoop: eventLoop)
        waiter.claimTimer = eventLoop.scheduleTask(in: .milliseconds(delay)) {
            let (b, waiter) = bound.value
            guard b.blockedSessions[waiter.session.id] === waiter else { return }
            b.beginTurn()
            for key in waiter.request.keys { b.signalStreamReady(waiter.db, key) }
            b.serveReadyKeys()
            if b.blockedSessions[waiter.session.id] === waiter { b.armClaimTimer(waiter) }
            b.flushPending()
        }
    }

    /// Removes a waiter from every key it waits on.
    func unblock(_ waiter: BlockedRead) {
        // A reply silenced by CLIENT REPLY OFF/SKIP starts here: pushes that came while the
        // client waited stay.
        if waiter.session.silencedReplyStart != nil { waiter.session.silencedReplyStart = waiter.session.out.buffer.writerIndex }
        waiter.timeout?.cancel()
        waiter.claimTimer?.cancel()
        blockedSessions.removeValue(forKey: waiter.session.id)
        for key in waiter.request.keys {
            blockedReaders[waiter.db]?[key]?.removeAll { $0 === waiter }
            if blockedReaders[waiter.db]?[key]?.isEmpty == true { blockedReaders[waiter.db]?[key] = nil }
            if blockedReaders[waiter.db]?.isEmpty == true { blockedReaders[waiter.db] = nil }
        }
    }

    /// Called when a stream gets new entries: queued, served after the current command.
    func signalStreamReady(_ db: Int, _ key: Key) {
        guard !blockedReaders.isEmpty, blockedReaders[db]?[key] != nil else { return }
        readyKeys.append((db, key.detached))
    }

    /// Serves clients blocked on keys that received entries, in FIFO order per key.
    func serveReadyKeys() {
        // What serving writes (consumers created, deliveries) is one unit of the log, whether
        // the command that woke the readers or a timer runs this.
        persistence?.encoder.beginUnit()
        defer {
            persistence?.encoder.endUnit()
            persistence?.unitEnded()
        }
        while !readyKeys.isEmpty {
            let (db, key) = readyKeys.removeFirst()
            guard let waiters = blockedReaders[db]?[key] else { continue }
            for waiter in waiters where blockedSessions[waiter.session.id] === waiter {
                let s = waiter.session
                guard let box = stream(db, key) else {
                    // The key is gone (not merely replaced: a RENAME or COPY over it leaves a
                    // stream that is served like any other): group readers fail, as in Redis.
                    if waiter.request.group != nil { failBlocked(waiter, "UNBLOCKED the stream key no longer exists") }
                    continue
                }
                guard let k = waiter.request.keys.firstIndex(of: key) else { continue }
                var request = waiter.request
                if let g = request.group {
                    guard let group = box.stream.groups[g] else {
                        failBlocked(waiter, "NOGROUP the consumer group this client was blocked on no longer exists")
                        continue
                    }
                    let claimable = request.claimMinIdle.map { hasClaimable(group, minIdle: $0) } ?? false
                    guard box.stream.lastID > group.lastID || claimable else { continue }
                } else {
                    guard box.stream.lastID > request.after[k] else { continue }
                }
                unblock(waiter)
                let savedDB = s.db
                let replyStart = s.out.buffer.writerIndex
                s.db = db
                request.keys = [key]
                request.after = [request.after[k]]
                if s.resp == .resp3 { s.out.mapHeader(1) } else {
                    s.out.arrayHeader(1)
                    s.out.arrayHeader(2)
                }
                s.out.bulk(key)
                let logBefore = persistence?.holdsReplies == true ? persistence?.encoder.encodedBytes : nil
                writeReadResult(s, key, request, index: 0, byCommand: false)
                if let logBefore, let persistence, persistence.encoder.encodedBytes != logBefore {
                    holdReply(s, from: replyStart, until: persistence.encoder.encodedBytes)
                }
                s.db = savedDB
                resume(s)
            }
        }
    }

    /// Ends a blocked read with an error reply.
    func failBlocked(_ waiter: BlockedRead, _ error: String) {
        unblock(waiter)
        replyError(waiter.session, error)
        waiter.session.lastCommand?.failedCalls += 1
        // Served after the command that caused it: that command, and the next, did not fail.
        stats.errorsAtLastCall = stats.errorReplies
        resume(waiter.session)
    }

    /// A key was deleted (DEL, RENAME, FLUSH, expiry). Like a write, this is looked at after the
    /// command: if the key is still absent then, group readers blocked on it fail, as in Redis;
    /// if a stream took its place meanwhile (RENAME or COPY over it, DEL and XADD in one
    /// transaction), they are served from that stream. Plain XREAD readers keep waiting.
    func signalKeyDeleted(_ db: Int, _ key: Key) {
        guard let waiters = blockedReaders[db]?[key], waiters.contains(where: { $0.request.group != nil }) else { return }
        readyKeys.append((db, key.detached))
    }

    /// Every key of `db` (all dbs when nil) is going away.
    func signalAllKeysDeleted(db: Int?) {
        for (wdb, keys) in blockedReaders where db == nil || db == wdb {
            for key in keys.keys where dbs[wdb].rawValue(key) != nil { signalKeyDeleted(wdb, key) }
        }
    }

    /// CLIENT UNBLOCK: ends a client's blocking read with a timeout reply or an error.
    func clientUnblock(_ id: Int, error: Bool) -> Bool {
        guard let waiter = blockedSessions[id] else { return false }
        unblock(waiter)
        if error {
            replyError(waiter.session, "UNBLOCKED client unblocked via CLIENT UNBLOCK")
        } else {
            writeTimeoutReply(waiter)
        }
        // The blocked command was counted as a call when it blocked; redis-server 7.0 counts it
        // as failed when CLIENT UNBLOCK ends it, even with the timeout reply (and an ERROR
        // reply counts against CLIENT UNBLOCK too).
        waiter.session.lastCommand?.failedCalls += 1
        resume(waiter.session)
        return true
    }

    func writeTimeoutReply(_ waiter: BlockedRead) {
        switch waiter.timeoutReply {
        case .nullArray: waiter.session.out.nullArray()
        case .integer(let n): waiter.session.out.integer(n)
        }
    }
}
