import NIOCore
import NIOEmbedded
import Testing

@testable import RunnelBroker

/// Redis 8.2 (XDELEX, XACKDEL, KEEPREF/DELREF/ACKED) and 8.4 (XREADGROUP CLAIM) behaviour,
/// from Redis's documentation and its test suite's scenarios (redis-server 7.0 has none of it).
@Suite("Redis 8.2/8.4 stream features")
struct NewerStreamFeatureTests {
    func client() throws -> EmbeddedClient { try EmbeddedClient() }

    func twoGroupsReadBoth(_ c: EmbeddedClient) throws {
        _ = try c.send("XADD mystream 1-0 f v\r\nXADD mystream 2-0 f v\r\nXGROUP CREATE mystream group1 0\r\nXGROUP CREATE mystream group2 0\r\n")
        _ = try c.send("XREADGROUP GROUP group1 consumer1 STREAMS mystream >\r\nXREADGROUP GROUP group2 consumer2 STREAMS mystream >\r\n")
    }

    static let noPending = "*4\r\n:0\r\n$-1\r\n$-1\r\n*-1\r\n"

    @Test("XACKDEL arity, missing key or group, IDS validation, exclusive policies")
    func xackdelValidation() throws {
        let c = try client()
        #expect(try c.send("XACKDEL s g\r\n") == "-ERR wrong number of arguments for 'xackdel' command\r\n")
        #expect(try c.send("XACKDEL s g IDS 2 1-1 2-2\r\n") == "*2\r\n:-1\r\n:-1\r\n")
        _ = try c.send("XADD s 1-0 f v\r\n")
        #expect(try c.send("XACKDEL s g IDS 2 1-1 2-2\r\n") == "*2\r\n:-1\r\n:-1\r\n")
        _ = try c.send("XGROUP CREATE s g 0\r\n")
        for bad in ["abc", "0", "-5"] {
            #expect(try c.send("XACKDEL s g IDS \(bad) 1-1\r\n") == "-ERR Number of IDs must be a positive integer\r\n")
        }
        #expect(try c.send("XACKDEL s g IDS 3 1-1 2-2\r\n") == "-ERR The `numids` parameter must match the number of arguments\r\n")
        #expect(try c.send("XACKDEL s g IDS 1 1-1 2-2\r\n") == "-ERR syntax error\r\n")
        #expect(try c.send("XACKDEL s g KEEPREF DELREF IDS 1 1-1\r\n") == "-ERR syntax error\r\n")
        #expect(try c.send("XACKDEL s g DELREF ACKED IDS 1 1-1\r\n") == "-ERR syntax error\r\n")
        #expect(try c.send("XACKDEL s g IDS 1 x\r\n") == "-ERR Invalid stream ID specified as stream command argument\r\n")
    }

    @Test("XACKDEL DELREF removes the entries from every group's PEL")
    func xackdelDelref() throws {
        let c = try client()
        try twoGroupsReadBoth(c)
        #expect(try c.send("XACKDEL mystream group1 DELREF IDS 2 1-0 2-0\r\n") == "*2\r\n:1\r\n:1\r\n")
        #expect(try c.send("XLEN mystream\r\n") == ":0\r\n")
        #expect(try c.send("XPENDING mystream group1\r\n") == Self.noPending)
        #expect(try c.send("XPENDING mystream group2\r\n") == Self.noPending)
        #expect(try c.send("XACKDEL mystream group2 DELREF IDS 2 1-0 2-0\r\n") == "*2\r\n:-1\r\n:-1\r\n")
    }

    @Test("XACKDEL ACKED deletes only what every group acknowledged")
    func xackdelAcked() throws {
        let c = try client()
        try twoGroupsReadBoth(c)
        #expect(try c.send("XACKDEL mystream group1 ACKED IDS 2 1-0 2-0\r\n") == "*2\r\n:2\r\n:2\r\n")
        #expect(try c.send("XLEN mystream\r\n") == ":2\r\n")
        #expect(try c.send("XPENDING mystream group1\r\n") == Self.noPending)
        #expect(try c.send("XPENDING mystream group2\r\n") == "*4\r\n:2\r\n$3\r\n1-0\r\n$3\r\n2-0\r\n*1\r\n*2\r\n$9\r\nconsumer2\r\n$1\r\n2\r\n")
        #expect(try c.send("XACKDEL mystream group2 ACKED IDS 2 1-0 2-0\r\n") == "*2\r\n:1\r\n:1\r\n")
        #expect(try c.send("XLEN mystream\r\n") == ":0\r\n")
    }

