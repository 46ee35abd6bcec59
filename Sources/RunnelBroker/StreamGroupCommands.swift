import NIOCore
import RunnelRESP
import RunnelStreams

/// XGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM.
extension Broker {
    static func registerGroupCommands(_ r: inout CommandRegistrar) {
        r.container("xgroup", group: "stream", summary: "A container for consumer groups commands", since: "5.0.0")
        r.sub("xgroup", "create", -5, ["write", "denyoom"], ["@write", "@stream", "@slow"], "Create a consumer group.", since: "5.0.0", keys: (2, 2, 1)) { b, s, a in
            b.xgroup(s, a)
        }
        r.sub("xgroup", "setid", -5, ["write"], ["@write", "@stream", "@slow"], "Set a consumer group to an arbitrary last delivered ID value.", since: "5.0.0", keys: (2, 2, 1)) { b, s, a in
            b.xgroup(s, a)
        }
        r.sub("xgroup", "destroy", 4, ["write"], ["@write", "@stream", "@slow"], "Destroy a consumer group.", since: "5.0.0", keys: (2, 2, 1)) { b, s, a in
            b.xgroup(s, a)
        }
        r.sub("xgroup", "createconsumer", 5, ["write", "denyoom"], ["@write", "@stream", "@slow"], "Create a consumer in a consumer group.", since: "6.2.0", keys: (2, 2, 1)) { b, s, a in
            b.xgroup(s, a)
        }
        r.sub("xgroup", "delconsumer", 5, ["write"], ["@write", "@stream", "@slow"], "Delete a consumer from a consumer group.", since: "5.0.0", keys: (2, 2, 1)) { b, s, a in
            b.xgroup(s, a)
        }
        r.help("xgroup", [
            "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
            "HELP",
            "    Prints this help.",
        ])
        r.add("xack", -4, ["write", "fast"], ["@write", "@stream", "@fast"], "stream", "Marks a pending message as correctly processed, effectively removing it from the pending entries list of the consumer group. Return value of the command is the number of messages successfully acknowledged, that is, the IDs we were actually able to resolve in the PEL.", "5.0.0", keys: (1, 1, 1)) { b, s, a in
            // As in Redis 7.0: no key or no group answers 0 before the IDs are checked.
            let name = Array(a[2].readableBytesView)
            guard let box = b.readStream(s.db, a[1]), box.stream.groups[name] != nil else {
                s.out.integer(0)
                return
            }
            guard let ids = b.strictIDs(s, a.dropFirst(3)) else { return }
            let acked = box.stream.acknowledge(name, ids)
            b.dirty &+= UInt64(acked)
            s.out.integer(acked)
        }
        r.add("xpending", -3, ["readonly"], ["@read", "@stream", "@slow"], "stream", "Return information and entries from a stream consumer group pending entries list, that are messages fetched but never acknowledged.", "5.0.0", keys: (1, 1, 1)) { b, s, a in
            b.xpending(s, a)
        }
        r.add("xclaim", -6, ["write", "fast"], ["@write", "@stream", "@fast"], "stream", "Changes (or acquires) ownership of a message in a consumer group, as if the message was delivered to the specified consumer.", "5.0.0", keys: (1, 1, 1)) { b, s, a in
            b.xclaim(s, a)
        }
        r.add("xautoclaim", -6, ["write", "fast"], ["@write", "@stream", "@fast"], "stream", "Changes (or acquires) ownership of messages in a consumer group, as if the messages were delivered to the specified consumer.", "6.2.0", keys: (1, 1, 1)) { b, s, a in
            b.xautoclaim(s, a)
        }
    }

    func noGroupForKey(_ s: ClientSession, _ key: ByteBuffer, _ group: ByteBuffer) {
        replyError(s, "NOGROUP No such consumer group '\(group.errorText)' for key name '\(key.errorText)'")
    }

