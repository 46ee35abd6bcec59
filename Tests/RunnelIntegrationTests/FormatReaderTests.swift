import Foundation
import RunnelTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// docs/FORMAT.md promises that a stranger can write a reader from it. `tools/format-reader` is
/// such a reader: Python's standard library and the document, no Runnel code. These tests hold
/// it to the server: after a long random workload (checkpoints, segment rolls, transactions,
/// COPY/MOVE/SWAPDB/RENAME, expiries, every group command), the state the reader rebuilds from
/// the data directory alone — every entry, stream metadata, group positions and entries-read,
/// every pending entry with owner, delivery time and count, every consumer's seen and active
/// time — must equal what the server answered to XINFO STREAM FULL before it stopped. A field
/// the document leaves out, or states wrongly, fails here.
@Suite("an independent reader written from docs/FORMAT.md", .serialized)
struct FormatReaderTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let reader = root + "/tools/format-reader"
    static let args = ["--appendfsync", "always", "--segment-max-bytes", "64kb"]

    /// The server's view of every stream in dbs 0–3, in the reader's JSON shape.
    static func serverState(_ c: TestConnection) throws -> [String: Any] {
        var out: [String: Any] = [:]
        for db in 0..<4 {
            _ = try c.command("SELECT", "\(db)")
            for key in (try c.command("KEYS", "*").elements ?? []).compactMap(\.text) {
                guard try c.command("TYPE", key) == .simple("stream") else { continue }
                var expire = 0
                if case .integer(let at) = try c.command("PEXPIRETIME", key), at > 0 { expire = at }
                let info = pairs(try c.command("XINFO", "STREAM", key, "FULL", "COUNT", "0"))
                var stream: [String: Any] = [
                    "expire": expire,
                    "length": info["length"]?.int ?? -1,
                    "last-id": info["last-generated-id"]?.text ?? "",
                    "max-deleted-id": info["max-deleted-entry-id"]?.text ?? "",
                    "entries-added": info["entries-added"]?.int ?? -1,
                ]
                stream["entries"] = (info["entries"]?.elements ?? []).map { e -> [Any] in
                    let parts = e.elements ?? []
                    return [parts[0].text ?? "", (parts[1].elements ?? []).map { $0.text ?? "" }]
                }
                var groups: [String: Any] = [:]
                for g in info["groups"]?.elements ?? [] {
                    let gi = pairs(g)
                    var consumers: [String: Any] = [:]
                    for cv in gi["consumers"]?.elements ?? [] {
                        let ci = pairs(cv)
                        consumers[ci["name"]?.text ?? ""] = [
                            "seen-time": ci["seen-time"]?.int ?? -2,
                            "active-time": ci["active-time"]?.int ?? -2,
                            "pel": (ci["pending"]?.elements ?? []).map { $0.elements?[0].text ?? "" },
                        ]
                    }
                    groups[gi["name"]?.text ?? ""] = [
                        "last-delivered-id": gi["last-delivered-id"]?.text ?? "",
                        "entries-read": gi["entries-read"]?.int.map { $0 as Any } ?? NSNull(),
                        "pel": (gi["pending"]?.elements ?? []).map { p -> [Any] in
                            let f = p.elements ?? []
                            return [f[0].text ?? "", f[1].text ?? "", f[2].int ?? -1, f[3].int ?? -1]
                        },
                        "consumers": consumers,
                    ]
                }
                stream["groups"] = groups
                out["\(db)/\(key)"] = stream
            }
        }
        _ = try c.command("SELECT", "0")
        return out
    }

    static func pairs(_ v: RESPValue) -> [String: RESPValue] {
        var d: [String: RESPValue] = [:]
        let a = v.elements ?? []
        var i = 0
        while i + 1 < a.count {
            if let k = a[i].text { d[k] = a[i + 1] }
            i += 2
        }
        return d
    }

    static func canonical(_ v: Any) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: v, options: [.sortedKeys]), as: UTF8.self)
    }

    /// Runs the reader; returns its JSON state, or records its error.
    static func readerState(_ dir: String, _ extra: [String] = []) throws -> (Int32, String) {
        try runCommand("/usr/bin/env", ["python3", reader, dir] + extra, timeoutMs: 120_000)
    }

    /// Compares key by key, so that a failure names the stream and shows both sides.
    /// On a difference a copy of the data directory `dir` is kept as `<dir>-failed-<stage>`.
    static func compare(server: [String: Any], readerJSON: String, dir: String, stage: Int, context: String) throws {
        let parsed = try JSONSerialization.jsonObject(with: Data(readerJSON.utf8)) as? [String: Any] ?? [:]
        var same = Set(parsed.keys) == Set(server.keys)
        #expect(same, "\(context): keys")
        for key in server.keys.sorted() where same {
            let mine = try canonical(server[key]!)
            let theirs = try parsed[key].map(canonical) ?? "(missing)"
            same = mine == theirs
            #expect(same, "\(context): \(key) (directory kept: \(dir)-failed-\(stage))\nserver \(mine.prefix(3000))\nreader \(theirs.prefix(3000))")
        }
        if !same {
            try? FileManager.default.removeItem(atPath: "\(dir)-failed-\(stage)")
            try? FileManager.default.copyItem(atPath: dir, toPath: "\(dir)-failed-\(stage)")
        }
    }

    /// Sends a generated batch and waits for every reply.
    static func run(_ gen: inout StreamScriptGenerator, _ rng: inout SplitMix64, count: Int, checkpoints: Bool, port: Int) throws -> Int {
        let batch = gen.batch(atLeast: count) { inMulti in checkpoints && rng.next() % (inMulti ? 5 : 120) == 0 }
        let c = try TestConnection(port: port)
        defer { c.close() }
        c.send(batch.flatMap { encodeCommand($0) })
        let deadline = monotonicMs() + 60_000
        var replies = 0
        while replies < batch.count && monotonicMs() < deadline {
            _ = c.fill(timeoutMs: 1000)
            replies = (try? RESPReplyParser.parseAll(c.buffer))?.0.count ?? 0
        }
        #expect(replies == batch.count, "every command of the batch was answered")
        return batch.count
    }

    @Test("after kill -9 and after SHUTDOWN, the reader rebuilds exactly the server's state")
    func readerMatchesServer() throws {
        let env = ProcessInfo.processInfo.environment
        let seed = UInt64(env["RUNNEL_SEED"] ?? "") ?? 20_261_202
        var gen = StreamScriptGenerator(seed: seed)
        var rng = SplitMix64(seed: seed ^ 0xF0F0)
        let dir = ServerProcess.makeTempDir("runnel-format-reader")
        defer { try? FileManager.default.removeItem(atPath: dir + "/data") }

        // 1. A long workload, then SIGKILL: an unsealed newest segment with its zero tail.
        var server = try ServerProcess.runnel(dataDir: dir, extraArgs: Self.args)
        _ = try Self.run(&gen, &rng, count: 4000, checkpoints: true, port: server.port)
        // Then ~1 MB of poorly compressible entries and group traffic after the last
        // checkpoint, so that the live log spans several sealed segments with index files.
        var bulk: [[String]] = [["XGROUP", "CREATE", "bulk", "gb", "0", "MKSTREAM"]]
        for i in 0..<3000 {
            let values = (0..<5).map { _ in (0..<4).map { _ in String(rng.next(), radix: 16) }.joined() }
            bulk.append(["XADD", "bulk", "*"] + values.enumerated().flatMap { ["f\($0.offset)", $0.element] })
            if i % 100 == 99 {
                bulk.append(["XREADGROUP", "GROUP", "gb", "c\(i % 3)", "COUNT", "60", "STREAMS", "bulk", ">"])
            }
        }
        bulk.append(["XACK", "bulk", "gb", "0-1"])
        bulk.append(["XTRIM", "bulk", "MAXLEN", "2500"])
        let b = try TestConnection(port: server.port)
        for command in bulk { _ = try b.command(command) }
        var state = try Self.serverState(try TestConnection(port: server.port))
        server.kill9()
        let data = dir + "/data"
        var (status, out) = try Self.readerState(data)
        #expect(status == 0, "seed \(seed): reader failed after kill -9: \(out.suffix(2000))")
        if status == 0 { try Self.compare(server: state, readerJSON: out, dir: data, stage: 1, context: "seed \(seed), after kill -9") }
        let files = try FileManager.default.contentsOfDirectory(atPath: data)
        #expect(files.contains { $0.hasPrefix("checkpoint-") }, "the workload wrote a checkpoint")
        // ~1 MB written after the last checkpoint rolled 64 KB segments by size, each sealed
        // with its index file (not only at checkpoints, which delete what they cover).
        #expect(files.filter { $0.hasSuffix(".idx") }.count >= 3, "sealed segments with index files: \(files.sorted())")
        #expect(files.filter { $0.hasSuffix(".log") }.count >= 4, "segments rolled by size: \(files.sorted())")

        // 2. Restart (recovery, a new segment), more work, SHUTDOWN: every segment sealed. No
        // checkpoint this time, so the log keeps every record of this stage for step 3.
        server = try ServerProcess.runnel(dataDir: dir, extraArgs: Self.args)
        let c = try TestConnection(port: server.port)
        #expect(try c.command("FLUSHALL") == .simple("OK"))
        _ = try Self.run(&gen, &rng, count: 3000, checkpoints: false, port: server.port)
        // What the generator does not write: acks of real pending entries, LASTID, expiries,
        // PERSIST, FLUSHDB.
        for command in [
            "XADD fixed 1-1 a 1", "XADD fixed 2-1 b 2", "XADD fixed 3-1 a 3", "XGROUP CREATE fixed g 0",
            "XREADGROUP GROUP g c COUNT 2 STREAMS fixed >", "XACK fixed g 1-1", "XCLAIM fixed g d 0 2-1 LASTID 9-9",
            "EXPIRE fixed 100000", "XADD fixed2 1-1 x y", "PEXPIREAT fixed2 99999999999999", "PERSIST fixed2",
            "SELECT 2", "XADD gone 1-1 x y", "FLUSHDB", "SELECT 3", "XADD kept 5-5 k v", "EXPIREAT kept 99999999999",
        ] {
            let reply = try c.command(command.split(separator: " ").map(String.init))
            if case .error(let e) = reply { Issue.record("\(command): \(e)") }
        }
        _ = try c.command("SELECT", "0")
        state = try Self.serverState(c)
        #expect(!state.isEmpty, "the workload left streams to compare")
        c.send(["SHUTDOWN"])
        #expect(server.waitForExit(timeoutMs: 30_000) != nil)
        (status, out) = try Self.readerState(data)
        #expect(status == 0, "seed \(seed): reader failed after SHUTDOWN: \(out.suffix(2000))")
        if status == 0 { try Self.compare(server: state, readerJSON: out, dir: data, stage: 2, context: "seed \(seed), after SHUTDOWN") }

        // 3. Its record listing decodes every record of the log too.
        (status, out) = try Self.readerState(data, ["--records"])
        #expect(status == 0 && out.split(separator: "\n").count > 1000, "--records listed the log")
        // The workload reached every record type this server writes, so the comparison above
        // covered them all. (FLUSHALL is written as one flushDB per db that held streams; no
        // writer has used flushAll, which readers accept all the same.)
        let names = Set(out.split(separator: "\n").compactMap { line -> String? in
            guard let r = line.range(of: #""name": "[A-Za-z]+""#, options: .regularExpression) else { return nil }
            return String(line[r].dropFirst(9).dropLast())
        })
        let expected: Set<String> = [
            "streamNew", "keyDelete", "keyRename", "keyExpire", "flushDB", "keyCopy", "swapDB",
            "append", "delete", "trim", "setMetadata", "groupCreate", "groupSetID", "groupDestroy",
            "consumerCreate", "consumerDelete", "consumerSeen", "deliverNew", "redeliver", "ack", "claim",
            "dropPending", "groupLastID", "consumerActive",
        ]
        #expect(expected.subtracting(names).isEmpty, "record types the workload did not produce: \(expected.subtracting(names).sorted())")
    }

    @Test("the fixtures: valid, torn (22 bytes dropped), missing index, corrupt (offset 454)")
    func fixtures() throws {
        let data = Self.root + "/fixtures/data/"
        let (status, out) = try Self.readerState(data + "valid", ["--summary"])
        #expect(status == 0)
        #expect(out.contains("\"streams\": 3, \"entries\": 81, \"groups\": 1, \"pending\": 20"), "\(out)")
        let torn = try Self.readerState(data + "torn", ["--summary"])
        #expect(torn.0 == 0 && torn.1.contains("\"torn_bytes\": 22"), "\(torn.1)")
        #expect(try Self.readerState(data + "missing-index").1 == (try Self.readerState(data + "valid").1))
        let corrupt = try Self.readerState(data + "corrupt")
        #expect(corrupt.0 == 1 && corrupt.1.contains("segment-00000002.log: CRC mismatch in the frame at offset 454"), "\(corrupt.1)")
    }
}

private extension RESPValue {
    var int: Int? {
        if case .integer(let n) = self { return n }
        return nil
    }
}