    @Test("XACKDEL KEEPREF deletes entries but keeps other groups' references")
    func xackdelKeepref() throws {
        let c = try client()
        try twoGroupsReadBoth(c)
        #expect(try c.send("XACKDEL mystream group1 KEEPREF IDS 2 1-0 2-0\r\n") == "*2\r\n:1\r\n:1\r\n")
        #expect(try c.send("XLEN mystream\r\n") == ":0\r\n")
        #expect(try c.send("XPENDING mystream group2\r\n") == "*4\r\n:2\r\n$3\r\n1-0\r\n$3\r\n2-0\r\n*1\r\n*2\r\n$9\r\nconsumer2\r\n$1\r\n2\r\n")
        #expect(try c.send("XACKDEL mystream group2 KEEPREF IDS 2 1-0 2-0\r\n") == "*2\r\n:1\r\n:1\r\n")
        #expect(try c.send("XPENDING mystream group2\r\n") == Self.noPending)
    }

    @Test("XDELEX: missing IDs, missing key, ACKED keeps referenced entries, DELREF cleans PELs")
    func xdelex() throws {
        let c = try client()
        _ = try c.send("XADD mystream 1-0 f v\r\nXADD mystream 2-0 f v\r\nXADD mystream 3-0 f v\r\n")
        #expect(try c.send("XDELEX mystream KEEPREF IDS 2 1526919030474-55 1526919030474-56\r\n") == "*2\r\n:-1\r\n:-1\r\n")
        #expect(try c.send("XDELEX nokey IDS 1 1-0\r\n") == "*1\r\n:-1\r\n")
        _ = try c.send("XGROUP CREATE mystream g 0\r\nXREADGROUP GROUP g c COUNT 1 STREAMS mystream >\r\n")
        // 1-0 is pending, 3-0 not yet delivered: both referenced. Nothing references... none.
        #expect(try c.send("XDELEX mystream ACKED IDS 2 1-0 3-0\r\n") == "*2\r\n:2\r\n:2\r\n")
        _ = try c.send("XACK mystream g 1-0\r\n")
        #expect(try c.send("XDELEX mystream ACKED IDS 1 1-0\r\n") == "*1\r\n:1\r\n")
        _ = try c.send("XREADGROUP GROUP g c COUNT 1 STREAMS mystream >\r\n")
        #expect(try c.send("XDELEX mystream DELREF IDS 1 2-0\r\n") == "*1\r\n:1\r\n")
        #expect(try c.send("XPENDING mystream g\r\n") == Self.noPending)
        #expect(try c.send("XLEN mystream\r\n") == ":1\r\n")
    }

    @Test("XADD/XTRIM with ACKED trim only unreferenced entries; DELREF drops references")
    func trimPolicies() throws {
        let c = try client()
        _ = try c.send((1...5).map { "XADD s \($0)-0 f v\r\n" }.joined())
        _ = try c.send("XGROUP CREATE s g 0\r\nXREADGROUP GROUP g c COUNT 3 STREAMS s >\r\nXACK s g 1-0 2-0\r\n")
        // 3-0 is pending, 4-0 and 5-0 undelivered: only 1-0 and 2-0 may go.
        #expect(try c.send("XTRIM s MAXLEN 0 ACKED\r\n") == ":2\r\n")
        #expect(try c.send("XLEN s\r\n") == ":3\r\n")
        #expect(try c.send("XTRIM s MAXLEN 1 DELREF\r\n") == ":2\r\n")
        #expect(try c.send("XPENDING s g\r\n") == Self.noPending)
        #expect(try c.send("XADD s KEEPREF MAXLEN 1 6-0 f v\r\n") == "$3\r\n6-0\r\n")
        #expect(try c.send("XLEN s\r\n") == ":1\r\n")
        #expect(try c.send("XADD s KEEPREF ACKED 7-0 f v\r\n") == "-ERR syntax error\r\n")
    }

