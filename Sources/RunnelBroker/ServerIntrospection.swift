import CRunnelSystem
import NIOCore
import RunnelRESP

/// MONITOR, MEMORY, WAIT, ROLE, and the answers of a server without cluster support
/// (CLUSTER, READONLY, READWRITE, ASKING), as redis-server 7.0 gives them.
extension Broker {
    static func registerIntrospectionCommands(_ r: inout CommandRegistrar) {
        r.add("monitor", 1, ["admin", "noscript", "loading", "stale"], ["@admin", "@slow", "@dangerous"], "server", "Listen for all requests received by the server in real time") { b, s, _ in
            b.startMonitor(s)
        }
        r.add("wait", 3, ["noscript"], ["@slow", "@connection"], "generic", "Wait for the synchronous replication of all the write commands sent in the context of the current connection", "3.0.0") { b, s, a in
            b.wait(s, a)
        }
        r.add("role", 1, ["noscript", "loading", "stale", "fast"], ["@admin", "@fast", "@dangerous"], "server", "Return the role of the instance in the context of replication", "2.8.12") { _, s, _ in
            // A primary with no replicas: Runnel does not replicate.
            s.out.arrayHeader(3)
            s.out.bulk("master" as StaticString)
            s.out.integer(0)
            s.out.arrayHeader(0)
        }
        for (name, flags, summary) in [
            ("readonly", ["loading", "stale", "fast"], "Enables read queries for a connection to a cluster replica node"),
            ("readwrite", ["loading", "stale", "fast"], "Disables read queries for a connection to a cluster replica node"),
            ("asking", ["fast"], "Sent by cluster clients after an -ASK redirect"),
        ] {
            r.add(name, 1, flags, ["@fast", "@connection"], "cluster", summary, "3.0.0") { b, s, _ in
                b.replyError(s, "ERR This instance has cluster support disabled")
            }
        }
        r.container("cluster", group: "cluster", summary: "A container for cluster commands", since: "3.0.0")
        for (name, arity) in clusterSubcommands {
            let categories = CommandRegistrar.catalogCategories("cluster|\(name)") ?? ["@slow"]
            r.sub("cluster", name, arity, [], categories, "A cluster command (cluster mode is not supported)", since: "3.0.0") { b, s, _ in
                b.replyError(s, "ERR This instance has cluster support disabled")
            }
        }
        // Replication: Runnel is always a primary with no replicas.
        for name in ["replicaof", "slaveof"] {
            r.add(name, 3, ["admin", "noscript", "stale", "no_async_loading"], ["@admin", "@slow", "@dangerous"], "server", "Make the server a replica of another instance, or promote it as master", "5.0.0") { b, s, a in
                if a[1].equalsIgnoringCase("no") && a[2].equalsIgnoringCase("one") {
                    s.out.ok()
                } else if let port = RESPInteger.parse(a[2]), port >= 0, port <= 65535 {
                    b.replyError(s, "ERR Runnel does not support replication")
                } else {
                    b.replyError(s, "ERR Invalid master port")
                }
            }
        }
        for (name, arity) in [("sync", 1), ("psync", -3)] {
            r.add(name, arity, ["admin", "noscript", "no_async_loading", "no_multi"], ["@admin", "@slow", "@dangerous"], "server", "Internal command used for replication", "1.0.0") { b, s, a in
                // Redis reads PSYNC's offset before anything else.
                if a.count > 2 && RESPInteger.parse(a[2]) == nil {
                    b.replyError(s, "ERR value is not an integer or out of range")
                    return
                }
                b.replyError(s, "ERR Runnel does not support replication")
            }
        }
        r.add("failover", -1, ["admin", "noscript", "stale"], ["@admin", "@slow", "@dangerous"], "server", "Start a coordinated failover between this server and one of its replicas.", "6.2.0") { b, s, a in
            if a.count == 2 && a[1].equalsIgnoringCase("abort") {
                b.replyError(s, "ERR No failover in progress.")
            } else {
                b.replyError(s, Self.failoverArgumentError(a) ?? "ERR FAILOVER requires connected replicas.")
            }
        }
        r.add("lolwut", -1, ["readonly", "fast"], ["@read", "@fast"], "server", "Display some computer art and the Redis version", "5.0.0") { b, s, a in
            var j = 1
            while j < a.count {
                if a[j].equalsIgnoringCase("version") && j + 1 < a.count {
                    guard RESPInteger.parse(a[j + 1]) != nil else {
                        b.replyError(s, "ERR value is not an integer or out of range")
                        return
                    }
                    j += 1
                }
                j += 1
            }
            // Redis 7's own LOLWUT (no art of its own) prints the version line.
            s.out.verbatim("Redis ver. \(Self.compatibleRedisVersion)\n")
        }
        r.add("debug", -2, ["admin", "noscript", "loading", "stale"], ["@admin", "@slow", "@dangerous"], "server", "A container for debugging commands") { b, s, a in
            // enable-debug-command is "no" unless set in the configuration, as in Redis 7.
            if b.config.value(of: "enable-debug-command") == "no"
                || (b.config.value(of: "enable-debug-command") == "local" && !Self.isLoopback(s.remoteAddress)) {
                b.replyError(s, "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.")
            } else {
                b.debugCommand(s, a)
            }
        }
        r.container("memory", group: "server", summary: "A container for memory diagnostics commands", since: "4.0.0")
        r.sub("memory", "usage", -3, ["readonly"], ["@read", "@slow"], "Estimate the memory usage of a key", since: "4.0.0", keys: (2, 2, 1)) { b, s, a in
            b.memoryUsage(s, a)
        }
        r.sub("memory", "stats", 2, [], ["@slow"], "Show memory usage details", since: "4.0.0") { b, s, _ in
            b.memoryStats(s)
        }
        r.sub("memory", "doctor", 2, [], ["@slow"], "Outputs memory problems report", since: "4.0.0") { b, s, _ in
            // Redis gives up below 5 MB allocated, about 4 MB of data past its startup size.
            let text = b.measureStreamData() < 4 << 20
                ? "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n"
                : "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n"
            s.out.verbatim(text)
        }
        r.sub("memory", "malloc-stats", 2, [], ["@slow"], "Show allocator internal stats", since: "4.0.0") { _, s, _ in
            s.out.verbatim("Stats not supported for the current allocator")
        }
        r.sub("memory", "purge", 2, [], ["@slow"], "Ask the allocator to release memory", since: "4.0.0") { _, s, _ in
            // glibc's malloc gives free pages at the top of its heaps back to the system.
            _ = runnel_release_free_memory()
            s.out.ok()
        }
        r.help("memory", [
            "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
            "HELP",
            "    Prints this help.",
        ])
    }

