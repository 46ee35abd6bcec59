import NIOCore

/// What a command handler receives: the broker, the calling session and the arguments
/// (argument 0 is the command name; for subcommands argument 1 is the subcommand).
typealias CommandHandler = (Broker, ClientSession, [ByteBuffer]) -> Void

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
    }

    var isWrite: Bool { flags.contains("write") }
    var allowedInSubscribe: Bool {
        ["subscribe", "unsubscribe", "psubscribe", "punsubscribe", "ssubscribe", "sunsubscribe", "ping", "quit", "reset"]
            .contains(fullName)
    }
    var noMulti: Bool { flags.contains("no_multi") }
    var noAuth: Bool { flags.contains("no_auth") }
    /// Commands a transaction runs right away instead of queueing.
    var runsInMulti: Bool { ["exec", "discard", "multi", "watch", "quit", "reset"].contains(fullName) }

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

    func lookup(_ name: ByteBuffer) -> CommandSpec? {
        if let spec = byBytes[name] { return spec }
        return byName[name.lowercasedString]
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

    /// `<CONTAINER> HELP`: lines as status replies.
    mutating func help(_ parent: String, _ lines: [String]) {
        sub(parent, "help", 2, ["loading", "stale"], ["@slow"], "Show helpful text about the different subcommands") { _, s, _ in
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
        commands = r.table
    }
}
