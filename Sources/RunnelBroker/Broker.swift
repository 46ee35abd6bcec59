import DequeModule
import Logging
import NIOCore
import NIOPosix
import RunnelRESP
import RunnelStorage
import RunnelStreams

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Wall-clock and monotonic time helpers.
enum Clock {
    static func nowMs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    static func nowUs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000
    }

    static func monotonicNs() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}

/// Server statistics reported by INFO stats.
struct BrokerStats {
    var connectionsReceived = 0
    var commandsProcessed = 0
    var netInputBytes = 0
    var netOutputBytes = 0
    var rejectedConnections = 0
    var expiredKeys = 0
    var keyspaceHits = 0
    var keyspaceMisses = 0
    var errorReplies = 0
    /// `errorReplies` when the last command ended (or was rejected, or a blocked one was
    /// ended): a command failed if errors were replied since, as Redis's
    /// `incrCommandStatsOnError` decides, so EXEC does not fail for its commands' errors.
    var errorsAtLastCall = 0
    var readsProcessed = 0
    var writesProcessed = 0
    var errorCounts: [String: Int] = [:]
    var clientRecentMaxInput = 0
    var clientRecentMaxOutput = 0
    /// INFO's instantaneous_ops_per_sec and _input/_output_kbps, sampled by the cron.
    var opsPerSec = InstantaneousMetric()
    var inputPerSec = InstantaneousMetric()
    var outputPerSec = InstantaneousMetric()
}

/// A rate as redis-server reports its instantaneous metrics: a reading's change per second
/// between samples taken every 100 ms, averaged over the last 16 samples.
struct InstantaneousMetric {
    private var samples = [Int](repeating: 0, count: 16)
    private var index = 0
    private var lastMs = Clock.nowMs()
    private var lastReading = 0

    mutating func sample(_ reading: Int, nowMs: Int64) {
        let elapsed = Int(nowMs - lastMs)
        samples[index] = elapsed > 0 ? (reading - lastReading) * 1000 / elapsed : 0
        index = (index + 1) % samples.count
        lastMs = nowMs
        lastReading = reading
    }

    var value: Int { samples.reduce(0, +) / samples.count }
}

/// One SLOWLOG entry.
struct SlowlogEntry {
    let id: Int
    let timestamp: Int64
    let durationUs: Int
    let args: [ByteBuffer]
    let clientAddress: String
    let clientName: String
}

/// Samples of one latency-monitor event: (unix seconds, milliseconds), and the worst seen.
struct LatencyEvent {
    var samples: [(time: Int, ms: Int)] = []
    var maxMs = 0
}

/// The broker: keyspace, clients, Pub/Sub hub and command dispatch.
///
/// Everything here is confined to one event loop, like redis-server's main thread: each
/// command runs to completion before the next, so no client ever observes half a command.
public final class Broker {
    public let eventLoop: any EventLoop
    public internal(set) var config: ServerConfig
    var logger: Logger
    var dbs: [Database]
    var commands = CommandTable()
    /// Users and the ACL log (set up with the command table).
    var acl: ACL!
    var clients: [Int: ClientSession] = [:]
    var nextClientID = 1
    var stats = BrokerStats()
    /// Redis's `server.dirty`: changes to the dataset, counted per command as redis-server 7.0
    /// counts them (one per XADD, per entry deleted or trimmed, per entry acknowledged or
    /// claimed, per stream an XREADGROUP serves, per consumer created, per key deleted …;
    /// nothing for expiries). INFO's `rdb_changes_since_last_save` is this less `dirtyAtSave`.
    /// CONFIG RESETSTAT leaves both.
    var dirty: UInt64 = 0
    /// `dirty` when the last SAVE/BGSAVE (a snapshot) started.
    var dirtyAtSave: UInt64 = 0
    let startedAtMs: Int64
    let startedMonotonicNs: UInt64
    let runID: String
    /// INFO replication's master_replid (its own random ID, as in Redis; DEBUG CHANGE-REPL-ID
    /// draws a new one).
    var replicationID: String
    /// What DEBUG subcommands switch (DebugCommand.swift).
    var debug = DebugSwitches()
    var pubsub = PubSubHub()
    var slowlog: Deque<SlowlogEntry> = []
    var nextSlowlogID = 0
    /// Keys watched by transactions: (db, key) → watching client IDs.
    var watchers: [Int: [Key: Set<Int>]] = [:]
    /// CLIENT TRACKING's tables, and the session whose command is running (its own
    /// invalidations wait for its reply).
    var tracking = TrackingTables()
    unowned(unsafe) var executingSession: ClientSession?
    /// The session whose input the loop is parsing and running (nil between reads).
    unowned(unsafe) var processingSession: ClientSession?
    /// Sessions with replies or messages waiting to be flushed at the end of this turn.
    var pendingFlush: [ClientSession] = []
    /// Clients in MONITOR mode, in the order they asked.
    var monitors: [ClientSession] = []
    /// Resident size when the server was set up (MEMORY STATS `startup.allocated`).
    let startupResidentBytes = Broker.residentBytes()
    /// The list being flushed (see `flushPending`).
    private var flushing: [ClientSession] = []
    private var flushTaskScheduled = false
    /// LATENCY's events by name.
    var latencyEvents: [String: LatencyEvent] = [:]
    /// Stream data bytes at the last cron tick (kept only while `maxmemory` is set).
    var streamDataBytes = 0
    /// Applies CONFIG SET of `port`, `bind`, `tls-port` and the `tls-*` files to the listeners
    /// (installed by RunnelServer; runs on the blocking pool). Returns the directive to blame
    /// and Redis's reason when it cannot.
    var reconfigureListeners: (@Sendable (ServerConfig, ServerConfig) -> (directive: String, reason: String)?)?
    /// Prometheus metrics, when `metrics-port` is set.
    var metrics: BrokerMetrics?
    /// XADD's field list, reused from command to command (see `xadd`).
    var xaddScratch = FieldList()
    /// The master field names of the last node XADD started: the next new node with the same
    /// names shares this list (one copy for a million small streams of one schema).
    var masterNames = FieldList()
    /// CLIENT PAUSE state: end time (ms) and whether only writes are paused.
    var pauseEndMs: Int64 = 0
    var pauseWritesOnly = false
    /// Sessions waiting for a pause to end, in the order they were postponed (the order Redis
    /// resumes them in); each is resumed by its connection handler's callback.
    var pausedWaiters: [(id: Int, resume: () -> Void)] = []
    var pauseTimer: Scheduled<Void>?
    /// Called by SHUTDOWN; the server stops accepting, flushes replies and exits.
    public var onShutdown: (() -> Void)?
    /// Actual TCP port after binding (port 0 picks a free one).
    public var boundPort: Int = 0
    var configFile: String = ""
    var cronTask: RepeatedTask?
    /// When the cron last sampled the instantaneous rates (at most every 100 ms, as Redis).
    var lastRateSampleMs: Int64 = 0
    var lastSaveTime: Int64
    /// Replaces the wall clock for command time (deterministic tests).
    var clockOverride: (() -> Int64)?
    /// When true, new streams keep a journal of their records (tests; the storage engine
    /// drains journals instead).
    public var journalStreams = false
    /// Reused buffer for stream entries written before their array header.
    var entryScratch = ByteBufferAllocator().buffer(capacity: 4096)
    /// Reused encoding buffer for PUBLISH frames (copied into each subscriber's output).
    var publishScratch = ByteBufferAllocator().buffer(capacity: 256)
    /// Wall-clock time at the start of the current read turn (one clock read per turn).
    var turnTimeMs: Int64 = Clock.nowMs()
    /// Monotonic time at the end of the last command (or the start of the turn).
    var lastClockNs: UInt64 = Clock.monotonicNs()

