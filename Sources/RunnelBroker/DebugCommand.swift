import Crypto
import Logging
import NIOCore
import RunnelRESP
import RunnelStorage
import RunnelStreams

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What DEBUG subcommands switch at run time.
struct DebugSwitches {
    /// DEBUG SET-ACTIVE-EXPIRE: expire keys in the background (cron) as well as on access.
    var activeExpire = true
    /// DEBUG PAUSE-CRON: the periodic work stops.
    var pauseCron = false
    /// DEBUG SET-SKIP-CHECKSUM-VALIDATION: RESTORE does not check a payload's CRC-64.
    var skipChecksumValidation = false
}

/// DEBUG (only with `enable-debug-command yes`, or `local` from loopback, as in Redis 7): the
/// subcommands of redis-server 7.0 that mean something for a stream broker, with its replies and
/// errors. Runnel reports `mem_allocator:libc`, so it answers as a Redis built with libc malloc
/// (no MALLCTL). Subcommands about Redis's C internals that Runnel does not have answer an
/// error that says so; the crash subcommands (SEGFAULT, PANIC, ASSERT, OOM) end the process at
/// once, as a kill -9 would, which is what they are used for: testing what survives a crash.
extension Broker {
    static let debugHelp = [
        "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "AOF-FLUSH-SLEEP <microsec>",
        "    Server will sleep before flushing the AOF, this is used for testing.",
        "ASSERT",
        "    Crash by assertion failed.",
        "CHANGE-REPL-ID",
        "    Change the replication IDs of the instance.",
        "    Dangerous: should be used only for testing the replication subsystem.",
        "CONFIG-REWRITE-FORCE-ALL",
        "    Like CONFIG REWRITE but writes all configuration options, including",
        "    keywords not listed in original configuration file or default values.",
        "CRASH-AND-RECOVER [<milliseconds>]",
        "    Hard crash and restart after a <milliseconds> delay (default 0).",
        "DIGEST",
        "    Output a hex signature representing the current DB content.",
        "DIGEST-VALUE <key> [<key> ...]",
        "    Output a hex signature of the values of all the specified keys.",
        "ERROR <string>",
        "    Return a Redis protocol error with <string> as message. Useful for clients",
        "    unit tests to simulate Redis errors.",
        "LEAK <string>",
        "    Create a memory leak of the input string.",
        "LOG <message>",
        "    Write <message> to the server log.",
        "HTSTATS <dbid>",
        "    Return hash table statistics of the specified Redis database.",
        "HTSTATS-KEY <key>",
        "    Like HTSTATS but for the hash table stored at <key>'s value.",
        "LOADAOF",
        "    Flush the AOF buffers on disk and reload the AOF in memory.",
        "REPLICATE <string>",
        "    Replicates the provided string to replicas, allowing data divergence.",
        "OBJECT <key>",
        "    Show low level info about `key` and associated value.",
        "DROP-CLUSTER-PACKET-FILTER <packet-type>",
        "    Drop all packets that match the filtered type. Set to -1 allow all packets.",
        "OOM",
        "    Crash the server simulating an out-of-memory error.",
        "PANIC",
        "    Crash the server simulating a panic.",
        "POPULATE <count> [<prefix>] [<size>]",
        "    Create <count> string keys named key:<num>. If <prefix> is specified then",
        "    it is used instead of the 'key' prefix. These are not propagated to",
        "    replicas. Cluster slots are not respected so keys not belonging to the",
        "    current node can be created in cluster mode.",
        "PROTOCOL <type>",
        "    Reply with a test value of the specified type. <type> can be: string,",
        "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
        "    true, false.",
        "RELOAD [option ...]",
        "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
        "    * MERGE: conflicting keys will be loaded from RDB.",
        "    * NOFLUSH: the existing database will not be removed before load, but",
        "      conflicting keys will generate an exception and kill the server.",
        "    * NOSAVE: the database will be loaded from an existing RDB file.",
        "    Examples:",
        "    * DEBUG RELOAD: verify that the server is able to persist, flush and reload",
        "      the database.",
        "    * DEBUG RELOAD NOSAVE: replace the current database with the contents of an",
        "      existing RDB file.",
        "    * DEBUG RELOAD NOSAVE NOFLUSH MERGE: add the contents of an existing RDB",
        "      file to the database.",
        "RESTART [<milliseconds>]",
        "    Graceful restart: save config, db, restart after a <milliseconds> delay (default 0).",
        "SDSLEN <key>",
        "    Show low level SDS string info representing `key` and value.",
        "SEGFAULT",
        "    Crash the server with sigsegv.",
        "SET-ACTIVE-EXPIRE <0|1>",
        "    Setting it to 0 disables expiring keys in background when they are not",
        "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
        "    default.",
        "QUICKLIST-PACKED-THRESHOLD <size>",
        "    Sets the threshold for elements to be inserted as plain vs packed nodes",
        "    Default value is 1GB, allows values up to 4GB. Setting to 0 restores to default.",
        "SET-SKIP-CHECKSUM-VALIDATION <0|1>",
        "    Enables or disables checksum checks for RDB files and RESTORE's payload.",
        "SLEEP <seconds>",
        "    Stop the server for <seconds>. Decimals allowed.",
        "STRINGMATCH-TEST",
        "    Run a fuzz tester against the stringmatchlen() function.",
        "STRUCTSIZE",
        "    Return the size of different Redis core C structures.",
        "LISTPACK <key>",
        "    Show low level info about the listpack encoding of <key>.",
        "QUICKLIST <key> [<0|1>]",
        "    Show low level info about the quicklist encoding of <key>.",
        "    The optional argument (0 by default) sets the level of detail",
        "CLIENT-EVICTION",
        "    Show low level client eviction pools info (maxmemory-clients).",
        "PAUSE-CRON <0|1>",
        "    Stop periodic cron job processing.",
        "REPLYBUFFER PEAK-RESET-TIME <NEVER||RESET|time>",
        "    Sets the time (in milliseconds) to wait between client reply buffer peak resets.",
        "    In case NEVER is provided the last observed peak will never be reset",
        "    In case RESET is provided the peak reset time will be restored to the default value",
        "REPLYBUFFER RESIZING <0|1>",
        "    Enable or disable the reply buffer resize cron job",
        "CLUSTERLINK KILL <to|from|all> <node-id>",
        "    Kills the link based on the direction to/from (both) with the provided node.",
        "HELP",
        "    Prints this help.",
    ]

