#if canImport(Glibc)
import Glibc
#endif
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
    /// Listening channels by kind (CONFIG SET of port/bind/tls-port replaces them).
    struct Listeners {
        var tcp: [any Channel] = []
        var tls: [any Channel] = []
        var metrics: [any Channel] = []
        /// Bound by a `bindAll` still running: already accepting, so a shutdown closes them too.
        var opening: [any Channel] = []
        /// Set by the first `initiateShutdown`; listeners bound after it are closed at once.
        var shuttingDown = false
        var all: [any Channel] { tcp + tls + metrics + opening }
    }
    private let listeners = NIOLockedValueBox(Listeners())
    /// The TLS listener's certificates; each new TLS connection takes the current one.
    private let tlsContext = NIOLockedValueBox<NIOSSLContext?>(nil)
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
        var aclFile: Result<String, StorageError>?
        if !config.aclfile.isEmpty {
            do throws(StorageError) {
                aclFile = .success(String(decoding: try Files.readAll(config.aclfile, limit: 64 << 20), as: UTF8.self))
            } catch {
                aclFile = .failure(error)
            }
        }
        let aclFileResult = aclFile
        // The data directory is recovered on this thread (see `Persistence.open`); errors are
        // reported after the ACL file's, as before.
        var opened: Result<Persistence.Opened, StorageError>?
        if config.appendonly {
            do throws(StorageError) {
                opened = .success(try Persistence.open(config, logger: logger))
            } catch {
                opened = .failure(error)
            }
        } else if let held = Persistence.persistedState(in: config.dir) {
            logger.warning("\(config.dir) holds streams saved by an earlier run (\(held)), which are not loaded: appendonly is no, so this server keeps its data in memory only and leaves the directory untouched; start it with --appendonly yes to load them")
        }
        let openedResult = opened
        let broker = loop.submit { () throws -> NIOLoopBound<Broker> in
            let b = Broker(config: config, eventLoop: loop, logger: logger)
            b.configFile = configFile
            b.blockingPool = pool
            try b.loadUsersAtStartup(aclFile: aclFileResult)
            if let openedResult {
                let p = try Persistence(broker: b, opened: try openedResult.get())
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
        let context = config.tlsPort > 0 ? try TLS.makeContext(config) : nil
        tlsContext.withLockedValue { $0 = context }
        // SHUTDOWN can arrive as soon as the first address listens, before the others are
        // bound: it must already work then.
        try loop.submit { [self] in bound.value.onShutdown = { [weak self] in self?.initiateShutdown() } }.wait()
        let (tcp, port) = try bindTCP(config)
        var tls: [any Channel] = []
        if config.tlsPort > 0 {
            do {
                tls = try bindTLS(config)
            } catch {
                for ch in tcp { try? ch.close().wait() }
                throw error
            }
        }
        // Kept before the metrics listener starts, so a failure there still closes these.
        listeners.withLockedValue { l in
            l.tcp = tcp
            l.tls = tls
            l.opening = []
        }
        if config.metricsPort > 0 {
            let metrics = try startMetrics(config)
            listeners.withLockedValue { l in
                l.metrics = metrics
                l.opening = []
            }
        }
        let finalPort = port
        try loop.submit { [self] in
            let b = bound.value
            b.boundPort = finalPort
            b.reconfigureListeners = { [weak self] old, new in self?.reconfigure(old: old, new: new) }
            b.startCron()
        }.wait()
        return finalPort
    }

    /// Binds the RESP listener on every `bind` address; returns the channels and the port.
    private func bindTCP(_ config: ServerConfig) throws -> (channels: [any Channel], port: Int) {
        try bindAll(tcpBootstrap(config), config.bindAddresses, port: config.port) { address, port in
            "Ready to accept connections tcp on \(address):\(port)"
        }
    }

    private func tcpBootstrap(_ config: ServerConfig) -> ServerBootstrap {
        let bound = loopBroker
        return ServerBootstrap(group: group)
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
    }

    /// Binds the TLS listener (`tls-port`) on the same addresses: the same connections, with
    /// NIOSSL in front of each. Each connection takes the context current when it arrives.
    private func bindTLS(_ config: ServerConfig) throws -> [any Channel] {
        let bound = loopBroker
        let box = tlsContext
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard let context = box.withLockedValue({ $0 }) else { throw ChannelError.ioOnClosedChannel }
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                    try channel.pipeline.syncOperations.addHandler(ConnectionHandler(broker: bound.value))
                }
            }
        return try bindAll(bootstrap, config.bindAddresses, port: config.tlsPort) { address, port in
            "Ready to accept connections tls on \(address):\(port)"
        }.channels
    }

    /// CONFIG SET of `port`, `bind`, `tls-port` or the `tls-*` files: opens the new listeners
    /// (and loads new certificates) first, and only then closes the old ones, so a failure
    /// leaves everything as it was. Runs on the blocking pool (binding waits on the loop).
    /// Returns the directive to blame and Redis's reason, or nil.
    func reconfigure(old: ServerConfig, new: ServerConfig) -> (directive: String, reason: String)? {
        let tcpChanged = old.port != new.port || old.bindAddresses != new.bindAddresses
        let tlsFilesChanged = ["tls-cert-file", "tls-key-file", "tls-ca-cert-file", "tls-auth-clients"]
            .contains { old.value(of: $0) != new.value(of: $0) }
        let tlsRebind = new.tlsPort > 0 && (old.tlsPort != new.tlsPort || old.bindAddresses != new.bindAddresses)
        let tlsReason = "Unable to update TLS configuration. Check server logs."
        var context: NIOSSLContext?
        if new.tlsPort > 0 && (tlsFilesChanged || tlsRebind) {
            do {
                context = try TLS.makeContext(new)
            } catch {
                logger.warning("CONFIG SET: TLS not updated: \(error)")
                return (tlsFilesChanged ? "tls-cert-file" : "tls-port", tlsReason)
            }
        }
        var tcp: [any Channel]?
        var port = new.port
        if tcpChanged {
            // New addresses on the same port: the old sockets must go first (as Redis does it),
            // and come back if the new ones cannot be bound.
            let samePort = old.port == new.port
            if samePort { closeListeners(\.tcp) }
            do {
                (tcp, port) = try bindTCP(new)
            } catch {
                logger.warning("CONFIG SET: can't listen on port \(new.port) (\(new.bindAddresses.joined(separator: " "))): \(error)")
                if samePort, let restored = try? bindTCP(old) {
                    listeners.withLockedValue { $0.tcp = restored.channels }
                }
                return old.port != new.port ? ("port", "Unable to listen on this port. Check server logs.")
                    : ("bind", "Failed to bind to specified addresses.")
            }
        }
        // The new context serves connections from now on (a new TLS listener needs it too).
        let previousContext = tlsContext.withLockedValue { current -> NIOSSLContext? in
            let before = current
            if let context { current = context }
            return before
        }
        var tls: [any Channel]?
        if tlsRebind {
            if old.tlsPort == new.tlsPort { closeListeners(\.tls) }
            do {
                tls = try bindTLS(new)
            } catch {
                logger.warning("CONFIG SET: can't listen on tls-port \(new.tlsPort): \(error)")
                // Put everything back as it was.
                tlsContext.withLockedValue { $0 = previousContext }
                if old.tlsPort > 0 && old.tlsPort == new.tlsPort, let restored = try? bindTLS(old) {
                    listeners.withLockedValue { $0.tls = restored }
                }
                for ch in tcp ?? [] { try? ch.close().wait() }
                if tcpChanged && old.port == new.port, let restored = try? bindTCP(old) {
                    listeners.withLockedValue { $0.tcp = restored.channels }
                }
                return ("tls-port", tlsReason)
            }
        }
        let closing = listeners.withLockedValue { l -> [any Channel] in
            var old: [any Channel] = []
            if let tcp {
                old += l.tcp
                l.tcp = tcp
            }
            if let tls {
                old += l.tls
                l.tls = tls
            } else if new.tlsPort == 0 {
                old += l.tls
                l.tls = []
            }
            l.opening = []
            return old
        }
        for ch in closing { try? ch.close().wait() }
        if tcpChanged {
            let bound = loopBroker
            let finalPort = port
            eventLoop.execute { bound.value.boundPort = finalPort }
        }
        return nil
    }

    /// Closes one kind of listener now (before rebinding its port with other addresses).
    private func closeListeners(_ kind: WritableKeyPath<Listeners, [any Channel]>) {
        let channels = listeners.withLockedValue { l -> [any Channel] in
            let c = l[keyPath: kind]
            l[keyPath: kind] = []
            return c
        }
        for ch in channels { try? ch.close().wait() }
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
                // Listening from now on: a shutdown must close it even before `start` returns
                // (SHUTDOWN can come through the first address while the others are bound),
                // and one bound after a shutdown began is closed here.
                let late = listeners.withLockedValue { l -> Bool in
                    l.opening.append(ch)
                    return l.shuttingDown
                }
                if late {
                    try? ch.close().wait()
                    continue
                }
                logger.notice("\(notice(address, port))")
                // Test seam: widens the moment when some addresses listen and others do not.
                if let pause = getenv("RUNNEL_TEST_BIND_PAUSE_MS").flatMap({ Int(String(cString: $0)) }), pause > 0 {
                    usleep(UInt32(min(pause, 10_000)) * 1000)
                }
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
        // Once only: SHUTDOWN and a signal, or two signals, may both ask.
        let first = listeners.withLockedValue { l -> [any Channel]? in
            guard !l.shuttingDown else { return nil }
            l.shuttingDown = true
            return l.all
        }
        guard let open = first else { return }
        eventLoop.execute {
            let b = bound.value
            b.stopCron()
            let closes = open.map { $0.close() }
            EventLoopFuture.andAllComplete(closes, on: b.eventLoop).whenComplete { _ in
                let b = bound.value
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