    /// Marks the start of a read turn: refreshes the cached clocks.
    func beginTurn() {
        turnTimeMs = clockOverride?() ?? Clock.nowMs()
        lastClockNs = Clock.monotonicNs()
    }

    /// Clients blocked in XREAD/XREADGROUP, per db and key, in arrival order.
    var blockedReaders: [Int: [Key: [BlockedRead]]] = [:]
    /// The same waiters by client ID.
    var blockedSessions: [Int: BlockedRead] = [:]
    /// Keys that got entries during the current command, with blocked readers to serve.
    var readyKeys: [(Int, Key)] = []

    /// The storage engine; nil when persistence is off (`appendonly no`, embedded tests).
    var persistence: Persistence?
    /// Callbacks waiting for the running checkpoint (SAVE, BGSAVE, tests).
    var checkpointWaiters: [(CheckpointOutcome) -> Void] = []
    /// Callbacks waiting for the running snapshot (SAVE).
    var snapshotWaiters: [(SnapshotOutcome) -> Void] = []

    /// Threads for blocking work (file I/O) that must not run on the event loop; nil runs it
    /// inline (EmbeddedChannel tests).
    var blockingPool: NIOThreadPool?

    public init(config: ServerConfig, eventLoop: any EventLoop, logger: Logger = Logger(label: "runnel")) {
        self.config = config
        self.eventLoop = eventLoop
        self.logger = logger
        self.dbs = Array(repeating: Database(), count: config.databases)
        self.startedAtMs = Clock.nowMs()
        self.startedMonotonicNs = Clock.monotonicNs()
        self.lastSaveTime = Clock.nowMs() / 1000
        var rng = SystemRandomNumberGenerator()
        self.runID = Self.randomHexID(using: &rng)
        self.replicationID = Self.randomHexID(using: &rng)
        registerAllCommands()
    }