    /// CLUSTER's subcommands in redis-server 7.0 with their arities, so that argument errors
    /// come before the "cluster support disabled" one, as there.
    static let clusterSubcommands: [(String, Int)] = [
        ("addslots", -3), ("addslotsrange", -4), ("bumpepoch", 2), ("count-failure-reports", 3), ("countkeysinslot", 3),
        ("delslots", -3), ("delslotsrange", -4), ("failover", -2), ("flushslots", 2), ("forget", 3), ("getkeysinslot", 4),
        ("help", 2), ("info", 2), ("keyslot", 3), ("links", 2), ("meet", -4), ("myid", 2), ("nodes", 2), ("replicas", 3),
        ("replicate", 3), ("reset", -2), ("saveconfig", 2), ("set-config-epoch", 3), ("setslot", -4), ("shards", 2),
        ("slaves", 3), ("slots", 2),
    ]

    /// FAILOVER [TO host port [FORCE]] [TIMEOUT ms]: Redis's error for a malformed one, if any.
    static func failoverArgumentError(_ a: CommandArgs) -> String? {
        var j = 1
        while j < a.count {
            if a[j].equalsIgnoringCase("to") && j + 2 < a.count {
                guard RESPInteger.parse(a[j + 2]) != nil else { return "ERR value is not an integer or out of range" }
                j += 3
            } else if a[j].equalsIgnoringCase("timeout") && j + 1 < a.count {
                guard let t = RESPInteger.parse(a[j + 1]) else { return "ERR value is not an integer or out of range" }
                guard t > 0 else { return "ERR FAILOVER timeout must be greater than 0" }
                j += 2
            } else if a[j].equalsIgnoringCase("force") {
                j += 1
            } else {
                return "ERR syntax error"
            }
        }
        return nil
    }

