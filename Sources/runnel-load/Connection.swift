import Histogram
import NIOCore
import NIOPosix

/// Monotonic nanoseconds; producers and consumers share one process, so timestamps written
/// into entries by one connection are comparable with the clock of another.
@inline(__always) func nowNs() -> UInt64 { NIODeadline.now().uptimeNanoseconds }

/// What one connection does: the commands it sends and what it makes of each reply. A role is
/// owned by its channel's event loop while the run lasts and read by the main thread only after
/// the channel has closed (the close future orders the two), hence `@unchecked Sendable`.
class Role: @unchecked Sendable {
    var replies = 0
    var errors = 0
    var firstError: String?
    var latency = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)

    /// Commands to send when connected.
    func start(now: UInt64, _ out: inout ByteBuffer) {}
    /// One reply; write follow-up commands to `out`. Returns false when this connection is done.
    func reply(_ r: Reply, now: UInt64, _ out: inout ByteBuffer) -> Bool { true }
    /// Called every millisecond by paced roles.
    func tick(now: UInt64, _ out: inout ByteBuffer) -> Bool { true }
    var paced: Bool { false }

    func noteError(_ r: Reply) {
        errors += 1
        if firstError == nil, case .error(let text) = r { firstError = text }
    }

    func record(_ ns: UInt64) { _ = latency.record(max(1, ns)) }
}

/// Drives one role over one TCP connection.
final class Driver: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let role: Role
    private var input: ByteBuffer?
    private var out: ByteBuffer
    private var timer: RepeatedTask?

    init(role: Role) {
        self.role = role
        self.out = ByteBufferAllocator().buffer(capacity: 16 * 1024)
    }

    private func flush(_ context: ChannelHandlerContext) {
        guard out.readableBytes > 0 else { return }
        context.writeAndFlush(wrapOutboundOut(out), promise: nil)
        out = context.channel.allocator.buffer(capacity: 16 * 1024)
    }

    func channelActive(context: ChannelHandlerContext) {
        role.start(now: nowNs(), &out)
        flush(context)
        if role.paced {
            let loopContext = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            timer = context.eventLoop.scheduleRepeatedTask(initialDelay: .milliseconds(1), delay: .milliseconds(1)) { _ in
                let (driver, context) = loopContext.value
                if !driver.role.tick(now: nowNs(), &driver.out) {
                    driver.timer?.cancel()
                }
                driver.flush(context)
            }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var chunk = unwrapInboundIn(data)
        if input == nil || input!.readableBytes == 0 {
            input = chunk
        } else {
            input!.writeBuffer(&chunk)
        }
        let now = nowNs()
        var keepGoing = true
        do {
            while keepGoing, var buffer = input, let r = try Reply.parse(&buffer) {
                input = buffer
                keepGoing = role.reply(r, now: now, &out)
            }
        } catch {
            role.errors += 1
            role.firstError = role.firstError ?? "\(error)"
            keepGoing = false
        }
        if input?.readableBytes == 0 { input = nil } else { input?.discardReadBytes() }
        flush(context)
        if !keepGoing {
            timer?.cancel()
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        role.errors += 1
        role.firstError = role.firstError ?? "\(error)"
        context.close(promise: nil)
    }
}

/// Connects one channel per role; returns the channels.
func connectAll(_ roles: [Role], host: String, port: Int, group: any EventLoopGroup) throws -> [any Channel] {
    try roles.map { role in
        try ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Driver(role: role))
                }
            }
            .connect(host: host, port: port).wait()
    }
}
