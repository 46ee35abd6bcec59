import Foundation
import NIOCore
import NIOEmbedded
import RunnelRESP
import Testing

@testable import RunnelBroker

@Suite("Glob matching as Redis's stringmatchlen")
struct GlobTests {
    @Test("matches", arguments: [
        ("*", "anything", true), ("*", "", false), ("a*", "a", true), ("a?c", "abc", true), ("a?c", "ac", false),
        ("h[ae]llo", "hello", true), ("h[ae]llo", "hillo", false), ("h[^e]llo", "hallo", true),
        ("h[^e]llo", "hello", false), ("h[a-b]llo", "hbllo", true), ("[c-a]", "b", true), ("h\\*x", "h*x", true),
        ("h\\*x", "hx", false), ("*.log", "x.log", true), ("a*b*c", "aXbYc", true), ("a*b*c", "aXbY", false),
        ("[abc", "a", true), ("[\\]]", "]", true), ("**a", "xa", true), ("news.*", "news.sport", true),
    ])
    func globs(pattern: String, string: String, expected: Bool) {
        #expect(Glob.matches(pattern: Array(pattern.utf8), Array(string.utf8)) == expected)
    }

    @Test("case-insensitive mode")
    func nocase() {
        #expect(Glob.matches(pattern: Array("HZ".utf8), Array("hz".utf8), caseInsensitive: true))
        #expect(!Glob.matches(pattern: Array("HZ".utf8), Array("hz".utf8)))
    }

    @Test("pathological patterns finish quickly")
    func pathological() {
        let pattern = Array(String(repeating: "a*", count: 30).utf8) + [UInt8(ascii: "b")]
        let string = Array(String(repeating: "a", count: 60).utf8)
        #expect(!Glob.matches(pattern: pattern, string))
    }
}

