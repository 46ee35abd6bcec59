import Foundation
import Testing
import RunnelTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Tests against the real runnel-server binary: lifecycle, limits and hostile input.
@Suite("runnel-server binary")
struct ServerBinaryTests {
    @Test("SIGTERM and SIGINT shut down gracefully with exit status 0", arguments: [SIGTERM, SIGINT])
    func signals(sig: Int32) throws {
        let server = try ServerProcess.runnel()
        defer { server.stop() }
        let c = try TestConnection(port: server.port)
        #expect(try c.command("PING") == .simple("PONG"))
        server.signal(sig)
        #expect(server.waitForExit(timeoutMs: 10_000) == 0)
        #expect(c.waitForClose(timeoutMs: 5000))
        #expect(server.log().contains("bye bye"))
    }

    @Test("SHUTDOWN stops the server; pipelined replies before it are delivered")
    func shutdownCommand() throws {
        let server = try ServerProcess.runnel()
        defer { server.stop() }
        let c = try TestConnection(port: server.port)
        c.send(encodeCommand(["PING"]) + encodeCommand(["ECHO", "last"]) + encodeCommand(["SHUTDOWN"]))
        let replies = try c.read(2)
        #expect(replies == [.simple("PONG"), .bulk(Array("last".utf8))])
        #expect(server.waitForExit(timeoutMs: 10_000) == 0)
    }

    /// The first address listens while the others are still being bound (held open here by a
    /// test seam for 1.5 s). A SHUTDOWN that came through it then was logged and ignored, and
    /// the server never exited; a signal in that moment was lost the same way. Now it shuts
    /// down, closing the listeners bound so far and the one bound after it.
    @Test("SHUTDOWN and SIGTERM while the server is still binding its other addresses: it exits", arguments: ["SHUTDOWN", "SIGTERM"])
    func shutdownWhileBinding(how: String) throws {
        let server = try ServerProcess.runnel(
            extraArgs: ["--bind", "127.0.0.1", "127.0.0.2"], environment: ["RUNNEL_TEST_BIND_PAUSE_MS": "1500"])
        defer { server.stop() }
        let c = try TestConnection(port: server.port)
        #expect(try c.command("PING") == .simple("PONG"))
        #expect(!server.log().contains("127.0.0.2"), "the second address is not bound yet")
        if how == "SHUTDOWN" {
            c.send(["SHUTDOWN", "NOSAVE"])
        } else {
            server.signal(SIGTERM)
        }
        #expect(server.waitForExit(timeoutMs: 10_000) == 0, "\(server.log())")
        #expect(c.waitForClose(timeoutMs: 5000))
        #expect(server.log().contains("bye bye"))
    }

    /// With `appendonly no` there is nowhere to save to: SAVE, BGSAVE and BGREWRITEAOF fail
    /// instead of answering as if the data were on disk, and SHUTDOWN SAVE is refused as
    /// redis-server refuses to exit when its save fails (FORCE exits anyway). With persistence
    /// on, the same commands succeed (the differential "save commands" case).
    /// A data directory written by an earlier persistent run is named in a warning, not loaded,
    /// and left as it was.
    @Test("persistence off: SAVE, BGSAVE, BGREWRITEAOF fail clearly; SHUTDOWN SAVE is refused unless FORCE; an earlier run's data is left alone")
    func nothingToSaveTo() throws {
        let earlier = try ServerProcess.runnel()
        let dataDir = earlier.dataDir
        do {
            defer { earlier.stop() }
            let c = try TestConnection(port: earlier.port)
            #expect(try c.command("XADD", "kept", "5-5", "f", "v") == .bulk(Array("5-5".utf8)))
        }
        let server = try ServerProcess.runnel(dataDir: dataDir, extraArgs: ["--appendonly", "no"])
        defer { server.stop() }
        #expect(server.log().contains("holds streams saved by an earlier run (1 segment"))
        #expect(server.log().contains("which are not loaded: appendonly is no"))
        let c = try TestConnection(port: server.port)
        #expect(try c.command("EXISTS", "kept") == .integer(0))
        #expect(try c.command("XADD", "s", "1-1", "f", "v") == .bulk(Array("1-1".utf8)))
        for cmd in [["SAVE"], ["BGSAVE"], ["BGSAVE", "SCHEDULE"], ["BGREWRITEAOF"]] {
            guard case .error(let e) = try c.command(cmd) else {
                Issue.record("\(cmd) did not fail")
                continue
            }
            #expect(e.hasPrefix("ERR persistence is off (appendonly no)"))
        }
        #expect(try c.command("SHUTDOWN", "SAVE") == .error("ERR Errors trying to SHUTDOWN. Check logs."))
        #expect(try c.command("SHUTDOWN", "NOW", "SAVE") == .error("ERR Errors trying to SHUTDOWN. Check logs."))
        #expect(try c.command("XLEN", "s") == .integer(1))
        #expect(server.log().contains("SHUTDOWN SAVE refused: persistence is off"))
        #expect(try c.command("INFO", "persistence").text?.contains("rdb_bgsave_in_progress:0") == true)
        c.send(encodeCommand(["SHUTDOWN", "SAVE", "FORCE"]))
        #expect(server.waitForExit(timeoutMs: 10_000) == 0)
        let later = try ServerProcess.runnel(dataDir: dataDir)
        defer { later.stop() }
        let d = try TestConnection(port: later.port)
        #expect(try d.command("XRANGE", "kept", "-", "+") == .array([.array([.bulk(Array("5-5".utf8)), .array([.bulk(Array("f".utf8)), .bulk(Array("v".utf8))])])]))
        #expect(try d.command("EXISTS", "s") == .integer(0))
    }

