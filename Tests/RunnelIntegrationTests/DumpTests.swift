import Foundation
import RunnelTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// runnel-dump on the fixtures, snapshots with restore, and export into a real redis-server.
@Suite("runnel-dump and snapshots", .serialized)
struct DumpTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    func fixture(_ name: String) throws -> String {
        let target = ServerProcess.makeTempDir("runnel-dump-\(name)")
        for f in try FileManager.default.contentsOfDirectory(atPath: Self.root + "/fixtures/data/" + name) {
            try FileManager.default.copyItem(atPath: Self.root + "/fixtures/data/\(name)/\(f)", toPath: target + "/" + f)
        }
        return target
    }

    func dump(_ args: [String]) throws -> (Int32, String) {
        try runCommand(try ServerProcess.dumpBinary(), args, timeoutMs: 60_000)
    }

    @Test("golden output of stats, segments, index and verify on the valid fixture")
    func golden() throws {
        let dir = try fixture("valid")
        let (s1, stats) = try dump(["stats", dir])
        #expect(s1 == 0)
        #expect(stats == """
            db  key      entries  first-id         last-id           bytes  groups  consumers  pending
             0  orders        79  1700000000000-1  1700000000001-80   2210       1          2       20
             0  audit          1  1-1              1-1                 157       0          0        0
             2  metrics        1  5-0              5-0                 219       0          0        0
            totals: 3 streams, 81 entries, 1 groups, 2 consumers, 20 pending
            disk: 1393 bytes (checkpoint 494, log 899 in 2 segments)
            log: 44 frames, 48 records, 1001 raw bytes, compression 1.19x

            """)
        let (s2, segments) = try dump(["segments", dir])
        #expect(s2 == 0)
        #expect(segments.contains("segment-00000002.log    871  1001  1.19x      44       48        2  1700000000001-41  5-0          sealed"))
        let (s3, index) = try dump(["index", dir, "2"])
        #expect(s3 == 0)
        #expect(index == """
            segment-00000002.idx: matches its segment
              offset 28: 0:orders 1700000000001-41..1700000000001-80 (40), 2:metrics 5-0..5-0 (1)

            """)
        let (s4, verify) = try dump(["verify", dir])
        #expect(s4 == 0 && verify == "ok: 2 segments, 44 frames, 48 records, 1001 raw bytes\n")
        let (s5, cat) = try dump(["cat", dir, "--stream", "orders", "--from", "1700000000001-79"])
        #expect(s5 == 0 && cat == "0:orders 1700000000001-79 sku SKU-2 qty 5 note y\n0:orders 1700000000001-80 sku SKU-3 qty 1 note yy\n")
        let (s6, json) = try dump(["cat", dir, "--records", "--json"])
        #expect(s6 == 0)
        let lines = json.split(separator: "\n")
        #expect(lines.count == 48)
        #expect(lines.last?.contains("\"type\":\"append\"") == true && lines.last?.contains("\"key\":\"metrics\"") == true)
        for line in lines {
            #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) != nil, "valid JSON: \(line)")
        }
    }

    @Test("verify finds each fixture's defect; repair fixes it; verify is then clean")
    func verifyAndRepair() throws {
        for (name, needle) in [("torn", "torn tail"), ("corrupt", "CRC mismatch"), ("missing-index", "missing index")] {
            let dir = try fixture(name)
            let (status, out) = try dump(["verify", dir])
            #expect(status == 1, "\(name): \(out)")
            #expect(out.contains(needle), "\(name): \(out)")
            // index names the checkpoint's streams even when a segment is damaged, and flags a bad index.
            let (istatus, iout) = try dump(["index", dir])
            #expect(istatus == (name == "torn" ? 0 : 1) && iout.contains("0:orders 1700000000001-41"), "\(name): \(iout)")
            let (rs, rout) = try dump(["repair", dir])
            #expect(rs == 0, "\(name): \(rout)")
            let (vs, vout) = try dump(["verify", dir])
            #expect(vs == 0, "\(name) after repair: \(vout)")
        }
        let (u, out) = try dump(["verify", "/nonexistent/dir"])
        #expect(u == 2 && out.contains("not a directory"))
        let (h, help) = try dump(["--help"])
        #expect(h == 0 && help.contains("Exit codes: 0 ok; 1 problems found"))
    }

    @Test("snapshot, write more, restore: the server shows exactly the snapshot's state")
    func snapshotRoundTrip() throws {
        let dir = ServerProcess.makeTempDir("runnel-snap")
        var server = try ServerProcess.runnel(dataDir: dir, extraArgs: ["--segment-max-bytes", "64kb"])
        var c = try TestConnection(port: server.port)
        for i in 0..<3000 { c.send(["XADD", "s", "*", "n", "\(i)", "payload", String(repeating: "p", count: i % 40)]) }
        _ = try c.read(3000, timeoutMs: 60_000)
        _ = try c.command("XGROUP", "CREATE", "s", "g", "0")
        _ = try c.command("XREADGROUP", "GROUP", "g", "alice", "COUNT", "700", "STREAMS", "s", ">")
        _ = try c.command("XREADGROUP", "GROUP", "g", "bob", "COUNT", "50", "STREAMS", "s", ">")
        _ = try c.command("XREADGROUP", "GROUP", "g", "alice", "COUNT", "5", "STREAMS", "s", "0")
        func state(_ c: TestConnection) throws -> String {
            var out = ""
            for cmd: [String] in [["XLEN", "s"], ["XRANGE", "s", "-", "+", "COUNT", "5"], ["XREVRANGE", "s", "+", "-", "COUNT", "5"],
                                  ["XINFO", "GROUPS", "s"], ["XPENDING", "s", "g"], ["XPENDING", "s", "g", "-", "+", "10"]] {
                out += try c.command(cmd).description + "\n"
            }
            // Idle times move; lag depends on nothing here but keep it exact.
            return out.replacingOccurrences(of: #"("(alice|bob)"), :\d+"#, with: "$1, :IDLE", options: .regularExpression)
        }
        let before = try state(c)
        #expect(try c.command("SAVE") == .simple("OK"))
        #expect(try c.command("BGSAVE") == .simple("Background saving started"))
        // Changes after the snapshot.
        _ = try c.command("XADD", "s", "*", "after", "snapshot")
        _ = try c.command("XACK", "s", "g", try firstPending(c))
        _ = try c.command("DEL", "s")
        server.stop()
        let (ls, list) = try dump(["snapshot", dir + "/data", "--verify"])
        #expect(ls == 0, "\(list)")
        #expect(list.contains("entries=3000") && list.contains("pending=750") && list.contains("  ok"), "\(list)")
        let snapshots = try FileManager.default.contentsOfDirectory(atPath: dir + "/data/snapshots").sorted()
        #expect(snapshots.count == 2)
        let snapshot = dir + "/data/snapshots/" + snapshots[0]
        // A snapshot is not a place to run a server or a repair: it shares files with the data
        // directory. Both refuse and leave it as it was; reading it works.
        let files = try FileManager.default.contentsOfDirectory(atPath: snapshot).sorted()
        let bin = try ServerProcess.runnelBinary()
        let (started, smsg) = try runCommand(bin, ["--port", "\(ServerProcess.freePort())", "--dir", snapshot], timeoutMs: 20_000)
        #expect(started != 0 && smsg.contains("it is a snapshot") && smsg.contains("runnel-dump restore"), "\(smsg)")
        let (repaired, pmsg) = try dump(["repair", snapshot])
        #expect(repaired != 0 && pmsg.contains("it is a snapshot"), "\(pmsg)")
        let (stats, _) = try dump(["stats", snapshot])
        #expect(stats == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: snapshot).sorted() == files, "nothing written in the snapshot")
        let (verified, vmsg) = try dump(["snapshot", dir + "/data", "--verify"])
        #expect(verified == 0 && !vmsg.contains("FAIL"), "\(vmsg)")
        let target = ServerProcess.makeTempDir("runnel-restored")
        FileManager.default.createFile(atPath: target + "/data/keep", contents: nil)
        try? FileManager.default.createDirectory(atPath: target + "/data", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: target + "/data/keep", contents: nil)
        let (refused, rmsg) = try dump(["restore", snapshot, "--to", target + "/data"])
        #expect(refused == 2 && rmsg.contains("--force"), "\(rmsg)")
        let (rs, rout) = try dump(["restore", snapshot, "--to", target + "/data", "--force"])
        #expect(rs == 0, "\(rout)")
        server = try ServerProcess.runnel(dataDir: target)
        c = try TestConnection(port: server.port)
        let after = try state(c)
        #expect(after == before, "\(after)\nvs\n\(before)")
        server.stop()
        // A damaged snapshot is refused before anything is touched.
        let seg = try FileManager.default.contentsOfDirectory(atPath: snapshot).first { $0.hasSuffix(".log") }!
        let h = FileHandle(forUpdatingAtPath: snapshot + "/" + seg)!
        h.seek(toFileOffset: 40)
        h.write(Data([0xFF, 0xFF]))
        h.closeFile()
        let (bad, bmsg) = try dump(["restore", snapshot, "--to", target + "/data", "--force"])
        #expect(bad == 1 && bmsg.contains("fails verification"), "\(bmsg)")
    }

    func firstPending(_ c: TestConnection) throws -> String {
        try c.command("XPENDING", "s", "g", "-", "+", "1").elements?.first?.elements?.first?.text ?? "0-0"
    }

    @Test("export into redis-server: the RESTORE form rebuilds every stream exactly (DUMP bytes equal), the --commands form all it can")
    func exportToRedis() throws {
        let dir = ServerProcess.makeTempDir("runnel-export")
        let server = try ServerProcess.runnel(dataDir: dir)
        let c = try TestConnection(port: server.port)
        let script: [[String]] = [
            ["XADD", "orders", "1-1", "sku", "A", "qty", "1"], ["XADD", "orders", "2-1", "sku", "B"], ["XADD", "orders", "3-0", "x", "y z"],
            ["XADD", "orders", "4-0", "k", "v"], ["XADD", "orders", "4-1", "q", "say \"hi\"\n", "e", "caf\u{e9}", "z", ""],
            ["XDEL", "orders", "2-1"], ["XDEL", "orders", "4-1"], ["XGROUP", "CREATE", "orders", "g1", "0"],
            ["XREADGROUP", "GROUP", "g1", "alice", "COUNT", "2", "STREAMS", "orders", ">"],
            ["XREADGROUP", "GROUP", "g1", "bob", "COUNT", "1", "STREAMS", "orders", ">"],
            ["XCLAIM", "orders", "g1", "bob", "0", "1-1", "RETRYCOUNT", "5", "TIME", "1700000000000"],
            ["XGROUP", "CREATE", "orders", "g2", "$"], ["XGROUP", "CREATECONSUMER", "orders", "g2", "idle"],
            ["XADD", "empty", "9-9", "a", "b"], ["XDEL", "empty", "9-9"],
            // An empty stream that never had an entry, and a pending entry whose entry is gone.
            ["XGROUP", "CREATE", "made", "g", "$", "MKSTREAM"], ["XSETID", "made", "7-7", "ENTRIESADDED", "3"],
            ["XADD", "gone", "1-1", "a", "b"], ["XADD", "gone", "2-1", "a", "b"], ["XGROUP", "CREATE", "gone", "g", "0"],
            ["XREADGROUP", "GROUP", "g", "c", "STREAMS", "gone", ">"], ["XDEL", "gone", "1-1"],
            ["PEXPIRE", "gone", "100000000"],
            ["SELECT", "1"], ["XADD", "other", "5-5", "f", "v"], ["SELECT", "0"],
        ]
        for cmd in script { _ = try c.command(cmd) }
        _ = try c.command("XADD", "quoted", "1-1", "q", "say \"hi\"\n", "e", "caf\u{e9}", "z", "", "plain", "abcdefghijklmnop")
        server.stop()
        let (qs, quoted) = try dump(["cat", dir + "/data", "--stream", "quoted"])
        #expect(qs == 0 && quoted == "0:quoted 1-1 q \"say \\\"hi\\\"\\n\" e \"caf\\xc3\\xa9\" z \"\" plain abcdefghijklmnop\n", "\(quoted)")
        let (js, jline) = try dump(["cat", dir + "/data", "--stream", "quoted", "--json"])
        #expect(js == 0 && jline == "{\"db\":0,\"key\":\"quoted\",\"id\":\"1-1\",\"fields\":[[\"q\",\"say \\\"hi\\\"\\n\"],[\"e\",\"café\"],[\"z\",\"\"],[\"plain\",\"abcdefghijklmnop\"]]}\n", "\(jline)")

        // Exports the directory (RESTORE payloads are binary: through a file) into a fresh
        // redis-server with `redis-cli --pipe`; returns the server and what export said on stderr.
        let dumpBinary = try ServerProcess.dumpBinary()
        let cli = ServerProcess.which("redis-cli")!
        func export(_ options: [String]) throws -> (ServerProcess, String) {
            let file = dir + "/export\(options.joined()).resp"
            let (es, said) = try runCommand(
                "/bin/sh", ["-c", "'\(dumpBinary)' export '\(dir)/data' -q \(options.joined(separator: " ")) > '\(file)'"])
            #expect(es == 0, "\(said)")
            let redis = try ServerProcess.redis()
            let (ps, pout) = try runCommand("/bin/sh", ["-c", "\(cli) -p \(redis.port) --pipe < '\(file)'"])
            #expect(ps == 0 && pout.contains("errors: 0"), "\(pout)")
            return (redis, said)
        }
        let restarted = try ServerProcess.runnel(dataDir: dir)
        defer { restarted.stop() }
        let a = try TestConnection(port: restarted.port)
        let idle = #"(\[\"[0-9]+-[0-9]+\", \"[a-z]+\"), :\d+"#
        func same(_ b: TestConnection, _ cmds: [[String]], _ form: String) throws {
            for cmd in cmds {
                let x = try a.command(cmd).description.replacingOccurrences(of: idle, with: "$1, :N", options: .regularExpression)
                let y = try b.command(cmd).description.replacingOccurrences(of: idle, with: "$1, :N", options: .regularExpression)
                #expect(x == y, "\(form) \(cmd): runnel \(x) vs redis \(y)")
            }
        }

        let (exact, said) = try export([])
        defer { exact.stop() }
        #expect(said.isEmpty, "\(said)")
        let b = try TestConnection(port: exact.port)
        var cmds: [[String]] = []
        for key in ["orders", "empty", "made", "gone", "quoted"] {
            cmds += [["DUMP", key], ["XINFO", "STREAM", key], ["XINFO", "GROUPS", key], ["XPENDING", key, "g", "-", "+", "10"]]
        }
        cmds += [["XPENDING", "orders", "g1", "-", "+", "10"], ["PEXPIRETIME", "gone"], ["SELECT", "1"], ["DUMP", "other"], ["SELECT", "0"]]
        try same(b, cmds, "RESTORE form")

        let (portable, warned) = try export(["--commands"])
        defer { portable.stop() }
        #expect(warned.contains("1 pending entries whose entry was deleted are not exported"), "\(warned)")
        let d = try TestConnection(port: portable.port)
        try same(d, [
            ["XRANGE", "orders", "-", "+"], ["XINFO", "GROUPS", "orders"], ["XPENDING", "orders", "g1"],
            ["XPENDING", "orders", "g1", "-", "+", "10"], ["XLEN", "empty"], ["XINFO", "STREAM", "empty"],
            ["XINFO", "STREAM", "made"], ["XINFO", "GROUPS", "made"], ["XRANGE", "gone", "-", "+"], ["PEXPIRETIME", "gone"],
            ["SELECT", "1"], ["XRANGE", "other", "-", "+"], ["SELECT", "0"],
        ], "commands form")
        // What XCLAIM cannot recreate: the pending entry whose entry was deleted.
        #expect(try d.command("XPENDING", "gone", "g").elements?.first == .integer(1))
        #expect(try a.command("XPENDING", "gone", "g").elements?.first == .integer(2))
    }
}
