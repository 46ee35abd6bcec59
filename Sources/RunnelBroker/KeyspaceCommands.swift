import NIOCore
import RunnelRESP
import RunnelStreams

extension Broker {
    static func registerKeyspaceCommands(_ r: inout CommandRegistrar) {
        r.add("del", -2, ["write"], ["@keyspace", "@write", "@slow"], "generic", "Delete a key", keys: (1, -1, 1), complexity: "O(N)") { b, s, a in
            b.deleteKeys(s, a)
        }
        r.add("unlink", -2, ["write", "fast"], ["@keyspace", "@write", "@fast"], "generic", "Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non blocking.", "4.0.0", keys: (1, -1, 1)) { b, s, a in
            b.deleteKeys(s, a)
        }
        r.add("exists", -2, ["readonly", "fast"], ["@keyspace", "@read", "@fast"], "generic", "Determine if a key exists", keys: (1, -1, 1)) { b, s, a in
            let now = Clock.nowMs()
            s.out.integer(a.dropFirst().reduce(0) { $0 + (b.lookup(s.db, $1, now: now, touch: false, stats: true) != nil ? 1 : 0) })
        }
        r.add("type", 2, ["readonly", "fast"], ["@keyspace", "@read", "@fast"], "generic", "Determine the type stored at key", keys: (1, 1, 1)) { b, s, a in
            s.out.simpleString(b.lookup(s.db, a[1], touch: false, stats: true)?.typeName ?? "none")
        }
        r.add("keys", 2, ["readonly"], ["@keyspace", "@read", "@slow", "@dangerous"], "generic", "Find all keys matching the given pattern", complexity: "O(N)") { b, s, a in
            let now = Clock.nowMs()
            let all = a[1].isOnly(UInt8(ascii: "*"))
            var found: [Key] = []
            for key in Array(b.dbs[s.db].keys) {
                if !all && !Glob.matches(pattern: a[1].readableBytesView, key.readableBytesView) { continue }
                // Redis's KEYS skips expired keys without deleting them.
                if b.isExpired(s.db, key, now: now) { continue }
                found.append(key)
            }
            s.out.arrayHeader(found.count)
            for k in found { s.out.bulk(k) }
        }
        r.add("scan", -2, ["readonly"], ["@keyspace", "@read", "@slow"], "generic", "Incrementally iterate the keys space", "2.8.0") { b, s, a in
            b.scan(s, a)
        }
        r.add("dbsize", 1, ["readonly", "fast"], ["@keyspace", "@read", "@fast"], "server", "Return the number of keys in the selected database") { b, s, _ in
            s.out.integer(b.dbs[s.db].count)
        }
        r.add("rename", 3, ["write"], ["@keyspace", "@write", "@slow"], "generic", "Rename a key", keys: (1, 2, 1)) { b, s, a in
            b.rename(s, a, onlyIfNew: false)
        }
        r.add("renamenx", 3, ["write", "fast"], ["@keyspace", "@write", "@fast"], "generic", "Rename a key, only if the new key does not exist", keys: (1, 2, 1)) { b, s, a in
            b.rename(s, a, onlyIfNew: true)
        }
        for (name, unitMs, absolute, since) in [("expire", 1000, false, "1.0.0"), ("pexpire", 1, false, "2.6.0"),
                                                 ("expireat", 1000, true, "1.2.0"), ("pexpireat", 1, true, "2.6.0")] {
            r.add(name, -3, ["write", "fast"], ["@keyspace", "@write", "@fast"], "generic", "Set a key's time to live", since, keys: (1, 1, 1)) { b, s, a in
                b.expire(s, a, name: name, unitMs: Int64(unitMs), absolute: absolute)
            }
        }
        for (name, ms, absolute, since) in [("ttl", false, false, "1.0.0"), ("pttl", true, false, "2.6.0"),
                                             ("expiretime", false, true, "7.0.0"), ("pexpiretime", true, true, "7.0.0")] {
            r.add(name, 2, ["readonly", "fast"], ["@keyspace", "@read", "@fast"], "generic", "Get the time to live for a key", since, keys: (1, 1, 1)) { b, s, a in
                let now = Clock.nowMs()
                guard b.lookup(s.db, a[1], now: now, touch: false, stats: true) != nil else {
                    s.out.integer(-2)
                    return
                }
                guard let at = b.dbs[s.db].expireTime(a[1]) else {
                    s.out.integer(-1)
                    return
                }
                if absolute {
                    s.out.integer(Int(ms ? at : at / 1000))
                } else {
                    let left = max(0, at - now)
                    s.out.integer(Int(ms ? left : (left + 500) / 1000))
                }
            }
        }
        r.add("persist", 2, ["write", "fast"], ["@keyspace", "@write", "@fast"], "generic", "Remove the expiration from a key", "2.2.0", keys: (1, 1, 1)) { b, s, a in
            guard b.lookup(s.db, a[1]) != nil, b.dbs[s.db].removeExpire(a[1]) else {
                s.out.integer(0)
                return
            }
            b.dirty &+= 1
            b.touchWatched(s.db, a[1])
            b.notifyKeyspaceEvent(.generic, "persist", a[1], s.db)
            s.out.integer(1)
        }
        r.add("move", 3, ["write", "fast"], ["@keyspace", "@write", "@fast"], "generic", "Move a key to another database", keys: (1, 1, 1)) { b, s, a in
            b.move(s, a)
        }
        r.add("swapdb", 3, ["write", "fast"], ["@keyspace", "@write", "@fast", "@dangerous"], "server", "Swaps two Redis databases", "4.0.0") { b, s, a in
            b.swapDB(s, a)
        }
        r.add("copy", -3, ["write", "denyoom"], ["@keyspace", "@write", "@slow"], "generic", "Copy a key", "6.2.0", keys: (1, 2, 1), complexity: "O(N) worst case for collections, where N is the number of nested items. O(1) for string values.") { b, s, a in
            b.copy(s, a)
        }
        r.add("dump", 2, ["readonly"], ["@keyspace", "@read", "@slow"], "generic", "Return a serialized version of the value stored at the specified key.", "2.6.0", keys: (1, 1, 1), complexity: "O(1) to access the key and additional O(N*M) to serialize it, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1).") { b, s, a in
            guard case .stream(let box)? = b.lookup(s.db, a[1], stats: true) else {
                s.out.null()
                return
            }
            let payload = box.stream.redisDumpPayload()
            s.out.bulk(slice: payload[...])
        }
        r.add("restore", -4, ["write", "denyoom"], ["@keyspace", "@write", "@slow", "@dangerous"], "generic", "Create a key using the provided serialized value, previously obtained using DUMP.", "2.6.0", keys: (1, 1, 1), complexity: "O(1) to create the new key and additional O(N*M) to reconstruct the serialized value, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1). However for sorted set values the complexity is O(N*M*log(N)) because inserting values into sorted sets is O(log(N)).") { b, s, a in
            b.restore(s, a)
        }
        r.add("randomkey", 1, ["readonly"], ["@keyspace", "@read", "@slow"], "generic", "Return a random key from the keyspace") { b, s, _ in
            b.randomKey(s)
        }
        r.add("touch", -2, ["readonly", "fast"], ["@keyspace", "@read", "@fast"], "generic", "Alters the last access time of a key(s). Returns the number of existing keys specified.", "3.2.1", keys: (1, -1, 1), complexity: "O(N) where N is the number of keys that will be touched.") { b, s, a in
            let now = Clock.nowMs()
            s.out.integer(a.dropFirst().reduce(0) { $0 + (b.lookup(s.db, $1, now: now, stats: true) != nil ? 1 : 0) })
        }
        r.container("object", group: "generic", summary: "A container for object introspection commands", since: "2.2.3")
        for (name, summary) in [("encoding", "Inspect the internal encoding of a Redis object"),
                                ("freq", "Get the logarithmic access frequency counter of a Redis object"),
                                ("idletime", "Get the time since a Redis object was last accessed"),
                                ("refcount", "Get the number of references to the value of the key")] {
            r.sub("object", name, 3, ["readonly"], ["@keyspace", "@read", "@slow"], summary, since: "2.2.3", keys: (2, 2, 1)) { b, s, a in
                b.object(s, a, name)
            }
        }
        r.help("object", [
            "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
            "HELP",
            "    Prints this help.",
        ])
        r.add("flushdb", -1, ["write"], ["@keyspace", "@write", "@slow", "@dangerous"], "server", "Remove all keys from the current database") { b, s, a in
            guard b.flushMode(s, a) else { return }
            b.touchAllWatched(db: s.db)
            b.trackingInvalidateAll()
            b.signalAllKeysDeleted(db: s.db)
            b.dirty &+= UInt64(b.dbs[s.db].count)
            b.dbs[s.db].removeAll()
            s.out.ok()
        }
        r.add("flushall", -1, ["write"], ["@keyspace", "@write", "@slow", "@dangerous"], "server", "Remove all keys from all databases") { b, s, a in
            guard b.flushMode(s, a) else { return }
            b.touchAllWatched(db: nil)
            b.trackingInvalidateAll()
            b.signalAllKeysDeleted(db: nil)
            for i in b.dbs.indices {
                b.dirty &+= UInt64(b.dbs[i].count)
                b.dbs[i].removeAll()
            }
            s.out.ok()
        }
    }

