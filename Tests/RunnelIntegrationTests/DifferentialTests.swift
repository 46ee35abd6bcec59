import Foundation
import Testing
import RunnelTestSupport

@Suite("Differential: redis-server 7.0 vs runnel-server")
struct DifferentialTests {
    /// Runs every case against a fresh redis-server and runnel-server pair.
    func runAll(_ cases: [DiffCase], resp3: Bool) throws {
        let redis = try ServerProcess.redis()
        defer { redis.stop() }
        let runnel = try ServerProcess.runnel()
        defer { runnel.stop() }
        let runner = DifferentialRunner(redis: redis, runnel: runnel)
        var failures: [String] = []
        for c in cases {
            failures += runner.run(c, resp3: resp3)
        }
        for f in failures { Issue.record(Comment(rawValue: f)) }
        #expect(failures.isEmpty, "\(failures.count) differences")
    }

    /// DEBUG with `enable-debug-command yes` on both servers: the subcommands a stream broker
    /// has, with redis-server's replies, digests (SHA-1 over the streams, groups and TTLs as
    /// Redis computes them) and errors. HELP is left out: Runnel answers as a Redis built with
    /// libc malloc (no MALLCTL lines), Debian's is built with jemalloc.
    @Test("DEBUG subcommands with enable-debug-command yes, RESP2 and RESP3", arguments: [false, true])
    func debugCommand(resp3: Bool) throws {
        let redis = try ServerProcess.redis(extraArgs: ["--enable-debug-command", "yes"])
        defer { redis.stop() }
        let runnel = try ServerProcess.runnel(extraArgs: ["--enable-debug-command", "yes"])
        defer { runnel.stop() }
        let runner = DifferentialRunner(redis: redis, runnel: runnel)
        var failures: [String] = []
        for c in debugCases { failures += runner.run(c, resp3: resp3) }
        for f in failures { Issue.record(Comment(rawValue: f)) }
        #expect(failures.isEmpty, "\(failures.count) differences")
    }

    @Test("Server core commands, RESP2 and RESP3", arguments: [false, true])
    func serverCore(resp3: Bool) throws {
        try runAll(serverCoreCases, resp3: resp3)
    }

    @Test("ACL commands and permission checks, RESP2 and RESP3", arguments: [false, true])
    func acl(resp3: Bool) throws {
        try runAll(aclCases, resp3: resp3)
    }

    @Test("Stream commands, RESP2 and RESP3", arguments: [false, true])
    func streams(resp3: Bool) throws {
        try runAll(streamCases, resp3: resp3)
    }

    @Test("CLIENT TRACKING invalidations, RESP2 and RESP3", arguments: [false, true])
    func tracking(resp3: Bool) throws {
        try runAll(trackingCases, resp3: resp3)
    }

