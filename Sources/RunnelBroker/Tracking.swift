import NIOCore
import RunnelRESP

// Server-assisted client-side caching (CLIENT TRACKING), as redis-server 7.0 does it.
//
// Default mode: every key a tracking client reads with a read-only command is remembered
// (key → client IDs, one table for all databases, as Redis's); the first change to the key
// sends each remembered client one `invalidate` message and forgets the key. BCAST mode:
// nothing is remembered; every key changed under one of the client's prefixes is collected
// during the event-loop iteration and sent as one array at its end. Messages go to the
// client itself as RESP3 pushes, or to the REDIRECT client: as pushes when it speaks RESP3,
// as `__redis__:invalidate` Pub/Sub messages when it is a subscribed RESP2 client. A flush
// sends every tracking client a null ("all keys"). Invalidations addressed to the client
// whose command causes them follow that command's reply (EXEC: the whole transaction's).

/// One connection's tracking mode (CLIENT TRACKING, CLIENT CACHING).
struct TrackingMode {
    var on = false
    var bcast = false
    var optin = false
    var optout = false
    var noloop = false
    /// CLIENT CACHING YES (OPTIN) or NO (OPTOUT) given for the next command.
    var caching = false
    /// The REDIRECT client was gone when a message was due.
    var brokenRedirect = false
    // The REDIRECT client ID is the session's `trackingRedirection` (it outlives the mode).
    /// BCAST prefixes, in byte order.
    var prefixes: [Key] = []
}

/// The server's tracking tables.
struct TrackingTables {
    /// Keys read by default-mode clients → their IDs (all databases share one key space,
    /// as in Redis). Cleared per key when it changes, entirely on a flush.
    var keys: [Key: Set<Int>] = [:]
    /// Client IDs across `keys` (INFO `tracking_total_items`).
    var items = 0
    /// BCAST prefixes → their clients and the keys changed under them this iteration.
    var prefixes: [Key: Broadcast] = [:]
    /// Clients with tracking on (INFO `tracking_clients`).
    var clients = 0
    var broadcastScheduled = false

    struct Broadcast {
        var clients: Set<Int> = []
        /// Changed key → ID of the first client that changed it this iteration (0: none),
        /// so NOLOOP clients are not told about their own changes.
        var changed: [Key: Int] = [:]
    }

    /// Whether a key change has anyone to tell.
    var active: Bool { !keys.isEmpty || !prefixes.isEmpty }
}

/// What an invalidation message carries.
enum Invalidation {
    case key(Key)
    /// Every key (a flush): a null.
    case all
    /// A BCAST batch.
    case keys([Key])
}

extension Broker {
    // MARK: - Commands

    static func registerTrackingCommands(_ r: inout CommandRegistrar) {
        let flags = ["noscript", "loading", "stale"]
        r.sub(
            "client", "tracking", -3, flags, ["@slow", "@connection"],
            "Enable or disable server assisted client side caching support", since: "6.0.0"
        ) { b, s, a in b.clientTracking(s, a) }
        r.sub(
            "client", "caching", 3, flags, ["@slow", "@connection"],
            "Instruct the server about tracking or not keys in the next request", since: "6.0.0"
        ) { b, s, a in
            guard s.tracking.on else {
                b.replyError(s, "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled")
                return
            }
            if a[2].equalsIgnoringCase("yes") {
                guard s.tracking.optin else {
                    b.replyError(s, "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.")
                    return
                }
            } else if a[2].equalsIgnoringCase("no") {
                guard s.tracking.optout else {
                    b.replyError(s, "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.")
                    return
                }
            } else {
                b.replyError(s, "ERR syntax error")
                return
            }
            s.tracking.caching = true
            s.out.ok()
        }
        r.sub(
            "client", "getredir", 2, flags, ["@slow", "@connection"],
            "Get tracking notifications redirection client ID if any", since: "6.0.0"
        ) { _, s, _ in
            s.out.integer(s.tracking.on ? s.trackingRedirection : -1)
        }
        r.sub(
            "client", "trackinginfo", 2, flags, ["@slow", "@connection"],
            "Return information about server assisted client side caching for the current connection", since: "6.2.0"
        ) { _, s, _ in
            let t = s.tracking
            var names: [StaticString] = [t.on ? "on" : "off"]
            if t.bcast { names.append("bcast") }
            if t.optin {
                names.append("optin")
                if t.caching { names.append("caching-yes") }
            }
            if t.optout {
                names.append("optout")
                if t.caching { names.append("caching-no") }
            }
            if t.noloop { names.append("noloop") }
            if t.brokenRedirect { names.append("broken_redirect") }
            s.out.mapHeader(3)
            s.out.bulk("flags" as StaticString)
            s.out.setHeader(names.count)
            for n in names { s.out.bulk(n) }
            s.out.bulk("redirect" as StaticString)
            s.out.integer(t.on ? s.trackingRedirection : -1)
            s.out.bulk("prefixes" as StaticString)
            s.out.arrayHeader(t.prefixes.count)
            for p in t.prefixes { s.out.bulk(p) }
        }
    }