    /// Redis's OBJ_STREAM, mixed into DEBUG digests as a big-endian 32-bit number.
    static let streamObjectType: UInt32 = 6

    func debugCommand(_ s: ClientSession, _ a: CommandArgs) {
        let n = a.count
        let sub = a[1].lowercasedString
        switch sub {
        case "help" where n == 2:
            s.out.arrayHeader(Self.debugHelp.count)
            for line in Self.debugHelp { s.out.simpleString(line) }
        case "segfault", "panic", "assert", "oom":
            debugCrash(sub.uppercased())
        case "restart", "crash-and-recover":
            if n >= 3 && integerArgument(s, a[2]) == nil { return }
            logger.warning("DEBUG \(sub.uppercased()): Runnel does not restart itself; stop it and start it again (its supervisor, or SHUTDOWN then runnel-server)")
            replyError(s, "ERR failed to restart the server. Check server logs.")
        case "log" where n == 3:
            logger.warning("DEBUG LOG: \(a[2].string)")
            s.out.ok()
        case "leak" where n == 3, "set-disable-deny-scripts" where n == 3, "aof-flush-sleep" where n == 3:
            // Nothing of Runnel's to leak, no scripts, no AOF flush to delay.
            s.out.ok()
        case "replicate" where n >= 3:
            s.out.ok()  // no replicas
        case "reload", "loadaof":
            debugReload(s, a)
        case "drop-cluster-packet-filter" where n == 3:
            guard integerArgument(s, a[2]) != nil else { return }
            s.out.ok()
        case "object" where n == 3:
            guard case .stream(let box)? = dbs[s.db].rawValue(a[2]) else {
                replyError(s, "ERR no such key")
                return
            }
            let address = String(UInt(bitPattern: ObjectIdentifier(box)), radix: 16)
            let serialized = box.stream.redisDumpPayload().count - 11  // less the type byte and the footer
            s.out.simpleString(
                "Value at:0x\(address) refcount:1 encoding:stream serializedlength:\(serialized) lru:\(box.lru) lru_seconds_idle:\(box.idleSeconds(nowMs: Clock.nowMs()))")
        case "sdslen" where n == 3:
            replyError(s, dbs[s.db].rawValue(a[2]) == nil ? "ERR no such key" : "ERR Not an sds encoded string.")
        case "listpack" where n == 3, "quicklist" where n == 3 || n == 4, "htstats-key" where n == 3:
            guard lookup(s.db, a[2], touch: false, stats: true) != nil else {
                replyError(s, "ERR no such key")
                return
            }
            switch sub {
            case "listpack": replyError(s, "ERR Not a listpack encoded object.")
            case "quicklist": replyError(s, "ERR Not a quicklist encoded object.")
            default: replyError(s, "ERR The value stored at the specified key is not represented using an hash table")
            }
        case "populate" where n >= 3 && n <= 5:
            // getPositiveLongFromObjectOrReply: one error for a negative number and for none.
            let count = RESPInteger.parse(a[2]) ?? -1
            guard count >= 0 && (n < 5 || RESPInteger.parse(a[4]) ?? -1 >= 0) else {
                replyError(s, "ERR value is out of range, must be positive")
                return
            }
            guard count == 0 else {
                replyError(s, "ERR DEBUG POPULATE creates string keys, and Runnel has only streams")
                return
            }
            s.out.ok()
        case "digest" where n == 2:
            s.out.simpleString(Self.hex(datasetDigest()))
        case "digest-value":
            s.out.arrayHeader(n - 2)
            for key in a.dropFirst(2) {
                var digest = [UInt8](repeating: 0, count: 20)
                // As Redis: the key as stored, even if logically expired.
                if case .stream(let box)? = dbs[s.db].rawValue(key) {
                    Self.mixValueDigest(&digest, box.stream, expires: dbs[s.db].expireTime(key) != nil)
                }
                s.out.simpleString(Self.hex(digest))
            }
        case "protocol" where n == 3:
            debugProtocol(s, a[2].lowercasedString)
        case "sleep" where n == 3:
            // Stops the server, as redis-server's does (the log writer thread goes on).
            let seconds = a[2].string.withCString { strtod($0, nil) }
            let us = seconds.isFinite ? min(max(seconds * 1_000_000, 0), 1e15) : (seconds > 0 ? 1e15 : 0)
            var remaining = timespec(tv_sec: Int(us / 1_000_000), tv_nsec: Int(us.truncatingRemainder(dividingBy: 1_000_000)) * 1000)
            var left = timespec()
            while nanosleep(&remaining, &left) != 0 && errno == EINTR { remaining = left }
            s.out.ok()
        case "set-active-expire" where n == 3:
            debug.activeExpire = Self.atoi(a[2].string) != 0
            s.out.ok()
        case "pause-cron" where n == 3:
            debug.pauseCron = Self.atoi(a[2].string) != 0
            s.out.ok()
        case "set-skip-checksum-validation" where n == 3:
            debug.skipChecksumValidation = Self.atoi(a[2].string) != 0
            s.out.ok()
        case "quicklist-packed-threshold" where n == 3:
            // Runnel has no lists; the value is checked as Redis checks it.
            guard let size = ServerConfig.memtoull(a[2].string), size <= (1 << 32) - (1 << 20) else {
                replyError(s, "ERR argument must be a memory value bigger than 1 and smaller than 4gb")
                return
            }
            s.out.ok()
        case "error" where n == 3:
            // Written as given, as Redis's raw reply: no "ERR" added, not counted in errorstats.
            s.out.error(RESPWriter.escapedText(a[2].readableBytesView))
        case "structsize" where n == 2:
            replyError(s, "ERR DEBUG STRUCTSIZE: Runnel has none of Redis's C structures")
        case "htstats" where n == 3:
            guard let id = integerArgument(s, a[2]) else { return }
            guard id >= 0 && id < dbs.count else {
                replyError(s, "ERR Out of range database")
                return
            }
            replyError(s, "ERR DEBUG HTSTATS: Runnel's keyspace is not Redis's hash table; DBSIZE and INFO keyspace give its size")
        case "change-repl-id" where n == 2:
            logger.notice("Changing replication IDs after receiving DEBUG change-repl-id")
            var rng = SystemRandomNumberGenerator()
            replicationID = Self.randomHexID(using: &rng)
            s.out.ok()
        case "stringmatch-test" where n == 2:
            Glob.fuzzTest(rounds: 100_000)
            s.out.simpleString("Apparently Redis did not crash: test passed" as StaticString)
        case "config-rewrite-force-all" where n == 2:
            replyError(s, "ERR CONFIG-REWRITE-FORCE-ALL is not supported by Runnel; CONFIG REWRITE writes the options set")
        case "client-eviction" where n == 2:
            if config.value(of: "maxmemory-clients") == "0" {
                replyError(s, "ERR maxmemory-clients is disabled.")
            } else {
                replyError(s, "ERR DEBUG CLIENT-EVICTION: Runnel keeps no client eviction pools")
            }
        case "replybuffer" where n == 4:
            if a[2].equalsIgnoringCase("peak-reset-time") {
                if !a[3].equalsIgnoringCase("never") && !a[3].equalsIgnoringCase("reset") && integerArgument(s, a[3]) == nil { return }
            } else if !a[2].equalsIgnoringCase("resizing") {
                replyError(s, Self.subcommandSyntaxError(a))
                return
            }
            s.out.ok()  // Runnel's output buffers are NIO's; nothing to tune
        case "clusterlink" where n == 5 && a[2].equalsIgnoringCase("kill"):
            replyError(s, "ERR Debug option only available for cluster mode enabled setup!")
        default:
            replyError(s, Self.subcommandSyntaxError(a))
        }
    }

