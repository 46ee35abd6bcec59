import NIOCore
import NIOPosix
import RunnelRESP
import RunnelStreams

#if canImport(Glibc)
import Glibc
#endif

/// MIGRATE: DUMP keys here, RESTORE them on another Redis-protocol server (redis-server or
/// Runnel), and delete them here unless COPY. The calling client waits (its later commands
/// queue behind it) while everyone else goes on: the connection is one more channel on the
/// broker's event loop, not a blocking socket as in Redis — except inside EXEC, where the
/// transaction must stay atomic and it blocks as Redis's does. A key is deleted only if it is
/// still the stream that was sent.
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
        if s.inExec {
            // Inside EXEC nothing may run between the transaction's commands and its replies are
            // one array: the transfer happens here, on the loop, as redis-server does it always.
            let outcome = Self.migrateBlocking(host: host, port: port, request: out.buffer, expected: expected, timeoutMs: timeoutMs)
            finishMigrate(s, outcome, sent: sent, db: sourceDB, hasAuth: !auth.isEmpty, copy: copy, resuming: false)
            return
        }
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
                broker.finishMigrate(session, outcome, sent: sent, db: sourceDB, hasAuth: hasAuth, copy: keepSource, resuming: true)
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
        _ s: ClientSession, _ outcome: MigrateOutcome, sent: [(key: Key, box: StreamBox)], db: Int, hasAuth: Bool, copy: Bool,
        resuming: Bool
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
                    dirty &+= 1
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
        if !readyKeys.isEmpty && resuming { serveReadyKeys() }
        if resuming { resume(s) }
    }

    /// MIGRATE's exchange on a blocking socket: connect, send `request`, read `expected` reply
    /// lines, all within `timeoutMs` (each step, as Redis's syncWrite/syncReadLine).
    static func migrateBlocking(host: String, port: Int, request: ByteBuffer, expected: Int, timeoutMs: Int) -> MigrateOutcome {
        let timeout = Int32(clamping: timeoutMs)
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &found) == 0, let info = found else { return .ioError("writing to") }
        defer { freeaddrinfo(found) }
        let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
        guard fd >= 0 else { return .ioError("writing to") }
        defer { close(fd) }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        func wait(_ events: Int16) -> Bool {
            var p = pollfd(fd: fd, events: events, revents: 0)
            return poll(&p, 1, timeout) == 1
        }
        if Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) != 0 {
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            guard errno == EINPROGRESS, wait(Int16(POLLOUT)), getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0, error == 0 else {
                return .ioError("writing to")
            }
        }
        var unsent = request
        while unsent.readableBytes > 0 {
            guard wait(Int16(POLLOUT)) else { return .ioError("writing to") }
            let n = unsent.withUnsafeReadableBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && (errno == EAGAIN || errno == EINTR) { continue }
            guard n > 0 else { return .ioError("writing to") }
            unsent.moveReaderIndex(forwardBy: n)
        }
        var pending = ByteBuffer()
        var replies: [MigrateReply] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while !MigrateReplyHandler.takeReplies(&pending, into: &replies, expected: expected) {
            guard wait(Int16(POLLIN)) else { return .ioError("reading to") }
            let n = recv(fd, &chunk, chunk.count, 0)
            if n < 0 && (errno == EAGAIN || errno == EINTR) { continue }
            guard n > 0 else { return .ioError("reading to") }
            pending.writeBytes(chunk[..<n])
        }
        return .replies(replies)
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
        if Self.takeReplies(&pending, into: &replies, expected: expected) {
            done(.replies(replies))
            context.close(promise: nil)
        }
    }

    /// Moves the complete reply lines of `pending` into `replies`; true once there are
    /// `expected` of them.
    static func takeReplies(_ pending: inout ByteBuffer, into replies: inout [MigrateReply], expected: Int) -> Bool {
        while replies.count < expected,
            let line = pending.readableBytesView.firstIndex(of: UInt8(ascii: "\n")).map({ $0 - pending.readerIndex })
        {
            var bytes = pending.readBytes(length: line + 1)!
            while let last = bytes.last, last == 10 || last == 13 { bytes.removeLast() }
            let text = String(decoding: bytes, as: UTF8.self)
            replies.append(text.hasPrefix("-") ? .error(String(text.dropFirst())) : .ok)
        }
        return replies.count >= expected
    }

    func channelInactive(context: ChannelHandlerContext) {
        if replies.count < expected { done(.ioError("reading to")) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        done(.ioError("reading to"))
        context.close(promise: nil)
    }
}