    static func isLoopback(_ address: String) -> Bool {
        address.hasPrefix("127.") || address.hasPrefix("::1") || address.hasPrefix("[::1]")
    }

    // MARK: - MONITOR

    func startMonitor(_ s: ClientSession) {
        if s.inExec {
            replyError(s, "ERR MONITOR isn't allowed for DENY BLOCKING client")
            return
        }
        // A second MONITOR is ignored without a reply, as in Redis.
        guard !s.isMonitor else { return }
        s.isMonitor = true
        monitors.append(s)
        s.out.ok()
    }

    func stopMonitor(_ s: ClientSession) {
        guard s.isMonitor else { return }
        s.isMonitor = false
        monitors.removeAll { $0 === s }
    }

    /// One line per executed command to every MONITOR client, as Redis writes it:
    /// `+<sec>.<usec> [<db> <addr>] "arg" …`, arguments quoted and escaped, secrets redacted.
    func feedMonitors(_ session: ClientSession, _ spec: CommandSpec, _ args: CommandArgs) {
        let now = Clock.nowUs()
        var line = ByteBufferAllocator().buffer(capacity: 64 + args.reduce(0) { $0 + $1.readableBytes + 3 })
        let usec = String(now % 1_000_000)
        line.writeString("+\(now / 1_000_000).\(String(repeating: "0", count: 6 - usec.count))\(usec) [\(session.db) \(session.remoteAddress)]")
        for (i, arg) in args.enumerated() {
            line.writeString(" ")
            if session.redactedArgs.contains(i) {
                line.writeString("\"(redacted)\"")
            } else {
                Self.writeQuoted(arg, into: &line)
            }
        }
        line.writeString("\r\n")
        for m in monitors where !m.killed {
            m.out.buffer.writeImmutableBuffer(line)
            scheduleFlush(m)
            enforceOutputLimits(m, now: turnTimeMs)
        }
    }

    /// Redis's `sdscatrepr`: a double-quoted string with `\\ \" \n \r \t \a \b` escaped and
    /// other bytes outside printable ASCII as `\xhh`.
    static func writeQuoted(_ arg: ByteBuffer, into out: inout ByteBuffer) {
        out.writeInteger(UInt8(ascii: "\""))
        let hex = Array("0123456789abcdef".utf8)
        for c in arg.readableBytesView {
            switch c {
            case UInt8(ascii: "\\"): out.writeStaticString("\\\\")
            case UInt8(ascii: "\""): out.writeStaticString("\\\"")
            case 0x0A: out.writeStaticString("\\n")
            case 0x0D: out.writeStaticString("\\r")
            case 0x09: out.writeStaticString("\\t")
            case 0x07: out.writeStaticString("\\a")
            case 0x08: out.writeStaticString("\\b")
            case 0x20...0x7E: out.writeInteger(c)
            default: out.writeBytes([UInt8(ascii: "\\"), UInt8(ascii: "x"), hex[Int(c >> 4)], hex[Int(c & 15)]])
            }
        }
        out.writeInteger(UInt8(ascii: "\""))
    }

    // MARK: - WAIT

    /// WAIT numreplicas timeout: Runnel has no replicas, so 0 replicas acknowledge; asking for
    /// more blocks until the timeout (forever for 0), as a Redis primary without replicas does.
    func wait(_ s: ClientSession, _ a: CommandArgs) {
        guard let wanted = RESPInteger.parse(a[1]) else {
            replyError(s, "ERR value is not an integer or out of range")
            return
        }
        guard let timeoutMs = RESPInteger.parse(a[2]) else {
            replyError(s, "ERR timeout is not an integer or out of range")
            return
        }
        guard timeoutMs >= 0 else {
            replyError(s, "ERR timeout is negative")
            return
        }
        // Redis 7.0 keeps the count it waits for in an `int`: a count whose low 32 bits are 0 or
        // negative as an int (2147483648, 4294967296, LLONG_MAX…) is met by zero replicas
        // on the next event-loop pass, so it answers 0 at once as well.
        if wanted <= 0 || Int32(truncatingIfNeeded: wanted) <= 0 || s.inExec {
            s.out.integer(0)
            return
        }
        block(s, ReadRequest(keys: [], after: [], count: 0), timeoutMs: timeoutMs, timeoutReply: .integer(0))
    }