    // MARK: - Crash

    /// Ends the process at once, as a crash would: no shutdown, nothing more flushed. What was
    /// acknowledged is on disk as far as `appendfsync` promised.
    func debugCrash(_ what: String) -> Never {
        logger.warning("DEBUG \(what): ending the process now, as a crash would (no shutdown; what appendfsync made durable is on disk)")
        fflush(nil)
        raise(SIGKILL)
        _exit(1)
    }

    // MARK: - PROTOCOL

    func debugProtocol(_ s: ClientSession, _ type: String) {
        let resp3 = s.resp == .resp3
        switch type {
        case "string": s.out.bulk("Hello World" as StaticString)
        case "integer": s.out.integer(12345)
        case "double": s.out.double(3.141)
        case "bignum":
            if resp3 {
                s.out.buffer.writeStaticString("(1234567999999999999999999999999999999\r\n")
            } else {
                s.out.bulk("1234567999999999999999999999999999999" as StaticString)
            }
        case "null": s.out.null()
        case "array", "set":
            if type == "set" { s.out.setHeader(3) } else { s.out.arrayHeader(3) }
            for j in 0..<3 { s.out.integer(j) }
        case "map":
            s.out.mapHeader(3)
            for j in 0..<3 {
                s.out.integer(j)
                s.out.boolean(j == 1)
            }
        case "attrib":
            if resp3 {
                s.out.buffer.writeStaticString("|1\r\n")
                s.out.bulk("key-popularity" as StaticString)
                s.out.arrayHeader(2)
                s.out.bulk("key:123" as StaticString)
                s.out.integer(90)
            }
            s.out.bulk("Some real reply following the attribute" as StaticString)
        case "push":
            guard resp3 else {
                replyError(s, "ERR RESP2 is not supported by this command")
                return
            }
            let start = s.out.buffer.writerIndex
            s.out.pushHeader(2)
            s.out.bulk("server-cpu-usage" as StaticString)
            s.out.integer(42)
            notePush(s, from: start)
            s.out.bulk("Some real reply following the push reply" as StaticString)
        case "true": s.out.boolean(true)
        case "false": s.out.boolean(false)
        case "verbatim": s.out.verbatim("This is a verbatim\nstring")
        default:
            replyError(s, "ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false")
        }
    }

