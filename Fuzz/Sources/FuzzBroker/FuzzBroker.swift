// The whole server path behind one connection: bytes -> parser -> command table -> handlers ->
// replies, on an EmbeddedChannel. The input is a script: each line becomes one command whose
// arguments are the line's space-separated words, so the fuzzer explores stream commands with
// odd IDs, counts and options rather than only protocol framing. A second connection
// subscribes, so Pub/Sub and keyspace notifications run too. Commands that would stop the
// process or block the loop (SHUTDOWN, DEBUG, CLIENT PAUSE, BLOCK) are replaced. RESTORE does
// not check payload checksums here, so the fuzzer's mutations reach the payload decoder.
import NIOCore
import NIOEmbedded
@testable import RunnelBroker

let loop = EmbeddedEventLoop()
nonisolated(unsafe) var broker: Broker?
nonisolated(unsafe) var inputs = 0

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBroker(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    // A fresh broker every 1,000 inputs keeps memory bounded while state carries over.
    inputs += 1
    if broker == nil || inputs % 1000 == 0 {
        broker = Broker(config: ServerConfig(), eventLoop: loop)
        // As DEBUG SET-SKIP-CHECKSUM-VALIDATION 1: mutated RESTORE payloads reach the decoder
        // instead of stopping at their CRC-64.
        broker!.debug.skipChecksumValidation = true
    }
    let b = broker!
    let client = EmbeddedChannel(handler: ConnectionHandler(broker: b), loop: loop)
    let watcher = EmbeddedChannel(handler: ConnectionHandler(broker: b), loop: loop)
    client.pipeline.fireChannelActive()
    watcher.pipeline.fireChannelActive()
    func send(_ channel: EmbeddedChannel, _ args: [Substring]) {
        var buffer = ByteBufferAllocator().buffer(capacity: 64)
        buffer.writeString("*\(args.count)\r\n")
        for a in args {
            buffer.writeString("$\(a.utf8.count)\r\n")
            buffer.writeSubstring(a)
            buffer.writeString("\r\n")
        }
        try? channel.writeInbound(buffer)
        channel.pipeline.fireChannelReadComplete()
        loop.run()
        while let _ = try? channel.readOutbound(as: ByteBuffer.self) {}
    }
    send(watcher, ["CONFIG", "SET", "notify-keyspace-events", "KEA"])
    send(watcher, ["PSUBSCRIBE", "*"])
    let banned: Set<String> = ["SHUTDOWN", "DEBUG", "SAVE", "BGSAVE", "BGREWRITEAOF", "MONITOR", "SYNC", "PSYNC", "REPLICAOF", "SLAVEOF"]
    for line in text.split(separator: "\n").prefix(64) {
        var args = line.split(separator: " ", omittingEmptySubsequences: true).prefix(32).map { $0 }
        guard let first = args.first else { continue }
        let name = first.uppercased()
        if banned.contains(name) { continue }
        if name == "CLIENT", args.count > 1, ["PAUSE", "KILL", "REPLY"].contains(args[1].uppercased()) { continue }
        if name == "CONFIG", args.count > 2, ["dir", "maxmemory", "databases", "maxclients"].contains(args[2].lowercased()) { continue }
        // No blocking: BLOCK n becomes COUNT n.
        for i in args.indices where args[i].uppercased() == "BLOCK" { args[i] = "COUNT" }
        send(client, args)
    }
    _ = try? client.finish()
    _ = try? watcher.finish()
    loop.run()
    return 0
}
