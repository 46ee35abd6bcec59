import Foundation
import RunnelTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A client pipelines a long batch of random stream and keyspace commands (adds, trims,
/// deletes, groups, deliveries, claims, acks, COPY/MOVE/SWAPDB/RENAME, transactions, and
/// BGREWRITEAOF checkpoints among them) to a server under `appendfsync always`, and the server
/// is killed with SIGKILL in the middle. After the restart the whole keyspace — every entry,
/// every stream's metadata and node layout, every group, consumer and pending entry (times
/// masked) — must equal what a second server (in memory only) holds after some prefix of the
/// same batch, and that prefix must include every command whose reply arrived: nothing
/// acknowledged lost, and no state a client could never have seen (half a command, half a
/// transaction). `tools/crash-fuzz` runs more rounds and seeds.
@Suite("kill -9 in the middle of a pipelined batch", .serialized)
struct CrashPrefixTests {
    static let persistentArgs = ["--appendfsync", "always", "--segment-max-bytes", "64kb", "--checkpoint-min-bytes", "64kb"]

    /// Times (seen, active, delivery) differ between the two servers: masked.
    static func masked(_ v: RESPValue) -> RESPValue {
        switch v {
        case .integer(let n) where n > 1_000_000_000_000: return .integer(-7)
        case .array(let a?): return .array(a.map(masked))
        default: return v
        }
    }

    /// What a client can observe of databases 0 and 1.
    static func observe(_ c: TestConnection) throws -> [RESPValue] {
        var out: [RESPValue] = []
        for db in 0..<2 {
            _ = try c.command("SELECT", "\(db)")
            let keys = (try c.command("KEYS", "*").elements ?? []).compactMap(\.text).filter { $0 != "__layout" }.sorted()
            for key in keys {
                out.append(.simple("\(db):\(key)"))
                out.append(try c.command("TYPE", key))
                if case .integer(let ttl) = try c.command("PTTL", key) { out.append(.integer(ttl > 0 ? 1 : ttl)) }
                out.append(masked(try c.command("XINFO", "STREAM", key, "FULL", "COUNT", "0")))
                // The node layout (what `~` trimming and DUMP depend on): DUMP of a copy
                // without its groups, whose delivery times differ between the servers.
                _ = try c.command("COPY", key, "__layout", "REPLACE")
                for group in try c.command("XINFO", "GROUPS", "__layout").elements ?? [] {
                    if let name = group.elements?[1].text { _ = try c.command("XGROUP", "DESTROY", "__layout", name) }
                }
                out.append(try c.command("DUMP", "__layout"))
                _ = try c.command("DEL", "__layout")
            }
        }
        _ = try c.command("SELECT", "0")
        return out
    }

    @Test("a pipelined batch killed mid-way comes back as one of its prefixes, covering every reply")
    func killMidBatch() throws {
        let env = ProcessInfo.processInfo.environment
        let seed = UInt64(env["RUNNEL_SEED"] ?? "") ?? 20_261_201
        let rounds = Int(env["RUNNEL_CRASH_ROUNDS"] ?? "") ?? 6
        var gen = StreamScriptGenerator(seed: seed)
        var rng = SplitMix64(seed: seed ^ 0x5EED)
        let dir = ServerProcess.makeTempDir("runnel-prefix")
        var server = try ServerProcess.runnel(dataDir: dir, extraArgs: Self.persistentArgs)
        let reference = try ServerProcess.runnel(extraArgs: ["--appendonly", "no"])
        defer { reference.stop() }
        let ref = try TestConnection(port: reference.port)
        var refInMulti = false
        var cutInside = 0
        var acknowledgedTotal = 0
        for round in 0..<rounds {
            let size = 300 + Int(rng.next() % 1200)
            // Checkpoints now and then, often inside a transaction.
            let batch = gen.batch(atLeast: size) { inMulti in rng.next() % (inMulti ? 3 : 150) == 0 }
            // Kill once a random number of replies (up to half the batch) has arrived.
            let killAfter = Int(rng.next() % UInt64(batch.count / 2))
            let c = try TestConnection(port: server.port)
            c.send(batch.flatMap { encodeCommand($0) })
            let deadline = monotonicMs() + 20_000
            while ((try? RESPReplyParser.parseAll(c.buffer))?.0.count ?? 0) < killAfter && monotonicMs() < deadline {
                if !c.fill(timeoutMs: 1000) && c.closedByPeer { break }
            }
            server.signal(SIGKILL)
            _ = server.waitForExit(timeoutMs: 10_000)
            while c.fill(timeoutMs: 200) {}
            let acknowledged = (try? RESPReplyParser.parseAll(c.buffer))?.0.count ?? 0
            acknowledgedTotal += acknowledged
            // The directory as the crash left it, for a failure to be looked into.
            let crashed = dir + "-crashed"
            try? FileManager.default.removeItem(atPath: crashed)
            try? FileManager.default.copyItem(atPath: dir, toPath: crashed)
            server = try ServerProcess.runnel(dataDir: dir, extraArgs: Self.persistentArgs)
            let recovered = try Self.observe(try TestConnection(port: server.port))

            // The reference runs the batch one command at a time: first everything
            // acknowledged, then one more command at a time until its state matches.
            var k = 0
            // Inside a transaction the reference cannot be observed (what it is sent is
            // queued); until EXEC its state is the one observed just before MULTI.
            var beforeMulti: [RESPValue] = []
            func step() throws {
                if batch[k][0] == "MULTI" && !refInMulti { beforeMulti = try Self.observe(ref) }
                _ = try ref.command(batch[k])
                if batch[k][0] == "MULTI" { refInMulti = true }
                if batch[k][0] == "EXEC" || batch[k][0] == "DISCARD" { refInMulti = false }
                k += 1
            }
            while k < acknowledged { try step() }
            var matched: Int?
            var closest: (differences: Int, prefix: Int, detail: String) = (.max, 0, "")
            while true {
                do {
                    let state = refInMulti ? beforeMulti : try Self.observe(ref)
                    if state == recovered {
                        matched = k
                        break
                    }
                    let pairs = zip(state, recovered).filter { $0.0 != $0.1 }
                    let differences = pairs.count + abs(state.count - recovered.count)
                    if differences < closest.differences {
                        let first = pairs.first.map { "reference \($0.0)\nrecovered \($0.1)" } ?? "\(state.count) vs \(recovered.count) values"
                        closest = (differences, k, first)
                    }
                }
                if k == batch.count { break }
                try step()
            }
            guard let matched else {
                let from = batch[..<closest.prefix].lastIndex { $0[0] == "MULTI" } ?? closest.prefix
                let around = batch[max(0, min(from, closest.prefix - 5))..<min(batch.count, closest.prefix + 5)].map { $0.joined(separator: " ") }
                Issue.record(
                    """
                    seed \(seed) round \(round): acknowledged \(acknowledged) of \(batch.count); the recovered state is no \
                    prefix of the batch (data directory as the crash left it: \(crashed)). Closest: prefix \(closest.prefix), \(closest.differences) \
                    values differ, commands around it: \(around)
                    \(closest.detail)
                    """)
                server.stop()
                return
            }
            if refInMulti {
                // The crash fell inside a transaction whose EXEC never ran: drop it here too.
                #expect(try ref.command("DISCARD") == .simple("OK"))
                refInMulti = false
            }
            if matched < batch.count { cutInside += 1 }
        }
        server.stop()
        #expect(cutInside >= 1, "at least one kill landed inside its batch (\(cutInside) of \(rounds))")
        #expect(acknowledgedTotal > 0)
    }
}