    // MARK: - MEMORY

    /// Bytes a stream's key and value take: node storage, group state, key and table entry.
    func streamMemory(_ key: Key, _ box: StreamBox) -> Int {
        var total = box.stream.storageBytes + 48 + key.readableBytes + 24
        for group in box.stream.groups.values {
            total += 128 + group.pending.count * 64 + group.consumers.count * 96
        }
        return total
    }

    func memoryUsage(_ s: ClientSession, _ a: CommandArgs) {
        var j = 3
        while j < a.count {
            if a[j].equalsIgnoringCase("samples") && j + 1 < a.count {
                guard integerArgument(s, a[j + 1], rangeError: "ERR syntax error", valid: { $0 >= 0 }) != nil else { return }
                j += 2
            } else {
                replyError(s, "ERR syntax error")
                return
            }
        }
        // Runnel's sizes are exact sums, not samples: SAMPLES is accepted and changes nothing.
        guard case .stream(let box)? = dbs[s.db].rawValue(a[2]) else {
            s.out.null()
            return
        }
        s.out.integer(streamMemory(a[2], box))
    }

    /// Bytes of the clients' output buffers (MEMORY STATS `clients.normal`, INFO
    /// `mem_clients_normal`).
    var clientBufferBytes: Int { clients.values.reduce(0) { $0 + $1.out.buffer.capacity } }

    /// MEMORY STATS with Redis's fields. Runnel's allocator is glibc's, which keeps no
    /// statistics Redis's jemalloc fields could come from: the allocator figures are the
    /// resident size, and the dataset is the streams' own accounting.
    func memoryStats(_ s: ClientSession) {
        let rss = Self.residentBytes()
        var keys = 0
        var dataset = 0
        var perDB: [(Int, Int, Int)] = []
        for (i, db) in dbs.enumerated() where db.count > 0 {
            keys += db.count
            for (key, value) in db.values {
                if case .stream(let box) = value { dataset += streamMemory(key, box) }
            }
            perDB.append((i, db.count * 40, db.expires.count * 40))
        }
        let clientBuffers = clientBufferBytes
        let aofBuffer = persistence?.encoder.pendingBytes ?? 0
        let overhead = max(0, rss - dataset)
        let fields: [(String, Any)] = [
            ("peak.allocated", rss), ("total.allocated", rss), ("startup.allocated", startupResidentBytes),
            ("replication.backlog", 0), ("clients.slaves", 0), ("clients.normal", clientBuffers), ("cluster.links", 0),
            ("aof.buffer", aofBuffer), ("lua.caches", 0), ("functions.caches", 0),
        ]
        let tail: [(String, Any)] = [
            ("overhead.total", overhead), ("keys.count", keys), ("keys.bytes-per-key", keys > 0 ? dataset / keys : 0),
            ("dataset.bytes", dataset),
            ("dataset.percentage", rss > startupResidentBytes ? Double(dataset) * 100 / Double(rss - startupResidentBytes) : 0.0),
            ("peak.percentage", 100.0), ("allocator.allocated", rss), ("allocator.active", rss), ("allocator.resident", rss),
            ("allocator-fragmentation.ratio", 1.0), ("allocator-fragmentation.bytes", 0), ("allocator-rss.ratio", 1.0),
            ("allocator-rss.bytes", 0), ("rss-overhead.ratio", 1.0), ("rss-overhead.bytes", 0), ("fragmentation", 1.0),
            ("fragmentation.bytes", 0),
        ]
        s.out.mapHeader(fields.count + perDB.count + tail.count)
        func write(_ name: String, _ value: Any) {
            s.out.bulk(name)
            if let d = value as? Double { s.out.double(d) } else { s.out.integer(value as? Int ?? 0) }
        }
        for (name, value) in fields { write(name, value) }
        for (i, main, expires) in perDB {
            s.out.bulk("db.\(i)")
            s.out.mapHeader(3)
            write("overhead.hashtable.main", main)
            write("overhead.hashtable.expires", expires)
            write("overhead.hashtable.slot-to-keys", 0)
        }
        for (name, value) in tail { write(name, value) }
    }
}
