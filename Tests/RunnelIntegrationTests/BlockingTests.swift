import Foundation
import Testing
import RunnelTestSupport

#if canImport(Glibc)
import Glibc
#endif

@Suite("Blocking reads against the binary")
struct BlockingTests {
    /// CPU seconds (user + system) the process has used, from /proc/<pid>/stat.
    static func cpuSeconds(_ pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // Fields after the command name: state is [0], utime is [11], stime is [12].
        let ticks = (Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)
        return ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// The same lines from both servers, each mismatch reported on its own.
    static func expectSameLines(_ expected: [String], _ got: [String]) {
        #expect(got.count == expected.count)
        for (e, g) in zip(expected, got) { #expect(g == e) }
    }

    /// Polls INFO until the server reports `count` blocked clients; false at the deadline.
    static func waitUntilBlocked(_ c: TestConnection, _ count: Int, timeoutMs: Int, pollUs: UInt32) -> Bool {
        let deadline = monotonicMs() + timeoutMs
        while monotonicMs() < deadline {
            if let info = try? c.command("INFO", "clients"), info.text?.contains("blocked_clients:\(count)\r\n") == true {
                return true
            }
            usleep(pollUs)
        }
        return false
    }

    @Test("a thousand blocked readers cost no CPU while idle, and all wake on XADD")
    func manyBlockedReaders() throws {
        let server = try ServerProcess.runnel()
        defer { server.stop() }
        let readers = try (0..<1000).map { _ in try TestConnection(port: server.port) }
        for r in readers { r.send(["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]) }
        let admin = try TestConnection(port: server.port)
        // Wait until every reader is registered as blocked (bounded; generous for loaded CI).
        let blocked = Self.waitUntilBlocked(admin, 1000, timeoutMs: 60_000, pollUs: 50_000)
        try #require(blocked, "not all 1000 readers blocked within 60 s")
        let before = Self.cpuSeconds(server.pid)
        usleep(2_000_000)
        let used = Self.cpuSeconds(server.pid) - before
        #expect(used < 0.2, "server used \(used) s of CPU in 2 s idle with 1000 blocked readers")
        #expect(try admin.command("XADD", "s", "1-1", "k", "v") == .bulk(Array("1-1".utf8)))
        for r in readers {
            let reply = try r.read(1, timeoutMs: 60_000)[0]
            #expect(reply.elements?.count == 1)
        }
    }

    @Test("blocked reads follow SWAPDB and COPY … DB as in redis-server")
    func blockedAcrossDatabases() throws {
        func run(_ server: ServerProcess) throws -> [RESPValue] {
            let admin = try TestConnection(port: server.port)
            for cmd: [String] in [["FLUSHALL"], ["XADD", "k", "1-1", "a", "1"], ["XGROUP", "CREATE", "k", "g", "$"],
                                  ["SELECT", "1"], ["XADD", "j", "5-1", "z", "9"], ["SELECT", "0"]] {
                _ = try admin.command(cmd)
            }
            let r1 = try TestConnection(port: server.port)
            r1.send(["XREADGROUP", "GROUP", "g", "c", "BLOCK", "10000", "STREAMS", "k", ">"])
            let r2 = try TestConnection(port: server.port)
            r2.send(["XREAD", "BLOCK", "10000", "STREAMS", "j", "$"])
            let r3 = try TestConnection(port: server.port)
            _ = try r3.command("SELECT", "2")
            r3.send(["XREAD", "BLOCK", "10000", "STREAMS", "m", "0"])
            _ = Self.waitUntilBlocked(admin, 3, timeoutMs: 10_000, pollUs: 10_000)
            // db 0 loses k (the group reader is told) and gains j (the plain reader is served).
            var replies = [try admin.command("SWAPDB", "0", "1")]
            replies += try r1.read(1, timeoutMs: 10_000) + r2.read(1, timeoutMs: 10_000)
            // A copy into db 2 serves the reader blocked there.
            replies.append(try admin.command("COPY", "j", "m", "DB", "2"))
            replies += try r3.read(1, timeoutMs: 10_000)
            return replies
        }
        let (expected, got) = try ServerProcess.sideBySide(run)
        #expect(expected.count == 5)
        #expect(got == expected)
    }

    @Test("WAIT for replicas blocks until its timeout or CLIENT UNBLOCK, as on a redis-server with no replicas")
    func waitForReplicas() throws {
        func run(_ server: ServerProcess) throws -> [RESPValue] {
            let a = try TestConnection(port: server.port)
            let c = try TestConnection(port: server.port)
            guard case .integer(let id) = try a.command("CLIENT", "ID") else { return [] }
            var out: [RESPValue] = []
            for mode in ["TIMEOUT", "ERROR"] {
                a.send(encodeCommand(["WAIT", "1", "0"]) + encodeCommand(["PING"]))
                _ = Self.waitUntilBlocked(c, 1, timeoutMs: 10_000, pollUs: 5_000)
                out.append(try c.command("CLIENT", "UNBLOCK", "\(id)", mode))
                out += try a.read(2, timeoutMs: 10_000)
            }
            let start = monotonicMs()
            out.append(try a.command("WAIT", "2", "100"))
            out.append(.integer(monotonicMs() - start >= 90 ? 1 : 0))
            return out
        }
        let (expected, got) = try ServerProcess.sideBySide(run)
        #expect(expected.count == 8 && expected.last == .integer(1))
        #expect(got == expected)
    }

    @Test("commandstats count a blocked command as redis-server 7.0 does: a call when it blocks, failed when an error or CLIENT UNBLOCK ends it; INFO counts it in blocked_clients and, with a timeout, clients_in_timeout_table")
    func blockedCommandStats() throws {
        // (blocking command, what ends it: a command on the admin connection, or nil for its timeout)
        let scenarios: [([String], [String]?)] = [
            (["XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "s", ">"], ["XADD", "s", "2-1", "f", "v"]),
            (["XREADGROUP", "GROUP", "g", "c", "BLOCK", "500", "STREAMS", "s", ">"], nil),  // seen blocked before it times out
            (["XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "s", ">"], ["CLIENT", "UNBLOCK", "$ID", "TIMEOUT"]),
            (["XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "s", ">"], ["CLIENT", "UNBLOCK", "$ID", "ERROR"]),
            (["XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "s", ">"], ["DEL", "s"]),
            (["XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "s", ">"], ["XGROUP", "DESTROY", "s", "g"]),
            (["XREAD", "BLOCK", "0", "STREAMS", "s", "$"], ["CLIENT", "UNBLOCK", "$ID", "TIMEOUT"]),
            (["XREAD", "BLOCK", "0", "STREAMS", "s", "$"], ["XADD", "s", "2-1", "f", "v"]),
            (["WAIT", "1", "0"], ["CLIENT", "UNBLOCK", "$ID", "TIMEOUT"]),
        ]
        func counts(_ a: TestConnection) throws -> [String] {
            let text = (try a.command("INFO", "commandstats").text ?? "") + (try a.command("INFO", "clients").text ?? "")
            return text.split(separator: "\r\n").compactMap { line -> String? in
                if line.hasPrefix("blocked_clients:") || line.hasPrefix("clients_in_timeout_table:") { return String(line) }
                guard line.hasPrefix("cmdstat_"), !line.hasPrefix("cmdstat_config"), !line.hasPrefix("cmdstat_info"), let colon = line.firstIndex(of: ":") else { return nil }
                let fields = line[line.index(after: colon)...].split(separator: ",").filter { $0.hasPrefix("calls=") || $0.hasPrefix("failed_calls=") }
                return line[..<colon] + " " + fields.joined(separator: " ")
            }.sorted()
        }
        func run(_ server: ServerProcess) throws -> [String] {
            let a = try TestConnection(port: server.port)
            var out: [String] = []
            for (blocking, end) in scenarios {
                let b = try TestConnection(port: server.port)
                guard case .integer(let id) = try b.command("CLIENT", "ID") else { return [] }
                for cmd in [["FLUSHALL"], ["XADD", "s", "1-1", "f", "v"], ["XGROUP", "CREATE", "s", "g", "$"], ["CONFIG", "RESETSTAT"]] {
                    _ = try a.command(cmd)
                }
                b.send(blocking)
                _ = Self.waitUntilBlocked(a, 1, timeoutMs: 10_000, pollUs: 5_000)
                out.append("\(blocking[0]) blocked: \(try counts(a))")
                if let end { _ = try a.command(end.map { $0 == "$ID" ? "\(id)" : $0 }) }
                let reply = try b.read(1, timeoutMs: 10_000)[0]
                _ = try a.command("PING")  // an error served after the ending command must not fail the next one
                out.append("ended by \(end?.joined(separator: " ") ?? "timeout"): \(reply) \(try counts(a))")
                b.close()
            }
            // Blocked before CONFIG RESETSTAT, ended after it: a line with only a failed call.
            let b = try TestConnection(port: server.port)
            guard case .integer(let id) = try b.command("CLIENT", "ID") else { return [] }
            b.send(["XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "s", ">"])
            _ = Self.waitUntilBlocked(a, 1, timeoutMs: 10_000, pollUs: 5_000)
            _ = try a.command("CONFIG", "RESETSTAT")
            _ = try a.command("CLIENT", "UNBLOCK", "\(id)")
            out.append("blocked across RESETSTAT: \(try b.read(1, timeoutMs: 10_000)[0]) \(try counts(a))")
            return out
        }
        let (expected, got) = try ServerProcess.sideBySide(run)
        #expect(expected.count == 2 * scenarios.count + 1)
        #expect(expected.last?.contains("cmdstat_xreadgroup calls=0 failed_calls=1") == true)
        #expect(expected.contains { $0.hasPrefix("XREADGROUP blocked") && $0.contains("clients_in_timeout_table:1") })
        #expect(expected.contains { $0.hasPrefix("ended by DEL s") && $0.contains("cmdstat_xreadgroup calls=1 failed_calls=1") })
        Self.expectSameLines(expected, got)
    }

    @Test("CLIENT PAUSE as redis-server 7.0: held clients count as blocked and resume in the order they came; MULTI queueing and EXEC with writes are held; no key expires until the pause ends; PAUSE ALL holds even CLIENT UNPAUSE and QUIT")
    func clientPause() throws {
        func line(_ v: RESPValue) -> String { "\(v)" }
        func run(_ server: ServerProcess) throws -> [String] {
            var out: [String] = []
            let a = try TestConnection(port: server.port)
            let events = try TestConnection(port: server.port)
            for cmd in [["CONFIG", "SET", "notify-keyspace-events", "Ex"], ["XADD", "s", "1-1", "f", "v"], ["XADD", "t", "1-1", "f", "v"]] {
                _ = try a.command(cmd)
            }
            _ = try events.command("SUBSCRIBE", "__keyevent@0__:expired")
            // The first connection opened is held last: resuming by client ID would run it first.
            let late = try TestConnection(port: server.port)
            let early = try TestConnection(port: server.port)
            guard case .integer(let earlyID) = try early.command("CLIENT", "ID") else { return [] }
            let queuing = try TestConnection(port: server.port)
            out.append(line(try queuing.command("MULTI")))
            _ = try a.command("PEXPIRE", "t", "100")
            out.append(line(try a.command("CLIENT", "PAUSE", "100000", "WRITE")))
            early.send(["XADD", "s", "2-1", "f", "v"])
            #expect(Self.waitUntilBlocked(a, 1, timeoutMs: 5_000, pollUs: 5_000))
            late.send(["XADD", "s", "3-1", "f", "v"])
            #expect(Self.waitUntilBlocked(a, 2, timeoutMs: 5_000, pollUs: 5_000))
            queuing.send(["XADD", "s", "4-1", "f", "v"])  // held before it is even queued
            #expect(Self.waitUntilBlocked(a, 3, timeoutMs: 5_000, pollUs: 5_000))
            usleep(200_000)  // t's time passes during the pause
            for cmd in [["XLEN", "s"], ["EXISTS", "t"], ["XLEN", "t"], ["DBSIZE"]] { out.append("\(cmd): \(line(try a.command(cmd)))") }
            let stats = try a.command("INFO", "stats").text ?? ""
            out.append(stats.split(separator: "\r\n").filter { $0.hasPrefix("expired_keys:") }.joined())
            let held = try a.command("CLIENT", "LIST", "ID", "\(earlyID)").text ?? ""
            out.append(held.split(separator: " ").filter { $0.hasPrefix("flags=") || $0.hasPrefix("cmd=") }.joined(separator: " "))
            out.append(line(try a.command("CLIENT", "UNPAUSE")))
            out.append("early: \(line(try early.read(1)[0])), late: \(line(try late.read(1)[0])), queued: \(line(try queuing.read(1)[0]))")
            out.append("exec: \(line(try queuing.command("EXEC")))")
            out.append("expired after the pause: \(line(try events.read(1, timeoutMs: 5_000)[0]))")
            out.append("DBSIZE: \(line(try a.command("DBSIZE")))")
            // EXEC is held when its queue writes; a read-only one runs.
            let writer = try TestConnection(port: server.port)
            let reader = try TestConnection(port: server.port)
            for (c, cmd) in [(writer, "XADD"), (reader, "XLEN")] {
                _ = try c.command("MULTI")
                _ = try c.command(cmd == "XADD" ? ["XADD", "s", "9-1", "f", "v"] : ["XLEN", "s"])
            }
            _ = try a.command("CLIENT", "PAUSE", "100000", "WRITE")
            writer.send(["EXEC"])
            #expect(Self.waitUntilBlocked(a, 1, timeoutMs: 5_000, pollUs: 5_000))
            out.append("read-only exec: \(line(try reader.command("EXEC")))")
            out.append(line(try a.command("CLIENT", "UNPAUSE")))
            out.append("held exec: \(line(try writer.read(1)[0]))")
            // PAUSE ALL holds every command, CLIENT UNPAUSE and QUIT included, until it ends.
            let quitter = try TestConnection(port: server.port)
            out.append(line(try a.command("CLIENT", "PAUSE", "400", "ALL")))
            let start = monotonicMs()
            a.send(["CLIENT", "UNPAUSE"])
            quitter.send(["QUIT"])
            out.append("unpause: \(line(try a.read(1, timeoutMs: 5_000)[0])) held: \(monotonicMs() - start >= 250)")
            out.append("quit: \(line(try quitter.read(1, timeoutMs: 5_000)[0])) held: \(monotonicMs() - start >= 250)")
            return out
        }
        let (expected, got) = try ServerProcess.sideBySide(run)
        #expect(expected.contains("expired_keys:0"))
        #expect(expected.contains("unpause: +OK held: true"))
        Self.expectSameLines(expected, got)
    }

    @Test("WATCH and expiring keys as redis-server 7.0: a key expired since WATCH fails EXEC before it is deleted; one already expired when watched changes nothing when deleted, flushed or swapped for another expired key; held clients run after the unpausing client's pipeline")
    func watchExpiredKeys() throws {
        // (setup, WATCH before the key's time passes, commands pipelined after CLIENT UNPAUSE, ms to wait then)
        let scenarios: [([String], Bool, [String], UInt32)] = [
            (["XADD s 1-1 f v", "PEXPIRE s 50"], false, [], 400),
            (["XADD s 1-1 f v", "PEXPIRE s 50"], true, [], 0),
            (["XADD s 1-1 f v", "PEXPIRE s 50", "SELECT 1", "XADD s 1-1 f v", "SELECT 0"], false, ["SWAPDB 0 1"], 0),
            (["XADD s 1-1 f v", "PEXPIRE s 50", "SELECT 1", "XADD s 1-1 f v", "PEXPIRE s 50", "SELECT 0"], false, ["SWAPDB 0 1"], 0),
            (["SELECT 1", "XADD s 1-1 f v", "PEXPIRE s 50", "SELECT 0"], false, ["SWAPDB 0 1"], 400),
            (["XADD s 1-1 f v", "PEXPIRE s 50"], false, ["FLUSHALL"], 0),
            (["XADD s 1-1 f v", "PEXPIRE s 50"], true, ["FLUSHALL"], 0),
            (["XADD s 1-1 f v", "PEXPIRE s 50"], false, ["XADD s 2-1 f v"], 0),
            (["XADD s 1-1 f v", "PEXPIRE s 50"], false, ["XLEN s"], 0),
            (["XADD s 1-1 f v"], false, ["XLEN s"], 0),  // the held XADD (on s here) runs after this XLEN
        ]
        func run(_ server: ServerProcess) throws -> [String] {
            var out: [String] = []
            for (setup, watchFirst, batch, waitMs) in scenarios {
                let a = try TestConnection(port: server.port)
                let watcher = try TestConnection(port: server.port)
                let pauser = try TestConnection(port: server.port)
                let held = try TestConnection(port: server.port)
                _ = try a.command("FLUSHALL")
                for line in setup { _ = try a.command(line.split(separator: " ").map(String.init)) }
                if watchFirst { _ = try watcher.command("WATCH", "s") }
                _ = try pauser.command("CLIENT", "PAUSE", "10000", "WRITE")
                held.send(["XADD", setup == ["XADD s 1-1 f v"] ? "s" : "h", "*", "held", "1"])
                usleep(150_000)  // the keys' time passes while nothing may delete them
                if !watchFirst { _ = try watcher.command("WATCH", "s") }
                a.send(encodeCommand(["CLIENT", "UNPAUSE"]) + batch.flatMap { encodeCommand($0.split(separator: " ").map(String.init)) })
                var line = "\(setup) \(batch): \(try a.read(1 + batch.count).map { "\($0)" })"
                _ = try held.read(1)
                usleep(waitMs * 1000)
                _ = try watcher.command("MULTI")
                _ = try watcher.command("PING")
                line += " exec: \(try watcher.command("EXEC"))"
                out.append(line)
                for c in [a, watcher, pauser, held] { c.close() }
            }
            return out
        }
        let (expected, got) = try ServerProcess.sideBySide(run)
        #expect(expected.count == scenarios.count)
        // The cases that a naive WATCH (touched on every deletion) gets wrong pass on Redis.
        #expect([0, 3, 4, 5, 8].allSatisfy { expected[$0].hasSuffix("exec: [+PONG]") })
        #expect(expected[1].hasSuffix("exec: (nil array)") && expected[9].contains(":1"))
        Self.expectSameLines(expected, got)
    }

    @Test("the idle timeout spares subscribers, monitors and blocked clients, and a reply counts as an interaction, as in redis-server")
    func idleTimeout() throws {
        let redis = try ServerProcess.redis()
        defer { redis.stop() }
        let runnel = try ServerProcess.runnel()
        defer { runnel.stop() }
        let setups: [(String, [[String]])] = [
            ("plain", []), ("in MULTI", [["MULTI"]]), ("subscriber", [["SUBSCRIBE", "ch"]]), ("monitor", [["MONITOR"]]),
            ("blocked forever", [["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]]),
            ("blocked 10 s", [["XREAD", "BLOCK", "10000", "STREAMS", "s", "$"]]),
            ("served at 2.2 s", [["XREAD", "BLOCK", "0", "STREAMS", "t", "$"]]),
        ]
        // Both servers at once: the timeout counts whole seconds, so the checks keep a margin.
        var conns: [[TestConnection]] = []
        for server in [redis, runnel] {
            var row: [TestConnection] = []
            for (_, commands) in setups {
                let c = try TestConnection(port: server.port)
                for cmd in commands {
                    if cmd[0] == "XREAD" { c.send(cmd) } else { _ = try c.command(cmd) }
                }
                row.append(c)
            }
            _ = try TestConnection(port: server.port).command("CONFIG", "SET", "timeout", "3")
            conns.append(row)
        }
        // Idle means more than 3 whole Unix seconds apart: closed after 3.0-4.1 s. The served
        // client was last written to 2.3 s before the check; the others 4.5 s.
        usleep(2_200_000)
        for server in [redis, runnel] { _ = try TestConnection(port: server.port).command("XADD", "t", "1-1", "f", "v") }
        usleep(2_300_000)
        var results: [[String]] = []
        for row in conns {
            results.append(zip(setups, row).map { setup, c in
                while c.fill(timeoutMs: 0) {}
                return "\(setup.0): \(c.closedByPeer ? "closed" : "open")"
            })
        }
        for server in [redis, runnel] { _ = try TestConnection(port: server.port).command("CONFIG", "SET", "timeout", "0") }
        #expect(results[0] == setups.map { "\($0.0): \($0.0 == "plain" || $0.0 == "in MULTI" ? "closed" : "open")" })
        #expect(results[1] == results[0])
    }

    @Test("CLIENT REPLY OFF and SKIP silence a blocked read's reply however it ends, as in redis-server", arguments: ["everysec", "always"])
    func replyModeOfBlockedRead(appendfsync: String) throws {
        let endings = ["XADD", "timeout", "CLIENT UNBLOCK", "DEL"]
        func run(_ server: ServerProcess) throws -> [String] {
            var out: [String] = []
            for mode in ["OFF", "SKIP"] {
                for ending in endings {
                    let a = try TestConnection(port: server.port)
                    let b = try TestConnection(port: server.port)
                    for cmd in [["FLUSHALL"], ["XADD", "s", "1-1", "f", "v"], ["XGROUP", "CREATE", "s", "g", "$"]] { _ = try a.command(cmd) }
                    guard case .integer(let id) = try b.command("CLIENT", "ID") else { return [] }
                    b.send(encodeCommand(["CLIENT", "REPLY", mode])
                        + encodeCommand(["XREADGROUP", "GROUP", "g", "c", "BLOCK", ending == "timeout" ? "200" : "0", "STREAMS", "s", ">"])
                        + encodeCommand(["PING", "after"]))
                    #expect(Self.waitUntilBlocked(a, 1, timeoutMs: 5_000, pollUs: 5_000))
                    switch ending {
                    case "XADD": _ = try a.command("XADD", "s", "2-1", "f", "v")
                    case "CLIENT UNBLOCK": _ = try a.command("CLIENT", "UNBLOCK", "\(id)", "ERROR")
                    case "DEL": _ = try a.command("DEL", "s")
                    default: break
                    }
                    _ = Self.waitUntilBlocked(a, 0, timeoutMs: 5_000, pollUs: 5_000)
                    b.send(encodeCommand(["CLIENT", "REPLY", "ON"]) + encodeCommand(["PING", "on"]))
                    let replies = try b.read(mode == "SKIP" ? 3 : 2)
                    out.append("\(mode) \(ending): \(replies.map { "\($0)" })")
                    a.close()
                    b.close()
                }
            }
            return out
        }
        let (expected, got) = try ServerProcess.sideBySide(
            redisArgs: ["--appendonly", "yes", "--appendfsync", appendfsync], runnelArgs: ["--appendfsync", appendfsync], run)
        // Redis sends none of the blocked read's replies: no entry, no error, no timeout null.
        #expect(expected.count == 8 && expected.allSatisfy { !$0.contains("2-1") && !$0.contains("UNBLOCKED") && !$0.contains("nil") })
        #expect(got == expected)
    }

    @Test("CLIENT UNBLOCK ends a blocked read with a timeout reply or an UNBLOCKED error")
    func clientUnblock() throws {
        let server = try ServerProcess.runnel()
        defer { server.stop() }
        let admin = try TestConnection(port: server.port)
        for (mode, expected) in [("TIMEOUT", RESPValue.array(nil)), ("ERROR", .error("UNBLOCKED client unblocked via CLIENT UNBLOCK"))] {
            let reader = try TestConnection(port: server.port)
            guard case .integer(let id) = try reader.command("CLIENT", "ID") else {
                Issue.record("no client id")
                return
            }
            reader.send(["XREAD", "BLOCK", "0", "STREAMS", "s", "$"])
            #expect(Self.waitUntilBlocked(admin, 1, timeoutMs: 5000, pollUs: 10_000))
            // As redis-server's CLIENT LIST: a client waiting in a blocking read has flag `b`.
            #expect(try admin.command("CLIENT", "LIST", "ID", "\(id)").text?.contains(" flags=b ") == true)
            var unblocked = RESPValue.integer(0)
            let deadline = monotonicMs() + 5000
            while unblocked == .integer(0) && monotonicMs() < deadline {
                unblocked = try admin.command("CLIENT", "UNBLOCK", "\(id)", mode)
                if unblocked == .integer(0) { usleep(20_000) }
            }
            #expect(unblocked == .integer(1))
            #expect(try reader.read(1) == [expected])
            // Unblocked: CLIENT LIST drops the `b` flag it showed while the read waited.
            #expect(try admin.command("CLIENT", "LIST", "ID", "\(id)").text?.contains(" flags=N ") == true)
            #expect(try reader.command("PING") == .simple("PONG"))
        }
        #expect(try admin.command("CLIENT", "UNBLOCK", "999999") == .integer(0))
    }
}