    func xgroup(_ s: ClientSession, _ a: CommandArgs) {
        let sub = a[1].lowercasedString
        var mkstream = false
        var entriesRead: Int64? = nil
        var i = 5
        while i < a.count {
            let more = a.count - 1 - i
            if sub == "create" && a[i].equalsIgnoringCase("mkstream") {
                mkstream = true
                i += 1
            } else if (sub == "create" || sub == "setid") && a[i].equalsIgnoringCase("entriesread") && more > 0 {
                guard let n = RESPInteger.parse(a[i + 1]) else {
                    replyError(s, "ERR value is not an integer or out of range")
                    return
                }
                if n < 0 && n != -1 {
                    replyError(s, "ERR value for ENTRIESREAD must be positive or -1")
                    return
                }
                entriesRead = n == -1 ? nil : Int64(n)
                i += 2
            } else {
                replyError(s, Broker.subcommandSyntaxError(a))
                return
            }
        }
        let key = a[2]
        let name = Array(a[3].readableBytesView)
        var box = stream(s.db, key)
        if !mkstream {
            guard let existing = box else {
                replyError(s, "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.")
                return
            }
            if existing.stream.groups[name] == nil && (sub == "setid" || sub == "createconsumer" || sub == "delconsumer") {
                noGroupForKey(s, key, a[3])
                return
            }
        }
        let now = turnTimeMs
        switch sub {
        case "create":
            let id: StreamID
            if a[4].isOnly(UInt8(ascii: "$")) {
                id = box?.stream.lastID ?? .zero
            } else {
                guard let (parsed, _) = StreamIDArg.parse(a[4], strict: true, missingSeq: 0) else {
                    replyError(s, Self.invalidStreamID)
                    return
                }
                id = parsed
            }
            if box == nil {
                let created = newStreamBox(journaled: journalStreams)
                dbs[s.db].set(key, .stream(created))
                box = created
                // A new key is a modified key. Group changes alone are not, in Redis: WATCH
                // and client tracking see the entries, not consumer-group state (no XGROUP
                // subcommand, XSETID, XACK, XCLAIM, XAUTOCLAIM or XREADGROUP signals the key).
                touchWatched(s.db, key)
            }
            guard box!.stream.createGroup(name, lastID: id, entriesRead: entriesRead) else {
                replyError(s, "BUSYGROUP Consumer Group name already exists")
                return
            }
            dirty &+= 1
            s.out.ok()
            notifyKeyspaceEvent(.stream, "xgroup-create", key, s.db)
        case "setid":
            guard a.count == 5 || a.count == 7 else {
                replyError(s, Broker.subcommandSyntaxError(a))
                return
            }
            let id: StreamID
            if a[4].isOnly(UInt8(ascii: "$")) {
                id = box!.stream.lastID
            } else {
                guard let (parsed, _) = StreamIDArg.parse(a[4], strict: false, missingSeq: 0) else {
                    replyError(s, Self.invalidStreamID)
                    return
                }
                id = parsed
            }
            box!.stream.setGroupID(name, lastID: id, entriesRead: entriesRead)
            dirty &+= 1
            s.out.ok()
            notifyKeyspaceEvent(.stream, "xgroup-setid", key, s.db)
        case "destroy":
            guard box!.stream.destroyGroup(name) else {
                s.out.integer(0)
                return
            }
            dirty &+= 1
            s.out.integer(1)
            notifyKeyspaceEvent(.stream, "xgroup-destroy", key, s.db)
            // As in Redis, the key is signalled ready: readers of the group get NOGROUP, and
            // every other reader blocked on the key is looked at again (served if the stream's
            // last ID passed what it waits for, as after an XSETID).
            signalStreamReady(s.db, key)
        case "createconsumer":
            let created = box!.stream.createConsumer(name, Array(a[4].readableBytesView), now: now)
            if created {
                dirty &+= 1
                notifyKeyspaceEvent(.stream, "xgroup-createconsumer", key, s.db)
            }
            s.out.integer(created ? 1 : 0)
        case "delconsumer":
            let pending = box!.stream.deleteConsumer(name, Array(a[4].readableBytesView))
            if pending != nil {
                dirty &+= 1
                notifyKeyspaceEvent(.stream, "xgroup-delconsumer", key, s.db)
            }
            s.out.integer(pending ?? 0)
        default:
            replyError(s, "ERR unknown subcommand '\(a[1].errorText)'. Try XGROUP HELP.")
        }
    }