    func flushMode(_ s: ClientSession, _ a: CommandArgs) -> Bool {
        if a.count == 1 { return true }
        if a.count == 2 && (a[1].equalsIgnoringCase("async") || a[1].equalsIgnoringCase("sync")) { return true }
        replyError(s, "ERR syntax error")
        return false
    }

    func deleteKeys(_ s: ClientSession, _ a: CommandArgs) {
        var removed = 0
        for key in a.dropFirst() where deleteKey(s.db, key) {
            notifyKeyspaceEvent(.generic, "del", key, s.db)
            removed += 1
        }
        dirty &+= UInt64(removed)
        s.out.integer(removed)
    }

    func rename(_ s: ClientSession, _ a: CommandArgs, onlyIfNew: Bool) {
        let now = Clock.nowMs()
        guard let value = lookup(s.db, a[1], now: now) else {
            replyError(s, "ERR no such key")
            return
        }
        if a[1] == a[2] {
            if onlyIfNew { s.out.integer(0) } else { s.out.ok() }
            return
        }
        if lookup(s.db, a[2], now: now) != nil {
            if onlyIfNew {
                s.out.integer(0)
                return
            }
            dbs[s.db].remove(a[2])
            signalKeyDeleted(s.db, a[2])
        }
        _ = value
        dbs[s.db].move(a[1], to: a[2])
        dirty &+= 1
        touchWatched(s.db, a[1])
        touchWatched(s.db, a[2])
        signalKeyDeleted(s.db, a[1])
        signalStreamReady(s.db, a[2])
        notifyKeyspaceEvent(.generic, "rename_from", a[1], s.db)
        notifyKeyspaceEvent(.generic, "rename_to", a[2], s.db)
        if onlyIfNew { s.out.integer(1) } else { s.out.ok() }
    }

