import Crypto
import NIOCore
import RunnelRESP

// Access control lists as redis-server 7.0 has them: users with passwords and flags, and
// selectors (the root one plus any in parentheses) that allow commands, keys and channels.
// Rules, descriptions, errors and checks follow Redis 7.0's acl.c behaviour; the command
// universe is Redis 7.0's full command table (RedisCommandCatalog.swift) plus Runnel's own,
// so rules written for Redis load unchanged and are described the same way.

/// ACL command categories, in Redis's order (ACL CAT, and the order descriptions try them).
enum ACLCategory {
    static let names = [
        "keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "bitmap", "hyperloglog", "geo",
        "stream", "pubsub", "admin", "fast", "slow", "blocking", "dangerous", "connection", "transaction", "scripting",
    ]

    static func bit(_ name: String) -> UInt32? {
        names.firstIndex(of: name.lowercased()).map { UInt32(1) << UInt32($0) }
    }

    static func mask(_ names: some Sequence<String>) -> UInt32 {
        names.reduce(0) { $0 | (bit($1.hasPrefix("@") ? String($1.dropFirst()) : $1) ?? 0) }
    }
}

/// What an ACL key pattern grants, and what a key argument needs.
struct KeyPermission: OptionSet, Hashable {
    let rawValue: UInt8
    static let read = KeyPermission(rawValue: 1)
    static let write = KeyPermission(rawValue: 2)
    static let all: KeyPermission = [.read, .write]
}

/// One key specification of a command (Redis 7's key specs, the subset Runnel's commands
/// use): where the keys begin (an index, or after a keyword) and how far they run.
struct KeySpec {
    enum Begin {
        case index(Int)
        case keyword(String, startFrom: Int)
    }
    let begin: Begin
    let lastKey: Int
    let step: Int
    let limit: Int
    /// ACL permission the keys need: read for `access`, write for `insert`/`delete`/`update`.
    let needs: KeyPermission
    /// The spec's flags as COMMAND GETKEYSANDFLAGS prints them (`RO`, `OW`, `access`, `update` …).
    let flagNames: [String]

    /// Parses the catalog's form `i1/0,1,0/rw,update` or `kSTREAMS@1/-1,1,2/ro,access`.
    init?(_ text: Substring) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        let b = parts[0]
        if b.hasPrefix("i"), let i = Int(b.dropFirst()) {
            begin = .index(i)
        } else if b.hasPrefix("k"), let at = b.firstIndex(of: "@"), let from = Int(b[b.index(after: at)...]) {
            begin = .keyword(String(b[b.index(after: b.startIndex)..<at]), startFrom: from)
        } else {
            return nil
        }
        let range = parts[1].split(separator: ",").compactMap { Int($0) }
        guard range.count == 3 else { return nil }
        (lastKey, step, limit) = (range[0], range[1], range[2])
        var needs: KeyPermission = []
        flagNames = parts[2].split(separator: ",").map { ["ro", "rw", "ow", "rm"].contains($0) ? $0.uppercased() : String($0) }
        for flag in parts[2].split(separator: ",") {
            switch flag {
            case "access": needs.insert(.read)
            case "insert", "delete", "update": needs.insert(.write)
            default: break
            }
        }
        self.needs = needs
    }

    /// Argument positions of this spec's keys; nil when the arguments do not fit the spec.
    func positions(in args: CommandArgs) -> [Int]? {
        let argc = args.count
        var first = 0
        switch begin {
        case .index(let i):
            first = i
        case .keyword(let word, let startFrom):
            let start = startFrom > 0 ? startFrom : argc + startFrom
            let end = startFrom > 0 ? argc - 1 : 0
            var i = start
            while i != end && i >= 0 && i < argc {
                if args[i].readableBytesView.elementsEqual(word.utf8, by: { ($0 | 0x20) == ($1 | 0x20) }) {
                    first = i + 1
                    break
                }
                i += start <= end ? 1 : -1
            }
            if first == 0 { return [] }
        }
        let last: Int
        if lastKey >= 0 {
            last = first + lastKey
        } else if limit == 0 {
            last = argc + lastKey
        } else {
            last = first + ((argc - first) / limit + lastKey)
        }
        if last >= argc || last < first || first >= argc { return nil }
        return Array(stride(from: first, through: last, by: max(1, step)))
    }
}