    /// CLIENT TRACKING ON|OFF [REDIRECT id] [BCAST] [PREFIX p]... [OPTIN] [OPTOUT] [NOLOOP].
    func clientTracking(_ s: ClientSession, _ a: CommandArgs) {
        var redirect = 0
        var bcast = false, optin = false, optout = false, noloop = false
        var prefixes: [Key] = []
        var j = 3
        while j < a.count {
            let more = j + 1 < a.count
            if a[j].equalsIgnoringCase("redirect") && more {
                j += 1
                guard redirect == 0 else {
                    replyError(s, "ERR A client can only redirect to a single other client")
                    return
                }
                guard let id = RESPInteger.parse(a[j]) else {
                    replyError(s, "ERR value is not an integer or out of range")
                    return
                }
                // Checked now, although the client may go later (then the redirect breaks).
                guard clients[id] != nil else {
                    replyError(s, "ERR The client ID you want redirect to does not exist")
                    return
                }
                redirect = id
            } else if a[j].equalsIgnoringCase("bcast") {
                bcast = true
            } else if a[j].equalsIgnoringCase("optin") {
                optin = true
            } else if a[j].equalsIgnoringCase("optout") {
                optout = true
            } else if a[j].equalsIgnoringCase("noloop") {
                noloop = true
            } else if a[j].equalsIgnoringCase("prefix") && more {
                j += 1
                prefixes.append(a[j].detached)
            } else {
                replyError(s, "ERR syntax error")
                return
            }
            j += 1
        }
        if a[2].equalsIgnoringCase("off") {
            disableTracking(s)
            s.out.ok()
            return
        }
        guard a[2].equalsIgnoringCase("on") else {
            replyError(s, "ERR syntax error")
            return
        }
        if !bcast && !prefixes.isEmpty {
            replyError(s, "ERR PREFIX option requires BCAST mode to be enabled")
            return
        }
        if s.tracking.on && s.tracking.bcast != bcast {
            replyError(s, "ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.")
            return
        }
        if bcast && (optin || optout) {
            replyError(s, "ERR OPTIN and OPTOUT are not compatible with BCAST")
            return
        }
        if optin && optout {
            replyError(s, "ERR You can't specify both OPTIN mode and OPTOUT mode")
            return
        }
        if s.tracking.on && (optin && s.tracking.optout || optout && s.tracking.optin) {
            replyError(s, "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.")
            return
        }
        // Prefixes must not overlap (one a prefix of the other), with the client's current
        // ones or with each other. Redis's check reports an overlap inside the given list but
        // goes on to enable tracking (and answer OK too) unless the overlap involves the
        // first prefix given; replies match it.
        for (i, p) in prefixes.enumerated() {
            for old in s.tracking.prefixes where Self.prefixesOverlap(old, p) {
                replyError(s, "ERR Prefix '\(p.errorText)' overlaps with an existing prefix '\(old.errorText)'. Prefixes for a single client must not overlap.")
                return
            }
            if let q = prefixes[(i + 1)...].first(where: { Self.prefixesOverlap(p, $0) }) {
                replyError(s, "ERR Prefix '\(p.errorText)' overlaps with another provided prefix '\(q.errorText)'. Prefixes for a single client must not overlap.")
                if i == 0 { return }
                break
            }
        }
        enableTracking(s, redirect: redirect, bcast: bcast, optin: optin, optout: optout, noloop: noloop, prefixes: prefixes)
        s.out.ok()
    }

    static func prefixesOverlap(_ a: Key, _ b: Key) -> Bool {
        let n = min(a.readableBytes, b.readableBytes)
        return a.getSlice(at: a.readerIndex, length: n) == b.getSlice(at: b.readerIndex, length: n)
    }