    /// MOVE key db: the stream (with its expiry, groups and handle) changes database.
    func move(_ s: ClientSession, _ a: CommandArgs) {
        guard let target = int32Argument(s, a[2]) else { return }
        guard target >= 0 && target < dbs.count else {
            replyError(s, "ERR DB index is out of range")
            return
        }
        guard target != s.db else {
            replyError(s, "ERR source and destination objects are the same")
            return
        }
        let key = a[1]
        let now = Clock.nowMs()
        guard lookup(s.db, key, now: now) != nil, lookup(target, key, now: now, touch: false) == nil,
            let (value, expiry) = dbs[s.db].take(key)
        else {
            s.out.integer(0)
            return
        }
        dbs[target].put(key, value, expireAt: expiry)
        dirty &+= 1
        touchWatched(s.db, key)
        touchWatched(target, key)
        signalKeyDeleted(s.db, key)
        signalStreamReady(target, key)
        notifyKeyspaceEvent(.generic, "move_from", key, s.db)
        notifyKeyspaceEvent(.generic, "move_to", key, target)
        s.out.integer(1)
    }

    /// SWAPDB a b: connections stay on their database number and see the other's keys.
    func swapDB(_ s: ClientSession, _ a: CommandArgs) {
        guard let first = RESPInteger.parse(a[1]), Int32(exactly: first) != nil else {
            replyError(s, "ERR invalid first DB index")
            return
        }
        guard let second = RESPInteger.parse(a[2]), Int32(exactly: second) != nil else {
            replyError(s, "ERR invalid second DB index")
            return
        }
        guard first >= 0 && first < dbs.count && second >= 0 && second < dbs.count else {
            replyError(s, "ERR DB index is out of range")
            return
        }
        if first != second {
            // Blocked readers and WATCHes stay with their database number, as in Redis: a
            // watched key that exists on either side is touched; a blocked key that now
            // exists is served, a group reader whose key went away is told so.
            let before = [first: Set(dbs[first].keys), second: Set(dbs[second].keys)]
            touchAllWatched(db: first, replacement: second)
            touchAllWatched(db: second, replacement: first)
            var (x, y) = (dbs[first], dbs[second])
            Database.swapContents(&x, &y)
            (dbs[first], dbs[second]) = (x, y)
            for db in [first, second] {
                for key in (blockedReaders[db] ?? [:]).keys {
                    if dbs[db].rawValue(key) != nil {
                        signalStreamReady(db, key)
                    } else if before[db]?.contains(key) == true {
                        signalKeyDeleted(db, key)
                    }
                }
            }
        }
        dirty &+= 1
        s.out.ok()
    }