/// The commands ACL rules can name: Redis 7.0's table and Runnel's, each with a bit index.
final class ACLCommandUniverse {
    struct Command {
        let name: String
        let categories: UInt32
        let parent: Int?
        var children: [Int] = []
        /// A command of Runnel's that Redis 7.0 does not have (XACKDEL, XDELEX).
        var extra = false
    }

    private(set) var commands: [Command] = []
    private var ids: [String: Int] = [:]
    /// Top-level commands in name order (the order descriptions walk them).
    private(set) var topLevel: [Int] = []

    /// Key specs of the commands Runnel implements, by full name.
    private(set) var keySpecs: [String: [KeySpec]] = [:]

    /// Key specs of Runnel's commands that Redis 7.0 does not have.
    static let extraKeySpecs: [String: String] = [
        "xackdel": "i1/0,1,0/rw,delete",
        "xdelex": "i1/0,1,0/rw,delete",
    ]

    init(table: CommandTable) {
        var rows: [(String, UInt32, String, extra: Bool)] = redisCommandCatalog.map {
            ($0.name, ACLCategory.mask($0.categories.split(separator: " ").map(String.init)), $0.keys, false)
        }
        let known = Set(rows.map(\.0))
        for spec in table.all {
            for s in spec.allSpecs where !known.contains(s.fullName) {
                rows.append((s.fullName, ACLCategory.mask(s.categories), Self.extraKeySpecs[s.fullName] ?? "", true))
            }
        }
        rows.sort { $0.0 < $1.0 }
        for (name, categories, keys, extra) in rows {
            let parentName = name.split(separator: "|").count > 1 ? String(name.split(separator: "|")[0]) : nil
            let parent = parentName.flatMap { ids[$0] }
            let id = commands.count
            commands.append(Command(name: name, categories: categories, parent: parent, extra: extra))
            ids[name] = id
            if let parent { commands[parent].children.append(id) } else { topLevel.append(id) }
            if !keys.isEmpty { keySpecs[name] = keys.split(separator: ";").compactMap { KeySpec($0) } }
        }
    }

    var count: Int { commands.count }

    /// `name` or `container|sub`, any case.
    func id(of name: String) -> Int? { ids[name.lowercased()] }

    /// Commands of each category (by bit position), listed once: rule application and the
    /// category fitting of ACL LIST walk them many times.
    private lazy var members: [[Int]] = (0..<ACLCategory.names.count).map { i in
        commands.indices.filter { commands[$0].categories & (UInt32(1) << UInt32(i)) != 0 }
    }

    func categoryMembers(_ bit: UInt32) -> [Int] {
        members[bit.trailingZeroBitCount]
    }

    /// The members Redis 7.0 has: what ACL LIST's category fitting counts, so that Runnel's
    /// extra commands do not tip it to other categories than Redis's (they are then set right
    /// by single-command rules).
    private lazy var redisMembers: [[Int]] = members.map { $0.filter { !commands[$0].extra } }

    func redisCategoryMembers(_ bit: UInt32) -> [Int] {
        redisMembers[bit.trailingZeroBitCount]
    }
}

/// A set of command bits.
struct CommandBits: Equatable {
    private var words: [UInt64]

    init(count: Int, set: Bool = false) {
        words = Array(repeating: set ? ~0 : 0, count: (count + 63) / 64)
    }

    subscript(id: Int) -> Bool {
        get { words[id >> 6] & (1 << UInt64(id & 63)) != 0 }
        set {
            if newValue { words[id >> 6] |= 1 << UInt64(id & 63) } else { words[id >> 6] &= ~(1 << UInt64(id & 63)) }
        }
    }
}

/// Why ACL SETUSER (or an ACL file line) rejected a rule; texts as Redis's.
enum ACLRuleError: Error, Equatable {
    case unknownCommand, syntax, keyAfterAll, channelAfterAll, noSuchPassword, badHash, firstArgOfSubcommand

    var message: String {
        switch self {
        case .unknownCommand: return "Unknown command or category name in ACL"
        case .syntax: return "Syntax error"
        case .keyAfterAll:
            return "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns"
        case .channelAfterAll:
            return "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels"
        case .noSuchPassword: return "The password you are trying to remove from the user does not exist"
        case .badHash: return "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters"
        case .firstArgOfSubcommand: return "Allowing first-arg of a subcommand is not supported"
        }
    }
}