@Suite("Server configuration")
struct ConfigTests {
    @Test("the README's hardened configuration (fixtures/hardened.conf) loads with every directive applied")
    func hardenedConfig() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("fixtures/hardened.conf").path
        var config = ServerConfig()
        try config.load(configText: try String(contentsOfFile: path, encoding: .utf8))
        #expect(config.tlsPort == 6380)
        #expect(config.tlsAuthClients == "yes")
        #expect(config.protectedMode)
        #expect(config.maxclients == 2000)
        #expect(config.maxmemory == 4 << 30)
        #expect(config.metricsPort == 9121)
        #expect(config.appendfsync == "always")
        #expect(config.protoMaxBulkLen == 16 << 20)
        #expect(config.bindAddresses == ["127.0.0.1", "10.0.0.5"])
        // Its service users: each can do its job and nothing else.
        #expect(config.userLines.map(\.first) == ["default", "orders", "inventory", "monitoring", "admin"])
        let broker = Broker(config: config, eventLoop: EmbeddedEventLoop())
        try broker.loadUsersAtStartup(aclFile: nil)
        func allowed(_ user: String, _ words: String...) -> Bool {
            let args = CommandArgs(strings: words)
            var spec = broker.commands.lookup(args[0])!
            if !spec.subcommands.isEmpty { spec = spec.subcommand(args[1])! }
            return broker.acl.user(user)!.check(spec, args) == nil
        }
        #expect(!broker.acl.defaultUser.enabled)
        #expect(broker.acl.user("orders")!.accepts(ByteBuffer(string: "orders-example-secret")))
        #expect(!broker.acl.user("orders")!.accepts(ByteBuffer(string: "inventory-example-secret")))
        #expect(allowed("orders", "XADD", "orders", "*", "sku", "1"))
        #expect(!allowed("orders", "XADD", "inventory:stock", "*", "sku", "1"))
        #expect(!allowed("orders", "FLUSHALL"))
        #expect(allowed("inventory", "XREADGROUP", "GROUP", "inv", "c1", "STREAMS", "orders", ">"))
        #expect(allowed("inventory", "XADD", "inventory:stock", "*", "sku", "1"))
        #expect(allowed("inventory", "XACK", "orders", "inv", "1-1"))
        #expect(!allowed("inventory", "XADD", "orders", "*", "sku", "1"))
        #expect(!allowed("inventory", "XDEL", "orders", "1-1"))
        #expect(!allowed("inventory", "SUBSCRIBE", "orders:new"))
        #expect(allowed("inventory", "PUBLISH", "inventory:low", "sku1"))
        #expect(allowed("monitoring", "XINFO", "GROUPS", "orders"))
        #expect(allowed("monitoring", "PSUBSCRIBE", "apps:*"))
        #expect(!allowed("monitoring", "XADD", "orders", "*", "a", "b"))
        #expect(!allowed("monitoring", "CONFIG", "SET", "appendfsync", "no"))
        #expect(allowed("admin", "CONFIG", "SET", "appendfsync", "no"))
    }

    @Test("defaults match redis-server 7.0 where they share a directive")
    func defaults() {
        let c = ServerConfig()
        #expect(c.value(of: "proto-max-bulk-len") == "536870912")
        #expect(c.value(of: "client-query-buffer-limit") == "1073741824")
        #expect(c.value(of: "client-output-buffer-limit") == "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60")
        #expect(c.port == 6379)
        #expect(c.dir == "./runnel-data")
        #expect(c.databases == 16)
    }

    @Test("checkpoint-compression-level: 1 by default, 0 (stored) to 9 accepted, nothing else")
    func checkpointLevel() throws {
        var c = ServerConfig()
        #expect(c.checkpointCompressionLevel == 1)
        try c.set("checkpoint-compression-level", "0")
        #expect(c.checkpointCompressionLevel == 0)
        try c.set("checkpoint-compression-level", "9")
        #expect(c.checkpointCompressionLevel == 9)
        #expect(throws: ServerConfig.SetError.self) { try c.set("checkpoint-compression-level", "10") }
        #expect(throws: ServerConfig.SetError.self) { try c.set("checkpoint-compression-level", "-1") }
        #expect(c.checkpointCompressionLevel == 9)
    }

    @Test("Redis directives Runnel does not act on are kept; replication and cluster mode are refused")
    func inertDirectives() throws {
        var c = ServerConfig()
        #expect(c.value(of: "activedefrag") == "no")
        try c.set("auto-aof-rewrite-min-size", "64mb")
        #expect(c.value(of: "auto-aof-rewrite-min-size") == "67108864")
        try c.set("list-max-listpack-size", "-2")
        try c.set("slave-read-only", "no")
        #expect(c.value(of: "replica-read-only") == "no")
        #expect(c.matching("slave-read-*").map(\.0) == ["slave-read-only"])
        #expect(throws: ServerConfig.SetError.self) { try c.set("set-max-intset-entries", "many") }
        #expect(throws: ServerConfig.SetError.self) { try c.set("repl-diskless-load", "sometimes") }
        #expect(throws: ServerConfig.SetError.self) { try c.set("always-show-logo", "yes") }  // immutable
        // replicaof is a startup directive (CONFIG SET calls it immutable, as Redis); Runnel
        // refuses a primary there.
        try c.set("replicaof", "", startup: true)
        #expect(throws: ServerConfig.SetError.self) { try c.set("replicaof", "", startup: false) }
        #expect(throws: ServerConfig.SetError.self) { try c.set("replicaof", "10.0.0.1 6379", startup: true) }
        #expect(throws: ServerConfig.SetError.self) { try c.set("slaveof", "10.0.0.1 6379", startup: true) }
        try c.set("cluster-enabled", "no", startup: true)
        #expect(throws: ServerConfig.SetError.self) { try c.set("cluster-enabled", "yes", startup: true) }
    }

    @Test("memory units")
    func memory() {
        #expect(ServerConfig.parseMemory("1kb") == 1024)
        #expect(ServerConfig.parseMemory("1k") == 1000)
        #expect(ServerConfig.parseMemory("2GB") == 2 << 30)
        #expect(ServerConfig.parseMemory("12") == 12)
        #expect(ServerConfig.parseMemory("1x") == nil)
        #expect(ServerConfig.parseMemory("-1") == nil)
    }

    @Test("maxmemory is an unsigned long long: up to 2^64-1, saturating digits, wrapping units; INFO prints it as Redis")
    func unsignedMaxmemory() throws {
        var c = ServerConfig()
        for (text, stored) in [("18446744073709551615", "18446744073709551615"), ("18446744073709551616", "18446744073709551615"),
                               ("9223372036854775808", "9223372036854775808"), ("16777216gb", "18014398509481984"),
                               ("17179869184gb", "0"), ("1gb", "1073741824")] {
            try c.set("maxmemory", text)
            #expect(c.value(of: "maxmemory") == stored, "\(text)")
        }
        #expect(throws: (any Error).self) { try c.set("maxmemory", "-1") }
        try c.set("maxmemory", "9223372036854775808")
        #expect(c.maxmemory == Int.max)
        // Redis's bytesToHuman: K … P with two decimals, raw bytes below 1 KiB and from 1024 PiB.
        for (bytes, text) in [(UInt64(0), "0B"), (1023, "1023B"), (1024, "1.00K"), (1_048_575, "1024.00K"), (1 << 20, "1.00M"),
                              (1 << 50, "1.00P"), ((1 << 60) - 1, "1024.00P"), (1 << 60, "1152921504606846976B"),
                              (UInt64.max, "18446744073709551615B")] {
            #expect(Broker.human(bytes) == text, "\(bytes)")
        }
    }

    @Test("config file syntax: comments, quotes, errors with line numbers")
    func file() throws {
        var c = ServerConfig()
        try c.load(configText: "# comment\nport 7000\n\nclient-output-buffer-limit pubsub 1mb 512kb 10\nrequirepass \"a b\"\n")
        #expect(c.port == 7000)
        #expect(c.outputLimits.pubsub.hard == 1 << 20)
        #expect(c.requirepass == "a b")
        var d = ServerConfig()
        #expect(throws: ServerConfig.FileError.self) { try d.load(configText: "port 1\nnosuchdirective 5\n") }
        do {
            try d.load(configText: "port 1\nnosuchdirective 5\n")
        } catch {
            #expect(error.line == 2)
            #expect(error.reason == "Bad directive or wrong number of arguments")
        }
    }

    @Test("keyspace event flags round-trip as Redis prints them")
    func keyspaceFlags() {
        #expect(KeyspaceEventFlags("KEA")?.description == "AKE")
        #expect(KeyspaceEventFlags("Et")?.description == "tE")
        #expect(KeyspaceEventFlags("q") == nil)
    }
}