    /// COPY source destination [DB n] [REPLACE]: a deep copy (entries, groups, consumers,
    /// pending entries) that shares node storage with the source until either changes.
    func copy(_ s: ClientSession, _ a: CommandArgs) {
        var target = s.db
        var replace = false
        var j = 3
        while j < a.count {
            if a[j].equalsIgnoringCase("replace") {
                replace = true
            } else if a[j].equalsIgnoringCase("db") && j + 1 < a.count {
                // A 32-bit value first (Redis's getIntFromObjectOrReply), then a db index.
                guard let n = int32Argument(s, a[j + 1]) else { return }
                guard n >= 0 && n < dbs.count else {
                    replyError(s, "ERR DB index is out of range")
                    return
                }
                target = n
                j += 1
            } else {
                replyError(s, "ERR syntax error")
                return
            }
            j += 1
        }
        let (key, newKey) = (a[1], a[2])
        if target == s.db && key == newKey {
            replyError(s, "ERR source and destination objects are the same")
            return
        }
        let now = Clock.nowMs()
        guard case .stream(let source)? = lookup(s.db, key, now: now, stats: true) else {
            s.out.integer(0)
            return
        }
        if lookup(target, newKey, now: now) != nil {
            guard replace else {
                s.out.integer(0)
                return
            }
            dbs[target].remove(newKey)
            signalKeyDeleted(target, newKey)
        }
        var stream = source.stream
        // In-memory journals (tests) carry over: the copy is what the source's records built.
        stream.journal = (source.stream.journal as? RecordingJournal).map { RecordingJournal(records: $0.records) }
        let box = newStreamBox(stream)
        dbs[target].putCopy(newKey, box, of: source, expireAt: dbs[s.db].expireTime(key))
        dirty &+= 1
        touchWatched(target, newKey)
        signalStreamReady(target, newKey)
        notifyKeyspaceEvent(.generic, "copy_to", newKey, target)
        s.out.integer(1)
    }

    /// RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f], for stream payloads
    /// (Redis's DUMP format; `RedisDump`). The stream is built by replaying the payload's
    /// records into an empty stream, and the same records are logged after its creation.
    func restore(_ s: ClientSession, _ a: CommandArgs) {
        var replace = false, absolute = false
        var idle: Int?
        var freq: Int?
        var j = 4
        while j < a.count {
            let more = a.count - j - 1
            if a[j].equalsIgnoringCase("replace") {
                replace = true
            } else if a[j].equalsIgnoringCase("absttl") {
                absolute = true
            } else if a[j].equalsIgnoringCase("idletime") && more >= 1 && freq == nil {
                idle = integerArgument(s, a[j + 1], rangeError: "ERR Invalid IDLETIME value, must be >= 0") { $0 >= 0 }
                guard idle != nil else { return }
                j += 1
            } else if a[j].equalsIgnoringCase("freq") && more >= 1 && idle == nil {
                freq = integerArgument(s, a[j + 1], rangeError: "ERR Invalid FREQ value, must be >= 0 and <= 255") { (0...255).contains($0) }
                guard freq != nil else { return }
                j += 1
            } else {
                replyError(s, "ERR syntax error")
                return
            }
            j += 1
        }
        let key = a[1]
        let now = Clock.nowMs()
        if !replace && lookup(s.db, key, now: now, touch: false) != nil {
            replyError(s, "BUSYKEY Target key name already exists.")
            return
        }
        guard let ttlArg = integerArgument(s, a[2], rangeError: "ERR Invalid TTL value, must be >= 0", valid: { $0 >= 0 }) else {
            return
        }
        var ttl = Int64(ttlArg)
        let records: [StreamRecord]
        do {
            records = try Stream.records(fromRedisDump: Array(a[3].readableBytesView), skipChecksum: debug.skipChecksumValidation)
        } catch .versionOrChecksum {
            replyError(s, "ERR DUMP payload version or checksum are wrong")
            return
        } catch .notAStream {
            replyError(s, "ERR Bad data format: Runnel stores streams only")
            return
        } catch {
            replyError(s, "ERR Bad data format")
            return
        }
        var stream = Stream()
        for r in records { stream.apply(r) }
        let existed = replace && lookup(s.db, key, now: now, touch: false) != nil
        if existed {
            dbs[s.db].remove(key)
            signalKeyDeleted(s.db, key)
        }
        if ttl > 0 && !absolute { ttl += now }
        if ttl > 0 && ttl <= now {
            // Already expired: nothing is created (an existing key was still replaced).
            if existed {
                dirty &+= 1
                touchWatched(s.db, key)
                notifyKeyspaceEvent(.generic, "del", key, s.db)
            }
            s.out.ok()
            return
        }
        let box = newStreamBox(stream)
        dbs[s.db].set(key, .stream(box))
        // The log gets the same records after the stream's creation record.
        if let journal = box.stream.journal { for r in records { journal.record(r, tag: box.stream.journalTag) } }
        if journalStreams && box.stream.journal == nil { box.stream.journal = RecordingJournal(records: records) }
        if ttl > 0 { dbs[s.db].setExpire(key, at: ttl) }
        box.restore(freq: freq, idleSeconds: idle, nowMs: turnTimeMs, lfu: config.lfuPolicy)
        dirty &+= 1
        touchWatched(s.db, key)
        signalStreamReady(s.db, key)
        notifyKeyspaceEvent(.generic, "restore", key, s.db)
        s.out.ok()
    }