    @Test("many clients pipelining at once each get their own replies, in order")
    func manyClients() throws {
        let server = try ServerProcess.runnel()
        defer { server.stop() }
        let clients = try (0..<200).map { _ in try TestConnection(port: server.port) }
        for (i, c) in clients.enumerated() {
            var batch: [UInt8] = []
            for j in 0..<50 { batch += encodeCommand(["ECHO", "c\(i)-\(j)"]) }
            c.send(batch)
        }
        for (i, c) in clients.enumerated() {
            let replies: [RESPValue]
            do {
                replies = try c.read(50, timeoutMs: 60_000)
            } catch {
                Issue.record("client \(i): \(error); closed by server: \(c.closedByPeer); server log: \(server.log().suffix(500))")
                return
            }
            #expect(replies == (0..<50).map { .bulk(Array("c\(i)-\($0)".utf8)) })
        }
    }

    @Test("INFO's instantaneous_ops_per_sec and kbps follow the load and fall back to 0 when it stops")
    func instantaneousRates() throws {
        let server = try ServerProcess.runnel()
        defer { server.stop() }
        let c = try TestConnection(port: server.port)
        func stat(_ name: String) throws -> Double {
            let text = try c.command("INFO", "stats").text ?? ""
            return text.split(separator: "\r\n").first { $0.hasPrefix(name + ":") }.flatMap { Double($0.dropFirst(name.count + 1)) } ?? -1
        }
        #expect(try stat("instantaneous_ops_per_sec") == 0)
        // About a second of pipelined PINGs (bounded by time and count).
        let batch = (0..<100).flatMap { _ in encodeCommand(["PING"]) }
        let start = monotonicMs()
        var sent = 0
        while monotonicMs() - start < 1200 && sent < 2_000_000 {
            c.send(batch)
            _ = try c.read(100, timeoutMs: 10_000)
            sent += 100
        }
        let ops = try stat("instantaneous_ops_per_sec")
        #expect(ops > 100 && ops < 10_000_000, "\(ops) ops/s after \(sent) PINGs")
        #expect(try stat("instantaneous_input_kbps") > 0)
        #expect(try stat("instantaneous_output_kbps") > 0)
        // 16 samples, 100 ms apart: idle for 2.5 s, every sample is (almost) zero.
        usleep(2_500_000)
        #expect(try stat("instantaneous_ops_per_sec") < 10)
    }

