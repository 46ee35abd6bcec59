import NIOCore
import OrderedCollections
import RunnelRESP

/// Per-connection state. Owned by the broker's event loop; never shared across threads.
public final class ClientSession {
    public let id: Int
    public var name: ByteBuffer?
    public var db = 0
    public var resp: RESPVersion = .resp2
    /// Set by AUTH/HELLO AUTH (or at connect when the default user needs no password).
    public var authenticated: Bool
    /// The ACL user this connection runs as.
    var user: ACLUser
    public let remoteAddress: String
    public let localAddress: String
    public let createdAtMs: Int64
    public var lastInteractionMs: Int64
    /// The last command run (CLIENT LIST `cmd=`). Not reference-counted: specs live in the
    /// broker's command table as long as the broker, and so longer than any session.
    unowned(unsafe) var lastCommand: CommandSpec?
    public var lastCommandName: String { lastCommand?.fullName ?? "NULL" }
    /// Arguments of the running command that SLOWLOG and MONITOR show as `(redacted)`: the
    /// command marks them as it parses them, as Redis's `redactClientCommandArgument`.
    var redactedArgs: [Int] = []

    /// Replies waiting to be written to the socket.
    public var out: RESPWriter

    // Transactions.
    var inMulti = false
    var multiQueue: [CommandArgs] = []
    var multiError: String?  // first queue-time error, "previous errors" abort
    /// What the queued commands do, together (Redis's mstate.cmd_flags): EXEC is held by CLIENT
    /// PAUSE WRITE, refused past maxmemory and refused with MISCONF as such a command would be.
    var multiFlags: QueuedFlags = []
    /// WATCHed keys; `expired`: the key had expired (but was not yet deleted) when watched, or
    /// a SWAPDB replaced it with such a key. Its deletion is then no change (Redis 7.0).
    var watchedKeys: [(db: Int, key: Key, expired: Bool)] = []
    var watchDirty = false
    /// True while EXEC runs this session's queued commands (blocking reads do not block).
    var inExec = false
    /// How many commands the running EXEC has: CLIENT LIST still shows the transaction then
    /// (flag `x`, `multi=`), as Redis does.
    var execCount = 0
    /// CLIENT NO-EVICT ON (flag `e`). Runnel never evicts clients; the flag is reported.
    var noEvict = false

    // Pub/Sub.
    var channels: Set<Key> = []
    /// In subscription order: PUNSUBSCRIBE without arguments answers in that order, as Redis
    /// 7.0 keeps a client's patterns in a list (its channels in a hash table).
    var patterns: OrderedSet<Key> = []
    var shardChannels: Set<Key> = []
    var subscriptionCount: Int { channels.count + patterns.count }
    var isSubscribed: Bool { !channels.isEmpty || !patterns.isEmpty || !shardChannels.isEmpty }

    // Reply control.
    /// CLIENT REPLY state, as Redis's client flags: `replyOff` (OFF), `replySkip` (the running
    /// command is skipped), `replySkipNext` (SKIP was asked: the next command is skipped).
    var replyOff = false
    var replySkip = false
    var replySkipNext = false
    /// Where the silenced part of the running command's output starts (while `replyOff` or
    /// `replySkip`); cut when the command ends or CLIENT REPLY ON / RESET turn replies back on.
    var silenceFrom: Int?
    var repliesSilenced: Bool { replyOff || replySkip }
    /// Where the reply of a suspended command (a blocking read, off-loop work) that CLIENT
    /// REPLY OFF or SKIP silences will start: cut there when it resumes, as Redis keeps the
    /// client's reply flags until a blocked command ends.
    var silencedReplyStart: Int?
    /// Pushes (Pub/Sub confirmations and messages, invalidations) written while this client's
    /// own command ran under CLIENT REPLY OFF/SKIP: kept when the command's replies are cut,
    /// as Redis sends pushes whatever the reply mode.
    var keptPushes: [Range<Int>] = []

    /// Set when the connection must close once its pending replies are written.
    var closeAfterReply = false {
        didSet { if closeAfterReply && closeAt == nil { closeAt = out.buffer.writerIndex } }
    }
    /// Set while a command that closes its own client runs: becomes `closeAfterReply` when the
    /// command ends, so its whole reply goes out (Redis's CLIENT_CLOSE_AFTER_COMMAND).
    var closeAfterCommand = false