/// Which check refused a command; the order is Redis's (a later kind wins when selectors differ).
enum ACLDenial: Int, Comparable {
    case command = 1, key = 2, auth = 3, channel = 4
    static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }

    var logReason: String {
        switch self {
        case .command: return "command"
        case .key: return "key"
        case .auth: return "auth"
        case .channel: return "channel"
        }
    }
}

/// Permissions for commands, keys and channels: a user's root selector or one in parentheses.
struct ACLSelector {
    struct KeyPattern: Equatable {
        var pattern: [UInt8]
        var grants: KeyPermission
    }

    var allKeys = false
    var allChannels = false
    var allCommands = false
    /// Redis's reserved "future commands" bit: set by `+@all`, cleared by `-@all`.
    var future = false
    var bits: CommandBits
    /// First arguments allowed for otherwise-denied commands (`+select|0`), by command id.
    var firstArgs: [Int: [String]] = [:]
    var keyPatterns: [KeyPattern] = []
    var channels: [[UInt8]] = []

    init(commandCount: Int, allChannels: Bool) {
        bits = CommandBits(count: commandCount)
        self.allChannels = allChannels
    }

    private mutating func setBit(_ id: Int, _ value: Bool) {
        bits[id] = value
        if !value { allCommands = false }
    }

    /// Allows or denies a command and, for a container, all its subcommands.
    mutating func change(_ id: Int, allow: Bool, _ u: ACLCommandUniverse) {
        setBit(id, allow)
        firstArgs[id] = nil
        for child in u.commands[id].children { setBit(child, allow) }
    }

    mutating func changeCategory(_ bit: UInt32, allow: Bool, _ u: ACLCommandUniverse) {
        for id in u.categoryMembers(bit) { change(id, allow: allow, u) }
    }

    /// Applies one selector rule (`~pattern`, `&channel`, `+cmd`, `-@cat`, …).
    mutating func apply(_ op: [UInt8], _ u: ACLCommandUniverse) throws(ACLRuleError) {
        let text = String(decoding: op, as: UTF8.self)
        let lower = text.lowercased()
        if lower == "allkeys" || lower == "~*" {
            allKeys = true
            keyPatterns = []
        } else if lower == "resetkeys" {
            allKeys = false
            keyPatterns = []
        } else if lower == "allchannels" || lower == "&*" {
            allChannels = true
            channels = []
        } else if lower == "resetchannels" {
            allChannels = false
            channels = []
        } else if lower == "allcommands" || lower == "+@all" {
            bits = CommandBits(count: u.count, set: true)
            allCommands = true
            future = true
            firstArgs = [:]
        } else if lower == "nocommands" || lower == "-@all" {
            bits = CommandBits(count: u.count)
            allCommands = false
            future = false
            firstArgs = [:]
        } else if op.first == UInt8(ascii: "~") || op.first == UInt8(ascii: "%") {
            if allKeys { throw .keyAfterAll }
            var grants: KeyPermission = []
            var offset = 1
            if op[0] == UInt8(ascii: "%") {
                while offset < op.count {
                    let c = op[offset] & ~0x20  // upper case for letters
                    if c == UInt8(ascii: "R") && !grants.contains(.read) {
                        grants.insert(.read)
                    } else if c == UInt8(ascii: "W") && !grants.contains(.write) {
                        grants.insert(.write)
                    } else if op[offset] == UInt8(ascii: "~") {
                        offset += 1
                        break
                    } else {
                        throw .syntax
                    }
                    offset += 1
                }
                if grants.isEmpty { throw .syntax }  // `%~…`, `%`: no permission named
            } else {
                grants = .all
            }
            let pattern = Array(op[offset...])
            if ACL.hasSpaces(pattern) { throw .syntax }
            if let i = keyPatterns.firstIndex(where: { $0.pattern == pattern }) {
                keyPatterns[i].grants.formUnion(grants)
            } else {
                keyPatterns.append(KeyPattern(pattern: pattern, grants: grants))
            }
            allKeys = false
        } else if op.first == UInt8(ascii: "&") {
            if allChannels { throw .channelAfterAll }
            let pattern = Array(op.dropFirst())
            if ACL.hasSpaces(pattern) { throw .syntax }
            if !channels.contains(pattern) { channels.append(pattern) }
            allChannels = false
        } else if op.count >= 2 && (op[0] == UInt8(ascii: "+") || op[0] == UInt8(ascii: "-")) && op[1] == UInt8(ascii: "@") {
            guard let bit = ACLCategory.bit(String(lower.dropFirst(2))) else { throw .unknownCommand }
            changeCategory(bit, allow: op[0] == UInt8(ascii: "+"), u)
        } else if op.first == UInt8(ascii: "+") {
            let name = String(lower.dropFirst())
            guard let bar = name.lastIndex(of: "|") else {
                guard let id = u.id(of: name) else { throw .unknownCommand }
                change(id, allow: true, u)
                return
            }
            let base = String(name[..<bar])
            let sub = String(String(decoding: op.dropFirst(), as: UTF8.self).split(separator: "|", omittingEmptySubsequences: false).last ?? "")
            guard let id = u.id(of: base) else { throw .unknownCommand }
            if u.commands[id].parent != nil { throw .firstArgOfSubcommand }
            if sub.isEmpty { throw .syntax }
            if !u.commands[id].children.isEmpty {
                guard let subID = u.id(of: name) else { throw .unknownCommand }
                change(subID, allow: true, u)
            } else {
                var list = firstArgs[id] ?? []
                if !list.contains(where: { $0.lowercased() == sub.lowercased() }) { list.append(sub) }
                firstArgs[id] = list
            }
        } else if op.first == UInt8(ascii: "-") {
            guard let id = u.id(of: String(lower.dropFirst())) else { throw .unknownCommand }
            change(id, allow: false, u)
        } else {
            throw .syntax
        }
    }