    func xpending(_ s: ClientSession, _ a: CommandArgs) {
        if a.count != 3 && (a.count < 6 || a.count > 9) {
            replyError(s, "ERR syntax error")
            return
        }
        var minIdle: Int64 = 0
        var start = StreamID.zero
        var end = StreamID.max
        var count = -1
        var consumerName: [UInt8]?
        if a.count >= 6 {
            var at = 3
            if a[3].equalsIgnoringCase("idle") {
                guard let n = RESPInteger.parse(a[4]) else {
                    replyError(s, "ERR value is not an integer or out of range")
                    return
                }
                minIdle = Int64(n)
                if a.count < 8 {
                    replyError(s, "ERR syntax error")
                    return
                }
                at += 2
            }
            guard let n = RESPInteger.parse(a[at + 2]) else {
                replyError(s, "ERR value is not an integer or out of range")
                return
            }
            count = max(0, n)
            guard let st = intervalBound(s, a[at], isStart: true), let en = intervalBound(s, a[at + 1], isStart: false)
            else { return }
            start = st
            end = en
            if at + 3 < a.count { consumerName = Array(a[at + 3].readableBytesView) }
        }
        let name = Array(a[2].readableBytesView)
        guard let box = readStream(s.db, a[1]), let group = box.stream.groups[name] else {
            replyError(s, "NOGROUP No such key '\(a[1].errorText)' or consumer group '\(a[2].errorText)'")
            return
        }
        if count < 0 {
            // Summary form.
            s.out.arrayHeader(4)
            s.out.integer(group.pending.count)
            if let first = group.pendingOrder.first, let last = group.pendingOrder.last {
                s.out.bulk(first.description)
                s.out.bulk(last.description)
                let owners = group.sortedConsumers.filter { !$0.pending.isEmpty }
                s.out.arrayHeader(owners.count)
                for c in owners {
                    s.out.arrayHeader(2)
                    s.out.bulk(bytes: c.name)
                    s.out.bulk(String(c.pending.count))
                }
            } else {
                s.out.null()
                s.out.null()
                s.out.nullArray()
            }
            return
        }
        let now = turnTimeMs
        let ids: [StreamID]
        if let consumerName {
            guard let c = group.consumers[consumerName] else {
                s.out.emptyArray()
                return
            }
            ids = c.pending.range(from: start, to: end)
        } else {
            ids = group.pendingOrder.range(from: start, to: end)
        }
        var rows: [(StreamID, PendingEntry)] = []
        for id in ids where rows.count < count {
            guard let nack = group.pending[id] else { continue }
            if minIdle > 0 && now &- nack.deliveryTime < minIdle { continue }
            rows.append((id, nack))
        }
        s.out.arrayHeader(rows.count)
        for (id, nack) in rows {
            s.out.arrayHeader(4)
            s.out.bulkStreamID(ms: id.ms, seq: id.seq)
            s.out.bulk(bytes: nack.consumer)
            s.out.integer(Int(max(0, now &- nack.deliveryTime)))
            s.out.integer(Int(truncatingIfNeeded: nack.deliveryCount))
        }
    }

