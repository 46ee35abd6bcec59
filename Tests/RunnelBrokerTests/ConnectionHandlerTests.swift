import NIOCore
import NIOEmbedded
import Testing

@testable import RunnelBroker

/// Drives a ConnectionHandler on an EmbeddedChannel: exact bytes in, exact bytes out.
final class EmbeddedClient {
    let broker: Broker
    let channel: EmbeddedChannel

    init(broker: Broker? = nil) throws {
        let loop = EmbeddedEventLoop()
        let b = broker ?? Broker(config: ServerConfig(), eventLoop: loop)
        self.broker = b
        channel = EmbeddedChannel(loop: b.eventLoop as! EmbeddedEventLoop)
        try channel.pipeline.syncOperations.addHandler(ConnectionHandler(broker: b))
        channel.pipeline.fireChannelActive()
    }

    /// Sends bytes (optionally split into chunks, each followed by a read-complete) and
    /// returns everything written back.
    func send(_ text: String, chunk: Int? = nil) throws -> String {
        let bytes = Array(text.utf8)
        let size = chunk ?? max(1, bytes.count)
        var i = 0
        while i < bytes.count {
            try channel.writeInbound(ByteBuffer(bytes: bytes[i..<min(bytes.count, i + size)]))
            channel.pipeline.fireChannelReadComplete()
            i += size
        }
        // As a real event loop does after reading its ready channels: run queued tasks
        // (the end-of-iteration flush of messages for other connections).
        (channel.eventLoop as! EmbeddedEventLoop).run()
        return readAll()
    }

    func readAll() -> String {
        var out = ""
        while let buf = try? channel.readOutbound(as: ByteBuffer.self) { out += String(buffer: buf) }
        return out
    }
}

@Suite("Connection handler on EmbeddedChannel")
struct ConnectionHandlerTests {
    static let script = "PING\r\n*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\nSELECT 3\r\n*1\r\n$6\r\nDBSIZE\r\nMULTI\r\nPING\r\nEXEC\r\n"
    static let replies = "+PONG\r\n$5\r\nhello\r\n+OK\r\n:0\r\n+OK\r\n+QUEUED\r\n*1\r\n+PONG\r\n"

    @Test("LATENCY: recorded events appear in LATEST and HISTORY with the worst sample, and RESET clears them")
    func latencyMonitor() throws {
        let c = try EmbeddedClient()
        c.broker.recordLatency("command", ms: 120)
        c.broker.recordLatency("command", ms: 80)  // same second: the worst one stays
        c.broker.recordLatency("fast-command", ms: 15)
        let latest = try c.send("LATENCY LATEST\r\n")
        let second = Int(Clock.nowMs() / 1000)
        #expect(latest.hasPrefix("*2\r\n*4\r\n$7\r\ncommand\r\n:"))
        #expect(latest.contains("\r\n:120\r\n:120\r\n*4\r\n$12\r\nfast-command\r\n"))
        #expect(latest.contains(":\(second)\r\n") || latest.contains(":\(second - 1)\r\n"))
        #expect(try c.send("LATENCY HISTORY command\r\n").hasSuffix(":120\r\n"))
        #expect(try c.send("LATENCY RESET command\r\n") == ":1\r\n")
        #expect(try c.send("LATENCY RESET\r\n") == ":1\r\n")
        #expect(try c.send("LATENCY LATEST\r\n") == "*0\r\n")
        // The threshold records real commands: with 0 (off) nothing is kept.
        _ = try c.send("PING\r\n")
        #expect(c.broker.latencyEvents.isEmpty)
    }

    @Test("pipelined commands get ordered replies")
    func pipelined() throws {
        let c = try EmbeddedClient()
        #expect(try c.send(Self.script) == Self.replies)
    }

    @Test("input fragmented at every size gives identical replies", arguments: 1...9)
    func fragmented(chunk: Int) throws {
        let c = try EmbeddedClient()
        #expect(try c.send(Self.script, chunk: chunk) == Self.replies)
    }

    @Test("protocol error: earlier commands answered, then error, then close")
    func protocolError() throws {
        let c = try EmbeddedClient()
        let out = try c.send("PING\r\n*1\r\n$x\r\nPING\r\n")
        #expect(out == "+PONG\r\n-ERR Protocol error: invalid bulk length\r\n")
        #expect(!c.channel.isActive)
    }

    @Test("HELLO 3 switches reply shapes, RESET returns to RESP2")
    func hello3() throws {
        let c = try EmbeddedClient()
        let out = try c.send("HELLO 3\r\n")
        #expect(out.hasPrefix("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n"))
        #expect(try c.send("CONFIG GET hz\r\n") == "%1\r\n$2\r\nhz\r\n$2\r\n10\r\n")
        #expect(try c.send("RESET\r\nCONFIG GET hz\r\n") == "+RESET\r\n*2\r\n$2\r\nhz\r\n$2\r\n10\r\n")
    }