    @Test("XREADGROUP CLAIM: idle pending entries first with idle time and delivery count, then new ones")
    func readgroupClaim() throws {
        let c = try client()
        _ = try c.send("XADD s 1-0 a 1\r\nXADD s 2-0 b 2\r\nXGROUP CREATE s g 0\r\n")
        _ = try c.send("XREADGROUP GROUP g alice STREAMS s >\r\n")
        _ = try c.send("XADD s 3-0 c 3\r\n")
        let reply = try c.send("XREADGROUP GROUP g bob CLAIM 0 STREAMS s >\r\n")
        // Two claimed entries with 4 elements each, then the new entry 3-0, also with 4: idle
        // time 0 and no earlier delivery (Redis 8.4's shape for every entry once CLAIM is given).
        #expect(reply.hasPrefix("*1\r\n*2\r\n$1\r\ns\r\n*3\r\n*4\r\n$3\r\n1-0\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n:"))
        #expect(reply.contains("\r\n:1\r\n*4\r\n$3\r\n2-0\r\n"))
        #expect(reply.hasSuffix("*4\r\n$3\r\n3-0\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n:0\r\n:0\r\n"))
        // CLAIM does not change a history read (an explicit ID): two elements per entry.
        #expect(
            try c.send("XREADGROUP GROUP g bob CLAIM 0 COUNT 1 STREAMS s 2-0\r\n")
                == "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n3-0\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n")
        #expect(try c.send("XPENDING s g\r\n") == "*4\r\n:3\r\n$3\r\n1-0\r\n$3\r\n3-0\r\n*1\r\n*2\r\n$3\r\nbob\r\n$1\r\n3\r\n")
        #expect(try c.send("XREADGROUP GROUP g carol CLAIM 999999 STREAMS s >\r\n") == "*-1\r\n")
        #expect(try c.send("XREADGROUP GROUP g carol CLAIM x STREAMS s >\r\n") == "-ERR min-idle-time is not an integer or out of range\r\n")
    }
}

/// XREADGROUP CLAIM with BLOCK (Redis 8.4): "the CLAIM min-idle-time condition may become true
/// for some pending entries during the BLOCK period" — the blocked client is then served.
@Suite("XREADGROUP CLAIM while blocked")
struct BlockedClaimTests {
    final class Clock: @unchecked Sendable { var ms: Int64 = 5_000_000 }

    func setup() throws -> (Clock, EmbeddedEventLoop, EmbeddedClient, EmbeddedClient) {
        let clock = Clock()
        let loop = EmbeddedEventLoop()
        let b = Broker(config: ServerConfig(), eventLoop: loop)
        b.clockOverride = { clock.ms }
        let alice = try EmbeddedClient(broker: b)
        let bob = try EmbeddedClient(broker: b)
        _ = try alice.send("XADD s 1-0 a 1\r\nXGROUP CREATE s g 0\r\nXREADGROUP GROUP g alice STREAMS s >\r\n")
        return (clock, loop, alice, bob)
    }

    func pass(_ clock: Clock, _ loop: EmbeddedEventLoop, ms: Int64) {
        clock.ms += ms
        loop.advanceTime(by: .milliseconds(ms))
    }

    @Test("a blocked CLAIM reader gets the entry once it has been idle long enough, with its idle time and count")
    func servedWhenIdle() throws {
        let (clock, loop, alice, bob) = try setup()
        #expect(try bob.send("XREADGROUP GROUP g bob BLOCK 0 CLAIM 100 STREAMS s >\r\n") == "", "nothing is idle yet: blocks")
        pass(clock, loop, ms: 60)
        #expect(bob.readAll() == "")
        pass(clock, loop, ms: 40)
        #expect(bob.readAll() == "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*4\r\n$3\r\n1-0\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n:100\r\n:1\r\n")
        #expect(try alice.send("XPENDING s g - + 10\r\n") == "*1\r\n*4\r\n$3\r\n1-0\r\n$3\r\nbob\r\n:0\r\n:2\r\n")
        #expect(try bob.send("PING\r\n") == "+PONG\r\n", "bob is no longer blocked")
    }