    // MARK: - DIGEST

    /// Redis's DEBUG DIGEST: per database with keys, its number (big-endian 32 bits) mixed in;
    /// per key, SHA-1 mixes of the key and its value, XORed into the result (so key order does
    /// not matter). An empty dataset gives 20 zero bytes.
    func datasetDigest() -> [UInt8] {
        var final = [UInt8](repeating: 0, count: 20)
        for (j, db) in dbs.enumerated() where !db.values.isEmpty {
            Self.mixDigest(&final, Self.bigEndian(UInt32(j)))
            for (key, value) in db.values {
                guard case .stream(let box) = value else { continue }
                var digest = [UInt8](repeating: 0, count: 20)
                Self.mixDigest(&digest, Array(key.readableBytesView))
                Self.mixValueDigest(&digest, box.stream, expires: db.expireTime(key) != nil)
                Self.xorDigest(&final, digest)
            }
        }
        return final
    }

    /// A stream's value digest, as Redis's xorObjectDigest: its type, then each live entry's
    /// ID (`ms.seq`), fields and values in order; "!!expire!!" XORed in for a key with a TTL.
    static func mixValueDigest(_ digest: inout [UInt8], _ stream: Stream, expires: Bool) {
        mixDigest(&digest, bigEndian(streamObjectType))
        for entry in stream.allEntries {
            mixDigest(&digest, Array("\(entry.id.ms).\(entry.id.seq)".utf8))
            for part in entry.fieldsAndValues { mixDigest(&digest, part) }
        }
        if expires { xorDigest(&digest, Array("!!expire!!".utf8)) }
    }