    /// RANDOMKEY: a live key (expired ones found on the way are removed, as Redis does).
    func randomKey(_ s: ClientSession) {
        let now = Clock.nowMs()
        for _ in 0..<100 {
            guard let key = dbs[s.db].randomKey() else { break }
            if lookup(s.db, key, now: now, touch: false) != nil {
                s.out.bulk(key)
                return
            }
        }
        s.out.null()
    }

    /// OBJECT ENCODING | FREQ | IDLETIME | REFCOUNT key.
    func object(_ s: ClientSession, _ a: CommandArgs, _ sub: String) {
        guard case .stream(let box)? = lookup(s.db, a[2], touch: false, stats: true) else {
            s.out.null()
            return
        }
        let lfu = config.lfuPolicy
        switch sub {
        case "encoding":
            s.out.bulk("stream" as StaticString)
        case "refcount":
            s.out.integer(1)
        case "freq":
            guard lfu else {
                replyError(s, "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")
                return
            }
            s.out.integer(Int(box.lfuDecayed(nowMs: turnTimeMs, decayMinutes: config.lfuDecayTime)))
        default:
            guard !lfu else {
                replyError(s, "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")
                return
            }
            s.out.integer(box.idleSeconds(nowMs: turnTimeMs))
        }
    }

    func expire(_ s: ClientSession, _ a: CommandArgs, name: String, unitMs: Int64, absolute: Bool) {
        // As Redis: the options are checked before the time value.
        var nx = false, xx = false, gt = false, lt = false
        for opt in a.dropFirst(3) {
            if opt.equalsIgnoringCase("nx") { nx = true }
            else if opt.equalsIgnoringCase("xx") { xx = true }
            else if opt.equalsIgnoringCase("gt") { gt = true }
            else if opt.equalsIgnoringCase("lt") { lt = true }
            else {
                replyError(s, "ERR Unsupported option \(opt.errorText)")
                return
            }
        }
        if nx && (xx || gt || lt) {
            replyError(s, "ERR NX and XX, GT or LT options at the same time are not compatible")
            return
        }
        if gt && lt {
            replyError(s, "ERR GT and LT options at the same time are not compatible")
            return
        }
        guard let amount = RESPInteger.parse(a[2]) else {
            replyError(s, "ERR value is not an integer or out of range")
            return
        }
        let now = Clock.nowMs()
        // Overflow checks as Redis: the value times the unit, plus now for relative forms.
        let (scaled, o1) = Int64(amount).multipliedReportingOverflow(by: unitMs)
        var when = scaled
        var overflow = o1
        if !absolute && !overflow {
            let (sum, o2) = scaled.addingReportingOverflow(now)
            when = sum
            overflow = o2
        }
        if overflow {
            replyError(s, "ERR invalid expire time in '\(name)' command")
            return
        }
        guard lookup(s.db, a[1], now: now) != nil else {
            s.out.integer(0)
            return
        }
        let current = dbs[s.db].expireTime(a[1])
        if nx && current != nil { s.out.integer(0); return }
        if xx && current == nil { s.out.integer(0); return }
        if gt && (current == nil || when <= current!) { s.out.integer(0); return }
        if lt, let current, when >= current { s.out.integer(0); return }
        dirty &+= 1
        if when <= now {
            dbs[s.db].remove(a[1])
            touchWatched(s.db, a[1])
            signalKeyDeleted(s.db, a[1])
            notifyKeyspaceEvent(.generic, "del", a[1], s.db)
        } else {
            dbs[s.db].setExpire(a[1], at: when)
            touchWatched(s.db, a[1])
            notifyKeyspaceEvent(.generic, "expire", a[1], s.db)
        }
        s.out.integer(1)
    }