    // MARK: Checks

    func allowsCommand(_ spec: CommandSpec, _ args: CommandArgs) -> Bool {
        if allCommands || spec.noAuth || bits[spec.aclID] { return true }
        guard args.count >= 2, let allowed = firstArgs[spec.aclID] else { return false }
        let index = spec.fullName.contains("|") ? 2 : 1
        guard index < args.count else { return false }
        let arg = args[index].string.lowercased()
        return allowed.contains { $0.lowercased() == arg }
    }

    func allowsKey(_ key: ByteBuffer, needs: KeyPermission) -> Bool {
        if allKeys { return true }
        for p in keyPatterns where p.grants.isSuperset(of: needs) {
            if Glob.matches(pattern: p.pattern, key.readableBytesView) { return true }
        }
        return false
    }

    /// A channel (PUBLISH, SUBSCRIBE) matches a pattern; a pattern (PSUBSCRIBE) must equal one.
    func allowsChannel(_ channel: ByteBuffer, literal: Bool) -> Bool {
        if allChannels { return true }
        for p in channels {
            if literal ? channel.readableBytesView.elementsEqual(p) : Glob.matches(pattern: p, channel.readableBytesView) {
                return true
            }
        }
        return false
    }

    /// nil when this selector allows the command; else why not and the argument at fault.
    func check(_ spec: CommandSpec, _ args: CommandArgs) -> (ACLDenial, Int)? {
        if !allowsCommand(spec, args) { return (.command, 0) }
        if !allKeys, !spec.keySpecs.isEmpty {
            for (position, needs) in spec.keyPositions(args) where !allowsKey(args[position], needs: needs) {
                return (.key, position)
            }
        }
        if !allChannels {
            switch spec.channelArgs {
            case .none: break
            case .first:
                if !allowsChannel(args[1], literal: false) { return (.channel, 1) }
            case .all(let literal):
                for i in 1..<args.count where !allowsChannel(args[i], literal: literal) { return (.channel, i) }
            }
        }
        return nil
    }

    // MARK: Description