    func xclaim(_ s: ClientSession, _ a: CommandArgs) {
        let groupName = Array(a[2].readableBytesView)
        guard let box = readStream(s.db, a[1]), box.stream.groups[groupName] != nil else {
            replyError(s, "NOGROUP No such key '\(a[1].errorText)' or consumer group '\(a[2].errorText)'")
            return
        }
        guard let minIdleRaw = RESPInteger.parse(a[4]) else {
            replyError(s, "ERR Invalid min-idle-time argument for XCLAIM")
            return
        }
        let minIdle = Int64(max(0, minIdleRaw))
        var ids: [StreamID] = []
        var j = 5
        while j < a.count, let (id, _) = StreamIDArg.parse(a[j], strict: true, missingSeq: 0) {
            ids.append(id)
            j += 1
        }
        let now = turnTimeMs
        var deliveryTime: Int64 = -1
        var retryCount: Int64 = -1
        var force = false
        var justID = false
        var lastID = StreamID.zero
        while j < a.count {
            let more = a.count - 1 - j
            let opt = a[j]
            if opt.equalsIgnoringCase("force") {
                force = true
            } else if opt.equalsIgnoringCase("justid") {
                justID = true
            } else if opt.equalsIgnoringCase("idle") && more > 0 {
                j += 1
                guard let n = integerArg(s, a[j], error: "ERR Invalid IDLE option argument for XCLAIM") else { return }
                // Wraps as Redis's C arithmetic does; out-of-range results become `now` below.
                deliveryTime = now &- Int64(n)
            } else if opt.equalsIgnoringCase("time") && more > 0 {
                j += 1
                guard let n = integerArg(s, a[j], error: "ERR Invalid TIME option argument for XCLAIM") else { return }
                deliveryTime = Int64(n)
            } else if opt.equalsIgnoringCase("retrycount") && more > 0 {
                j += 1
                guard let n = integerArg(s, a[j], error: "ERR Invalid RETRYCOUNT option argument for XCLAIM") else { return }
                retryCount = Int64(n)
            } else if opt.equalsIgnoringCase("lastid") && more > 0 {
                j += 1
                guard let (id, _) = StreamIDArg.parse(a[j], strict: true, missingSeq: 0) else {
                    replyError(s, Self.invalidStreamID)
                    return
                }
                lastID = id
            } else {
                replyError(s, "ERR Unrecognized XCLAIM option '\(opt.errorText)'")
                return
            }
            j += 1
        }
        let raisedLastID = box.stream.raiseGroupLastID(groupName, to: lastID)
        let dirtyBefore = dirty
        if deliveryTime != -1 {
            if deliveryTime < 0 || deliveryTime > now { deliveryTime = now }
        } else {
            deliveryTime = now
        }
        let consumer = Array(a[3].readableBytesView)
        var claimed: [StreamID] = []
        var consumerCreated = false
        for id in ids {
            let nack = box.stream.groups[groupName]!.pending[id]
            guard box.stream.entry(id) != nil else {
                if nack != nil {
                    box.stream.dropPending(groupName, id)
                    dirty &+= 1
                }
                continue
            }
            let forced = force && nack == nil
            guard forced || nack != nil else { continue }
            if !forced && minIdle > 0 && now &- nack!.deliveryTime < minIdle { continue }
            if box.stream.createConsumer(groupName, consumer, now: now) {
                consumerCreated = true
                dirty &+= 1
            }
            var count = forced ? 1 : nack!.deliveryCount  // a forced entry starts at 1, as a first delivery
            if retryCount >= 0 {
                count = UInt64(retryCount)
            } else if !justID {
                count += 1
            }
            box.stream.claim(groupName, consumer: consumer, id: id, deliveryTime: deliveryTime, deliveryCount: count)
            box.stream.touchConsumer(groupName, consumer, now: now)
            claimed.append(id)
        }
        dirty &+= UInt64(claimed.count)
        // A raised LASTID counts once, and only when no entry was claimed or dropped (Redis
        // then sends it on by itself).
        if raisedLastID && claimed.isEmpty && dirty == dirtyBefore { dirty &+= 1 }
        if !claimed.isEmpty { box.stream.markActive(groupName, consumer, now: now) }
        if consumerCreated { notifyKeyspaceEvent(.stream, "xgroup-createconsumer", a[1], s.db) }
        writeClaimed(s, box.stream, claimed, justID: justID)
    }