    /// Commands whose work runs off the loop keep their place inside EXEC (they were answered
    /// after the commands queued behind them); CONFIG SET of a listener, which must wait on the
    /// loop to bind, is refused there instead of stopping the server.
    @Test("inside EXEC, CONFIG REWRITE keeps its place among the replies; CONFIG SET port is refused, the server goes on")
    func offLoopCommandsInsideExec() throws {
        let dir = ServerProcess.makeTempDir("runnel-exec-config")
        let file = dir + "/runnel.conf"
        try "hz 10\n".write(toFile: file, atomically: true, encoding: .utf8)
        let server = try ServerProcess.runnel(dataDir: dir, leadingArgs: [file])
        defer { server.stop() }
        let c = try TestConnection(port: server.port)
        _ = try c.command("MULTI")
        for cmd in [["CONFIG", "SET", "hz", "11"], ["CONFIG", "REWRITE"], ["CONFIG", "SET", "port", "\(ServerProcess.freePort())"], ["PING"]] {
            #expect(try c.command(cmd) == .simple("QUEUED"))
        }
        #expect(try c.command("EXEC") == .array([
            .simple("OK"), .simple("OK"),
            .error("ERR CONFIG SET of listeners (port, bind, tls-*) inside MULTI is not supported by Runnel"), .simple("PONG"),
        ]))
        #expect(try String(contentsOfFile: file, encoding: .utf8).contains("hz 11"))
        #expect(try c.command("CONFIG", "GET", "port") == .array([.bulk(Array("port".utf8)), .bulk(Array("\(server.port)".utf8))]))
    }

    @Test("maxclients refuses the extra client with Redis's error")
    func maxclients() throws {
        let server = try ServerProcess.runnel(extraArgs: ["--maxclients", "2"])
        defer { server.stop() }
        let a = try TestConnection(port: server.port)
        let b = try TestConnection(port: server.port)
        #expect(try a.command("PING") == .simple("PONG"))
        #expect(try b.command("PING") == .simple("PONG"))
        let c = try TestConnection(port: server.port)
        #expect(try c.read(1) == [.error("ERR max number of clients reached")])
        #expect(c.waitForClose(timeoutMs: 5000))
        #expect(try a.command("PING") == .simple("PONG"))
    }

    @Test("a config file in redis.conf syntax is the first argument; options override it")
    func configFile() throws {
        let dir = ServerProcess.makeTempDir("runnel-conf")
        let path = dir + "/runnel.conf"
        try "# test config\nhz 25\nslowlog-max-len 7\nnotify-keyspace-events \"Et\"\n".write(toFile: path, atomically: true, encoding: .utf8)
        let server = try ServerProcess.runnel(leadingArgs: [path], extraArgs: ["--slowlog-max-len", "9"])
        defer { server.stop() }
        let c = try TestConnection(port: server.port)
        #expect(try c.command("CONFIG", "GET", "hz") == .array([.bulk(Array("hz".utf8)), .bulk(Array("25".utf8))]))
        #expect(try c.command("CONFIG", "GET", "slowlog-max-len") == .array([.bulk(Array("slowlog-max-len".utf8)), .bulk(Array("9".utf8))]))
        #expect(try c.command("CONFIG", "GET", "notify-keyspace-events") == .array([.bulk(Array("notify-keyspace-events".utf8)), .bulk(Array("tE".utf8))]))
        // CONFIG REWRITE keeps comments and records the new value.
        #expect(try c.command("CONFIG", "SET", "hz", "30") == .simple("OK"))
        // CONFIG REWRITE's file work runs off the event loop; pipelined replies stay in order.
        c.send(encodeCommand(["CONFIG", "REWRITE"]) + encodeCommand(["ECHO", "after"]))
        #expect(try c.read(2) == [.simple("OK"), .bulk(Array("after".utf8))])
        let rewritten = try String(contentsOfFile: path, encoding: .utf8)
        #expect(rewritten.contains("# test config"))
        #expect(rewritten.contains("hz 30"))
    }

    /// redis-server's command line: a directive takes every word up to the next `--`, so
    /// `--bind 127.0.0.1 127.0.0.2` binds both (it used to take the second address for a config
    /// file and refuse to start), a later directive overrides an earlier one, "--name value"
    /// may be one argument, and `--save` alone means `save ""`.
    @Test("options take several words and apply in order, as redis-server's command line")
    func commandLineLikeRedis() throws {
        let server = try ServerProcess.runnel(extraArgs: [
            "--bind", "127.0.0.1", "127.0.0.2", "--hz", "12", "--hz 17", "--save", "--client-output-buffer-limit", "pubsub", "1mb", "512kb", "30",
        ])
        defer { server.stop() }
        let c = try TestConnection(port: server.port)
        func get(_ name: String) throws -> String? { try c.command("CONFIG", "GET", name).elements?.last?.text }
        #expect(try get("bind") == "127.0.0.1 127.0.0.2")
        #expect(try get("hz") == "17")
        #expect(try get("save") == "")
        #expect(try get("client-output-buffer-limit")?.contains("pubsub 1048576 524288 30") == true)
        #expect(try TestConnection(port: server.port, host: "127.0.0.2").command("PING") == .simple("PONG"))
    }

    /// Both servers start from the same file, get the same CONFIG SETs and users, and rewrite
    /// it. Options appended in a block come in redis-server's hash order, so that block is
    /// compared sorted; `port`, `bind`, `dir` and `appendonly` are where each test server runs.
    @Test("CONFIG REWRITE writes the file as redis-server 7.0 does")
    func configRewriteLikeRedis() throws {
        let text = "# kept\nSAVE 3 3\nsave 4 4\nMaxClients 100\nuser a on nopass ~* +@all\n# between\nuser b on nopass\n"
            + "user c on nopass\nhz 12\nclient-output-buffer-limit pubsub 1mb 1mb 1\nnotify-keyspace-events \"\"\n\n"
        let sets: [[String]] = [
            ["CONFIG", "SET", "maxmemory", "3mb", "client-output-buffer-limit", "normal 1mb 2048 5 pubsub 32mb 8mb 61"],
            ["CONFIG", "SET", "notify-keyspace-events", "Ex", "masterauth", "a\"b c\t", "proto-max-bulk-len", "1gb"],
            ["CONFIG", "SET", "client-query-buffer-limit", "1048577", "hz", "10", "maxclients", "200", "save", "5 5"],
            ["CONFIG", "SET", "maxmemory-clients", "5%", "shutdown-on-sigterm", "nosave force", "oom-score-adj-values", "1 2 3"],
            ["CONFIG", "SET", "latency-tracking-info-percentiles", "10 20", "proc-title-template", "{title} x"],
            ["ACL", "DELUSER", "b"], ["ACL", "SETUSER", "d", "on", ">pw", "~d*", "+xadd"],
        ]
        func rewritten(_ start: (String) throws -> ServerProcess) throws -> (lines: [String], path: String) {
            let dir = ServerProcess.makeTempDir("runnel-rewrite")
            let path = dir + "/server.conf"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            let server = try start(path)
            defer { server.stop() }
            let c = try TestConnection(port: server.port)
            for cmd in sets {
                let reply = try c.command(cmd)
                #expect(reply == (cmd[1] == "DELUSER" ? .integer(1) : .simple("OK")), "\(server.name): \(cmd) -> \(reply)")
            }
            #expect(try c.command("CONFIG", "REWRITE") == .simple("OK"))
            var lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            lines.removeAll { ["port ", "bind ", "dir ", "appendonly "].contains(where: $0.hasPrefix) }
            if let mark = lines.firstIndex(of: "# Generated by CONFIG REWRITE") {
                lines = Array(lines[...mark]) + lines[(mark + 1)...].sorted()
            }
            return (lines, path)
        }
        let expected = try rewritten { try ServerProcess.redis(leadingArgs: [$0]) }.lines
        #expect(expected.contains("maxmemory 3mb") && expected.contains("client-output-buffer-limit normal 1mb 2kb 5"))
        let (got, path) = try rewritten { try ServerProcess.runnel(leadingArgs: [$0]) }
        #expect(got == expected, "redis-server:\n\(expected.joined(separator: "\n"))\nrunnel-server:\n\(got.joined(separator: "\n"))")
        // The rewritten file loads back with the same values.
        let again = try ServerProcess.runnel(leadingArgs: [path])
        defer { again.stop() }
        let c = try TestConnection(port: again.port)
        #expect(try c.command("CONFIG", "GET", "masterauth").elements?.last?.text == "a\"b c\t")
        #expect(try c.command("CONFIG", "GET", "maxmemory").elements?.last?.text == "3145728")
        #expect(try c.command("ACL", "USERS").elements?.compactMap(\.text) == ["a", "c", "d", "default"])
    }

    @Test("every directive redis-server 7.0 has, at its value, loads from a config file and reads back the same")
    func everyRedisDirective() throws {
        let redis = try ServerProcess.redis()
        defer { redis.stop() }
        let r = try TestConnection(port: redis.port)
        let flat = try r.command("CONFIG", "GET", "*").elements?.compactMap(\.text) ?? []
        var redisValues: [String: String] = [:]
        for i in stride(from: 0, to: flat.count - 1, by: 2) { redisValues[flat[i]] = flat[i + 1] }
        #expect(redisValues.count > 150)
        // Where the server is placed and started is the test's, not Redis's.
        let placement: Set = ["port", "bind", "dir", "daemonize", "pidfile", "logfile", "save", "appendonly"]
        func quoted(_ v: String) -> String { "\"" + v.replacingOccurrences(of: "\"", with: "\\\"") + "\"" }
        let lines = redisValues.sorted { $0.key < $1.key }.filter { !placement.contains($0.key) }.map { "\($0.key) \(quoted($0.value))" }
        let dir = ServerProcess.makeTempDir("runnel-allconf")
        let path = dir + "/redis.conf"
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let server = try ServerProcess.runnel(leadingArgs: [path])
        defer { server.stop() }
        let c = try TestConnection(port: server.port)
        #expect(try c.command("PING") == .simple("PONG"))
        var differ: [String] = []
        for (name, value) in redisValues where !placement.contains(name) {
            let got = try c.command("CONFIG", "GET", name).elements?.compactMap(\.text) ?? []
            if got != [name, value] { differ.append("\(name): redis \(quoted(value)), runnel \(got)") }
        }
        #expect(differ.isEmpty, "\(differ.count) directives read back differently: \(differ.sorted().joined(separator: "; "))")
        // CONFIG SET of one Runnel keeps without acting on, and the aliases, as Redis.
        for conn in [r, c] {
            #expect(try conn.command("CONFIG", "SET", "hash-max-ziplist-entries", "100") == .simple("OK"))
            #expect(try conn.command("CONFIG", "GET", "hash-max-listpack-entries").elements?.last?.text == "100")
        }
    }

    @Test("MONITOR shows the commands redis-server's shows, quoted and redacted alike")
    func monitor() throws {
        func run(_ server: ServerProcess) throws -> [String] {
            let m = try TestConnection(port: server.port)
            #expect(try m.command("MONITOR") == .simple("OK"))
            let c = try TestConnection(port: server.port)
            let blocked = try TestConnection(port: server.port)
            blocked.send(["XREAD", "BLOCK", "100", "STREAMS", "bk", "$"])
            usleep(50_000)
            let script: [[String]] = [
                ["PING"], ["auth", "nouser", "secret"], ["HELLO", "2"], ["xadd", "s", "*", "f", "a\"b\n\\c\u{01}é"],
                ["MULTI"], ["XLEN", "s"], ["EXEC"], ["CONFIG", "GET", "hz"], ["CLIENT", "SETNAME", "x"], ["FOO"], ["XLEN"],
                ["SELECT", "1"], ["XADD", "bk", "*", "a", "1"], ["SELECT", "0"], ["SLOWLOG", "LEN"], ["ECHO", "done"],
            ]
            for cmd in script { _ = try c.command(cmd) }
            // Lines without their time stamp and client address: `[db] "arg" …`.
            var lines: [String] = []
            let deadline = monotonicMs() + 10_000
            while !lines.contains(where: { $0.hasSuffix("\"ECHO\" \"done\"") }) && monotonicMs() < deadline {
                let raw = m.readUntilQuiet(firstMs: 1000, quietMs: 100)
                for line in String(decoding: raw, as: UTF8.self).components(separatedBy: "\r\n") where line.hasPrefix("+") {
                    guard let open = line.firstIndex(of: "["), let space = line[open...].firstIndex(of: " "),
                        let close = line[open...].firstIndex(of: "]")
                    else { continue }
                    lines.append(String(line[open..<space]) + "]" + line[line.index(after: close)...])
                }
            }
            return lines
        }
        let redis = try ServerProcess.redis()
        defer { redis.stop() }
        let runnel = try ServerProcess.runnel()
        defer { runnel.stop() }
        let expected = try run(redis)
        #expect(expected.count >= 12, "\(expected)")
        #expect(expected.contains("[0] \"auth\" \"(redacted)\" \"(redacted)\""))
        #expect(try run(runnel) == expected)
    }

    @Test("an unknown directive refuses to start, naming the line")
    func badConfig() throws {
        let dir = ServerProcess.makeTempDir("runnel-badconf")
        let path = dir + "/bad.conf"
        try "port 0\nno-such-directive yes\n".write(toFile: path, atomically: true, encoding: .utf8)
        let (status, err) = try runCommand(try ServerProcess.runnelBinary(), [path])
        #expect(status == 1)
        #expect(err.contains("FATAL CONFIG FILE ERROR"))
        #expect(err.contains("at line 2"))
        #expect(err.contains("no-such-directive yes"))
    }

    @Test("idle clients are closed after `timeout` seconds; subscribers are not")
    func idleTimeout() throws {
        let server = try ServerProcess.runnel(extraArgs: ["--timeout", "1"])
        defer { server.stop() }
        let idle = try TestConnection(port: server.port)
        let sub = try TestConnection(port: server.port)
        sub.send(["SUBSCRIBE", "x"])
        _ = try sub.read(1)
        #expect(idle.waitForClose(timeoutMs: 5000))
        #expect(!sub.closedByPeer)
        let c = try TestConnection(port: server.port)
        #expect(try c.command("PUBLISH", "x", "still here") == .integer(1))
    }

    @Test("CLIENT KILL closes another client; CLIENT PAUSE WRITE holds writes until it ends")
    func killAndPause() throws {
        let server = try ServerProcess.runnel()
        defer { server.stop() }
        let admin = try TestConnection(port: server.port)
        let victim = try TestConnection(port: server.port)
        guard case .integer(let id) = try victim.command("CLIENT", "ID") else { Issue.record("no id"); return }
        #expect(try admin.command("CLIENT", "KILL", "ID", "\(id)") == .integer(1))
        #expect(victim.waitForClose(timeoutMs: 5000))

        let writer = try TestConnection(port: server.port)
        #expect(try admin.command("CLIENT", "PAUSE", "300", "WRITE") == .simple("OK"))
        let start = monotonicMs()
        #expect(try writer.command("PING") == .simple("PONG"))  // reads are not paused
        #expect(try writer.command("XADD", "s", "1-1", "a", "b") == .bulk(Array("1-1".utf8)))
        #expect(monotonicMs() - start >= 250)
    }

    @Test("malformed and hostile input never crashes the server or grows it unboundedly")
    func hostileInput() throws {
        let server = try ServerProcess.runnel()
        defer { server.stop() }
        let other = try TestConnection(port: server.port)
        for input in Self.hostileInputs() {
            let c = try TestConnection(port: server.port)
            c.send(input)
            _ = c.readUntilQuiet(firstMs: 50, quietMs: 10)
            c.close()
            #expect(try other.command("PING") == .simple("PONG"))
        }
        // A client that announces a 512 MB bulk and sends nothing more costs no memory.
        let hog = try TestConnection(port: server.port)
        hog.send(Array("*2\r\n$4\r\nECHO\r\n$536870912\r\nabc".utf8))
        usleep(100_000)
        let rss = Self.rssKiB(pid: server.pid)
        #expect(rss > 0 && rss < 200 * 1024, "RSS \(rss) KiB")
        #expect(try other.command("PING") == .simple("PONG"))
        // proto-max-bulk-len goes up to LLONG_MAX, as in Redis: a bulk header at the very top
        // of that range waits for its data like any other (no overflow, no allocation).
        #expect(try other.command("CONFIG", "SET", "proto-max-bulk-len", "9223372036854775807") == .simple("OK"))
        for length in ["9223372036854775807", "9223372036854775806", "9223372036854775805"] {
            let c = try TestConnection(port: server.port)
            c.send(Array("*2\r\n$4\r\nECHO\r\n$\(length)\r\nabcdef".utf8))
            _ = c.readUntilQuiet(firstMs: 50, quietMs: 10)
            c.close()
            #expect(try other.command("PING") == .simple("PONG"), "\(length)")
        }
    }

    @Test("10,000 connections opened and dropped (some mid-command): the server keeps serving, stays bounded, loses nothing")
    func connectionChurn() throws {
        let server = try ServerProcess.runnel(extraArgs: ["--appendfsync", "always"])
        defer { server.stop() }
        let keeper = try TestConnection(port: server.port)
        for i in 0..<100 { _ = try keeper.command("XADD", "orders", "\(i + 1)-0", "n", "\(i)") }
        let rssBefore = Self.rssKiB(pid: server.pid)
        let start = monotonicMs()
        var opened = 0
        while opened < 10_000 && monotonicMs() - start < 120_000 {
            // 250 at a time: each sends nothing, half a command, or a whole one, then hangs up.
            var batch: [TestConnection] = []
            for j in 0..<250 {
                let c = try TestConnection(port: server.port)
                switch j % 3 {
                case 0: break
                case 1: c.send(Array("*3\r\n$4\r\nXADD\r\n$6\r\norders".utf8))
                default: c.send(["XLEN", "orders"])
                }
                batch.append(c)
            }
            for c in batch { c.close() }
            opened += batch.count
        }
        #expect(opened == 10_000)
        #expect(try keeper.command("PING") == .simple("PONG"))
        #expect(try keeper.command("XLEN", "orders") == .integer(100))
        // The dropped clients are gone from the server's books within a few seconds.
        let deadline = monotonicMs() + 10_000
        var connected = -1
        while monotonicMs() < deadline {
            if case .bulk(let info?)? = try? keeper.command("INFO", "clients"),
                let line = String(decoding: info, as: UTF8.self).split(separator: "\r\n").first(where: { $0.hasPrefix("connected_clients:") }),
                let n = Int(line.dropFirst("connected_clients:".count))
            {
                connected = n
                if n == 1 { break }
            }
            usleep(100_000)
        }
        #expect(connected == 1)
        let growth = Self.rssKiB(pid: server.pid) - rssBefore
        #expect(growth < 64 * 1024, "RSS grew by \(growth) KiB after 10,000 connections")
        // Nothing acknowledged is lost across a crash after the churn.
        server.kill9()
        let again = try ServerProcess.runnel(dataDir: server.dataDir, extraArgs: ["--appendfsync", "always"])
        defer { again.stop() }
        let check = try TestConnection(port: again.port)
        #expect(try check.command("XLEN", "orders") == .integer(100))
    }

    @Test("--metrics-port serves Prometheus metrics: commands, latency histograms, streams, groups, pending, fsyncs")
    func prometheusMetrics() throws {
        let metricsPort = ServerProcess.freePort()
        let server = try ServerProcess.runnel(extraArgs: ["--metrics-port", "\(metricsPort)", "--appendfsync", "always"])
        defer { server.stop() }
        let c = try TestConnection(port: server.port)
        for i in 1...3 { _ = try c.command("XADD", "orders", "\(i)-0", "n", "\(i)") }
        _ = try c.command("XGROUP", "CREATE", "orders", "billing", "0")
        _ = try c.command("XREADGROUP", "GROUP", "billing", "c1", "COUNT", "2", "STREAMS", "orders", ">")
        _ = try c.command("XACK", "orders", "billing", "1-0")
        func get(_ path: String) throws -> (Int32, String) {
            try runCommand("/usr/bin/env", ["python3", "-c", """
                import sys, urllib.request, urllib.error
                try:
                    r = urllib.request.urlopen(sys.argv[1], timeout=5)
                    sys.stdout.write(r.headers.get("Content-Type") + "\\n" + r.read().decode())
                except urllib.error.HTTPError as e:
                    sys.stdout.write("HTTP %d" % e.code)
                """, "http://127.0.0.1:\(metricsPort)\(path)"])
        }
        let (status, text) = try get("/metrics")
        #expect(status == 0)
        #expect(text.hasPrefix("text/plain; version=0.0.4"))
        var values: [String: Double] = [:]
        for line in text.split(separator: "\n").dropFirst() where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            #expect(parts.count == 2, "not exposition format: \(line)")
            if parts.count == 2 { values[String(parts[0])] = Double(parts[1]) }
        }
        #expect(values["runnel_commands_total{cmd=\"xadd\"}"] == 3)
        #expect(values["runnel_command_duration_seconds_count{cmd=\"xadd\"}"] == 3)
        #expect(values["runnel_streams"] == 1)
        #expect(values["runnel_stream_entries"] == 3)
        #expect(values["runnel_consumer_groups"] == 1)
        #expect(values["runnel_pending_entries"] == 1)
        #expect(values["runnel_connected_clients"] == 1)
        #expect((values["runnel_fsyncs_total"] ?? 0) >= 1)
        #expect((values["runnel_disk_bytes"] ?? 0) > 0)
        #expect((values["runnel_net_input_bytes_total"] ?? 0) > 0)
        #expect(try get("/elsewhere").1 == "HTTP 404")
    }

    @Test("maxmemory: past the limit, commands that add data get Redis's OOM error; reads, trims and acks go on")
    func maxmemory() throws {
        let redis = try ServerProcess.redis()
        defer { redis.stop() }
        let runnel = try ServerProcess.runnel()
        defer { runnel.stop() }
        var transcripts: [[RESPValue]] = []
        for server in [redis, runnel] {
            let c = try TestConnection(port: server.port)
            var out: [RESPValue] = []
            out.append(try c.command("XADD", "s", "1-0", "a", "1"))
            out.append(try c.command("XGROUP", "CREATE", "s", "g", "0"))
            out.append(try c.command("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"))
            out.append(try c.command("CONFIG", "SET", "maxmemory", "1"))
            // No pause: the new limit holds from the next command (Runnel measures the stream
            // data when maxmemory changes, then at each cron tick).
            out.append(try c.command("XADD", "s", "2-0", "a", "2"))
            out.append(try c.command("XGROUP", "CREATE", "s", "g2", "$"))
            out.append(try c.command("XLEN", "s"))
            out.append(try c.command("XRANGE", "s", "-", "+"))
            out.append(try c.command("XACK", "s", "g", "1-0"))
            out.append(try c.command("MULTI"))
            out.append(try c.command("XADD", "s", "3-0", "a", "3"))
            out.append(try c.command("XLEN", "s"))  // inside MULTI reads are refused too
            out.append(try c.command("EXEC"))
            out.append(try c.command("MULTI"))
            out.append(try c.command("PING"))
            out.append(try c.command("DISCARD"))
            // Queued before the limit was passed: EXEC runs reads, and refuses a transaction
            // with a command that adds data.
            let admin = try TestConnection(port: server.port)
            for (command, limit) in [("XLEN", "1"), ("XADD", "1"), ("XLEN", "0"), ("XADD", "0")] {
                out.append(try admin.command("CONFIG", "SET", "maxmemory", "0"))
                out.append(try c.command("MULTI"))
                out.append(try c.command(command == "XLEN" ? ["XLEN", "s"] : ["XADD", "s", "5-0", "a", "5"]))
                out.append(try c.command("PING"))
                out.append(try admin.command("CONFIG", "SET", "maxmemory", limit))
                out.append(try c.command("EXEC"))
            }
            out.append(try c.command("CONFIG", "SET", "maxmemory", "1"))
            out.append(try c.command("XTRIM", "s", "MAXLEN", "0"))
            out.append(try c.command("CONFIG", "SET", "maxmemory", "0"))
            out.append(try c.command("XADD", "s", "4-0", "a", "4"))
            transcripts.append(out)
        }
        #expect(transcripts[0][4] == .error("OOM command not allowed when used memory > 'maxmemory'."))
        #expect(transcripts[0][11] == .error("OOM command not allowed when used memory > 'maxmemory'."))
        #expect(transcripts[0][21] == .array([.integer(1), .simple("PONG")]))
        #expect(transcripts[0][27] == .error("EXECABORT Transaction discarded because of: OOM command not allowed when used memory > 'maxmemory'."))
        #expect(transcripts[1] == transcripts[0])
    }

    static func rssKiB(pid: Int32) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0
        }
        return 0
    }

    static func hostileInputs() -> [[UInt8]] {
        var rng = SplitMix64(seed: 0xC0FFEE)
        var inputs: [[UInt8]] = [
            Array("*1\r\n$1000000000\r\n".utf8),  // over proto-max-bulk-len
            Array("*2\r\n$4\r\nECHO\r\n$9223372036854775807\r\n".utf8),
            Array("*9223372036854775807\r\n".utf8),
            Array("*1048576\r\n".utf8) + Array(repeating: UInt8(ascii: "$"), count: 10),
            Array("*1\r\n$536870912\r\nabc".utf8),  // exactly the limit, then hang up
            Array(repeating: UInt8(ascii: "x"), count: 200_000),  // endless inline line
            Array("*-1\r\n*0\r\n\r\n\n\n".utf8),
            [0, 0, 0, 0, 255, 254, 13, 10],
            Array("\"unterminated\r\n".utf8),
        ]
        for _ in 0..<12 {
            inputs.append((0..<Int(rng.next() % 4096)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
        }
        return inputs
    }

    /// PING from `host` to `port`; what the server sends back before closing (or within 2 s).
    static func rawPing(host: String, port: Int) throws -> String {
        let script = """
            import socket, sys, time
            s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)
            s.sendall(b"PING\\r\\n")
            data, end = b"", time.time() + 2
            while time.time() < end:
                try:
                    d = s.recv(4096)
                except OSError:
                    break
                if not d:
                    break
                data += d
                if data.endswith(b"\\r\\n") and not data.startswith(b"-DENIED"):
                    break
            sys.stdout.write(data.decode())
            """
        return try runCommand("/usr/bin/env", ["python3", "-c", script, host, "\(port)"]).1
    }

    @Test("protected mode: with no password, a client not on loopback gets Redis's DENIED error; loopback and passwords work")
    func protectedMode() throws {
        // A non-loopback address of this machine: connecting to it makes the client non-local.
        let (_, addresses) = try runCommand("/bin/sh", ["-c", "hostname -I"])
        guard let external = addresses.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
            .first(where: { $0.contains(".") && !$0.hasPrefix("127.") })
        else {
            return  // no IPv4 interface besides loopback here: nothing can connect from outside
        }
        let redis = try ServerProcess.redis(extraArgs: ["--bind", "0.0.0.0"])
        defer { redis.stop() }
        let runnel = try ServerProcess.runnel(extraArgs: ["--bind", "0.0.0.0"])
        defer { runnel.stop() }
        let expected = try Self.rawPing(host: external, port: redis.port)
        #expect(expected.hasPrefix("-DENIED Redis is running in protected mode"), "oracle: \(expected)")
        #expect(try Self.rawPing(host: external, port: runnel.port) == expected)
        #expect(try Self.rawPing(host: "127.0.0.1", port: runnel.port) == "+PONG\r\n")
        // With a password, outsiders may connect (and must authenticate).
        for server in [redis, runnel] {
            let c = try TestConnection(port: server.port)
            _ = try c.command("CONFIG", "SET", "requirepass", "s3cret")
            c.close()
        }
        let afterPassword = try Self.rawPing(host: external, port: redis.port)
        #expect(afterPassword == "-NOAUTH Authentication required.\r\n")
        #expect(try Self.rawPing(host: external, port: runnel.port) == afterPassword)
        // protected-mode no lets outsiders in without a password.
        let c = try TestConnection(port: runnel.port)
        _ = try c.command("AUTH", "s3cret")
        _ = try c.command("CONFIG", "SET", "requirepass", "")
        _ = try c.command("CONFIG", "SET", "protected-mode", "no")
        c.close()
        #expect(try Self.rawPing(host: external, port: runnel.port) == "+PONG\r\n")
    }
}