    /// digest ^= SHA1(bytes). (SHA-1 because Redis's digests are; nothing here needs a
    /// secure hash.)
    static func xorDigest(_ digest: inout [UInt8], _ bytes: [UInt8]) {
        for (i, b) in Insecure.SHA1.hash(data: bytes).enumerated() { digest[i] ^= b }
    }

    /// digest = SHA1(digest ^ SHA1(bytes)): order-sensitive.
    static func mixDigest(_ digest: inout [UInt8], _ bytes: [UInt8]) {
        xorDigest(&digest, bytes)
        digest = Array(Insecure.SHA1.hash(data: digest))
    }

    static func bigEndian(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)]
    }

    /// Lowercase hex, two digits a byte (digests, IDs, password hashes).
    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func randomHexID(using rng: inout SystemRandomNumberGenerator) -> String {
        hex((0..<20).map { _ in UInt8.random(in: 0...255, using: &rng) })
    }

    /// C's atoi: optional blanks and sign, then digits; anything else reads as 0.
    static func atoi(_ text: String) -> Int {
        var bytes = Array(text.utf8)[...]
        while let c = bytes.first, c == 32 || (c >= 9 && c <= 13) { bytes = bytes.dropFirst() }
        var negative = false
        if let c = bytes.first, c == 43 || c == 45 {
            negative = c == 45
            bytes = bytes.dropFirst()
        }
        var value: Int32 = 0
        for c in bytes {
            guard c >= 48 && c <= 57 else { break }
            value = value &* 10 &+ Int32(c - 48)
        }
        return Int(negative ? 0 &- value : value)
    }
}

// MARK: - RELOAD

extension Broker {
    /// DEBUG RELOAD (and LOADAOF): Redis saves an RDB file, empties memory and loads the file
    /// back, so a test learns whether the dataset survives the trip to disk. Runnel takes a
    /// snapshot (SAVE's: the log and checkpoint as of this command) and reads it back on the
    /// blocking pool with the recovery code a restart uses, then compares what it read with the
    /// streams as they were when the snapshot was asked for — entries, IDs, trimming state,
    /// groups, consumers, PELs, TTLs. Equal: `OK`, and memory is left as it is (it equals the
    /// reload) save what a reload changes for clients: keys' access times start again, WATCH
    /// aborts and tracking invalidates as after a flush. Different: Redis's load error, with
    /// the first difference in the log. Other clients are served meanwhile; the caller waits.
    func debugReload(_ s: ClientSession, _ a: CommandArgs) {
        var nosave = false
        if a[1].equalsIgnoringCase("reload") {
            for opt in a.dropFirst(2) {
                if opt.equalsIgnoringCase("nosave") {
                    nosave = true
                } else if !opt.equalsIgnoringCase("merge") && !opt.equalsIgnoringCase("noflush") {
                    replyError(s, "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.")
                    return
                }
            }
        }
        guard let p = persistence else {
            replyError(s, Self.nothingToSaveTo)
            return
        }
        guard !nosave else {
            replyError(s, "ERR DEBUG RELOAD NOSAVE is not supported by Runnel: there is no older dump to load; DEBUG RELOAD checks the current state on disk")
            return
        }
        guard !s.inExec else {
            // The snapshot is written by the log's thread; a transaction cannot wait for it.
            replyError(s, "ERR DEBUG RELOAD inside MULTI is not supported by Runnel")
            return
        }
        s.suspended = true
        startReload(s, p)
    }