    /// The command rules as ACL LIST prints them: `+@all` or `-@all`, then the categories
    /// that fit best, then single commands; Redis 7.0's fitting, walked in name order.
    func describeCommands(_ u: ACLCommandUniverse) -> String {
        var rules: [String] = []
        let additive = !future
        var fake = ACLSelector(commandCount: u.count, allChannels: false)
        try? fake.apply(Array((additive ? "-@all" : "+@all").utf8), u)
        rules.append(additive ? "-@all" : "+@all")
        var temp = self
        var applied = Set<Int>()
        while true {
            var best = -1
            var minDiff = Int.max
            var maxSame = 0
            for (j, name) in ACLCategory.names.enumerated() where !applied.contains(j) {
                let bit = ACLCategory.bit(name)!
                var on = 0
                var off = 0
                for id in u.redisCategoryMembers(bit) {
                    if temp.bits[id] { on += 1 } else { off += 1 }
                }
                let diff = additive ? off : on
                let same = additive ? on : off
                if same > diff && (diff < minDiff || (diff == minDiff && same > maxSame)) {
                    best = j
                    minDiff = diff
                    maxSame = same
                }
            }
            if best < 0 { break }
            let bit = ACLCategory.bit(ACLCategory.names[best])!
            fake.changeCategory(bit, allow: additive, u)
            temp.changeCategory(bit, allow: !additive, u)
            rules.append((additive ? "+@" : "-@") + ACLCategory.names[best])
            applied.insert(best)
        }
        func single(_ id: Int) {
            let mine = bits[id]
            if mine != fake.bits[id] {
                rules.append((mine ? "+" : "-") + u.commands[id].name)
                fake.change(id, allow: mine, u)
            }
            for child in u.commands[id].children { single(child) }
            if !mine, let args = firstArgs[id] {
                for a in args { rules.append("+\(u.commands[id].name)|\(a)") }
            }
        }
        for id in u.topLevel { single(id) }
        return rules.joined(separator: " ")
    }

    var keysDescription: String {
        if allKeys { return "~*" }
        return keyPatterns.map { p in
            let prefix = p.grants == .all ? "~" : p.grants == .read ? "%R~" : "%W~"
            return prefix + String(decoding: p.pattern, as: UTF8.self)
        }.joined(separator: " ")
    }

    var channelsDescription: String {
        if allChannels { return "&*" }
        return channels.map { "&" + String(decoding: $0, as: UTF8.self) }.joined(separator: " ")
    }

    /// Keys, channels and commands as one rule list (ACL LIST, ACL files).
    func describe(_ u: ACLCommandUniverse) -> String {
        var parts: [String] = []
        if !keysDescription.isEmpty { parts.append(keysDescription) }
        if allChannels {
            parts.append("&*")
        } else {
            parts.append("resetchannels")
            if !channels.isEmpty { parts.append(channelsDescription) }
        }
        parts.append(describeCommands(u))
        return parts.joined(separator: " ")
    }
}

/// An ACL user. Sessions hold a reference, so changes apply to them at once, as in Redis.
final class ACLUser {
    let name: String
    var enabled = false
    var nopass = false
    /// nil until `sanitize-payload` or `skip-sanitize-payload` is given (Redis prints neither).
    var sanitizePayload: Bool?
    /// SHA-256 hex digests of the passwords.
    var passwords: [String] = []
    /// The root selector first, then selectors from `(…)` rules.
    var selectors: [ACLSelector]
    /// Allowed everything (root selector with all commands, keys and channels): skips checks.
    private(set) var unrestricted = false

    init(name: String, universe: ACLCommandUniverse, allChannelsByDefault: Bool) {
        self.name = name
        selectors = [ACLSelector(commandCount: universe.count, allChannels: allChannelsByDefault)]
    }

    func copyRules(from other: ACLUser) {
        enabled = other.enabled
        nopass = other.nopass
        sanitizePayload = other.sanitizePayload
        passwords = other.passwords
        selectors = other.selectors
        refresh()
    }

    func refresh() {
        let root = selectors[0]
        unrestricted = root.allCommands && root.allKeys && root.allChannels
    }

