import Foundation
import Logging
import RunnelStorage
import RunnelStreams
import RunnelTestSupport
import Testing

@testable import RunnelBroker

#if canImport(Glibc)
import Glibc
#endif

/// DEBUG on the real binary, where it meets the storage engine (replies compared with
/// redis-server are in DifferentialTests.debugCommand).
@Suite("DEBUG (runnel-server binary)", .serialized)
struct DebugTests {
    @Test("DEBUG RELOAD reads a snapshot back and compares it with memory; WATCH aborts as after a reload; a difference is found")
    func reload() throws {
        let server = try ServerProcess.runnel(extraArgs: ["--enable-debug-command", "yes"])
        defer { server.stop() }
        let c = try TestConnection(port: server.port)
        for i in 0..<300 {
            _ = try c.command("XADD", "s", "*", "n", "\(i)", "bin", "\u{0}\u{7f}é\(i)")
        }
        _ = try c.command("XGROUP", "CREATE", "s", "g", "0")
        _ = try c.command("XREADGROUP", "GROUP", "g", "alice", "COUNT", "7", "STREAMS", "s", ">")
        _ = try c.command("XDEL", "s", "0-1")
        _ = try c.command("PEXPIRE", "s", "900000")
        _ = try c.command("SELECT", "2")
        _ = try c.command("XADD", "t", "5-5", "k", "v")
        _ = try c.command("SELECT", "0")
        let watcher = try TestConnection(port: server.port)
        #expect(try watcher.command("WATCH", "s") == .simple("OK"))
        let digest = try c.command("DEBUG", "DIGEST")

        #expect(try c.command("DEBUG", "RELOAD") == .simple("OK"))
        #expect(try c.command("DEBUG", "DIGEST") == digest)
        // Behind a BGSAVE still being written, RELOAD waits for it and then takes its own.
        c.send(encodeCommand(["BGSAVE"]) + encodeCommand(["DEBUG", "RELOAD"]))
        #expect(try c.read(2, timeoutMs: 10_000) == [.simple("Background saving started"), .simple("OK")])
        #expect(server.log().contains("DB reloaded by DEBUG RELOAD"))
        _ = try watcher.command("MULTI")
        _ = try watcher.command("XLEN", "s")
        #expect(try watcher.command("EXEC") == .array(nil), "a reload touches watched keys, as a flush does")
        // DEBUG OBJECT's serializedlength is the RDB encoding's, as DUMP gives it less its footer.
        guard case .bulk(let dump?) = try c.command("DUMP", "s"), case .simple(let object) = try c.command("DEBUG", "OBJECT", "s") else {
            Issue.record("no DUMP or DEBUG OBJECT reply")
            return
        }
        #expect(object.contains("encoding:stream serializedlength:\(dump.count - 11) lru:"), "\(object)")
        #expect(object.hasSuffix("lru_seconds_idle:0"))

        // The comparison finds what differs: read the snapshot back, change one thing at a time.
        let snapshots = server.dataDir + "/data/snapshots"
        let names = try FileManager.default.contentsOfDirectory(atPath: snapshots)
        #expect(names.count == 3)
        let path = snapshots + "/" + (names.max() ?? "")
        let read = try Recovery.recover(DataDirectory(path), repair: false, readOnly: true, logger: Logger(label: "test"), visit: nil).streams
        #expect(read.count == 2)
        #expect(Broker.reloadDifference(path, read, logger: Logger(label: "test")) == nil)
        var changed = read
        let i = changed.firstIndex { $0.key == Array("s".utf8) }!
        _ = try changed[i].stream.append(.auto, fieldsAndValues: [Array("x".utf8), Array("y".utf8)], nowMs: 1)
        #expect(Broker.reloadDifference(path, changed, logger: Logger(label: "test"))?.contains("key 's': the stream read back is not the one in memory") == true)
        changed = read
        changed[i].expireAt += 1
        #expect(Broker.reloadDifference(path, changed, logger: Logger(label: "test"))?.contains("key 's': expire") == true)
        #expect(Broker.reloadDifference(path, Array(read.dropLast()), logger: Logger(label: "test")) == "1 streams in memory, 2 read back")
        #expect(Broker.reloadDifference(path + "-gone", read, logger: Logger(label: "test"))?.hasPrefix("reading it back failed") == true)

        // Without persistence there is nothing to reload from.
        let memoryOnly = try ServerProcess.runnel(extraArgs: ["--enable-debug-command", "yes", "--appendonly", "no"])
        defer { memoryOnly.stop() }
        let m = try TestConnection(port: memoryOnly.port)
        guard case .error(let e) = try m.command("DEBUG", "RELOAD") else {
            Issue.record("DEBUG RELOAD without persistence did not fail")
            return
        }
        #expect(e.hasPrefix("ERR persistence is off (appendonly no)"))
    }

    @Test("DEBUG SEGFAULT ends the process as kill -9 would; what appendfsync always acknowledged is there after a restart")
    func crash() throws {
        let dir = ServerProcess.makeTempDir("runnel-debug-crash")
        let args = ["--enable-debug-command", "yes", "--appendfsync", "always"]
        let server = try ServerProcess.runnel(dataDir: dir, extraArgs: args)
        let c = try TestConnection(port: server.port)
        for i in 1...100 {
            #expect(try c.command("XADD", "s", "\(i)-1", "n", "\(i)") == .bulk(Array("\(i)-1".utf8)))
        }
        c.send(["DEBUG", "SEGFAULT"])
        #expect(server.waitForExit(timeoutMs: 10_000) == SIGKILL)
        #expect(server.log().contains("DEBUG SEGFAULT: ending the process now"))
        let again = try ServerProcess.runnel(dataDir: dir, extraArgs: args)
        defer { again.stop() }
        let d = try TestConnection(port: again.port)
        #expect(try d.command("XLEN", "s") == .integer(100))
    }
}
