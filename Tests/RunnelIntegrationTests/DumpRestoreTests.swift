import Foundation
import Testing
import RunnelTestSupport

@Suite("DUMP and RESTORE against redis-server")
struct DumpRestoreTests {
    /// Streams with several nodes, deletions, integer-looking and long values, groups with
    /// pending entries, claims and an idle consumer.
    static let script: [[String]] = {
        var out: [[String]] = [["CONFIG", "SET", "stream-node-max-entries", "10"]]
        for i in 1...80 {
            let value = i % 7 == 0 ? String(repeating: "payload-\(i)-", count: 20) : "\(i * 37 % 1000 - 500)"
            out.append(["XADD", "orders", "\(i)-\(i % 3)", "type", "order", "qty", value])
            if i % 9 == 0 { out.append(["XADD", "orders", "\(i)-7", "other", "shape", "n", "\(i)"]) }
        }
        out += [["XDEL", "orders", "3-0", "27-0", "28-1"], ["XTRIM", "orders", "MAXLEN", "~", "60"],
                ["XGROUP", "CREATE", "orders", "billing", "0"], ["XGROUP", "CREATE", "orders", "7", "$", "ENTRIESREAD", "40"],
                ["XREADGROUP", "GROUP", "billing", "alice", "COUNT", "5", "STREAMS", "orders", ">"],
                ["XREADGROUP", "GROUP", "billing", "bob", "COUNT", "3", "STREAMS", "orders", ">"],
                ["XCLAIM", "orders", "billing", "carol", "0", "40-1", "RETRYCOUNT", "9", "TIME", "1700000000000"],
                ["XGROUP", "CREATECONSUMER", "orders", "7", "idle"],
                ["XADD", "plain", "1-1", "a", "1"], ["XADD", "plain", "2-1", "a", "2", "b", "hello"], ["XDEL", "plain", "1-1"]]
        return out
    }()