    func enableTracking(
        _ s: ClientSession, redirect: Int, bcast: Bool, optin: Bool, optout: Bool, noloop: Bool, prefixes: [Key]
    ) {
        if !s.tracking.on { tracking.clients += 1 }
        s.tracking.on = true
        s.tracking.brokenRedirect = false
        s.trackingRedirection = redirect
        s.tracking.optin = optin
        s.tracking.optout = optout
        s.tracking.noloop = noloop
        s.tracking.bcast = bcast
        if bcast {
            // No prefix: every key (the empty prefix).
            for p in prefixes.isEmpty ? [Key()] : prefixes {
                if tracking.prefixes[p, default: TrackingTables.Broadcast()].clients.insert(s.id).inserted {
                    s.tracking.prefixes.append(p)
                }
            }
            s.tracking.prefixes.sort { Self.byteOrder($0, $1) }
        }
    }

    /// Turns tracking off (CLIENT TRACKING OFF, RESET, disconnect). The client's entries in
    /// the key table are left to be dropped lazily, as Redis does.
    func disableTracking(_ s: ClientSession) {
        guard s.tracking.on else { return }
        for p in s.tracking.prefixes {
            tracking.prefixes[p]?.clients.remove(s.id)
            if tracking.prefixes[p]?.clients.isEmpty == true { tracking.prefixes[p] = nil }
        }
        tracking.clients -= 1
        s.tracking = TrackingMode()
    }

    /// Byte-wise order, shorter first on a common prefix (the order of Redis's radix trees).
    static func byteOrder(_ a: Key, _ b: Key) -> Bool {
        a.readableBytesView.lexicographicallyPrecedes(b.readableBytesView)
    }

    // MARK: - Remembering and invalidating keys

    /// After a read-only command of a default-mode tracking client: remember its keys
    /// (OPTIN: only after CLIENT CACHING YES; OPTOUT: unless CLIENT CACHING NO).
    func trackingRememberKeys(_ s: ClientSession, _ spec: CommandSpec, _ args: CommandArgs) {
        if (s.tracking.optin && !s.tracking.caching) || (s.tracking.optout && s.tracking.caching) { return }
        for (i, _) in spec.keyPositions(args) {
            let key = args[i]
            if let ids = tracking.keys[key] {
                if !ids.contains(s.id) {
                    tracking.keys[key]!.insert(s.id)
                    tracking.items += 1
                }
            } else {
                tracking.keys[key.detached] = [s.id]
                tracking.items += 1
            }
        }
    }

    /// A key changed (every place a WATCH is touched): tell the clients that may cache it.
    /// `by` is the session whose command changed it (nil for expiry).
    func trackingInvalidate(_ key: Key, by: ClientSession?, broadcast: Bool = true) {
        if broadcast && !tracking.prefixes.isEmpty { noteForBroadcast(key, by: by) }
        guard let ids = tracking.keys.removeValue(forKey: key) else { return }
        tracking.items -= ids.count
        for id in ids.sorted() {
            guard let target = clients[id], target.tracking.on, !target.tracking.bcast else { continue }
            if target.tracking.noloop && target === by { continue }
            sendInvalidation(target, .key(key))
        }
    }

    private func noteForBroadcast(_ key: Key, by: ClientSession?) {
        var noted = false
        // Walked by index so each matching prefix's state is updated in place, without
        // copying the table or its key list.
        var i = tracking.prefixes.startIndex
        while i != tracking.prefixes.endIndex {
            let prefix = tracking.prefixes.keys[i]
            if prefix.readableBytes <= key.readableBytes
                && (prefix.readableBytes == 0 || key.getSlice(at: key.readerIndex, length: prefix.readableBytes) == prefix)
            {
                if tracking.prefixes.values[i].changed[key] == nil {
                    tracking.prefixes.values[i].changed[key.detached] = by?.id ?? 0
                }
                noted = true
            }
            tracking.prefixes.formIndex(after: &i)
        }
        if noted && !tracking.broadcastScheduled {
            tracking.broadcastScheduled = true
            let bound = NIOLoopBound(self, eventLoop: eventLoop)
            eventLoop.execute { bound.value.broadcastInvalidations() }
        }
    }

