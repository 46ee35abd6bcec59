import NIOCore
import RunnelRESP
import Prometheus

/// What a command handler receives: the broker, the calling session and the arguments
/// (argument 0 is the command name; for subcommands argument 1 is the subcommand).
typealias CommandHandler = (Broker, ClientSession, CommandArgs) -> Void

/// Static description of a command: what COMMAND INFO/DOCS report and how dispatch treats it.
final class CommandSpec {
    /// Full name as Redis prints it: `ping`, `config|get`.
    let fullName: String
    /// Name without the container: `ping`, `get`.
    let name: String
    let arity: Int
    let flags: [String]
    let firstKey: Int
    let lastKey: Int
    let keyStep: Int
    let categories: [String]
    let group: String
    let summary: String
    let since: String
    let complexity: String
    var subcommands: [String: CommandSpec] = [:]
    let handler: CommandHandler?

    // Statistics for INFO commandstats.
    var calls = 0
    var usec = 0
    var rejectedCalls = 0
    var failedCalls = 0
    /// Its latency histogram while Prometheus metrics are on (see BrokerMetrics).
    var latencyHistogram: DurationHistogram?
    /// Call durations in ns as redis-server's `latency-tracking` keeps them (LATENCY
    /// HISTOGRAM, INFO latencystats); made on the first call.
    var latencyTracker: LatencyCounts?

    // ACL (set up once the table is complete; see `Broker.setUpACL`).
    /// Bit of this command in ACL command sets.
    var aclID = 0
    /// Key specifications (positions and the permission each key needs).
    var keySpecs: [KeySpec] = []
    /// Which arguments are Pub/Sub channels (checked against a user's channel patterns).
    var channelArgs: ChannelArgs = .none
    enum ChannelArgs {
        case none
        /// PUBLISH, SPUBLISH: the first argument.
        case first
        /// SUBSCRIBE, SSUBSCRIBE (patterns match them) and PSUBSCRIBE (`literal`: patterns must equal them).
        case all(literal: Bool)
    }

    init(
        _ fullName: String, arity: Int, flags: [String], keys: (Int, Int, Int) = (0, 0, 0), categories: [String],
        group: String, summary: String, since: String = "1.0.0", complexity: String = "O(1)",
        handler: CommandHandler?
    ) {
        self.fullName = fullName
        self.name = fullName.split(separator: "|").last.map(String.init) ?? fullName
        self.arity = arity
        self.flags = flags
        (firstKey, lastKey, keyStep) = keys
        self.categories = categories
        self.group = group
        self.summary = summary
        self.since = since
        self.complexity = complexity
        self.handler = handler
        isWrite = flags.contains("write")
        isReadonly = flags.contains("readonly")
        denyOOM = flags.contains("denyoom")
        isFast = flags.contains("fast")
        allowedInSubscribe = ["subscribe", "unsubscribe", "psubscribe", "punsubscribe", "ssubscribe", "sunsubscribe",
                              "ping", "quit", "reset"].contains(fullName)
        noMulti = flags.contains("no_multi")
        noAuth = flags.contains("no_auth")
        skipSlowlog = flags.contains("skip_slowlog")
        runsInMulti = ["exec", "discard", "multi", "watch", "quit", "reset"].contains(fullName)
        pausedByWritePause = isWrite || flags.contains("may_replicate")
        isExec = fullName == "exec"
    }

    // Dispatch properties, computed once so the hot path does no string work.
    let isWrite: Bool
    /// Reads keys without changing them (the keys a tracking client reads are remembered).
    let isReadonly: Bool
    /// Refused while stream data is over `maxmemory` (commands that can grow it).
    let denyOOM: Bool
    /// O(1)-ish commands: slow ones are latency events `fast-command`, others `command`.
    let isFast: Bool
    let allowedInSubscribe: Bool
    let noMulti: Bool
    let noAuth: Bool
    let skipSlowlog: Bool
    /// Commands a transaction runs right away instead of queueing.
    let runsInMulti: Bool
    /// Paused by CLIENT PAUSE WRITE (writes, and commands that may publish).
    let pausedByWritePause: Bool
    /// EXEC, which CLIENT PAUSE WRITE holds when its queue has a write.
    let isExec: Bool

    func arityOK(_ argc: Int) -> Bool {
        arity > 0 ? argc == arity : argc >= -arity
    }

    /// This command and its subcommands, depth first.
    var allSpecs: [CommandSpec] {
        [self] + subcommands.values.sorted { $0.fullName < $1.fullName }
    }
}