    /// XINFO STREAM FULL without times (seen, active, delivery) and without Redis 7.2's
    /// consumer fields, which Runnel adds.
    static func state(_ c: TestConnection, _ key: String) throws -> String {
        let full = try c.command("XINFO", "STREAM", key, "FULL").description
        return full.replacingOccurrences(of: #":1\d{12}"#, with: ":T", options: .regularExpression)
            .replacingOccurrences(of: #", "active-time", :(T|-1)"#, with: "", options: .regularExpression)
    }

    @Test("payloads cross both ways and restore the same stream; DUMP of a stream without consumers is byte-identical")
    func crossRestore() throws {
        let redis = try ServerProcess.redis()
        defer { redis.stop() }
        let runnel = try ServerProcess.runnel()
        defer { runnel.stop() }
        let r = try TestConnection(port: redis.port)
        let n = try TestConnection(port: runnel.port)
        for cmd in Self.script {
            let a = try r.command(cmd)
            let b = try n.command(cmd)
            #expect(cmd[0] == "XREADGROUP" || cmd[0] == "XCLAIM" || a == b, "\(cmd)")
        }
        #expect(try r.command("DUMP", "plain") == n.command("DUMP", "plain"))
        for key in ["orders", "plain"] {
            guard case .bulk(let fromRedis?) = try r.command("DUMP", key), case .bulk(let fromRunnel?) = try n.command("DUMP", key)
            else {
                Issue.record("DUMP \(key)")
                continue
            }
            #expect(try n.command(["RESTORE", "\(key)-copy", "0"].map { Array($0.utf8) } + [fromRedis]) == .simple("OK"))
            #expect(try r.command(["RESTORE", "\(key)-copy", "0"].map { Array($0.utf8) } + [fromRunnel]) == .simple("OK"))
            let original = try Self.state(r, key)
            #expect(try Self.state(n, "\(key)-copy") == original, "Redis's payload restored in Runnel")
            #expect(try Self.state(r, "\(key)-copy") == original, "Runnel's payload restored in redis-server")
            // Delivery and seen times (fixed 8-byte fields) and the CRC may differ; the nodes,
            // LZF-compressed as liblzf does, and everything up to the groups may not.
            // At most 8 pending entries and 4 consumers: 12 times of 8 bytes, and 8 of CRC.
            #expect(fromRedis.count == fromRunnel.count)
            let differing = zip(fromRedis, fromRunnel).filter { $0 != $1 }.count
            #expect(differing <= 12 * 8 + 8, "\(key): \(differing) bytes differ")
        }
    }
}

extension DumpRestoreTests {
    @Test("MIGRATE moves streams to redis-server and to another Runnel: KEYS, COPY, REPLACE, TTL, errors")
    func migrate() throws {
        let redis = try ServerProcess.redis()
        defer { redis.stop() }
        let source = try ServerProcess.runnel()
        defer { source.stop() }
        let target = try ServerProcess.runnel()
        defer { target.stop() }
        let s = try TestConnection(port: source.port)
        let r = try TestConnection(port: redis.port)
        let t = try TestConnection(port: target.port)
        for cmd in Self.script { _ = try s.command(cmd) }
        _ = try s.command("PEXPIRE", "plain", "100000")
        let before = try Self.state(s, "orders")
        let host = "127.0.0.1"
        // To redis-server: a copy first (the source keeps it), then a move.
        #expect(try s.command("MIGRATE", host, "\(redis.port)", "orders", "0", "5000", "COPY") == .simple("OK"))
        #expect(try s.command("EXISTS", "orders") == .integer(1))
        #expect(try s.command("MIGRATE", host, "\(redis.port)", "orders", "0", "5000")
                == .error("ERR Target instance replied with error: BUSYKEY Target key name already exists."))
        #expect(try s.command("MIGRATE", host, "\(redis.port)", "orders", "0", "5000", "REPLACE") == .simple("OK"))
        #expect(try s.command("EXISTS", "orders") == .integer(0))
        #expect(try Self.state(r, "orders") == before)
        // To another Runnel, several keys into db 3, the TTL carried over.
        #expect(try s.command("MIGRATE", host, "\(target.port)", "", "3", "5000", "KEYS", "plain", "nokey") == .simple("OK"))
        _ = try t.command("SELECT", "3")
        #expect(try t.command("XRANGE", "plain", "-", "+").elements?.count == 1)
        if case .integer(let ttl) = try t.command("PTTL", "plain") { #expect(ttl > 90_000) } else { Issue.record("PTTL") }
        #expect(try s.command("EXISTS", "plain") == .integer(0))
        // Nothing to send, a refused SELECT (nothing deleted), nobody listening.
        #expect(try s.command("MIGRATE", host, "\(target.port)", "nokey", "0", "5000") == .simple("NOKEY"))
        _ = try s.command("XADD", "kept", "1-1", "a", "b")
        #expect(try s.command("MIGRATE", host, "\(redis.port)", "kept", "99", "5000")
                == .error("ERR Target instance replied with error: ERR DB index is out of range"))
        #expect(try s.command("EXISTS", "kept") == .integer(1))
        #expect(try s.command("MIGRATE", host, "\(ServerProcess.freePort())", "kept", "0", "500")
                == .error("IOERR error or timeout writing to target instance"))
        #expect(try s.command("MIGRATE", host, "1", "kept", "0", "500", "KEYS", "kept")
                == .error("ERR When using MIGRATE KEYS option, the key argument must be set to the empty string"))
        #expect(try s.command("PING") == .simple("PONG"))
        // Inside EXEC the transfer happens in place: the replies come in the commands' order
        // and the key is gone before the next queued command reads it.
        _ = try s.command("MULTI")
        for cmd in [["MIGRATE", host, "\(redis.port)", "kept", "0", "5000", "REPLACE"], ["PING"],
                    ["MIGRATE", host, "\(ServerProcess.freePort())", "nokey", "0", "500"], ["EXISTS", "kept"]] {
            #expect(try s.command(cmd) == .simple("QUEUED"))
        }
        let replies = try s.command("EXEC")
        #expect(replies == .array([.simple("OK"), .simple("PONG"), .simple("NOKEY"), .integer(0)]), "\(replies)")
        #expect(try r.command("XLEN", "kept") == .integer(1))
        _ = try s.command("XADD", "again", "1-1", "a", "b")
        _ = try s.command("MULTI")
        _ = try s.command("MIGRATE", host, "\(ServerProcess.freePort())", "again", "0", "300")
        _ = try s.command("XLEN", "again")
        #expect(try s.command("EXEC") == .array([.error("IOERR error or timeout writing to target instance"), .integer(1)]))
    }
}

extension TestConnection {
    /// A command with binary arguments.
    func command(_ args: [[UInt8]]) throws -> RESPValue {
        var out: [UInt8] = Array("*\(args.count)\r\n".utf8)
        for a in args { out += Array("$\(a.count)\r\n".utf8) + a + [13, 10] }
        send(out)
        return try read(1, timeoutMs: 10_000)[0]
    }
}