    @Test("Pub/Sub push to another connection on the same loop")
    func pubsub() throws {
        let sub = try EmbeddedClient()
        let pub = try EmbeddedClient(broker: sub.broker)
        #expect(try sub.send("SUBSCRIBE ch\r\n") == "*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n")
        #expect(try pub.send("PUBLISH ch hi\r\n") == ":1\r\n")
        #expect(sub.readAll() == "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n")
        // HELLO is refused in RESP2 subscribed mode, as in Redis.
        #expect(try sub.send("HELLO 3\r\n").hasPrefix("-ERR Can't execute 'hello'"))
        let sub3 = try EmbeddedClient(broker: sub.broker)
        #expect(try sub3.send("HELLO 3\r\n").hasPrefix("%7"))
        #expect(try sub3.send("SUBSCRIBE ch\r\n") == ">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n")
        #expect(try pub.send("PUBLISH ch again\r\n") == ":2\r\n")
        #expect(sub.readAll() == "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nagain\r\n")
        #expect(sub3.readAll() == ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nagain\r\n")
        // RESP3 clients may run ordinary commands while subscribed; pushes interleave.
        #expect(try sub3.send("PING\r\n") == "+PONG\r\n")
    }

    @Test("unknown data-type commands answer Redis's unknown-command error", arguments: [
        ("GET x", "-ERR unknown command 'GET', with args beginning with: 'x' \r\n"),
        ("SET a b", "-ERR unknown command 'SET', with args beginning with: 'a' 'b' \r\n"),
        ("LPUSH l 1 2", "-ERR unknown command 'LPUSH', with args beginning with: 'l' '1' '2' \r\n"),
        ("HGETALL h", "-ERR unknown command 'HGETALL', with args beginning with: 'h' \r\n"),
        ("ZADD", "-ERR unknown command 'ZADD', with args beginning with: \r\n"),
    ])
    func unknownDataTypes(command: String, reply: String) throws {
        let c = try EmbeddedClient()
        #expect(try c.send(command + "\r\n") == reply)
    }

    @Test("query buffer limit closes the connection")
    func queryBufferLimit() throws {
        let loop = EmbeddedEventLoop()
        var config = ServerConfig()
        try config.set("client-query-buffer-limit", "1mb")
        let c = try EmbeddedClient(broker: Broker(config: config, eventLoop: loop))
        #expect(try c.send("PING\r\n") == "+PONG\r\n")
        let big = "*2\r\n$4\r\nECHO\r\n$4000000\r\n" + String(repeating: "x", count: 1_100_000)
        _ = try c.send(big)
        // Closed: nothing more is read. (An EmbeddedChannel is never `isActive` here.)
        #expect(try c.send("PING\r\n") == "")
    }

    /// Redis moves each parsed argument out of its query buffer, so the limit applies to the
    /// argument being received and what follows it, not to the command as a whole.
    @Test("query buffer limit counts only input not yet parsed into arguments")
    func queryBufferLimitPerArgument() throws {
        let loop = EmbeddedEventLoop()
        var config = ServerConfig()
        try config.set("client-query-buffer-limit", "1mb")
        let c = try EmbeddedClient(broker: Broker(config: config, eventLoop: loop))
        let value = String(repeating: "x", count: 700_000)
        // 2.1 MB in all, sent in pieces of 64 KiB: no argument alone passes 1 MiB.
        let bulk = "$\(value.count)\r\n\(value)\r\n"
        let command = "*9\r\n$4\r\nXADD\r\n$1\r\ns\r\n$3\r\n1-1\r\n"
            + "$1\r\nf\r\n" + bulk + "$2\r\nf1\r\n" + bulk + "$2\r\nf2\r\n" + bulk
        #expect(try c.send(command, chunk: 65536) == "$3\r\n1-1\r\n")
        #expect(try c.send("PING\r\n") == "+PONG\r\n")
        // One argument past the limit still closes the connection.
        _ = try c.send("*3\r\n$4\r\nECHO\r\n$2\r\nhi\r\n$2000000\r\n" + String(repeating: "y", count: 1_100_000), chunk: 65536)
        #expect(try c.send("PING\r\n") == "")
    }

    @Test("CLIENT REPLY OFF and SKIP suppress replies")
    func clientReply() throws {
        let c = try EmbeddedClient()
        #expect(try c.send("CLIENT REPLY SKIP\r\nPING a\r\nPING b\r\n") == "$1\r\nb\r\n")
        #expect(try c.send("CLIENT REPLY OFF\r\nPING c\r\nCLIENT REPLY ON\r\nPING d\r\n") == "+OK\r\n$1\r\nd\r\n")
    }

    @Test("QUIT replies then closes")
    func quit() throws {
        let c = try EmbeddedClient()
        #expect(try c.send("QUIT\r\nPING\r\n") == "+OK\r\n")
        #expect(!c.channel.isActive)
    }

    @Test("requirepass: NOAUTH until AUTH")
    func auth() throws {
        let loop = EmbeddedEventLoop()
        var config = ServerConfig()
        try config.set("requirepass", "s3cret")
        let c = try EmbeddedClient(broker: Broker(config: config, eventLoop: loop))
        #expect(try c.send("PING\r\n") == "-NOAUTH Authentication required.\r\n")
        #expect(try c.send("AUTH wrong\r\n") == "-WRONGPASS invalid username-password pair or user is disabled.\r\n")
        #expect(try c.send("AUTH s3cret\r\nPING\r\n") == "+OK\r\n+PONG\r\n")
    }
}