    /// The claimed entries of XCLAIM/XAUTOCLAIM: IDs only with JUSTID, else full entries
    /// (nil for one that no longer exists).
    func writeClaimed(_ s: ClientSession, _ stream: Stream, _ claimed: [StreamID], justID: Bool) {
        s.out.arrayHeader(claimed.count)
        for id in claimed {
            if justID {
                s.out.bulkStreamID(ms: id.ms, seq: id.seq)
            } else if let e = stream.entry(id) {
                writeEntry(s, e)
            } else {
                s.out.null()
            }
        }
    }

    func xautoclaim(_ s: ClientSession, _ a: CommandArgs) {
        // Redis looks the key up first (keyspace_hits/misses count it), then parses.
        let found = readStream(s.db, a[1])
        guard let minIdleRaw = RESPInteger.parse(a[4]) else {
            replyError(s, "ERR Invalid min-idle-time argument for XAUTOCLAIM")
            return
        }
        let minIdle = Int64(max(0, minIdleRaw))
        guard let start = intervalBound(s, a[5], isStart: true) else { return }
        var count = 100
        var justID = false
        var j = 6
        while j < a.count {
            let more = a.count - 1 - j
            if a[j].equalsIgnoringCase("count") && more > 0 {
                // Redis 7.0 caps COUNT at LONG_MAX / 16 (the size of a stream ID).
                guard let n = RESPInteger.parse(a[j + 1]), n >= 1, n <= Int.max / 16 else {
                    replyError(s, "ERR COUNT must be > 0")
                    return
                }
                count = n
                j += 2
            } else if a[j].equalsIgnoringCase("justid") {
                justID = true
                j += 1
            } else {
                replyError(s, "ERR syntax error")
                return
            }
        }
        let groupName = Array(a[2].readableBytesView)
        guard let box = found, let group = box.stream.groups[groupName] else {
            replyError(s, "NOGROUP No such key '\(a[1].errorText)' or consumer group '\(a[2].errorText)'")
            return
        }
        // Redis then allocates COUNT stream IDs up front; past what a 47-bit address space can
        // map (2^43 IDs of 16 bytes) that always fails, with this error.
        if count > 1 << 43 {
            replyError(s, "ERR Insufficient memory, failed allocating transient memory, COUNT too high.")
            return
        }
        let now = turnTimeMs
        let consumer = Array(a[3].readableBytesView)
        var attempts = count * 10
        var claimed: [StreamID] = []
        var deleted: [StreamID] = []
        var consumerCreated = false
        let candidates = group.pendingOrder.range(from: start, to: .max, limit: attempts + 1)
        var index = 0
        while attempts > 0 && count > 0 && index < candidates.count {
            attempts -= 1
            let id = candidates[index]
            index += 1
            guard let nack = box.stream.groups[groupName]!.pending[id] else { continue }
            if box.stream.entry(id) == nil {
                box.stream.dropPending(groupName, id)
                dirty &+= 1
                deleted.append(id)
                count -= 1
                continue
            }
            if minIdle > 0 && now &- nack.deliveryTime < minIdle { continue }
            if box.stream.createConsumer(groupName, consumer, now: now) {
                consumerCreated = true
                dirty &+= 1
            }
            box.stream.claim(groupName, consumer: consumer, id: id, deliveryTime: now,
                             deliveryCount: justID ? nack.deliveryCount : nack.deliveryCount &+ 1)
            box.stream.touchConsumer(groupName, consumer, now: now)
            claimed.append(id)
            count -= 1
        }
        let cursor = index < candidates.count ? candidates[index] : StreamID.zero
        dirty &+= UInt64(claimed.count)
        if !claimed.isEmpty { box.stream.markActive(groupName, consumer, now: now) }
        if consumerCreated { notifyKeyspaceEvent(.stream, "xgroup-createconsumer", a[1], s.db) }
        s.out.arrayHeader(3)
        s.out.bulk(cursor.description)
        writeClaimed(s, box.stream, claimed, justID: justID)
        s.out.arrayHeader(deleted.count)
        for id in deleted { s.out.bulkStreamID(ms: id.ms, seq: id.seq) }
    }
}