    /// End of the iteration: each BCAST client gets the keys changed under its prefixes.
    func broadcastInvalidations() {
        tracking.broadcastScheduled = false
        for prefix in tracking.prefixes.keys.sorted(by: Self.byteOrder) {
            guard let state = tracking.prefixes[prefix], !state.changed.isEmpty else { continue }
            tracking.prefixes[prefix]?.changed = [:]
            let all = state.changed.keys.sorted(by: Self.byteOrder)
            for id in state.clients.sorted() {
                guard let target = clients[id] else { continue }
                let keys = target.tracking.noloop ? all.filter { state.changed[$0] != id } : all
                if keys.isEmpty { continue }
                sendInvalidation(target, .keys(keys))
            }
        }
        flushPendingAtEndOfIteration()
    }

    /// A flush: every tracking client is told that all keys are invalid; the table empties.
    func trackingInvalidateAll() {
        if tracking.clients > 0 {
            for id in clients.keys.sorted() {
                guard let c = clients[id], c.tracking.on else { continue }
                sendInvalidation(c, .all)
            }
        }
        tracking.keys = [:]
        tracking.items = 0
    }

    /// tracking-table-max-keys: past the limit, forget keys (telling their clients, as if the
    /// keys had changed) until the table fits again, at most 1,000 per cron tick (Redis evicts
    /// at random with a bounded effort; here the victims are the first keys in hash order).
    func trackingLimitKeys() {
        guard let limit = Int(config.value(of: "tracking-table-max-keys") ?? "0"), limit > 0,
            tracking.keys.count > limit
        else { return }
        let victims = Array(tracking.keys.keys.prefix(Swift.min(tracking.keys.count - limit, 1000)))
        for key in victims { trackingInvalidate(key, by: nil, broadcast: false) }
    }

    /// Sends one invalidation for `target`'s tracking: to its REDIRECT client if it has one,
    /// after the reply when `target` is running the command that caused it.
    func sendInvalidation(_ target: ClientSession, _ what: Invalidation) {
        if target === executingSession {
            target.pendingInvalidations.append(what)
            return
        }
        deliverInvalidation(target, what)
    }

    /// Sends the invalidations a command addressed to its own client, after its reply.
    func flushPendingInvalidations(_ s: ClientSession) {
        let pending = s.pendingInvalidations
        s.pendingInvalidations = []
        for what in pending { deliverInvalidation(s, what) }
    }

    private func deliverInvalidation(_ source: ClientSession, _ what: Invalidation) {
        var dest = source
        var redirected = false
        if source.trackingRedirection != 0 {
            guard let r = clients[source.trackingRedirection] else {
                // Told at every invalidation while the redirect is gone (as Redis 7.0).
                source.tracking.brokenRedirect = true
                if source.resp == .resp3 {
                    let start = source.out.buffer.writerIndex
                    defer { notePush(source, from: start) }
                    source.out.pushHeader(2)
                    source.out.bulk("tracking-redir-broken" as StaticString)
                    source.out.integer(source.trackingRedirection)
                    if source !== executingSession { scheduleFlush(source) }
                }
                return
            }
            dest = r
            redirected = true
        }
        guard !dest.killed else { return }
        let start = dest.out.buffer.writerIndex
        defer { notePush(dest, from: start) }
        if dest.resp == .resp3 {
            dest.out.pushHeader(2)
            dest.out.bulk("invalidate" as StaticString)
        } else if redirected && dest.isSubscribed {
            dest.out.arrayHeader(3)
            dest.out.bulk("message" as StaticString)
            dest.out.bulk("__redis__:invalidate" as StaticString)
        } else {
            // RESP2 has no pushes on a connection that is not subscribed.
            return
        }
        switch what {
        case .key(let k):
            dest.out.arrayHeader(1)
            dest.out.bulk(k)
        case .all:
            // Redis writes the null of the *tracking* client's protocol, raw: a RESP3 client
            // redirecting to a RESP2 subscriber makes it receive `_` inside a `message`.
            if source.resp == .resp3 {
                dest.out.buffer.writeStaticString("_\r\n")
            } else {
                dest.out.buffer.writeStaticString("$-1\r\n")
            }
        case .keys(let ks):
            dest.out.arrayHeader(ks.count)
            for k in ks { dest.out.bulk(k) }
        }
        if dest !== executingSession { scheduleFlush(dest) }
    }
}

