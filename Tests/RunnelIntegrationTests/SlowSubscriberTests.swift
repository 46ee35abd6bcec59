import Testing
import RunnelTestSupport

#if canImport(Glibc)
import Glibc
#endif

@Suite("Pub/Sub output buffer limits")
struct SlowSubscriberTests {
    @Test("a subscriber that never reads is disconnected at the hard limit; the server stays bounded")
    func hardLimit() throws {
        let server = try ServerProcess.runnel(extraArgs: ["--client-output-buffer-limit", "pubsub 4mb 2mb 60"])
        defer { server.stop() }
        let slow = try TestConnection(port: server.port)
        slow.send(["SUBSCRIBE", "storm"])
        _ = try slow.read(1)
        let fast = try TestConnection(port: server.port)
        fast.send(["SUBSCRIBE", "storm"])
        _ = try fast.read(1)
        let publisher = try TestConnection(port: server.port)
        let payload = String(repeating: "p", count: 64 * 1024)
        var dropped = false
        // At most 2000 × 64 KiB = 125 MiB offered; the slow one must be cut long before.
        for round in 0..<2000 {
            publisher.send(["PUBLISH", "storm", payload])
            let reply = try publisher.read(1)[0]
            // Keep the well-behaved subscriber drained.
            while fast.fill(timeoutMs: 0) {}
            if reply == .integer(1) {
                dropped = true
                #expect(round > 10, "dropped after \(round) messages")
                break
            }
        }
        #expect(dropped, "slow subscriber was never disconnected")
        #expect(try publisher.command("PUBSUB", "NUMSUB", "storm") == .array([.bulk(Array("storm".utf8)), .integer(1)]))
        let rss = ServerBinaryTests.rssKiB(pid: server.pid)
        #expect(rss < 300 * 1024, "RSS \(rss) KiB")
        #expect(server.log().contains("output buffer limits"))
        #expect(slow.waitForClose(timeoutMs: 5000))
    }

    @Test("the soft limit disconnects a subscriber that stays over it for its seconds")
    func softLimit() throws {
        let server = try ServerProcess.runnel(extraArgs: ["--client-output-buffer-limit", "pubsub 64mb 1mb 1"])
        defer { server.stop() }
        let slow = try TestConnection(port: server.port)
        slow.send(["SUBSCRIBE", "c"])
        _ = try slow.read(1)
        let publisher = try TestConnection(port: server.port)
        let payload = String(repeating: "s", count: 256 * 1024)
        // Fill past the soft limit (and the socket buffers), then wait for the cron to act.
        for _ in 0..<40 { _ = try publisher.command("PUBLISH", "c", payload) }
        let deadline = monotonicMs() + 5000
        var receivers = 1
        while receivers == 1 && monotonicMs() < deadline {
            usleep(100_000)
            if case .integer(let n) = try publisher.command("PUBLISH", "c", "x") { receivers = n }
        }
        #expect(receivers == 0)
    }
}

@Suite("Normal-client output buffer limits")
struct NormalOutputLimitTests {
    @Test("client-output-buffer-limit normal: a reply past the hard limit closes that client, as redis-server does; others go on")
    func normalHardLimit() throws {
        let redis = try ServerProcess.redis(extraArgs: ["--client-output-buffer-limit", "normal 1mb 0 0"])
        defer { redis.stop() }
        let runnel = try ServerProcess.runnel(extraArgs: ["--client-output-buffer-limit", "normal 1mb 0 0"])
        defer { runnel.stop() }
        for server in [redis, runnel] {
            let loader = try TestConnection(port: server.port)
            let value = String(repeating: "v", count: 1000)
            for i in 0..<3000 { loader.send(["XADD", "big", "\(i + 1)-1", "f", value]) }
            _ = try loader.read(3000, timeoutMs: 60_000)
            // A small reply is fine; 3 MB in one reply is over the 1 MB hard limit.
            let reader = try TestConnection(port: server.port)
            #expect(try reader.command("XRANGE", "big", "-", "+", "COUNT", "10").elements?.count == 10)
            reader.send(["XRANGE", "big", "-", "+"])
            #expect(reader.waitForClose(timeoutMs: 5000), "\(server.name) kept a client past its output limit")
            #expect(try loader.command("XLEN", "big") == .integer(3000))
        }
    }
}
