import NIOCore
import RunnelRESP

/// One client connection: accumulates input, parses commands, runs them on the broker and
/// writes replies. Pipelined replies are batched and flushed once per read burst.
public final class ConnectionHandler: ChannelInboundHandler {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private let broker: Broker
    private var session: ClientSession?
    private var context: ChannelHandlerContext?
    private var inbound: ByteBuffer?
    private var parser: RESPCommandParser
    /// A parsed command waiting for CLIENT PAUSE to end.
    private var postponed: CommandArgs?
    private var closing = false

    public init(broker: Broker) {
        self.broker = broker
        self.parser = RESPCommandParser(maxBulkLength: broker.config.protoMaxBulkLen)
    }

    public func channelActive(context: ChannelHandlerContext) {
        self.context = context
        let remote = Self.format(context.channel.remoteAddress)
        let local = Self.format(context.channel.localAddress)
        if broker.atClientLimit {
            broker.stats.rejectedConnections += 1
            return refuse(context, "-ERR max number of clients reached\r\n")
        }
        if broker.config.protectedMode && broker.acl.defaultUser.nopass && !Self.isLoopback(context.channel.remoteAddress) {
            return refuse(context, Self.protectedModeError)
        }
        let session = broker.connect(remoteAddress: remote, localAddress: local)
        let channel = context.channel
        // `unowned`, not `weak`: a weak reference gives the handler a side table, and then every
        // retain and release of it (NIO retains it for each read) takes the slow path. These
        // closures are dropped in channelInactive, before the handler can go away.
        session.flushOut = { [unowned self] bytes in
            guard let ctx = self.context else { return }
            ctx.writeAndFlush(self.wrapOutboundOut(bytes), promise: nil)
        }
        session.close = { [unowned self] in
            guard let ctx = self.context else { return }
            self.closing = true
            ctx.close(promise: nil)
        }
        session.bufferedBytes = {
            (try? channel.syncOptions?.getOption(ChannelOptions.bufferedWritableBytes)) ?? 0
        }
        session.isWritable = { channel.isWritable }
        session.onResume = { [unowned self] in
            self.broker.beginTurn()
            self.process()
            self.finishTurn()
        }
        self.session = session
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        if let session {
            broker.disconnect(session)
            session.flushOut = nil
            session.close = nil
            session.onResume = nil
        }
        session = nil
        self.context = nil
        context.fireChannelInactive()
    }

    /// The most input one connection may hold (a command in progress plus what follows it),
    /// below ByteBuffer's 4 GiB capacity whatever the configured limits.
    static let inputCeiling = 3 << 30

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing, let session, !session.killed else { return }
        var incoming = unwrapInboundIn(data)
        broker.stats.netInputBytes += incoming.readableBytes
        broker.stats.readsProcessed += 1
        broker.beginTurn()
        if inbound == nil || inbound!.readableBytes == 0 {
            inbound = incoming
        } else {
            inbound!.writeBuffer(&incoming)
        }
        // As Redis: the limit is on input not yet parsed into arguments, so a command may be
        // larger than the limit as long as no single argument is (proto-max-bulk-len). The
        // whole command stays in this buffer, though, and a ByteBuffer cannot pass 4 GiB.
        if inbound!.readableBytes - parser.parsedArgumentBytes > broker.config.clientQueryBufferLimit
            || inbound!.writerIndex > Self.inputCeiling
        {
            broker.logger.warning("Closing client that reached max query buffer length: id=\(session.id) addr=\(session.remoteAddress)")
            inbound = nil
            closing = true
            context.close(promise: nil)
            return
        }
        process()
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        finishTurn()
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    /// Parses and runs as many complete commands as the input holds.
    private func process() {
        guard let session else { return }
        let previous = broker.processingSession
        broker.processingSession = session
        defer { broker.processingSession = previous }
        if let args = postponed {
            beginReplyMode(session)  // afresh: the output was flushed while the command waited
            guard broker.execute(session, args) else { return waitForUnpause() }
            postponed = nil
            endReplyMode(session)
            afterCommand(session)
        }
        while !closing && !session.closeAfterReply && !session.killed && !session.suspended, inbound != nil {
            var args: CommandArgs?
            do {
                parser.maxBulkLength = broker.config.protoMaxBulkLen
                parser.unauthenticated = broker.authRequired(session)
                args = try parser.next(&inbound!)
            } catch {
                broker.replyError(session, "ERR \(error.message)")
                broker.logger.debug("Protocol error from client id=\(session.id) addr=\(session.remoteAddress): \(error.message)")
                session.closeAfterReply = true
                inbound = nil
                break
            }
            guard var command = args.take() else { break }
            if command.isEmpty { continue }
            beginReplyMode(session)
            guard broker.execute(session, command) else {
                postponed = command.detached
                return waitForUnpause()
            }
            parser.recycle(&command)
            endReplyMode(session)
            afterCommand(session)
        }
        if let buf = inbound, buf.readableBytes == 0 {
            inbound = nil
        } else if inbound != nil, !parser.isMidCommand, inbound!.readerIndex > 64 * 1024 {
            inbound!.discardReadBytes()
        }
    }