/// Name → command lookup that accepts any letter case without allocating for the common
/// all-lowercase and all-uppercase spellings.
struct CommandTable {
    private(set) var byName: [String: CommandSpec] = [:]
    private var byBytes: [ByteBuffer: CommandSpec] = [:]

    mutating func register(_ spec: CommandSpec) {
        byName[spec.fullName] = spec
        byBytes[ByteBuffer(string: spec.fullName)] = spec
        byBytes[ByteBuffer(string: spec.fullName.uppercased())] = spec
    }

    /// The last name looked up and its spec: pipelines repeat the same command, and a byte
    /// comparison is cheaper than hashing.
    private var lastName = ByteBuffer()
    private var lastSpec: CommandSpec?

    mutating func lookup(_ name: ByteBuffer) -> CommandSpec? {
        if let lastSpec, name == lastName { return lastSpec }
        return find(name)
    }

    /// The command named by argument `i`: a repeat of the last name found is matched in
    /// place, without making a slice of the argument.
    @inline(__always)
    mutating func lookup(_ args: CommandArgs, _ i: Int) -> CommandSpec? {
        if let lastSpec, args.bytesEqual(i, lastName) { return lastSpec }
        return find(args[i])
    }

    /// Looks `name` up in the tables (not the last name) and remembers what it finds.
    private mutating func find(_ name: ByteBuffer) -> CommandSpec? {
        let spec = byBytes[name] ?? byName[name.lowercasedString]
        if let spec {
            lastName = name.detached
            lastSpec = spec
        }
        return spec
    }

    func lookup(_ name: String) -> CommandSpec? { byName[name.lowercased()] }

    var all: [CommandSpec] { byName.values.sorted { $0.fullName < $1.fullName } }
}

extension CommandSpec {
    func subcommand(_ name: ByteBuffer) -> CommandSpec? { subcommands[name.lowercasedString] }
}

/// Builds the command table with short declarations.
struct CommandRegistrar {
    var table = CommandTable()

    mutating func add(
        _ name: String, _ arity: Int, _ flags: [String], _ categories: [String], _ group: String, _ summary: String,
        _ since: String = "1.0.0", keys: (Int, Int, Int) = (0, 0, 0), complexity: String = "O(1)",
        _ handler: @escaping CommandHandler
    ) {
        table.register(
            CommandSpec(
                name, arity: arity, flags: flags, keys: keys, categories: categories, group: group, summary: summary,
                since: since, complexity: complexity, handler: handler))
    }

    /// A container command (CONFIG, CLIENT…) whose subcommands are added with `sub`.
    mutating func container(_ name: String, group: String, summary: String, since: String, arity: Int = -2) {
        table.register(
            CommandSpec(
                name, arity: arity, flags: [], categories: ["@slow"], group: group, summary: summary, since: since,
                handler: nil))
    }

    mutating func sub(
        _ parent: String, _ name: String, _ arity: Int, _ flags: [String], _ categories: [String], _ summary: String,
        since: String = "1.0.0", keys: (Int, Int, Int) = (0, 0, 0), _ handler: @escaping CommandHandler
    ) {
        guard let p = table.lookup(parent) else { return }
        p.subcommands[name] = CommandSpec(
            "\(parent)|\(name)", arity: arity, flags: flags, keys: keys, categories: categories, group: p.group,
            summary: summary, since: since, handler: handler)
    }

    /// `<CONTAINER> HELP`: lines as status replies. Categories as redis-server gives them.
    /// The ACL categories redis-server 7.0 gives a command (`name` or `parent|sub`).
    static func catalogCategories(_ name: String) -> [String]? {
        redisCommandCatalog.first { $0.name == name }?.categories.split(separator: " ").map { "@" + $0 }
    }

    mutating func help(_ parent: String, _ lines: [String]) {
        let categories = Self.catalogCategories("\(parent)|help") ?? ["@slow"]
        sub(parent, "help", 2, ["loading", "stale"], categories, "Show helpful text about the different subcommands") { _, s, _ in
            s.out.arrayHeader(lines.count)
            for l in lines { s.out.simpleString(l) }
        }
    }
}

extension Broker {
    func registerAllCommands() {
        var r = CommandRegistrar()
        Self.registerConnectionCommands(&r)
        Self.registerKeyspaceCommands(&r)
        Self.registerServerCommands(&r)
        Self.registerTransactionCommands(&r)
        Self.registerPubSubCommands(&r)
        Self.registerStreamCommands(&r)
        Self.registerACLCommands(&r)
        Self.registerIntrospectionCommands(&r)
        Self.registerMigrateCommand(&r)
        commands = r.table
        setUpACL()
    }
}