    /// Takes the reload's snapshot once no other is being written (Redis's RELOAD saves even
    /// while a BGSAVE runs), then reads it back and compares.
    private func startReload(_ s: ClientSession, _ p: Persistence) {
        guard !p.snapshotRunning else {
            snapshotWaiters.append { [weak self, weak s] _ in
                guard let self, let s, let p = self.persistence else { return }
                self.startReload(s, p)
            }
            return
        }
        let expected = loggedStreams()
        p.snapshot(now: Clock.nowMs())
        let snapshots = p.directory.file(Snapshot.directoryName)
        snapshotWaiters.append { [weak self, weak s] outcome in
            guard let self, let s else { return }
            guard outcome.error == nil, let info = outcome.info else {
                self.replyError(s, "ERR \(outcome.error.map { "\($0)" } ?? "snapshot failed")")
                self.resume(s)
                return
            }
            let path = snapshots + "/" + info.name
            let logger = self.logger
            let inline = self.blockingPool == nil
            self.runBlocking(s, { Self.reloadDifference(path, expected, logger: logger) }) { [weak self] difference in
                guard let self else { return }
                if let difference {
                    self.logger.warning("DEBUG RELOAD: snapshot \(info.name) read back differs from memory: \(difference)")
                    self.replyError(s, "ERR Error trying to load the RDB dump, check server logs.")
                } else {
                    self.reloaded()
                    self.logger.notice("DB reloaded by DEBUG RELOAD: snapshot \(info.name) read back equals memory (\(expected.count) streams)")
                    s.out.ok()
                }
                if inline { self.resume(s) }
            }
        }
    }

    /// What a reload changes for clients although the data is the same.
    func reloaded() {
        let now = Clock.nowMs()
        for database in dbs {
            for case .stream(let box) in database.values.values { box.lru = StreamBox.fresh(nowMs: now, lfu: config.lfuPolicy) }
        }
        touchAllWatched(db: nil)
        trackingInvalidateAll()
    }

    /// Reads the snapshot at `path` back and returns the first difference from `expected`, or
    /// nil when they are equal.
    static func reloadDifference(_ path: String, _ expected: [CheckpointStream], logger: Logger) -> String? {
        let read: [CheckpointStream]
        do {
            read = try Recovery.recover(DataDirectory(path), repair: false, readOnly: true, logger: logger, visit: nil).streams
        } catch {
            return "reading it back failed: \(error)"
        }
        guard read.count == expected.count else { return "\(expected.count) streams in memory, \(read.count) read back" }
        struct Place: Hashable {
            let db: Int
            let key: [UInt8]
        }
        var byPlace: [Place: CheckpointStream] = [:]
        for cs in read { byPlace[Place(db: cs.db, key: cs.key)] = cs }
        for want in expected {
            let name = "db \(want.db) key '\(String(decoding: want.key, as: UTF8.self))'"
            guard let got = byPlace[Place(db: want.db, key: want.key)] else { return "\(name) was not read back" }
            guard got.expireAt == want.expireAt else { return "\(name): expire \(got.expireAt) read back, \(want.expireAt) in memory" }
            guard got.stream.canonicalDescription == want.stream.canonicalDescription,
                got.stream.allEntries.map(\.fieldsAndValues) == want.stream.allEntries.map(\.fieldsAndValues)
            else { return "\(name): the stream read back is not the one in memory" }
        }
        return nil
    }
}
