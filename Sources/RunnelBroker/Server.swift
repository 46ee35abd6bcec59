import Logging
import NIOCore
import NIOConcurrencyHelpers
import NIOHTTP1
import NIOSSL
import NIOPosix
import RunnelStorage

/// The TCP server: one event loop owns the broker and every connection, as redis-server's
/// main thread does. Start with `start()`, stop with `shutdown()`.
public final class RunnelServer: Sendable {
    public let group: MultiThreadedEventLoopGroup
    /// Threads for blocking file work requested by commands (CONFIG REWRITE).
    private let blockingPool = NIOThreadPool(numberOfThreads: 1)
    private let loopBroker: NIOLoopBound<Broker>
    private let channels: NIOLockedValueBox<[any Channel]> = NIOLockedValueBox([])
    private let shutdownPromise: EventLoopPromise<Void>
    public let logger: Logger

    /// Creates the broker and, with `appendonly yes` (the default), opens the data directory
    /// and rebuilds its state. Throws when the directory is locked, unreadable or corrupt.
    public init(config: ServerConfig, configFile: String = "", logger: Logger) throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.group = group
        let loop = group.next()
        self.logger = logger
        self.shutdownPromise = loop.makePromise()
        let pool = blockingPool
        pool.start()
        // The ACL file is read before the event loop serves anyone.
        let aclFileText = config.aclfile.isEmpty ? nil : (try? Files.readAll(config.aclfile)).map { String(decoding: $0, as: UTF8.self) }
        let broker = loop.submit { () throws -> NIOLoopBound<Broker> in
            let b = Broker(config: config, eventLoop: loop, logger: logger)
            b.configFile = configFile
            b.blockingPool = pool
            try b.loadUsersAtStartup(aclFileText: aclFileText)
            if config.appendonly {
                let p = try Persistence(broker: b)
                b.persistence = p
                b.logLoadSummary(p.recovery)
            }
            return NIOLoopBound(b, eventLoop: loop)
        }
        do {
            self.loopBroker = try broker.wait()
        } catch {
            self.shutdownPromise.succeed(())
            try? group.syncShutdownGracefully()
            try? pool.syncShutdownGracefully()
            throw error
        }
    }

    public var eventLoop: any EventLoop { loopBroker.eventLoop }

    /// Binds every `bind` address on the configured port. Returns the bound port.
    @discardableResult
    public func start() throws -> Int {
        let loop = eventLoop
        let bound = loopBroker
        let config = try loop.submit { bound.value.config }.wait()
        // Certificates are checked before anything listens.
        let tlsContext = config.tlsPort > 0 ? try TLS.makeContext(config) : nil
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: Int32(config.value(of: "tcp-backlog").flatMap(Int.init) ?? 511))
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 512, initial: 16384, maximum: 1 << 20))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ConnectionHandler(broker: bound.value))
                }
            }
        var (opened, port) = try bindAll(bootstrap, config.bindAddresses, port: config.port) { address, port in
            "Ready to accept connections tcp on \(address):\(port)"
        }
        if let tlsContext {
            do {
                opened += try startTLS(config, tlsContext)
            } catch {
                for ch in opened { try? ch.close().wait() }
                throw error
            }
        }
        if config.metricsPort > 0 {
            opened += try startMetrics(config)
        }
        channels.withLockedValue { $0 = opened }
        let finalPort = port
        try loop.submit {
            let b = bound.value
            b.boundPort = finalPort
            b.onShutdown = { [weak self] in self?.initiateShutdown() }
            b.startCron()
        }.wait()
        return finalPort
    }

    /// Binds the TLS listener (`tls-port`) on the same addresses: the same connections, with
    /// NIOSSL in front of each.
    private func startTLS(_ config: ServerConfig, _ context: NIOSSLContext) throws -> [any Channel] {
        let bound = loopBroker
        let box = NIOLockedValueBox(context)
        try eventLoop.submit { bound.value.tlsContext = box }.wait()
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: box.withLockedValue { $0 }))
                    try channel.pipeline.syncOperations.addHandler(ConnectionHandler(broker: bound.value))
                }
            }
        return try bindAll(bootstrap, config.bindAddresses, port: config.tlsPort) { address, port in
            "Ready to accept connections tls on \(address):\(port)"
        }.channels
    }

    /// Binds the Prometheus endpoint on the same addresses as the server, at `metrics-port`.
    private func startMetrics(_ config: ServerConfig) throws -> [any Channel] {
        let bound = loopBroker
        let loop = eventLoop
        try loop.submit { bound.value.metrics = BrokerMetrics() }.wait()
        let render: @Sendable () -> EventLoopFuture<[UInt8]> = {
            loop.submit { bound.value.metrics?.render(bound.value) ?? [] }
        }
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(MetricsHTTPHandler(render: render))
                }
            }
        return try bindAll(bootstrap, config.bindAddresses, port: config.metricsPort) { address, port in
            "Prometheus metrics on http://\(address):\(port)/metrics"
        }.channels
    }

    /// Binds `bootstrap` on every address (`-addr` optional, `*` any); with port 0 the first
    /// bind picks the port the others share. Closes what it opened if a required bind fails.
    private func bindAll(
        _ bootstrap: ServerBootstrap, _ addresses: [String], port: Int, notice: (String, Int) -> String
    ) throws -> (channels: [any Channel], port: Int) {
        var port = port
        var opened: [any Channel] = []
        for var address in addresses {
            let optional = address.hasPrefix("-")
            if optional { address.removeFirst() }
            if address == "*" { address = "0.0.0.0" }
            do {
                let ch = try bootstrap.bind(host: address, port: port).wait()
                if port == 0, let p = ch.localAddress?.port { port = p }
                opened.append(ch)
                logger.notice("\(notice(address, port))")
            } catch {
                if optional { continue }
                for ch in opened { try? ch.close().wait() }
                throw error
            }
        }
        return (opened, port)
    }

    /// Stops accepting, lets pending replies go out, closes every connection.
    public func initiateShutdown() {
        let bound = loopBroker
        let promise = shutdownPromise
        let open = channels.withLockedValue { $0 }
        eventLoop.execute {
            let b = bound.value
            b.stopCron()
            let closes = open.map { $0.close() }
            EventLoopFuture.andAllComplete(closes, on: b.eventLoop).whenComplete { _ in
                b.flushPending()
                // Drain the log so every held reply can go out, then close.
                b.persistence?.close()
                b.persistence?.releaseAll()
                for session in b.clients.values {
                    b.flush(session)
                    session.close?()
                }
                // Give the closes a moment to go out, then report done.
                b.eventLoop.scheduleTask(in: .milliseconds(50)) { promise.succeed(()) }
            }
        }
    }

    /// Waits until shutdown has completed (SHUTDOWN, a signal, or `initiateShutdown`).
    public func waitUntilShutdown() throws {
        try shutdownPromise.futureResult.wait()
        try group.syncShutdownGracefully()
        try blockingPool.syncShutdownGracefully()
    }

    /// Runs `body` on the broker's loop (for tests and embedding).
    public func withBroker<T: Sendable>(_ body: @escaping @Sendable (Broker) -> T) throws -> T {
        let bound = loopBroker
        return try eventLoop.submit { body(bound.value) }.wait()
    }
}