    /// Starts periodic work (active expiry, client timeouts, pubsub soft limits).
    public func startCron() {
        let interval = TimeAmount.milliseconds(Int64(1000 / max(1, config.hz)))
        // Held weakly (a stopped broker is not kept alive by its timer), and only touched on
        // its loop, where the task runs.
        final class WeakBroker { weak var broker: Broker? }
        let box = WeakBroker()
        box.broker = self
        let bound = NIOLoopBound(box, eventLoop: eventLoop)
        cronTask = eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            bound.value.broker?.cron()
        }
    }

    public func stopCron() {
        cronTask?.cancel()
        cronTask = nil
    }

    func cron() {
        let now = Clock.nowMs()
        // The cached clock also moves between read turns (replies released by the log writer
        // stamp their client's last interaction with it).
        if clockOverride == nil { turnTimeMs = now }
        // DEBUG PAUSE-CRON 1 stops the periodic work, as Redis's serverCron returns early.
        guard !debug.pauseCron else { return }
        if now - lastRateSampleMs >= 90 {  // every cron at the default hz 10, every ~100 ms above
            lastRateSampleMs = now
            stats.opsPerSec.sample(stats.commandsProcessed, nowMs: now)
            stats.inputPerSec.sample(stats.netInputBytes, nowMs: now)
            stats.outputPerSec.sample(stats.netOutputBytes, nowMs: now)
        }
        if debug.activeExpire { activeExpireCycle(now: now) }
        if !readyKeys.isEmpty { serveReadyKeys() }
        if !tracking.keys.isEmpty { trackingLimitKeys() }
        if config.maxmemory > 0 { streamDataBytes = measureStreamData() }
        if let persistence {
            persistence.submit()
            persistence.maybeCheckpoint(now: now)
        }
        if config.timeoutSeconds > 0 {
            // As Redis's clientsCronHandleTimeout: monitors, subscribers and blocked clients
            // (a blocking read, or held by CLIENT PAUSE) are never idle.
            for session in clients.values
            where !session.isSubscribed && !session.isMonitor && blockedSessions[session.id] == nil && !isPostponed(session.id)
                && now / 1000 - session.lastInteractionMs / 1000 > Int64(config.timeoutSeconds)
            {
                session.killed = true
                session.close?()
            }
        }
        for session in clients.values where session.softLimitSinceMs != nil {
            enforceOutputLimits(session, now: now)
        }
        // What the cron queued for clients (keyspace events of expired keys, invalidations of
        // forgotten tracking keys) goes out now, not at the next read of some connection.
        flushPendingAtEndOfIteration()
    }

    /// A latency monitor sample: at most one per event per second (the worst), 160 kept, as
    /// redis-server keeps them.
    func recordLatency(_ event: String, ms: Int) {
        let now = Int(Clock.nowMs() / 1000)
        var e = latencyEvents[event] ?? LatencyEvent()
        if let last = e.samples.last, last.time == now {
            e.samples[e.samples.count - 1].ms = max(last.ms, ms)
        } else {
            e.samples.append((now, ms))
            if e.samples.count > 160 { e.samples.removeFirst() }
        }
        e.maxMs = max(e.maxMs, ms)
        latencyEvents[event] = e
    }

    /// Streams, entries, groups and pending entries in every database (snapshot summaries,
    /// metrics).
    func streamTotals() -> CheckpointState.Totals {
        var t = CheckpointState.Totals()
        for db in dbs {
            for case .stream(let box) in db.values.values {
                t.streams += 1
                t.entries += box.stream.length
                t.groups += box.stream.groups.count
                for g in box.stream.groups.values { t.pending += g.pending.count }
            }
        }
        return t
    }

    /// Bytes of stream data: node storage, plus an estimate per pending entry and consumer
    /// (what `maxmemory` limits). Measured in the cron, so a burst can pass the limit by what
    /// one tick lets through, as Redis's own accounting lags its allocator.
    func measureStreamData() -> Int {
        var total = 0
        for db in dbs {
            for case .stream(let box) in db.values.values {
                total += box.stream.storageBytes
                for group in box.stream.groups.values {
                    total += 128 + group.pending.count * 64 + group.consumers.count * 96
                }
            }
        }
        return total
    }

    // MARK: - Sessions

    /// Registers a new connection; nil (with the error already written) when refused.
    func connect(remoteAddress: String, localAddress: String) -> ClientSession {
        stats.connectionsReceived += 1
        let user = acl.defaultUser
        let session = ClientSession(
            id: nextClientID, remoteAddress: remoteAddress, localAddress: localAddress, nowMs: Clock.nowMs(),
            user: user, authenticated: user.nopass && user.enabled)
        nextClientID += 1
        clients[session.id] = session
        return session
    }

    /// Whether a new connection would exceed `maxclients`.
    var atClientLimit: Bool { clients.count >= config.maxclients }

    func disconnect(_ session: ClientSession) {
        guard clients.removeValue(forKey: session.id) != nil else { return }
        if let waiter = blockedSessions[session.id] { unblock(waiter) }
        unwatchAll(session)
        pubsub.removeAll(session)
        stopMonitor(session)
        disableTracking(session)
        persistence?.forget(session)
        pausedWaiters.removeAll { $0.id == session.id }
    }

    /// Whether a session is postponed by CLIENT PAUSE (Redis counts it as blocked).
    func isPostponed(_ id: Int) -> Bool { pausedWaiters.contains { $0.id == id } }

    /// Postpones a session's command until the pause ends.
    func postpone(_ id: Int, resume: @escaping () -> Void) {
        pausedWaiters.removeAll { $0.id == id }
        pausedWaiters.append((id, resume))
    }

    /// Queues a session for flushing at the end of the current turn.
    func scheduleFlush(_ session: ClientSession) {
        if !session.flushScheduled {
            session.flushScheduled = true
            pendingFlush.append(session)
        }
    }

    /// Flushes other sessions' queued output once this event-loop iteration has read every
    /// connection that had input (Redis flushes in `beforeSleep` the same way): messages that
    /// many publishers send in one iteration reach each subscriber in one write, not one per
    /// publisher. NIO runs tasks after it has handled all ready channels.
    func flushPendingAtEndOfIteration() {
        persistence?.endOfTurn()
        guard !pendingFlush.isEmpty, !flushTaskScheduled else { return }
        flushTaskScheduled = true
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        eventLoop.execute {
            let broker = bound.value
            broker.flushTaskScheduled = false
            broker.flushPending()
        }
    }

    /// Writes every session's pending output to its socket.
    func flushPending() {
        persistence?.endOfTurn()
        guard !pendingFlush.isEmpty else { return }
        // Swap with a spare list so neither array reallocates turn after turn.
        swap(&pendingFlush, &flushing)
        for session in flushing {
            session.flushScheduled = false
            flush(session)
        }
        flushing.removeAll(keepingCapacity: true)
    }

    func flush(_ session: ClientSession) {
        if let at = session.closeAt, at < session.out.buffer.writerIndex {
            session.out.buffer.moveWriterIndex(to: max(at, session.out.buffer.readerIndex))
        }
        guard session.out.buffer.readableBytes > 0 else { return }
        // Output limits count replies before they are written, as Redis counts a reply when
        // it is queued: one reply larger than the hard limit closes the client even if it reads.
        enforceOutputLimits(session, now: turnTimeMs)
        guard !session.killed else { return }
        if !session.holdMarks.isEmpty, let persistence {
            // Send what precedes the first reply still waiting for the log.
            let released = persistence.released
            var i = 0
            while i < session.holdMarks.count && session.holdMarks[i].offset <= released { i += 1 }
            if i > 0 { session.holdMarks.removeFirst(i) }
            if let first = session.holdMarks.first {
                persistence.hold(session)
                let limit = min(first.start, session.out.buffer.writerIndex)
                let n = limit - session.out.buffer.readerIndex
                if n > 0, let part = session.out.buffer.readSlice(length: n) {
                    stats.netOutputBytes += n
                    stats.writesProcessed += 1
                    session.lastInteractionMs = turnTimeMs  // a write is an interaction, as in Redis
                    session.flushOut?(part)
                }
                let shift = session.out.buffer.readerIndex
                if shift > 1 << 20 {
                    session.out.buffer.discardReadBytes()
                    for j in session.holdMarks.indices { session.holdMarks[j].start -= shift }
                    if let start = session.silencedReplyStart { session.silencedReplyStart = max(0, start - shift) }
                    if let at = session.closeAt { session.closeAt = max(0, at - shift) }
                }
                return
            }
        }
        stats.netOutputBytes += session.out.buffer.readableBytes
        stats.writesProcessed += 1
        session.lastInteractionMs = turnTimeMs  // a write is an interaction, as in Redis
        session.flushOut?(session.out.buffer)
        // When the socket took the whole write, NIO has dropped its reference and clear()
        // keeps the storage for the next turn; otherwise clear() allocates fresh storage.
        if session.out.buffer.capacity > 64 * 1024 {
            session.out.buffer = ByteBufferAllocator().buffer(capacity: 512)
        } else {
            session.out.buffer.clear()
        }
        if session.silencedReplyStart != nil { session.silencedReplyStart = 0 }
        if session.closeAt != nil { session.closeAt = 0 }
    }

    /// Applies `client-output-buffer-limit` to a client: the pubsub class to subscribers, the
    /// normal class to the others.
    func enforceOutputLimits(_ session: ClientSession, now: Int64) {
        let limit = session.isSubscribed ? config.outputLimits.pubsub : config.outputLimits.normal
        if limit.hard == 0 && limit.soft == 0 {
            session.softLimitSinceMs = nil
            return
        }
        // A writable channel holds less than its 64 KiB high-water mark: with less than that
        // queued here too, far below any sensible limit, so skip asking NIO for the exact count.
        let queued = session.out.buffer.readableBytes
        if session.softLimitSinceMs == nil && queued < 64 * 1024 && session.isWritable()
            && (limit.soft == 0 || limit.soft > 128 * 1024) && (limit.hard == 0 || limit.hard > 128 * 1024)
        {
            return
        }
        let used = session.bufferedBytes() + queued
        if limit.hard > 0 && used >= limit.hard {
            killForOutputLimit(session, used: used)
            return
        }
        if limit.soft > 0 && used >= limit.soft {
            if let since = session.softLimitSinceMs {
                let (limitMs, overflow) = Int64(limit.softSeconds).multipliedReportingOverflow(by: 1000)
                if !overflow && now - since >= limitMs {
                    killForOutputLimit(session, used: used)
                }
            } else {
                session.softLimitSinceMs = now
            }
        } else {
            session.softLimitSinceMs = nil
        }
    }

    private func killForOutputLimit(_ session: ClientSession, used: Int) {
        guard !session.killed else { return }
        logger.warning(
            "Client id=\(session.id) addr=\(session.remoteAddress) scheduled to be closed ASAP for overcoming of output buffer limits (\(used) bytes)"
        )
        session.killed = true
        session.out.buffer.clear()
        disconnect(session)
        session.close?()
    }

    // MARK: - Dispatch

    /// Runs one command for `session`, writing its reply into the session's output.
    /// Returns false when the command must wait (CLIENT PAUSE); the caller retries later.
    func execute(_ session: ClientSession, _ args: CommandArgs) -> Bool {
        // One command (EXEC: its whole transaction) is one unit of the log: never split
        // between frames, so a crash keeps all of it or none.
        persistence?.encoder.beginUnit()
        let done = executeCommand(session, args)
        if let persistence {
            persistence.encoder.endUnit()
            persistence.unitEnded()
        }
        // CLIENT CACHING applies to the next command only (to a whole transaction when given
        // before MULTI), as Redis clears it once any command other than CLIENT is processed.
        if session.tracking.caching && done && !session.inMulti && !args[0].equalsIgnoringCase("client") {
            session.tracking.caching = false
        }
        return done
    }

    private func executeCommand(_ session: ClientSession, _ args: CommandArgs) -> Bool {
        guard !args.isEmpty else { return true }
        session.lastInteractionMs = turnTimeMs
        // CLIENT LIST's `cmd=` names the command looked up, whether it then runs, is refused or
        // is queued (NULL when none is found), as Redis's processCommand sets it.
        guard var spec = commands.lookup(args, 0) else {
            session.lastCommand = nil
            rejectUnknown(session, args)
            return true
        }
        session.lastCommand = spec
        if !spec.subcommands.isEmpty {
            if args.count == 1 {
                if !spec.arityOK(1) {
                    reject(session, spec, "ERR wrong number of arguments for '\(spec.fullName)' command")
                    return true
                }
            } else if let sub = spec.subcommand(args[1]) {
                spec = sub
                session.lastCommand = sub
            } else {
                session.lastCommand = nil
                let text = "ERR unknown subcommand '\(args[1].cString(limit: 128))'. Try \(spec.fullName.uppercased()) HELP."
                reject(session, nil, text)  // no command was found: no commandstats line counts it
                return true
            }
        }
        if !spec.arityOK(args.count) {
            reject(session, spec, "ERR wrong number of arguments for '\(spec.fullName)' command")
            return true
        }
        if !spec.noAuth && authRequired(session) {
            reject(session, spec, "NOAUTH Authentication required.")
            return true
        }
        // Right after authentication, as Redis: before ACL, OOM or pause checks.
        if session.inMulti && spec.noMulti {
            reject(session, spec, "ERR Command not allowed inside a transaction")
            return true
        }
        if !session.user.unrestricted, let denial = session.user.check(spec, args) {
            rejectForACL(session, spec, args, denial)
            return true
        }
        // Inside MULTI every command but EXEC, DISCARD, QUIT and RESET is refused past the limit,
        // as Redis does (queueing takes memory too); EXEC is when a queued command adds data.
        if config.maxmemory > 0 && streamDataBytes > config.maxmemory
            && (spec.denyOOM
                || (session.inMulti
                    && (spec.fullName == "exec"
                        ? session.multiFlags.contains(.denyOOM) : !["discard", "quit", "reset"].contains(spec.fullName))))
        {
            reject(session, spec, "OOM command not allowed when used memory > 'maxmemory'.")
            return true
        }
        if let error = persistence?.writeError,
            spec.isWrite || spec.fullName == "ping" || (spec.fullName == "exec" && session.inMulti && session.multiFlags.contains(.write))
        {
            // As Redis with a failing AOF: no writes (nor PING) until the disk accepts data.
            var code = ENOSPC
            if case .io(_, _, let e) = error { code = e }
            reject(session, spec, "MISCONF Errors writing to the AOF file: \(String(cString: strerror(code)))")
            return true
        }
        if session.resp == .resp2 && session.isSubscribed && !spec.allowedInSubscribe {
            reject(
                session, spec,
                "ERR Can't execute '\(spec.fullName)': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
            )
            return true
        }
        // Redis treats a MONITOR client as a replica: it may not read or write keys (nor publish).
        if session.isMonitor && (spec.isReadonly || spec.pausedByWritePause) {
            reject(session, spec, "ERR Replica can't interact with the keyspace")
            return true
        }
        // As Redis's processCommand: the pause is checked before a command is queued in MULTI,
        // and EXEC counts as a write when a queued command writes.
        if pauseEndMs > 0 && isPaused(for: spec, now: session.lastInteractionMs, queuedWrites: session.multiFlags.contains(.pausedByWritePause)) {
            return false
        }
        if session.inMulti && !spec.runsInMulti {
            // As Redis: once EXEC is bound to fail (a refused command, a touched WATCHed key),
            // commands are answered QUEUED but not kept (CLIENT LIST `multi=` stops growing).
            if session.multiError == nil && !session.watchDirty {
                session.multiQueue.append(args.detached)
                if spec.pausedByWritePause { session.multiFlags.insert(.pausedByWritePause) }
                if spec.denyOOM { session.multiFlags.insert(.denyOOM) }
                if spec.isWrite { session.multiFlags.insert(.write) }
            }
            session.out.simpleString("QUEUED" as StaticString)
            return true
        }
        call(session, spec, args)
        if !readyKeys.isEmpty { serveReadyKeys() }
        return true
    }

    /// Runs a command that passed all checks, with statistics and slowlog.
    func call(_ session: ClientSession, _ spec: CommandSpec, _ args: CommandArgs) {
        // Inside EXEC the last command stays EXEC (CLIENT LIST `cmd=`), as in Redis.
        if !session.inExec { session.lastCommand = spec }
        // One clock read per command: the previous command's end is this one's start.
        let start = lastClockNs
        let logBefore = persistence?.holdsReplies == true ? persistence?.encoder.encodedBytes : nil
        let replyStart = session.out.buffer.writerIndex
        let outermost = executingSession == nil
        if outermost { executingSession = session }
        spec.handler?(self, session, args)
        session.commandReplied()
        if session.tracking.on && spec.isReadonly && !session.tracking.bcast {
            trackingRememberKeys(session, spec, args)
        }
        if outermost {
            executingSession = nil
            if !session.pendingInvalidations.isEmpty { flushPendingInvalidations(session) }
        }
        if !monitors.isEmpty && !spec.flags.contains("admin") { feedMonitors(session, spec, args) }
        if let logBefore, let persistence, persistence.encoder.encodedBytes != logBefore {
            holdReply(session, from: replyStart, until: persistence.encoder.encodedBytes)
        }
        let end = Clock.monotonicNs()
        lastClockNs = end
        let durationUs = Int((end &- start) / 1000)
        if let metrics { metrics.histogram(for: spec).recordNanoseconds(Int64(end &- start)) }
        if config.latencyTracking { trackLatency(spec, us: durationUs) }
        stats.commandsProcessed += 1
        spec.calls += 1
        spec.usec += durationUs
        if stats.errorReplies > stats.errorsAtLastCall { spec.failedCalls += 1 }
        stats.errorsAtLastCall = stats.errorReplies
        // In ms, as Redis compares: the threshold may be any value up to 2^63-1.
        if config.latencyMonitorThreshold > 0 && durationUs / 1000 >= config.latencyMonitorThreshold {
            recordLatency(spec.isFast ? "fast-command" : "command", ms: durationUs / 1000)
        }
        if config.slowlogSlowerThan >= 0 && durationUs >= config.slowlogSlowerThan && !spec.skipSlowlog {
            addSlowlog(session, spec, args, durationUs)
        }
        if !session.redactedArgs.isEmpty { session.redactedArgs.removeAll() }
    }

    /// The bytes of `session`'s output from `start` on wait until the log reaches `offset`.
    func holdReply(_ session: ClientSession, from start: Int, until offset: UInt64) {
        // A later mark that starts earlier (EXEC around its commands) covers the ones after it.
        while let last = session.holdMarks.last, last.start >= start { session.holdMarks.removeLast() }
        session.holdMarks.append((offset, start))
    }

    /// Marks an argument of the running command as secret: SLOWLOG and MONITOR show it as
    /// `(redacted)`. Commands call it where Redis redacts, so an argument refused before
    /// that point (AUTH with too many arguments, HELLO after a failed option) is shown.
    func redact(_ session: ClientSession, _ index: Int) {
        session.redactedArgs.append(index)
    }

    func addSlowlog(_ session: ClientSession, _ spec: CommandSpec, _ args: CommandArgs, _ durationUs: Int) {
        // As Redis: at most 32 arguments, each cut to 128 bytes.
        var kept: [ByteBuffer] = []
        for (i, a) in args.enumerated() {
            if session.redactedArgs.contains(i) {
                kept.append(ByteBuffer(string: "(redacted)"))
                continue
            }
            if i == 31 && args.count > 32 {
                kept.append(ByteBuffer(string: "... (\(args.count - 31) more arguments)"))
                break
            }
            if a.readableBytes > 128 {
                var cut = a.getSlice(at: a.readerIndex, length: 128)!.detached
                cut.writeString("... (\(a.readableBytes - 128) more bytes)")
                kept.append(cut)
            } else {
                kept.append(a.detached)
            }
        }
        slowlog.prepend(
            SlowlogEntry(
                id: nextSlowlogID, timestamp: Clock.nowMs() / 1000, durationUs: durationUs, args: kept,
                clientAddress: session.remoteAddress, clientName: session.name?.string ?? ""))
        nextSlowlogID += 1
        while slowlog.count > config.slowlogMaxLen { slowlog.removeLast() }
    }

    private func rejectUnknown(_ session: ClientSession, _ args: CommandArgs) {
        // Redis prints these with %.*s: each stops at a NUL byte.
        var argText = ""
        var i = 1
        while i < args.count && argText.utf8.count < 128 {
            let room = 128 - argText.utf8.count
            argText += "'" + args[i].cString(limit: room) + "' "
            i += 1
        }
        let name = args[0].cString(limit: 128)
        reject(session, nil, "ERR unknown command '\(name)', with args beginning with: \(argText)")
    }

    /// A command refused before running: counts as rejected, aborts a transaction.
    func reject(_ session: ClientSession, _ spec: CommandSpec?, _ text: String) {
        spec?.rejectedCalls += 1
        defer { stats.errorsAtLastCall = stats.errorReplies }
        if spec?.fullName == "exec" {
            discardTransaction(session)
            let message = text.hasPrefix("ERR ") ? String(text.dropFirst(4)) : text
            replyError(session, "EXECABORT Transaction discarded because of: \(message)")
            return
        }
        if session.inMulti && session.multiError == nil { session.multiError = text }
        replyError(session, text)
    }

    /// Writes an error reply and counts it in errorstats.
    func replyError(_ session: ClientSession, _ text: String) {
        stats.errorReplies += 1
        let code = text.split(separator: " ", maxSplits: 1).first.map(String.init) ?? "ERR"
        stats.errorCounts[code, default: 0] += 1
        session.out.error(text)
    }

    // MARK: - Suspended sessions

    /// Runs `work` off the event loop, then `completion` on the loop with its result; the
    /// session's later commands wait, so replies stay in order. Inside EXEC the work runs on
    /// the loop, as redis-server runs it: the transaction's replies are one array, in order, and
    /// nothing else may run in the middle of it.
    func runBlocking<T: Sendable>(
        _ session: ClientSession, _ work: @escaping @Sendable () -> T, completion: @escaping (T) -> Void
    ) {
        guard let pool = blockingPool, !session.inExec else {
            completion(work())
            return
        }
        session.suspended = true
        let loop = eventLoop
        let bound = NIOLoopBound((self, session, completion), eventLoop: loop)
        pool.runIfActive(eventLoop: loop) { work() }.whenComplete { result in
            let (broker, session, completion) = bound.value
            if case .success(let value) = result { completion(value) }
            broker.resume(session)
        }
    }

    /// Continues a suspended session: flushes what it produced and parses its next commands.
    /// A session woken by another client's command (an XADD serving a blocked reader) runs
    /// its next commands after that client's whole read batch, as Redis runs unblocked
    /// clients' input in beforeSleep, not between two commands of the other client's pipeline.
    func resume(_ session: ClientSession) {
        session.suspended = false
        // Off-loop work that closed its own client (ACL LOAD dropping its user) has replied now.
        session.commandReplied()
        if let start = session.silencedReplyStart {
            session.silencedReplyStart = nil
            session.out.buffer.moveWriterIndex(to: max(start, session.out.buffer.readerIndex))
        }
        scheduleFlush(session)
        if let current = processingSession, current !== session {
            let bound = NIOLoopBound((broker: self, session: session), eventLoop: eventLoop)
            eventLoop.execute {
                let (b, s) = bound.value
                guard !s.suspended else { return }
                s.onResume?()
                b.flushPending()
            }
        } else {
            session.onResume?()
        }
        flushPending()
    }

    // MARK: - CLIENT PAUSE

    /// Whether a CLIENT PAUSE (WRITE or ALL) is in force.
    func clientsPaused() -> Bool { pauseEndMs > 0 && pauseEndMs > Clock.nowMs() }

    /// Whether CLIENT PAUSE postpones this command: every command under PAUSE ALL (CLIENT
    /// UNPAUSE and QUIT too, as in Redis 7.0: the pause then ends only by its timeout or from a
    /// connection that is not waiting); under PAUSE WRITE, writes, may-replicate commands and
    /// an EXEC whose queue holds one (`queuedWrites`).
    func isPaused(for spec: CommandSpec, now: Int64, queuedWrites: Bool) -> Bool {
        guard pauseEndMs > now else { return false }
        if pauseWritesOnly { return spec.pausedByWritePause || (queuedWrites && spec.isExec) }
        return true
    }

    func pause(untilMs: Int64, writesOnly: Bool) {
        // A new pause can only extend the current one, as Redis does.
        if untilMs > pauseEndMs || pauseEndMs <= Clock.nowMs() {
            pauseEndMs = max(untilMs, pauseEndMs > Clock.nowMs() ? pauseEndMs : 0)
            pauseWritesOnly = writesOnly
        } else if !writesOnly {
            pauseWritesOnly = false
        }
        pauseTimer?.cancel()
        let delay = min(max(0, pauseEndMs - Clock.nowMs()), 1 << 40)  // ~35 years at most
        pauseTimer = eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(delay)) { [weak self] in self?.unpause() }
    }

    func unpause() {
        pauseEndMs = 0
        pauseTimer?.cancel()
        pauseTimer = nil
        let waiters = pausedWaiters
        pausedWaiters.removeAll()
        guard !waiters.isEmpty else { return }
        // Ended by CLIENT UNPAUSE: the held clients run after the unpausing client's read batch
        // (Redis queues them for beforeSleep), in the order they were held.
        if processingSession != nil {
            let bound = NIOLoopBound(waiters, eventLoop: eventLoop)
            eventLoop.execute { for waiter in bound.value { waiter.resume() } }
        } else {
            for waiter in waiters { waiter.resume() }
        }
    }

    // MARK: - Keyspace

    /// Looks a key up, expiring it first if its time has passed. The clock is read only
    /// for a key that has an expiry.
    /// The live value at `key` (expiring it first when due). `touch` records the access for
    /// OBJECT IDLETIME; commands Redis looks keys up for without touching them (EXISTS, TYPE,
    /// TTL, OBJECT, KEYS, SCAN) pass false.
    /// `stats`: a read lookup, counted in INFO's keyspace_hits/keyspace_misses (Redis's
    /// lookupKeyRead; its write lookups are not counted).
    func lookup(_ db: Int, _ key: Key, now: Int64? = nil, touch: Bool = true, stats: Bool = false) -> StoredValue? {
        if let at = dbs[db].expireTime(key), at < now ?? Clock.nowMs() {
            // While clients are paused the dataset stays as it is: an expired key reads as
            // missing but is deleted (and announced) only after the pause, as in Redis.
            if !clientsPaused() { expireKey(db, key) }
            if stats { self.stats.keyspaceMisses += 1 }
            return nil
        }
        let value = dbs[db].rawValue(key)
        if stats {
            if value == nil { self.stats.keyspaceMisses += 1 } else { self.stats.keyspaceHits += 1 }
        }
        if touch, case .stream(let box)? = value {
            box.touch(nowMs: turnTimeMs, lfu: config.lfuPolicy, logFactor: config.lfuLogFactor, decayMinutes: config.lfuDecayTime)
        }
        return value
    }

    /// A new key's stream object, its `lru` field set as Redis's createObject sets it.
    func newStreamBox(_ stream: consuming Stream = Stream(), journaled: Bool = false) -> StreamBox {
        StreamBox(stream, journaled: journaled, lru: StreamBox.fresh(nowMs: turnTimeMs, lfu: config.lfuPolicy))
    }

    /// An integer argument: Redis's "not an integer" error, or `rangeError` when `valid`
    /// rejects the value (the reply is written; nil tells the caller to stop).
    func integerArgument(
        _ s: ClientSession, _ arg: ByteBuffer, rangeError: String = "", valid: (Int) -> Bool = { _ in true }
    ) -> Int? {
        guard let n = RESPInteger.parse(arg) else {
            replyError(s, "ERR value is not an integer or out of range")
            return nil
        }
        guard valid(n) else {
            replyError(s, rangeError)
            return nil
        }
        return n
    }

    /// A 32-bit integer argument, with Redis's errors (`getIntFromObjectOrReply`).
    func int32Argument(_ s: ClientSession, _ arg: ByteBuffer) -> Int? {
        guard let n = RESPInteger.parse(arg) else {
            replyError(s, "ERR value is not an integer or out of range")
            return nil
        }
        guard n >= Int(Int32.min) && n <= Int(Int32.max) else {
            replyError(s, "ERR value is out of range, value must between -2147483648 and 2147483647")
            return nil
        }
        return n
    }

    /// Removes an expired key and announces it.
    func expireKey(_ db: Int, _ key: Key) {
        dbs[db].remove(key)
        stats.expiredKeys += 1
        touchWatched(db, key)
        signalKeyDeleted(db, key)
        notifyKeyspaceEvent(.expired, "expired", key, db)
    }

    func activeExpireCycle(now: Int64) {
        // Paused clients see a static dataset: no key expires until the pause ends.
        if clientsPaused() { return }
        // Sample up to 20 keys with an expiry per db per cycle, repeating while > 25% expired.
        for db in 0..<dbs.count where !dbs[db].expires.isEmpty {
            var rounds = 0
            while rounds < 16 {
                rounds += 1
                var sampled = 0
                var expired: [Key] = []
                for (key, at) in dbs[db].expires {
                    sampled += 1
                    if at < now { expired.append(key) }
                    if sampled >= 20 { break }
                }
                for key in expired { expireKey(db, key) }
                if sampled == 0 || expired.count * 4 <= sampled { break }
            }
        }
    }

    /// Deletes a key; true if it existed.
    @discardableResult
    func deleteKey(_ db: Int, _ key: Key) -> Bool {
        guard lookup(db, key) != nil else { return false }
        dbs[db].remove(key)
        touchWatched(db, key)
        signalKeyDeleted(db, key)
        return true
    }

    /// Whether a key exists with an expiry time already passed (Redis's keyIsExpired: the
    /// key expires once the clock is past its time).
    func isExpired(_ db: Int, _ key: Key, now: Int64) -> Bool {
        guard let at = dbs[db].expireTime(key) else { return false }
        return at < now
    }

    /// Signals that a key was modified: invalidates WATCHes on it.
    func touchWatched(_ db: Int, _ key: Key) {
        if tracking.active { trackingInvalidate(key, by: executingSession) }
        // Checked first: a lookup in an empty dictionary still hashes the key.
        guard !watchers.isEmpty, let ids = watchers[db]?[key] else { return }
        for id in ids {
            guard let c = clients[id] else { continue }
            // A key watched when already expired: its deletion is no logical change.
            if let i = c.watchedKeys.firstIndex(where: { $0.db == db && $0.key == key }), c.watchedKeys[i].expired {
                if dbs[db].rawValue(key) == nil { c.watchedKeys[i].expired = false }
                continue
            }
            c.watchDirty = true
        }
    }

    /// Invalidates WATCHes on the keys of a db about to be emptied (all dbs when nil), or
    /// (SWAPDB) whose contents `replacement` is about to take, as Redis's
    /// touchAllWatchedKeysInDb: a watch is touched when its key exists on either side, except
    /// that an expired key going away, or staying expired, is no change.
    func touchAllWatched(db: Int?, replacement: Int? = nil) {
        let now = Clock.nowMs()
        for (wdb, keys) in watchers where db == nil || db == wdb {
            for (key, ids) in keys {
                let inEmptied = dbs[wdb].rawValue(key) != nil
                let inReplacement = replacement.map { dbs[$0].rawValue(key) != nil } ?? false
                guard inEmptied || inReplacement else { continue }
                let replacementExpired = replacement.map { isExpired($0, key, now: now) } ?? false
                for id in ids {
                    guard let c = clients[id], let i = c.watchedKeys.firstIndex(where: { $0.db == wdb && $0.key == key }) else { continue }
                    if c.watchedKeys[i].expired {
                        if !inReplacement {
                            c.watchedKeys[i].expired = false
                            continue
                        }
                        if replacementExpired { continue }
                    } else if !inEmptied && replacementExpired {
                        c.watchedKeys[i].expired = true
                        continue
                    }
                    c.watchDirty = true
                }
            }
        }
    }

    // MARK: - Keyspace notifications

    enum EventClass { case generic, stream, expired, evicted }

    func notifyKeyspaceEvent(_ cls: EventClass, _ event: String, _ key: Key, _ db: Int) {
        let flags = config.keyspaceEvents
        guard flags.isEnabled else { return }
        let enabled: Bool
        switch cls {
        case .generic: enabled = flags.generic
        case .stream: enabled = flags.stream
        case .expired: enabled = flags.expired
        case .evicted: enabled = flags.evicted
        }
        guard enabled else { return }
        if flags.keyspace {
            var channel = ByteBuffer(string: "__keyspace@\(db)__:")
            channel.writeImmutableBuffer(key)
            _ = publish(channel: channel, message: ByteBuffer(string: event))
        }
        if flags.keyevent {
            let channel = ByteBuffer(string: "__keyevent@\(db)__:\(event)")
            _ = publish(channel: channel, message: key)
        }
    }
}
