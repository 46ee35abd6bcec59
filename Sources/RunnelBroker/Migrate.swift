import NIOCore
import NIOPosix
import RunnelRESP
import RunnelStreams

/// MIGRATE: DUMP keys here, RESTORE them on another Redis-protocol server (redis-server or
/// Runnel), and delete them here unless COPY. The calling client waits (its later commands
/// queue behind it) while everyone else goes on: the connection is one more channel on the
/// broker's event loop, not a blocking socket as in Redis. A key is deleted only if it is still
/// the stream that was sent.
extension Broker {
    static func registerMigrateCommand(_ r: inout CommandRegistrar) {
        r.add("migrate", -6, ["write"], ["@keyspace", "@write", "@slow", "@dangerous"], "generic", "Atomically transfer a key from a Redis instance to another one.", "2.6.0", keys: (3, 3, 1), complexity: "This command actually executes a DUMP+DEL in the source instance, and a RESTORE in the target instance. See the pages of these commands for time complexity. Also an O(N) data transfer between the two instances is performed.") { b, s, a in
            b.migrate(s, a)
        }
    }

    func migrate(_ s: ClientSession, _ a: CommandArgs) {
        var copy = false, replace = false
        var auth: [ByteBuffer] = []
        var keys: [Key] = [a[3]]
        var j = 6
        while j < a.count {
            let more = a.count - j - 1
            if a[j].equalsIgnoringCase("copy") {
                copy = true
            } else if a[j].equalsIgnoringCase("replace") {
                replace = true
            } else if a[j].equalsIgnoringCase("auth") && more >= 1 {
                auth = [a[j + 1]]
                redact(s, j + 1)
                j += 1
            } else if a[j].equalsIgnoringCase("auth2") && more >= 2 {
                auth = [a[j + 1], a[j + 2]]
                redact(s, j + 1)
                redact(s, j + 2)
                j += 2
            } else if a[j].equalsIgnoringCase("keys") {
                guard a[3].readableBytes == 0 else {
                    replyError(s, "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string")
                    return
                }
                keys = Array(a.dropFirst(j + 1))
                break
            } else {
                replyError(s, "ERR syntax error")
                return
            }
            j += 1
        }
        guard let timeoutArg = RESPInteger.parse(a[5]), let db = RESPInteger.parse(a[4]) else {
            replyError(s, "ERR value is not an integer or out of range")
            return
        }
        let timeoutMs = timeoutArg <= 0 ? 1000 : timeoutArg
        let now = Clock.nowMs()
        // What is sent: the payload of each existing key, with its remaining TTL.
        var sent: [(key: Key, box: StreamBox)] = []
        var out = RESPWriter(buffer: ByteBufferAllocator().buffer(capacity: 256), version: .resp2)
        func command(_ parts: [ByteBuffer]) {
            out.arrayHeader(parts.count)
            for p in parts { out.bulk(p) }
        }
        if !auth.isEmpty { command([ByteBuffer(string: "AUTH")] + auth) }
        command([ByteBuffer(string: "SELECT"), ByteBuffer(string: String(db))])
        for key in keys {
            guard case .stream(let box)? = lookup(s.db, key, now: now, stats: true) else { continue }
            var ttl: Int64 = 0
            if let at = dbs[s.db].expireTime(key) {
                ttl = at - now
                if ttl < 0 { continue }
                ttl = max(ttl, 1)
            }
            var payload = ByteBufferAllocator().buffer(capacity: 0)
            payload.writeBytes(box.stream.redisDumpPayload())
            var parts = [ByteBuffer(string: "RESTORE"), key, ByteBuffer(string: String(ttl)), payload]
            if replace { parts.append(ByteBuffer(string: "REPLACE")) }
            command(parts)
            sent.append((key.detached, box))
        }
        guard !sent.isEmpty else {
            s.out.simpleString("NOKEY" as StaticString)
            return
        }
        let expected = (auth.isEmpty ? 0 : 1) + 1 + sent.count
        let host = a[1].string
        let port = RESPInteger.parse(a[2]) ?? 0
        let sourceDB = s.db
        s.suspended = true
        let loop = eventLoop
        let bound = NIOLoopBound((broker: self, session: s, sent: sent), eventLoop: loop)
        let request = out.buffer
        let hasAuth = !auth.isEmpty
        let keepSource = copy
        // Finished once: by the replies, a connection or write failure, or the timeout.
        let state = NIOLoopBoundBox<(done: Bool, timer: Scheduled<Void>?, channel: (any Channel)?)>((false, nil, nil), eventLoop: loop)
        let finish: @Sendable (MigrateOutcome) -> Void = { outcome in
            loop.execute {
                guard !state.value.done else { return }
                state.value.done = true
                state.value.timer?.cancel()
                state.value.channel?.close(promise: nil)
                let (broker, session, sent) = bound.value
                broker.finishMigrate(session, outcome, sent: sent, db: sourceDB, hasAuth: hasAuth, copy: keepSource)
            }
        }
        state.value.timer = loop.scheduleTask(in: .milliseconds(Int64(min(timeoutMs, 1 << 40)))) { finish(.ioError("reading to")) }
        guard let bootstrap = ClientBootstrap(validatingGroup: loop) else {
            // Not a socket event loop (EmbeddedChannel tests, the fuzzer): nowhere to connect from.
            finish(.ioError("writing to"))
            return
        }
        bootstrap
            .connectTimeout(.milliseconds(Int64(min(timeoutMs, 1 << 40))))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(MigrateReplyHandler(expected: expected, done: finish))
                }
            }
            .connect(host: host, port: port)
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    loop.execute {
                        if state.value.done { channel.close(promise: nil) } else { state.value.channel = channel }
                    }
                    channel.writeAndFlush(request).whenFailure { _ in finish(.ioError("writing to")) }
                case .failure:
                    finish(.ioError("writing to"))
                }
            }
    }

    func finishMigrate(
        _ s: ClientSession, _ outcome: MigrateOutcome, sent: [(key: Key, box: StreamBox)], db: Int, hasAuth: Bool, copy: Bool
    ) {
        switch outcome {
        case .ioError(let what):
            replyError(s, "IOERR error or timeout \(what) target instance")
        case .replies(let replies):
            // As Redis: a failed AUTH or SELECT fails every key (none is deleted here).
            let preamble = hasAuth ? 2 : 1
            var firstError: String?
            for reply in replies.prefix(preamble) {
                if case .error(let text) = reply, firstError == nil { firstError = text }
            }
            let preambleOK = firstError == nil
            for (i, reply) in replies.enumerated().dropFirst(preamble) {
                if case .error(let text) = reply {
                    if firstError == nil { firstError = text }
                    continue
                }
                let k = i - preamble
                guard preambleOK, !copy, k < sent.count else { continue }
                // Delete only what was sent: the key may have changed while the client waited.
                let key = sent[k].key
                if case .stream(let box)? = dbs[db].rawValue(key), box === sent[k].box {
                    dbs[db].remove(key)
                    touchWatched(db, key)
                    signalKeyDeleted(db, key)
                    notifyKeyspaceEvent(.generic, "del", key, db)
                }
            }
            if let firstError {
                replyError(s, "ERR Target instance replied with error: \(firstError)")
            } else {
                s.out.ok()
            }
        }
        // Group readers blocked on a migrated key learn now that it is gone.
        if !readyKeys.isEmpty { serveReadyKeys() }
        resume(s)
    }
}