    /// Applies one ACL SETUSER rule.
    func apply(_ op: [UInt8], _ u: ACLCommandUniverse, allChannelsByDefault: Bool) throws(ACLRuleError) {
        defer { refresh() }
        if op.isEmpty { return }
        let lower = String(decoding: op, as: UTF8.self).lowercased()
        switch lower {
        case "on": enabled = true
        case "off": enabled = false
        case "skip-sanitize-payload": sanitizePayload = false
        case "sanitize-payload": sanitizePayload = true
        case "nopass":
            nopass = true
            passwords = []
        case "resetpass":
            nopass = false
            passwords = []
        case "clearselectors":
            selectors.removeSubrange(1...)
        case "reset":
            nopass = false
            passwords = []
            try selectors[0].apply(Array("resetkeys".utf8), u)
            try selectors[0].apply(Array((allChannelsByDefault ? "allchannels" : "resetchannels").utf8), u)
            enabled = false
            sanitizePayload = true
            selectors.removeSubrange(1...)
            try selectors[0].apply(Array("-@all".utf8), u)
        default:
            switch op[0] {
            case UInt8(ascii: ">"), UInt8(ascii: "#"):
                let hash: String
                if op[0] == UInt8(ascii: ">") {
                    hash = ACL.hashPassword(op.dropFirst())
                } else {
                    hash = String(decoding: op.dropFirst(), as: UTF8.self)
                    guard ACL.isValidHash(op.dropFirst()) else { throw .badHash }
                }
                if !passwords.contains(hash) { passwords.append(hash) }
                nopass = false
            case UInt8(ascii: "<"), UInt8(ascii: "!"):
                let hash: String
                if op[0] == UInt8(ascii: "<") {
                    hash = ACL.hashPassword(op.dropFirst())
                } else {
                    guard ACL.isValidHash(op.dropFirst()) else { throw .badHash }
                    hash = String(decoding: op.dropFirst(), as: UTF8.self)
                }
                guard let i = passwords.firstIndex(of: hash) else { throw .noSuchPassword }
                passwords.remove(at: i)
            case UInt8(ascii: "(") where op.last == UInt8(ascii: ")"):
                var selector = ACLSelector(commandCount: u.count, allChannels: allChannelsByDefault)
                // Unbalanced quotes inside give an empty selector, as in Redis.
                let parts = InlineSplitter.split(bytes: Array(op.dropFirst().dropLast())) ?? []
                for part in parts { try selector.apply(part, u) }
                selectors.append(selector)
            default:
                try selectors[0].apply(op, u)
            }
        }
    }

    /// Whether `password` authenticates this user.
    func accepts(_ password: ByteBuffer) -> Bool {
        guard enabled else { return false }
        if nopass { return true }
        let hash = ACL.hashPassword(password.readableBytesView)
        // Compare every stored hash fully: no early exit that timing could reveal.
        var match = false
        for p in passwords where ACL.constantTimeEquals(p, hash) { match = true }
        return match
    }

    /// nil when some selector allows the command; otherwise Redis's choice of denial: the
    /// most specific kind, and among equal kinds the latest argument.
    func check(_ spec: CommandSpec, _ args: CommandArgs) -> (ACLDenial, Int)? {
        var worst: (ACLDenial, Int) = (.command, 0)
        for s in selectors {
            guard let denial = s.check(spec, args) else { return nil }
            if denial.0 > worst.0 || (denial.0 == worst.0 && denial.1 > worst.1) { worst = denial }
        }
        return worst
    }

    /// The user as ACL LIST and ACL files print it (without the `user <name>` prefix).
    func describe(_ u: ACLCommandUniverse) -> String {
        var parts: [String] = [enabled ? "on" : "off"]
        if nopass { parts.append("nopass") }
        if sanitizePayload == false { parts.append("skip-sanitize-payload") }
        if sanitizePayload == true { parts.append("sanitize-payload") }
        for p in passwords { parts.append("#" + p) }
        var text = parts.joined(separator: " ") + " " + selectors[0].describe(u)
        for s in selectors.dropFirst() { text += " (" + s.describe(u) + ")" }
        return text
    }

    var flagNames: [String] {
        var f = [enabled ? "on" : "off"]
        if nopass { f.append("nopass") }
        if sanitizePayload == false { f.append("skip-sanitize-payload") }
        if sanitizePayload == true { f.append("sanitize-payload") }
        return f
    }
}

/// One ACL LOG entry.
struct ACLLogEntry {
    var count: Int
    let reason: ACLDenial
    let context: String
    let object: String
    let username: String
    var timeMs: Int64
    var clientInfo: String
}

/// The server's users, its ACL log and its ACL file.
final class ACL {
    let universe: ACLCommandUniverse
    /// Users by name; the default user always exists.
    private(set) var users: [String: ACLUser] = [:]
    let defaultUser: ACLUser
    var log: [ACLLogEntry] = []
    /// `acl-pubsub-default`: whether new users start with all channels (Redis 7.0: no).
    var allChannelsByDefault = false