    private func afterCommand(_ session: ClientSession) {
        // Large reply batches go out early so a long pipeline does not hold them all.
        if session.out.buffer.readableBytes > 64 * 1024 { broker.flush(session) }
    }

    /// Before a command: a SKIP asked for by the previous command now applies, and silenced
    /// output starts at the command's first byte.
    private func beginReplyMode(_ session: ClientSession) {
        if session.replySkipNext {
            session.replySkipNext = false
            session.replySkip = true
        }
        session.silenceFrom = session.repliesSilenced ? session.out.buffer.writerIndex : nil
    }

    /// After a command: CLIENT REPLY OFF/SKIP drop what it wrote while silenced, except pushes
    /// (a suspended command's reply is dropped when it comes, see `Broker.resume`).
    private func endReplyMode(_ session: ClientSession) {
        guard let from = session.silenceFrom else {
            if !session.keptPushes.isEmpty { session.keptPushes = [] }
            return
        }
        if session.suspended { session.silencedReplyStart = from }
        broker.cutSilencedReplies(session)
        session.replySkip = false
    }

    private func waitForUnpause() {
        guard let session else { return }
        broker.postpone(session.id) { [weak self] in
            self?.broker.beginTurn()
            self?.process()
            self?.finishTurn()
        }
        finishTurn()
    }

    /// Flushes this client's replies and any messages queued for other clients.
    private func finishTurn() {
        guard let session, let context else { return }
        broker.flush(session)
        broker.flushPendingAtEndOfIteration()
        if session.closeAfterReply && !closing {
            closing = true
            context.close(promise: nil)
        }
    }

    /// Sends one error line to a connection that is not admitted, then closes it.
    private func refuse(_ context: ChannelHandlerContext, _ line: String) {
        var buf = context.channel.allocator.buffer(capacity: line.utf8.count)
        buf.writeString(line)
        closing = true
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(buf)).whenComplete { _ in channel.close(promise: nil) }
    }

    /// Loopback clients (127.0.0.0/8, ::1) and Unix sockets may connect in protected mode (as
    /// may a channel with no socket address at all: an in-process EmbeddedChannel).
    static func isLoopback(_ address: SocketAddress?) -> Bool {
        guard let address else { return true }
        switch address {
        case .unixDomainSocket: return true
        case .v4(let a): return UInt32(bigEndian: a.address.sin_addr.s_addr) >> 24 == 127
        case .v6:
            guard let ip = address.ipAddress else { return false }
            return ip == "::1" || ip.hasPrefix("::ffff:127.")
        }
    }

    /// redis-server 7.0's reply to a non-loopback client in protected mode, byte for byte.
    static let protectedModeError =
        "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. "
        + "In this mode connections are only accepted from the loopback interface. If you want to connect from external computers "
        + "to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET "
        + "protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however "
        + "MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. "
        + "2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the "
        + "protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, "
        + "restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You "
        + "only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n"

    static func format(_ address: SocketAddress?) -> String {
        guard let address else { return "?:0" }
        switch address {
        case .v4: return "\(address.ipAddress ?? "?"):\(address.port ?? 0)"
        case .v6: return "\(address.ipAddress ?? "?"):\(address.port ?? 0)"
        case .unixDomainSocket: return "\(address.pathname ?? "?"):0"
        }
    }
}

@available(*, unavailable)
extension ConnectionHandler: Sendable {}