    /// SCAN over a stable order: keys sorted by a 63-bit hash of their bytes, so a key that
    /// exists for the whole iteration is returned at least once whatever else changes.
    func scan(_ s: ClientSession, _ a: CommandArgs) {
        guard let cursor = Self.parseCursor(a[1]) else {
            replyError(s, "ERR invalid cursor")
            return
        }
        var count = 10
        var pattern: ByteBuffer?
        var type: String?
        var i = 2
        while i < a.count {
            let remaining = a.count - i - 1
            if a[i].equalsIgnoringCase("count") && remaining >= 1 {
                guard let c = RESPInteger.parse(a[i + 1]) else {
                    replyError(s, "ERR value is not an integer or out of range")
                    return
                }
                guard c >= 1 else {
                    replyError(s, "ERR syntax error")
                    return
                }
                count = c
                i += 2
            } else if a[i].equalsIgnoringCase("match") && remaining >= 1 {
                // As Redis: MATCH * filters nothing (and so keeps the empty key name, which
                // the glob "*" does not match).
                pattern = a[i + 1].isOnly(UInt8(ascii: "*")) ? nil : a[i + 1]
                i += 2
            } else if a[i].equalsIgnoringCase("type") && remaining >= 1 {
                type = a[i + 1].lowercasedString
                i += 2
            } else {
                replyError(s, "ERR syntax error")
                return
            }
        }
        let now = Clock.nowMs()
        var candidates: [(UInt64, Key)] = []
        for key in dbs[s.db].keys {
            let h = Self.scanHash(key)
            if h >= cursor { candidates.append((h, key)) }
        }
        candidates.sort { $0.0 < $1.0 }
        var next: UInt64 = 0
        var batch: [Key] = []
        var idx = 0
        while idx < candidates.count {
            if batch.count >= count && candidates[idx].0 != candidates[idx - 1].0 {
                next = candidates[idx].0
                break
            }
            batch.append(candidates[idx].1)
            idx += 1
        }
        let result = batch.filter { key in
            if let pattern, !Glob.matches(pattern: pattern.readableBytesView, key.readableBytesView) { return false }
            guard let value = lookup(s.db, key, now: now, touch: false) else { return false }
            if let type, value.typeName != type { return false }
            return true
        }
        s.out.arrayHeader(2)
        s.out.bulk(String(next))
        s.out.arrayHeader(result.count)
        for k in result { s.out.bulk(k) }
    }

    /// Redis parses cursors with `strtoul`: optional sign (a minus wraps around), digits,
    /// nothing else.
    /// A cursor as Redis reads it (`strtoul`): empty is 0, a sign is allowed (`-1` wraps),
    /// leading zeros are fine, anything else after the digits or an overflow is invalid.
    static func parseCursor(_ arg: ByteBuffer) -> UInt64? {
        var bytes = Array(arg.readableBytesView)
        if bytes.isEmpty { return 0 }
        var negative = false
        if let f = bytes.first, f == UInt8(ascii: "-") || f == UInt8(ascii: "+") {
            negative = f == UInt8(ascii: "-")
            bytes.removeFirst()
        }
        guard !bytes.isEmpty else { return nil }
        var v: UInt64 = 0
        for c in bytes {
            guard c >= 48 && c <= 57 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (r, o2) = m.addingReportingOverflow(UInt64(c - 48))
            if o1 || o2 { return nil }
            v = r
        }
        return negative ? (0 &- v) : v
    }

    static func scanHash(_ key: Key) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key.readableBytesView {
            h ^= UInt64(byte)
            h = h &* 0x100_0000_01b3
        }
        return (h >> 1) | 1
    }
}
