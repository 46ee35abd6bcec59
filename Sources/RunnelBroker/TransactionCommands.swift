import NIOCore

extension Broker {
    static func registerTransactionCommands(_ r: inout CommandRegistrar) {
        let flags = ["noscript", "loading", "stale", "fast", "allow_busy"]
        r.add("multi", 1, flags, ["@fast", "@transaction"], "transactions", "Mark the start of a transaction block") { b, s, _ in
            if s.inMulti {
                b.replyError(s, "ERR MULTI calls can not be nested")
                return
            }
            s.inMulti = true
            s.multiQueue = []
            s.multiError = nil
            s.multiFlags = []
            s.out.ok()
        }
        r.add("discard", 1, flags, ["@fast", "@transaction"], "transactions", "Discard all commands issued after MULTI", "2.0.0") { b, s, _ in
            guard s.inMulti else {
                b.replyError(s, "ERR DISCARD without MULTI")
                return
            }
            b.discardTransaction(s)
            s.out.ok()
        }
        r.add("exec", 1, ["noscript", "loading", "stale", "skip_slowlog"], ["@slow", "@transaction"], "transactions", "Execute all commands issued after MULTI", "1.2.0") { b, s, _ in
            b.exec(s)
        }
        r.add("watch", -2, flags, ["@fast", "@transaction"], "transactions", "Watch the given keys to determine execution of the MULTI/EXEC block", "2.2.0", keys: (1, -1, 1)) { b, s, a in
            if s.inMulti {
                b.replyError(s, "ERR WATCH inside MULTI is not allowed")
                return
            }
            let now = Clock.nowMs()
            for key in a.dropFirst() where !s.watchedKeys.contains(where: { $0.db == s.db && $0.key == key }) {
                let k = key.detached
                s.watchedKeys.append((s.db, k, b.isExpired(s.db, k, now: now)))
                b.watchers[s.db, default: [:]][k, default: []].insert(s.id)
            }
            s.out.ok()
        }
        r.add("unwatch", 1, flags, ["@fast", "@transaction"], "transactions", "Forget about all watched keys", "2.2.0") { b, s, _ in
            b.unwatchAll(s)
            s.out.ok()
        }
    }

    /// Ends a transaction and forgets the watched keys, as Redis's `discardTransaction`: after
    /// EXEC, DISCARD, RESET, and an EXEC refused before running (arity, ACL …).
    func discardTransaction(_ s: ClientSession) {
        s.inMulti = false
        s.multiQueue = []
        s.multiError = nil
        s.multiFlags = []
        unwatchAll(s)
    }

    func unwatchAll(_ s: ClientSession) {
        for (db, key, _) in s.watchedKeys {
            watchers[db]?[key]?.remove(s.id)
            if watchers[db]?[key]?.isEmpty == true { watchers[db]?[key] = nil }
            if watchers[db]?.isEmpty == true { watchers[db] = nil }
        }
        s.watchedKeys = []
        s.watchDirty = false
    }

    func exec(_ s: ClientSession) {
        guard s.inMulti else {
            replyError(s, "ERR EXEC without MULTI")
            return
        }
        // A watched key that has expired since WATCH fails the transaction even before it is
        // deleted (as during CLIENT PAUSE), as Redis's isWatchedKeyExpired.
        if !s.watchDirty {
            let now = Clock.nowMs()
            if s.watchedKeys.contains(where: { !$0.expired && isExpired($0.db, $0.key, now: now) }) { s.watchDirty = true }
        }
        if s.multiError != nil {
            discardTransaction(s)
            replyError(s, "EXECABORT Transaction discarded because of previous errors.")
            return
        }
        if s.watchDirty {
            discardTransaction(s)
            s.out.nullArray()
            return
        }
        let queue = s.multiQueue
        discardTransaction(s)
        s.out.arrayHeader(queue.count)
        s.inExec = true
        s.execCount = queue.count
        defer {
            s.inExec = false
            s.execCount = 0
        }
        for args in queue {
            guard var spec = commands.lookup(args[0]) else { continue }
            if !spec.subcommands.isEmpty, args.count > 1, let sub = spec.subcommand(args[1]) { spec = sub }
            if execDenied(s, spec, args) { continue }
            call(s, spec, args)
        }
    }
}