    init(universe: ACLCommandUniverse) {
        self.universe = universe
        let d = ACLUser(name: "default", universe: universe, allChannelsByDefault: false)
        for rule in ["+@all", "~*", "&*", "on", "nopass"] {
            try? d.apply(Array(rule.utf8), universe, allChannelsByDefault: false)
        }
        defaultUser = d
        users["default"] = d
    }

    func user(_ name: String) -> ACLUser? { users[name] }

    var sortedUsers: [ACLUser] { users.values.sorted { Array($0.name.utf8).lexicographicallyPrecedes(Array($1.name.utf8)) } }

    /// A fresh, unlinked user (to stage changes before they are applied).
    func makeUser(_ name: String) -> ACLUser {
        ACLUser(name: name, universe: universe, allChannelsByDefault: allChannelsByDefault)
    }

    func insert(_ user: ACLUser) { users[user.name] = user }

    @discardableResult
    func remove(_ name: String) -> ACLUser? { users.removeValue(forKey: name) }

    /// `requirepass`: the default user's only password, or nopass when empty.
    func setRequirePass(_ password: String) {
        try? defaultUser.apply(Array("resetpass".utf8), universe, allChannelsByDefault: allChannelsByDefault)
        let rule = password.isEmpty ? "nopass" : ">" + password
        try? defaultUser.apply(Array(rule.utf8), universe, allChannelsByDefault: allChannelsByDefault)
    }

    /// Applies rules to a staged copy of the user (or a new one); nothing changes on error.
    /// Returns the staged user, or the failing rule and its error.
    func stage(_ name: String, _ rules: [[UInt8]]) -> Result<ACLUser, StageError> {
        let staged = makeUser(name)
        if let existing = users[name] { staged.copyRules(from: existing) }
        for rule in rules {
            do {
                try staged.apply(rule, universe, allChannelsByDefault: allChannelsByDefault)
            } catch {
                return .failure(StageError(rule: String(decoding: rule, as: UTF8.self), error: error))
            }
        }
        return .success(staged)
    }

    struct StageError: Error {
        let rule: String
        let error: ACLRuleError
    }

    enum MergedRules {
        case rules([[UInt8]])
        /// A `(` never closed, at this argument.
        case unmatched(at: Int)
    }

    /// Joins selectors split over several arguments (`(~a*` `+get)`) into one rule, as Redis does.
    static func mergeSelectorArguments(_ args: [[UInt8]]) -> MergedRules {
        var out: [[UInt8]] = []
        var open: (start: Int, text: [UInt8])?
        for (i, a) in args.enumerated() {
            // A new `(` starts over, dropping a selector left open before it (as Redis).
            if a.first == UInt8(ascii: "(") && a.last != UInt8(ascii: ")") {
                open = (i, a)
                continue
            }
            if var o = open {
                o.text += [UInt8(ascii: " ")] + a
                if a.last == UInt8(ascii: ")") {
                    out.append(o.text)
                    open = nil
                } else {
                    open = o
                }
                continue
            }
            out.append(a)
        }
        if let open { return .unmatched(at: open.start) }
        return .rules(out)
    }

    // MARK: Log

    static let logGroupingMs: Int64 = 60_000

    /// Adds a denial to the ACL log, folding it into a recent identical one (as Redis does).
    func addLog(reason: ACLDenial, context: String, object: String, username: String, clientInfo: String, maxLen: Int) {
        let now = Clock.nowMs()
        for i in log.indices.prefix(10) {
            let e = log[i]
            if e.reason == reason && e.context == context && e.object == object && e.username == username
                && abs(e.timeMs - now) <= Self.logGroupingMs
            {
                var updated = log.remove(at: i)
                updated.count += 1
                updated.timeMs = now
                updated.clientInfo = clientInfo
                log.insert(updated, at: 0)
                return
            }
        }
        log.insert(
            ACLLogEntry(count: 1, reason: reason, context: context, object: object, username: username,
                        timeMs: now, clientInfo: clientInfo), at: 0)
        if log.count > maxLen { log.removeLast(log.count - maxLen) }
    }

    // MARK: Files

