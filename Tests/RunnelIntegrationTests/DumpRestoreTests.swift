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
            // The lengths agree to a few bytes: LZF may pick other matches than Redis's (its
            // hash table starts with whatever its stack held).
            #expect(abs(fromRedis.count - fromRunnel.count) <= fromRedis.count / 50 + 2)
        }
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