    /// The running command has written its whole reply: a close it asked for
    /// (`closeAfterCommand`) now waits only for the output to be written.
    @inline(__always)
    func commandReplied() {
        if closeAfterCommand {
            closeAfterCommand = false
            closeAfterReply = true
        }
    }
    /// Where the output ends for a client closing after its reply: what is written later (the
    /// rest of an EXEC after a CLIENT KILL of itself, messages) is dropped, as Redis stops
    /// adding replies to such a client.
    var closeAt: Int?
    /// Set when the connection should be closed as soon as possible (CLIENT KILL, limits).
    var killed = false
    /// In MONITOR mode: every command the server runs is copied here.
    var isMonitor = false
    /// CLIENT TRACKING mode, and invalidations this client's running command caused for it.
    var tracking = TrackingMode()
    /// The REDIRECT of the last CLIENT TRACKING ON (0 for none). Unlike `tracking`, kept when
    /// tracking is turned off, as Redis keeps `client_tracking_redirection`: invalidations this
    /// client caused in a command that then turned tracking off (inside EXEC) still go there.
    /// CLIENT LIST, GETREDIR and TRACKINGINFO show it only while tracking is on.
    var trackingRedirection = 0
    var pendingInvalidations: [Invalidation] = []
    /// Time the pubsub output buffer first exceeded the soft limit, if it still does.
    var softLimitSinceMs: Int64?

    /// Writes queued bytes to the socket; installed by the connection handler.
    var flushOut: ((ByteBuffer) -> Void)?
    /// Closes the connection; installed by the connection handler.
    var close: (() -> Void)?
    /// Bytes queued in the channel but not yet written to the socket.
    var bufferedBytes: () -> Int = { 0 }
    /// False while the channel holds more than its write high-water mark (64 KiB).
    var isWritable: () -> Bool = { true }
    /// Replies that wait for the log: bytes of `out` from `start` on may be sent once the
    /// log is released up to `offset`. Both ascend.
    var holdMarks: [(offset: UInt64, start: Int)] = []
    /// True while this session is in the broker's pending-flush list.
    var flushScheduled = false

    /// True while a command of this session waits for work off the event loop (or, later,
    /// for data or durability). Its later commands stay unparsed until `Broker.resume`.
    var suspended = false
    /// Continues processing this session's input; installed by the connection handler.
    var onResume: (() -> Void)?

    init(id: Int, remoteAddress: String, localAddress: String, nowMs: Int64, user: ACLUser, authenticated: Bool) {
        self.user = user
        self.id = id
        self.remoteAddress = remoteAddress
        self.localAddress = localAddress
        self.createdAtMs = nowMs
        self.lastInteractionMs = nowMs
        self.authenticated = authenticated
        self.out = RESPWriter(buffer: ByteBufferAllocator().buffer(capacity: 512), version: .resp2)
    }

    /// Flags as CLIENT LIST shows them, in Redis's order (`blocked`: waiting in a blocking read).
    func flagString(blocked: Bool) -> String {
        var f = ""
        if isMonitor { f += "O" }
        if isSubscribed { f += "P" }
        if inMulti || inExec { f += "x" }
        if blocked { f += "b" }
        if tracking.on { f += "t" }
        if tracking.brokenRedirect { f += "R" }
        if tracking.bcast { f += "B" }
        if watchDirty { f += "d" }
        if closeAfterReply { f += "c" }
        if noEvict { f += "e" }
        return f.isEmpty ? "N" : f
    }
}

/// The union of the queued commands' properties that decide how EXEC is checked.
struct QueuedFlags: OptionSet {
    let rawValue: UInt8
    /// Writes or may replicate: CLIENT PAUSE WRITE holds EXEC.
    static let pausedByWritePause = QueuedFlags(rawValue: 1)
    /// May add data (CMD_DENYOOM): past maxmemory EXEC is refused.
    static let denyOOM = QueuedFlags(rawValue: 2)
    /// Writes (CMD_WRITE): while the log cannot be written EXEC is refused with MISCONF.
    static let write = QueuedFlags(rawValue: 4)
}