    /// The ACL file text for the current users (ACL SAVE): one `user <name> <rules>` per line.
    func fileText() -> String {
        sortedUsers.map { "user \($0.name) \($0.describe(universe))\n" }.joined()
    }

    /// Parses an ACL file into users without touching the current ones. Errors are collected
    /// as Redis reports them, in one line.
    struct FileErrors: Error {
        let text: String
    }

    func parseFile(_ text: String, filename: String) -> Result<[ACLUser], FileErrors> {
        var errors = ""
        var parsed: [String: ACLUser] = [:]
        var order: [String] = []
        for (i, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineNo = i + 1
            let line = rawLine.trimmingCharacters(in: " \t\r\n")
            if line.isEmpty { continue }
            let argv = line.split(separator: " ").map { Array($0.utf8) }
            if argv.isEmpty { continue }
            guard argv[0] == Array("user".utf8), argv.count >= 2 else {
                errors += "\(filename):\(lineNo) should start with user keyword followed by the username. "
                continue
            }
            let name = String(decoding: argv[1], as: UTF8.self)
            if Self.hasSpaces(argv[1]) {
                errors += "'\(filename):\(lineNo): username '\(name)' contains invalid characters. "
                continue
            }
            if parsed[name] != nil {
                errors += "WARNING: Duplicate user '\(name)' found on line \(lineNo). "
                continue
            }
            let user = makeUser(name)
            parsed[name] = user
            order.append(name)
            switch Self.mergeSelectorArguments(Array(argv.dropFirst(2))) {
            case .unmatched:
                errors += "\(filename):\(lineNo): Unmatched parenthesis in selector definition."
            case .rules(let rules):
                for rule in rules {
                    do {
                        try user.apply(rule, universe, allChannelsByDefault: allChannelsByDefault)
                    } catch let e {
                        // Only unknown commands name the rule: others may hold a password.
                        if e == .unknownCommand {
                            let op = String(decoding: rule, as: UTF8.self)
                            errors += "\(filename):\(lineNo): Error in applying operation '\(op)': " + e.message + ". "
                        } else {
                            errors += "\(filename):\(lineNo): " + e.message + ". "
                        }
                    }
                }
            }
        }
        if !errors.isEmpty {
            return .failure(FileErrors(text: errors + "WARNING: ACL errors detected, no change to the previously active ACL rules was performed"))
        }
        return .success(order.compactMap { parsed[$0] })
    }

    /// Replaces every user with `loaded` (the default user keeps its identity; it is reset to
    /// the loaded rules, or to its defaults when the file does not name it). Returns the users
    /// that no longer exist (their clients must be closed).
    func replaceAll(with loaded: [ACLUser]) -> [ACLUser] {
        var removed: [ACLUser] = []
        for (name, u) in users where name != "default" { removed.append(u) }
        users = ["default": defaultUser]
        if let newDefault = loaded.first(where: { $0.name == "default" }) {
            defaultUser.copyRules(from: newDefault)
        } else {
            let fresh = ACL(universe: universe).defaultUser
            defaultUser.copyRules(from: fresh)
        }
        for u in loaded where u.name != "default" { users[u.name] = u }
        return removed
    }

    // MARK: Helpers

    static func hasSpaces(_ bytes: some Sequence<UInt8>) -> Bool {
        bytes.contains { $0 == 0 || $0 == 0x20 || ($0 >= 0x09 && $0 <= 0x0D) }
    }

    static func hashPassword(_ bytes: some Sequence<UInt8>) -> String {
        Broker.hex(SHA256.hash(data: Array(bytes)))
    }

    static func isValidHash(_ bytes: some Collection<UInt8>) -> Bool {
        bytes.count == 64 && bytes.allSatisfy { ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "f")) }
    }

    static func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<x.count { diff |= x[i] ^ y[i] }
        return diff == 0
    }

    /// `bits` random bits as hex characters (ACL GENPASS), from the system's secure generator.
    static func generatePassword(bits: Int) -> String {
        var rng = SystemRandomNumberGenerator()
        let chars = (bits + 3) / 4
        let hex = Array("0123456789abcdef".utf8)
        return String(decoding: (0..<chars).map { _ in hex[Int(rng.next() & 0xF)] }, as: UTF8.self)
    }
}