enum MigrateOutcome: Sendable {
    case ioError(String)
    case replies([MigrateReply])
}

enum MigrateReply: Sendable {
    case ok
    case error(String)
}

/// Reads the target's replies to MIGRATE's pipeline: one line each (+OK or -error; the
/// commands sent have no other reply shape).
final class MigrateReplyHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    let expected: Int
    let done: @Sendable (MigrateOutcome) -> Void
    var pending = ByteBuffer()
    var replies: [MigrateReply] = []

    init(expected: Int, done: @escaping @Sendable (MigrateOutcome) -> Void) {
        self.expected = expected
        self.done = done
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var chunk = unwrapInboundIn(data)
        pending.writeBuffer(&chunk)
        while let line = pending.readableBytesView.firstIndex(of: UInt8(ascii: "\n")).map({ $0 - pending.readerIndex }) {
            var bytes = pending.readBytes(length: line + 1)!
            while let last = bytes.last, last == 10 || last == 13 { bytes.removeLast() }
            let text = String(decoding: bytes, as: UTF8.self)
            if text.hasPrefix("-") {
                replies.append(.error(String(text.dropFirst())))
            } else {
                replies.append(.ok)
            }
            if replies.count == expected {
                done(.replies(replies))
                context.close(promise: nil)
                return
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if replies.count < expected { done(.ioError("reading to")) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        done(.ioError("reading to"))
        context.close(promise: nil)
    }
}

