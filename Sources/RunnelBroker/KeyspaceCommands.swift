import NIOCore
import RunnelRESP

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
            s.out.integer(a.dropFirst().reduce(0) { $0 + (b.lookup(s.db, $1, now: now) != nil ? 1 : 0) })
        }
        r.add("type", 2, ["readonly", "fast"], ["@keyspace", "@read", "@fast"], "generic", "Determine the type stored at key", keys: (1, 1, 1)) { b, s, a in
            s.out.simpleString(b.lookup(s.db, a[1])?.typeName ?? "none")
        }
        r.add("keys", 2, ["readonly"], ["@keyspace", "@read", "@slow", "@dangerous"], "generic", "Find all keys matching the given pattern", complexity: "O(N)") { b, s, a in
            let now = Clock.nowMs()
            let all = a[1].isOnly(UInt8(ascii: "*"))
            var found: [Key] = []
            for key in Array(b.dbs[s.db].keys) {
                if !all && !Glob.matches(pattern: a[1].readableBytesView, key.readableBytesView) { continue }
                if b.lookup(s.db, key, now: now) != nil { found.append(key) }
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
                guard b.lookup(s.db, a[1], now: now) != nil else {
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
            b.touchWatched(s.db, a[1])
            b.notifyKeyspaceEvent(.generic, "persist", a[1], s.db)
            s.out.integer(1)
        }
        r.add("flushdb", -1, ["write"], ["@keyspace", "@write", "@slow", "@dangerous"], "server", "Remove all keys from the current database") { b, s, a in
            guard b.flushMode(s, a) else { return }
            b.touchAllWatched(db: s.db)
            b.signalAllKeysDeleted(db: s.db)
            b.dbs[s.db].removeAll()
            s.out.ok()
        }
        r.add("flushall", -1, ["write"], ["@keyspace", "@write", "@slow", "@dangerous"], "server", "Remove all keys from all databases") { b, s, a in
            guard b.flushMode(s, a) else { return }
            b.touchAllWatched(db: nil)
            b.signalAllKeysDeleted(db: nil)
            for i in b.dbs.indices { b.dbs[i].removeAll() }
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
        touchWatched(s.db, a[1])
        touchWatched(s.db, a[2])
        signalKeyDeleted(s.db, a[1])
        signalStreamReady(s.db, a[2])
        notifyKeyspaceEvent(.generic, "rename_from", a[1], s.db)
        notifyKeyspaceEvent(.generic, "rename_to", a[2], s.db)
        if onlyIfNew { s.out.integer(1) } else { s.out.ok() }
    }

    func expire(_ s: ClientSession, _ a: CommandArgs, name: String, unitMs: Int64, absolute: Bool) {
        guard let amount = RESPInteger.parse(a[2]) else {
            replyError(s, "ERR value is not an integer or out of range")
            return
        }
        var nx = false, xx = false, gt = false, lt = false
        for opt in a.dropFirst(3) {
            if opt.equalsIgnoringCase("nx") { nx = true }
            else if opt.equalsIgnoringCase("xx") { xx = true }
            else if opt.equalsIgnoringCase("gt") { gt = true }
            else if opt.equalsIgnoringCase("lt") { lt = true }
            else {
                replyError(s, "ERR Unsupported option \(opt.string)")
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
                pattern = a[i + 1]
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
            guard let value = lookup(s.db, key, now: now) else { return false }
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
    static func parseCursor(_ arg: ByteBuffer) -> UInt64? {
        var bytes = Array(arg.readableBytesView)
        var negative = false
        if let f = bytes.first, f == UInt8(ascii: "-") || f == UInt8(ascii: "+") {
            negative = f == UInt8(ascii: "-")
            bytes.removeFirst()
        }
        guard !bytes.isEmpty, bytes.count <= 20 else { return nil }
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