    @Test("the BLOCK timeout comes first when it is shorter; an entry acknowledged meanwhile is not served")
    func timeoutAndAck() throws {
        let (clock, loop, alice, bob) = try setup()
        #expect(try bob.send("XREADGROUP GROUP g bob BLOCK 50 CLAIM 100 STREAMS s >\r\n") == "")
        pass(clock, loop, ms: 50)
        #expect(bob.readAll() == "*-1\r\n")
        #expect(try bob.send("XREADGROUP GROUP g bob BLOCK 0 CLAIM 500 STREAMS s >\r\n") == "")
        #expect(try alice.send("XACK s g 1-0\r\n") == ":1\r\n")
        pass(clock, loop, ms: 600)
        #expect(bob.readAll() == "", "nothing left to claim: still blocked")
        // New entries still wake it as usual, in CLAIM's shape (idle 0, no earlier delivery).
        _ = try alice.send("XADD s 2-0 b 2\r\n")
        #expect(bob.readAll() == "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*4\r\n$3\r\n2-0\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n:0\r\n:0\r\n")
    }

    @Test("an entry claimed by someone else meanwhile moves the wake-up to its new idle time")
    func reclaimedMeanwhile() throws {
        let (clock, loop, alice, bob) = try setup()
        #expect(try bob.send("XREADGROUP GROUP g bob BLOCK 0 CLAIM 100 STREAMS s >\r\n") == "")
        pass(clock, loop, ms: 80)
        _ = try alice.send("XCLAIM s g carol 0 1-0 JUSTID\r\n")  // delivery time reset, count kept
        pass(clock, loop, ms: 20)
        #expect(bob.readAll() == "", "idle for 20 ms only")
        pass(clock, loop, ms: 80)
        #expect(bob.readAll() == "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*4\r\n$3\r\n1-0\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n:100\r\n:1\r\n")
    }
}

/// Redis 7.2's consumer times: seen (last attempt) and active (last read of new entries or
/// successful claim), as XINFO CONSUMERS (`idle`, `inactive`) and XINFO STREAM FULL report them.
@Suite("Consumer seen and active times")
struct ConsumerTimeTests {
    final class Clock: @unchecked Sendable { var ms: Int64 = 1_000_000 }

    @Test("reads of new entries and claims make a consumer active; history reads only refresh its idle time")
    func activeTime() throws {
        let clock = Clock()
        let b = Broker(config: ServerConfig(), eventLoop: EmbeddedEventLoop())
        b.clockOverride = { clock.ms }
        let c = try EmbeddedClient(broker: b)
        _ = try c.send("XADD s 1-1 f v\r\nXGROUP CREATE s g 0\r\nXGROUP CREATECONSUMER s g c\r\n")
        func consumers() throws -> String { try c.send("XINFO CONSUMERS s g\r\n") }
        #expect(try consumers() == "*1\r\n*8\r\n$4\r\nname\r\n$1\r\nc\r\n$7\r\npending\r\n:0\r\n$4\r\nidle\r\n:0\r\n$8\r\ninactive\r\n:-1\r\n")
        clock.ms += 100
        _ = try c.send("XREADGROUP GROUP g c STREAMS s >\r\n")  // reads 1-1: active
        clock.ms += 200
        _ = try c.send("XREADGROUP GROUP g c STREAMS s 0\r\n")  // its own history: seen, not active
        clock.ms += 50
        #expect(try consumers() == "*1\r\n*8\r\n$4\r\nname\r\n$1\r\nc\r\n$7\r\npending\r\n:1\r\n$4\r\nidle\r\n:50\r\n$8\r\ninactive\r\n:250\r\n")
        let full = try c.send("XINFO STREAM s FULL\r\n")
        #expect(full.contains("$9\r\nseen-time\r\n:1000300\r\n$11\r\nactive-time\r\n:1000100\r\n"), "\(full)")
        // A claim by another consumer makes it active; an XAUTOCLAIM that claims nothing does not.
        clock.ms += 1000
        _ = try c.send("XCLAIM s g d 10 1-1\r\n")
        clock.ms += 10
        _ = try c.send("XAUTOCLAIM s g d 100000 0\r\n")
        let after = try consumers()
        #expect(after.hasSuffix("$4\r\nname\r\n$1\r\nd\r\n$7\r\npending\r\n:1\r\n$4\r\nidle\r\n:10\r\n$8\r\ninactive\r\n:10\r\n"), "\(after)")
    }
}