    /// INFO's keyspace_hits/keyspace_misses count the lookups Redis counts: read lookups only,
    /// once per key for most commands, twice for XREAD/XREADGROUP (they look each key up again
    /// to serve it), none for writes. Each command runs on a fresh stream, present and absent.
    @Test("keyspace_hits and keyspace_misses move as redis-server's")
    func keyspaceStats() throws {
        let redis = try ServerProcess.redis()
        defer { redis.stop() }
        let runnel = try ServerProcess.runnel()
        defer { runnel.stop() }
        let commands = [
            "XLEN s", "XRANGE s - +", "XREVRANGE s + -", "XREAD STREAMS s 0", "XREAD COUNT 1 STREAMS s s2 0 0",
            "XREAD STREAMS s $", "XREAD STREAMS s x", "XREADGROUP GROUP g c STREAMS s >", "XREADGROUP GROUP g c STREAMS s 0",
            "XREADGROUP GROUP nog c STREAMS s >", "XPENDING s g", "XPENDING s g - + 10", "XINFO STREAM s", "XINFO GROUPS s",
            "XINFO CONSUMERS s g", "XINFO STREAM s FULL", "XCLAIM s g c2 0 1-1", "XAUTOCLAIM s g c2 0 0", "XACK s g 1-1",
            "XAUTOCLAIM s g c2 x 0", "XAUTOCLAIM s g c2 0 0 COUNT 0", "XCLAIM s g c2 x 1-1",
            "XRANGE s x +", "XADD s * f v", "XDEL s 1-1", "XTRIM s MAXLEN 100", "XGROUP CREATE s g2 0",
            "XGROUP SETID s g 0", "XSETID s 99999999999999-0", "EXISTS s", "EXISTS s s", "TYPE s", "TTL s", "PTTL s",
            "EXPIRETIME s", "OBJECT ENCODING s", "OBJECT IDLETIME s", "DUMP s", "TOUCH s s3", "MEMORY USAGE s",
            "EXPIRE s 100", "PERSIST s", "COPY s s9", "RENAME s s8", "MOVE s 3", "RANDOMKEY", "KEYS *", "SCAN 0",
        ]
        func counters(_ c: TestConnection) throws -> [Int] {
            guard case .bulk(let b?) = try c.command("INFO", "stats") else { return [] }
            let text = String(decoding: b, as: UTF8.self)
            return ["keyspace_hits:", "keyspace_misses:"].map { name in
                text.split(separator: "\r\n").first { $0.hasPrefix(name) }.flatMap { Int($0.dropFirst(name.count)) } ?? -1
            }
        }
        let conns = (try TestConnection(port: redis.port), try TestConnection(port: runnel.port))
        var differences: [String] = []
        for command in commands {
            for present in [true, false] {
                var deltas: [[Int]] = []
                for c in [conns.0, conns.1] {
                    _ = try c.command("FLUSHALL")
                    _ = try c.command("XADD", "s", "1-1", "f", "v")
                    _ = try c.command("XADD", "s", "1-2", "f", "v")
                    _ = try c.command("XGROUP", "CREATE", "s", "g", "0")
                    _ = try c.command("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">")
                    if !present { _ = try c.command("DEL", "s") }
                    let before = try counters(c)
                    _ = try c.command(command.split(separator: " ").map(String.init))
                    let after = try counters(c)
                    deltas.append(zip(after, before).map { $0 - $1 })
                }
                if deltas[0] != deltas[1] {
                    differences.append("\(command) (key \(present ? "present" : "absent")): redis \(deltas[0]), runnel \(deltas[1])")
                }
            }
        }
        #expect(differences.isEmpty, "\(differences.joined(separator: "\n"))")
    }

    /// INFO's rdb_changes_since_last_save is Redis's dirty counter, which its commands move by
    /// their own rules: one per XADD (with or without trimming, with or without creating the
    /// key), one per entry XDEL/XTRIM removed, per entry acknowledged or claimed, per stream an
    /// XREADGROUP command serves (none when a blocked reader is served), per consumer created,
    /// per key deleted or flushed; expiries count nothing, SAVE starts again from 0.
    @Test("rdb_changes_since_last_save moves as redis-server's dirty counter")
    func dirtyCounter() throws {
        let script = [
            "XADD x 1-0 a 1", "XADD x 2-0 a 2 b 3", "XADD x MAXLEN 1 3-0 a 3", "XADD x NOMKSTREAM 4-0 a 4",
            "XADD nokey NOMKSTREAM 4-0 a 4", "XADD x 1-0 a 1", "XADD x 5-0 a 5", "XADD x 6-0 a 6", "XADD x 7-0 a 7",
            "XTRIM x MAXLEN 2", "XTRIM x MAXLEN 2", "XTRIM x MINID 7-0", "XDEL x 7-0 8-0", "XDEL x 9-0",
            "XADD x 8-0 a 8", "XADD x 9-0 a 9", "XADD x 10-0 a 10", "XGROUP CREATE x g 0", "XGROUP CREATE x g 0",
            "XGROUP CREATE y g $ MKSTREAM", "XGROUP CREATECONSUMER x g alice", "XGROUP CREATECONSUMER x g alice",
            "XREADGROUP GROUP g bob COUNT 1 STREAMS x >", "XREADGROUP GROUP g bob COUNT 5 STREAMS x >",
            "XREADGROUP GROUP g bob COUNT 5 STREAMS x >", "XREADGROUP GROUP g bob STREAMS x 0",
            "XREADGROUP GROUP g carol STREAMS x 0", "XREADGROUP GROUP g bob NOACK STREAMS x >", "XADD x 11-0 a 11",
            "XADD x 12-0 a 12", "XREADGROUP GROUP g dave NOACK STREAMS x >", "XREADGROUP GROUP g bob STREAMS x y > >",
            "XGROUP CREATE y g2 $", "XADD y 1-0 a 1", "XREADGROUP GROUP g bob STREAMS x y > >",
            "XREADGROUP GROUP g e STREAMS x x 0 0", "XACK x g 8-0 9-0 99-0", "XACK x g 8-0", "XCLAIM x g erin 0 10-0",
            "XCLAIM x g erin 0 10-0 JUSTID", "XCLAIM x g erin 0 99-0", "XCLAIM x g erin 0 11-0 FORCE",
            "XCLAIM x g erin 0 10-0 11-0 JUSTID", "XCLAIM x g newc 99999999 10-0", "XCLAIM x g erin 0 10-0 LASTID 50-0",
            "XCLAIM x g erin 0 10-0 LASTID 40-0", "XCLAIM x g erin 0 10-0 LASTID 60-0", "XDEL x 10-0",
            "XCLAIM x g erin 0 10-0 LASTID 70-0", "XAUTOCLAIM x g frank 0 0", "XAUTOCLAIM x g frank 0 0 JUSTID",
            "XAUTOCLAIM x g frank 999999 0", "XGROUP SETID x g 0", "XGROUP SETID x g $ ENTRIESREAD 3",
            "XGROUP DELCONSUMER x g frank", "XGROUP DELCONSUMER x g nobody", "XGROUP DESTROY x g", "XGROUP DESTROY x g",
            "XSETID x 100-0", "XSETID x 100-0 ENTRIESADDED 50 MAXDELETEDID 1-0", "XLEN x", "XRANGE x - +",
            "XINFO STREAM x", "EXPIRE x 100", "EXPIRE x 100 NX", "EXPIRE x 50 GT", "PEXPIRE x 200000", "TTL x",
            "PERSIST x", "PERSIST x", "RENAME x x", "RENAME x z", "RENAMENX z y", "RENAMENX z q", "COPY q r",
            "COPY q r", "COPY q r REPLACE", "MOVE r 3", "DEL q y nonexist", "UNLINK r", "SWAPDB 0 0", "XADD a 1-0 f v",
            "EXPIRE a -1", "XADD a 1-0 f v", "XADD b 1-0 f v", "FLUSHDB", "XADD a 1-0 f v", "XADD b 1-0 f v",
            "SWAPDB 0 1", "SWAPDB 0 1", "FLUSHALL", "FLUSHALL", "PING",
        ]
        func dirty(_ c: TestConnection) throws -> Int {
            guard case .bulk(let b?) = try c.command("INFO", "persistence") else { return -1 }
            let name = "rdb_changes_since_last_save:"
            return String(decoding: b, as: UTF8.self).split(separator: "\r\n").first { $0.hasPrefix(name) }
                .flatMap { Int($0.dropFirst(name.count)) } ?? -1
        }
        let (expected, got) = try ServerProcess.sideBySide { server -> [String] in
            let c = try TestConnection(port: server.port)
            let reader = try TestConnection(port: server.port)
            var deltas: [String] = []
            for line in script {
                let before = try dirty(c)
                _ = try c.command(line.split(separator: " ").map(String.init))
                deltas.append("\(line): \(try dirty(c) - before)")
            }
            // A blocked group reader served by an XADD: the XADD counts, the serving does not
            // (Redis counts the consumer it creates, as here).
            _ = try c.command("XGROUP", "CREATE", "bq", "g", "$", "MKSTREAM")
            for consumer in ["old", "new"] {
                if consumer == "old" { _ = try c.command("XGROUP", "CREATECONSUMER", "bq", "g", "old") }
                reader.send(["XREADGROUP", "GROUP", "g", consumer, "BLOCK", "5000", "STREAMS", "bq", ">"])
                usleep(100_000)
                let before = try dirty(c)
                _ = try c.command("XADD", "bq", "*", "f", "v")
                _ = try reader.read()
                deltas.append("blocked \(consumer) served: \(try dirty(c) - before)")
            }
            _ = try c.command("SAVE")
            deltas.append("after SAVE: \(try dirty(c))")
            return deltas
        }
        #expect(got.count == expected.count)
        let differences = zip(expected, got).filter { $0 != $1 }.map { "redis \($0.0), runnel \($0.1)" }
        #expect(differences.isEmpty, "\(differences.joined(separator: "\n"))")
    }

    /// An entry of more than 1 GiB of fields and values (Redis's `STREAM_LISTPACK_MAX_SIZE`):
    /// three 400 MB values, each within proto-max-bulk-len, together past the 1 GiB
    /// client-query-buffer-limit, which counts only input not yet parsed into arguments. Both
    /// servers refuse the entry with the same error, keep the stream XADD created (empty) and
    /// go on serving the connection.
    @Test("XADD past 1 GiB: redis-server's error, the created stream stays empty, the connection goes on")
    func oversizedEntry() throws {
        let value = [UInt8](repeating: UInt8(ascii: "x"), count: 400_000_000)
        let (expected, got) = try ServerProcess.sideBySide { server -> [RESPValue] in
            let c = try TestConnection(port: server.port)
            c.send(Array("*9\r\n$4\r\nXADD\r\n$4\r\nhuge\r\n$1\r\n*\r\n".utf8))
            for field in ["f1", "f2", "f3"] {
                c.send(Array("$2\r\n\(field)\r\n$\(value.count)\r\n".utf8))
                c.send(value)
                c.send([13, 10])
            }
            var replies = try c.read(1, timeoutMs: 120_000)
            for cmd in [["EXISTS", "huge"], ["TYPE", "huge"], ["XLEN", "huge"], ["XADD", "huge", "1-1", "f", "v"], ["PING"]] {
                replies.append(try c.command(cmd))
            }
            return replies
        }
        #expect(expected.first == .error("ERR Elements are too large to be stored"))
        #expect(got == expected)
    }

    /// OBJECT IDLETIME and FREQ read one 24-bit field per key, as Redis's `lru`: the LRU clock
    /// (seconds mod 2^24) or, under an LFU policy, the minute and counter. So RESTORE IDLETIME
    /// wraps at 2^24 s, RESTORE FREQ is ignored unless the policy is LFU, and after a policy
    /// switch each reads the other's bits until the next access. Clock-derived values may move
    /// between the two runs (a second tick; a minute tick moves the LFU bits by 256).
    @Test("OBJECT IDLETIME and FREQ share one lru field as redis-server's, across RESTORE and policy switches")
    func lruField() throws {
        func int(_ v: RESPValue) -> Int? { if case .integer(let n) = v { return n } else { return nil } }
        func run(_ server: ServerProcess) throws -> [Int?] {
            let c = try TestConnection(port: server.port)
            _ = try c.command("XADD", "s", "1-0", "f", "v")
            guard case .bulk(let payload?) = try c.command("DUMP", "s") else { return [] }
            func restore(_ options: String...) throws {
                _ = try c.command("DEL", "t")
                c.send(encodeCommand([Array("RESTORE".utf8), Array("t".utf8), Array("0".utf8), payload] + options.map { Array($0.utf8) }))
                _ = try c.read(1)
            }
            var out: [Int?] = []
            for idle in ["0", "100", "16777214", "16777215", "16777216", "100000000", "1099511627776", "9223372036854775807"] {
                try restore("IDLETIME", idle)
                out.append(int(try c.command("OBJECT", "IDLETIME", "t")))
            }
            try restore("FREQ", "200")  // not LFU: FREQ ignored, the field holds the LRU clock
            _ = try c.command("CONFIG", "SET", "maxmemory-policy", "allkeys-lfu")
            out.append(int(try c.command("OBJECT", "FREQ", "t")))
            _ = try c.command("XADD", "n", "1-0", "f", "v")
            out.append(int(try c.command("OBJECT", "FREQ", "n")))  // created under LFU: 5
            _ = try c.command("XLEN", "n")
            out.append(int(try c.command("OBJECT", "FREQ", "n")))  // one access from 5: 6
            try restore("FREQ", "200")
            out.append(int(try c.command("OBJECT", "FREQ", "t")))
            _ = try c.command("CONFIG", "SET", "maxmemory-policy", "noeviction")
            out.append(int(try c.command("OBJECT", "IDLETIME", "n")))  // LFU bits read as a clock
            _ = try c.command("XLEN", "n")
            out.append(int(try c.command("OBJECT", "IDLETIME", "n")))
            return out
        }
        let (expected, got) = try ServerProcess.sideBySide(run)
        #expect(expected.count == 14 && got.count == 14, "redis: \(expected), runnel: \(got)")
        guard expected.count == 14, got.count == 14 else { return }
        #expect(expected[3] ?? 99 <= 1 && expected[4] ?? 99 <= 2, "redis-server wraps at 2^24 s: \(expected)")
        #expect(Array(expected[9...11]) == [5, 6, 200] && expected[13] ?? 99 <= 1, "\(expected)")
        for (k, (e, g)) in zip(expected, got).enumerated() {
            let slack = k == 12 ? 300 : 2
            #expect(e != nil && g != nil && abs(e! - g!) <= slack, "value \(k): redis \(String(describing: e)), runnel \(String(describing: g))")
        }
    }

    /// INFO commandstats (calls, rejected and failed calls) and errorstats after commands that
    /// succeed, fail, are rejected before running, or name an unknown subcommand (counted for
    /// no command), including inside MULTI/EXEC and around CONFIG RESETSTAT.
    @Test("commandstats and errorstats counts move as redis-server's")
    func commandStats() throws {
        let redis = try ServerProcess.redis()
        defer { redis.stop() }
        let runnel = try ServerProcess.runnel()
        defer { runnel.stop() }
        let script = [
            "XADD s 1-1 f v", "XADD s 1-1 f v", "XLEN", "XGROUP FOO s", "XINFO NOPE", "OBJECT nope k", "XGROUP",
            "XGROUP CREATE s g 0", "XGROUP CREATE s g 0", "XREADGROUP GROUP nog c STREAMS s >", "NOSUCHCMD",
            "MULTI", "XLEN s", "XADD s 0-1 f v", "XGROUP BAR", "EXEC", "MULTI", "XLEN s", "XADD s 0-1 f v", "EXEC",
            "XLEN", "CONFIG RESETSTAT", "XLEN s", "XSETID s 0-1", "XACK s g 1-1", "CLIENT UNBLOCK x",
        ]
        func stats(_ c: TestConnection) throws -> [String] {
            let text = (try c.command("INFO", "commandstats").text ?? "") + (try c.command("INFO", "errorstats").text ?? "")
            return text.split(separator: "\r\n").compactMap { line -> String? in
                if line.hasPrefix("errorstat_") { return String(line) }
                guard line.hasPrefix("cmdstat_"), !line.hasPrefix("cmdstat_info"), let colon = line.firstIndex(of: ":") else { return nil }
                let fields = line[line.index(after: colon)...].split(separator: ",").filter { !$0.hasPrefix("usec") }
                return line[..<colon] + " " + fields.joined(separator: " ")
            }.sorted()
        }
        let conns = (try TestConnection(port: redis.port), try TestConnection(port: runnel.port))
        var differences: [String] = []
        for (i, command) in script.enumerated() {
            var seen: [[String]] = []
            for c in [conns.0, conns.1] {
                _ = try c.command(command.split(separator: " ").map(String.init))
                seen.append(try stats(c))
            }
            if seen[0] != seen[1] {
                let only = { (a: [String], b: [String]) in a.filter { !b.contains($0) } }
                differences.append("after step \(i + 1) `\(command)`: redis \(only(seen[0], seen[1])), runnel \(only(seen[1], seen[0]))")
            }
        }
        #expect(try stats(conns.0).contains("cmdstat_config|resetstat calls=1 rejected_calls=0 failed_calls=0"))
        #expect(differences.isEmpty, "\(differences.joined(separator: "\n"))")
    }

    /// tracking-table-max-keys: past the limit the cron forgets keys, sending their clients an
    /// invalidation as if they had changed (redis-server picks the victims at random, so only
    /// the counts are compared with it here).
    @Test("tracking-table-max-keys forgets keys down to the limit, invalidating each")
    func trackingTableLimit() throws {
        let runnel = try ServerProcess.runnel()
        defer { runnel.stop() }
        let c = try TestConnection(port: runnel.port)
        _ = try c.command("HELLO", "3")
        #expect(try c.command("CLIENT", "TRACKING", "on") == .simple("OK"))
        #expect(try c.command("CONFIG", "SET", "tracking-table-max-keys", "2") == .simple("OK"))
        for k in ["k1", "k2", "k3", "k4", "k5"] { #expect(try c.command("XLEN", k) == .integer(0)) }
        // Three keys over the limit: three invalidations, each naming one of the five keys.
        let pushes = try c.read(3, timeoutMs: 5000)
        var named = Set<String>()
        for p in pushes {
            guard case .push(let items) = p, items.count == 2, case .array(let keys?) = items[1], keys.count == 1,
                case .bulk(let k?) = keys[0]
            else {
                Issue.record("not an invalidation: \(p)")
                continue
            }
            named.insert(String(decoding: k, as: UTF8.self))
        }
        #expect(named.count == 3 && named.isSubset(of: ["k1", "k2", "k3", "k4", "k5"]))
        guard case .bulk(let info?) = try c.command("INFO", "stats") else { return }
        #expect(String(decoding: info, as: UTF8.self).contains("tracking_total_keys:2\r\n"))

        // The cron's own output is flushed by the cron: an `expired` event found by active
        // expiry reaches its subscriber with no other traffic on the server.
        let sub = try TestConnection(port: runnel.port)
        #expect(try sub.command("SUBSCRIBE", "__keyevent@0__:expired") != .null)
        #expect(try c.command("CONFIG", "SET", "notify-keyspace-events", "Ex") == .simple("OK"))
        _ = try c.command("XADD", "gone", "1-1", "f", "v")
        #expect(try c.command("PEXPIRE", "gone", "50") == .integer(1))
        #expect(try sub.read(1, timeoutMs: 3000) == [.array([.bulk(Array("message".utf8)), .bulk(Array("__keyevent@0__:expired".utf8)), .bulk(Array("gone".utf8))])])
    }

    /// Every INFO section lists redis-server 7.0's fields in its order (Runnel's own fields,
    /// the log's, come after them; Redis-with-AOF fields are compared against a Redis with AOF).
    @Test("INFO sections carry redis-server's field names in its order")
    func infoFields() throws {
        let redis = try ServerProcess.redis(extraArgs: ["--appendonly", "yes"])
        defer { redis.stop() }
        let runnel = try ServerProcess.runnel()
        defer { runnel.stop() }
        let own: Set<String> = ["runnel_version", "pubsub_clients", "aof_fsync_policy"]
        func names(_ port: Int, _ section: String) throws -> [String] {
            let c = try TestConnection(port: port)
            defer { c.close() }
            guard case .bulk(let b?) = try c.command("INFO", section) else { return [] }
            return String(decoding: b, as: UTF8.self).split(separator: "\r\n")
                .filter { !$0.hasPrefix("#") }
                .compactMap { $0.split(separator: ":").first.map(String.init) }
                .filter { !own.contains($0) && !$0.hasPrefix("log_") && !$0.hasPrefix("checkpoint") && !$0.hasPrefix("startup_") }
        }
        for section in ["server", "clients", "memory", "persistence", "stats", "replication", "cpu"] {
            let expected = try names(redis.port, section)
            let actual = try names(runnel.port, section)
            #expect(actual == expected, "INFO \(section): missing \(expected.filter { !actual.contains($0) }), extra \(actual.filter { !expected.contains($0) })")
        }
    }
}
