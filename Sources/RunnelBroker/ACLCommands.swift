import NIOCore
import RunnelRESP
import RunnelStorage

#if canImport(Glibc)
import Glibc
#endif

/// Error from loading users at startup (`user` lines in the config file, `aclfile`).
public struct ACLStartupError: Error, CustomStringConvertible {
    public let description: String
}

extension Broker {
    // MARK: - Setup

    /// Builds the ACL universe, gives each command its ACL id, key specs and channel
    /// arguments, and applies `requirepass`.
    func setUpACL() {
        let universe = ACLCommandUniverse(table: commands)
        for top in commands.all {
            for spec in top.allSpecs {
                spec.aclID = universe.id(of: spec.fullName) ?? 0
                spec.keySpecs = universe.keySpecs[spec.fullName] ?? []
                switch spec.fullName {
                case "publish", "spublish": spec.channelArgs = .first
                case "subscribe", "ssubscribe": spec.channelArgs = .all(literal: false)
                case "psubscribe": spec.channelArgs = .all(literal: true)
                default: spec.channelArgs = .none
                }
            }
        }
        acl = ACL(universe: universe)
        acl.allChannelsByDefault = config.aclPubsubDefault == "allchannels"
        if !config.requirepass.isEmpty { acl.setRequirePass(config.requirepass) }
    }

    /// Loads users from the config file's `user` lines or from `aclfile` (not both, as Redis).
    /// `aclFile` is the ACL file's text, or why it could not be read.
    public func loadUsersAtStartup(aclFile: Result<String, StorageError>?) throws(ACLStartupError) {
        if !config.aclfile.isEmpty && !config.userLines.isEmpty {
            throw ACLStartupError(description: "Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is invalid. This setup is very likely to lead to configuration errors and security holes, please define either an ACL file or declare users directly in your redis.conf, but not both.")
        }
        for line in config.userLines {
            let name = line[0]
            if ACL.hasSpaces(Array(name.utf8)) { throw ACLStartupError(description: "Spaces not allowed in ACL usernames") }
            let rules: [[UInt8]]
            switch ACL.mergeSelectorArguments(line.dropFirst().map { Array($0.utf8) }) {
            case .rules(let merged): rules = merged
            case .unmatched: throw ACLStartupError(description: "Unmatched parenthesis in selector definition for the user named '\(name)'")
            }
            let user: ACLUser
            if name == "default" {
                user = acl.defaultUser
                try? user.apply(Array("reset".utf8), acl.universe, allChannelsByDefault: acl.allChannelsByDefault)
            } else {
                user = acl.user(name) ?? acl.makeUser(name)
                acl.insert(user)
            }
            for rule in rules {
                do {
                    try user.apply(rule, acl.universe, allChannelsByDefault: acl.allChannelsByDefault)
                } catch {
                    throw ACLStartupError(description: "Error loading ACL rule '\(String(decoding: rule, as: UTF8.self))' for the user named '\(name)': \(error.message)")
                }
            }
        }
        guard !config.aclfile.isEmpty else { return }
        let text: String
        switch aclFile {
        case .success(let t): text = t
        case .failure(let error):
            var code = EIO
            if case .io(_, _, let e) = error { code = e }
            throw ACLStartupError(description: "Aborting Runnel startup because of ACL errors: Error loading ACLs, opening file '\(config.aclfile)': \(String(cString: strerror(code)))")
        case nil:
            throw ACLStartupError(description: "Aborting Runnel startup because of ACL errors: the ACL file '\(config.aclfile)' was not read")
        }
        switch acl.parseFile(text, filename: config.aclfile) {
        case .success(let users): _ = acl.replaceAll(with: users)
        case .failure(let errors): throw ACLStartupError(description: "Aborting Runnel startup because of ACL errors: \(errors.text)")
        }
    }

    // MARK: - Checks

    /// Whether `session` must authenticate before running commands other than AUTH/HELLO.
    @inline(__always)
    func authRequired(_ session: ClientSession) -> Bool {
        (!acl.defaultUser.nopass || !acl.defaultUser.enabled) && !session.authenticated
    }

    /// Authenticates `session` as `user`; false (and an ACL log entry) on a bad pair.
    func authenticate(_ session: ClientSession, user name: String, password: ByteBuffer, command: ByteBuffer) -> Bool {
        if let user = acl.user(name), user.accepts(password) {
            session.user = user
            session.authenticated = true
            return true
        }
        acl.addLog(
            reason: .auth, context: session.inMulti ? "multi" : "toplevel", object: command.string, username: name,
            clientInfo: clientInfoLine(session), maxLen: config.acllogMaxLen)
        return false
    }

    /// Refuses a command the session's user may not run, with Redis's NOPERM error.
    func rejectForACL(_ session: ClientSession, _ spec: CommandSpec, _ args: CommandArgs, _ denial: (ACLDenial, Int)) {
        logDenial(session, spec, args, denial, context: session.inMulti ? "multi" : "toplevel")
        switch denial.0 {
        case .command:
            reject(session, spec, "NOPERM this user has no permissions to run the '\(spec.fullName)' command")
        case .key:
            reject(session, spec, "NOPERM this user has no permissions to access one of the keys used as arguments")
        case .channel, .auth:
            reject(session, spec, "NOPERM this user has no permissions to access one of the channels used as arguments")
        }
    }

    func logDenial(_ session: ClientSession, _ spec: CommandSpec, _ args: CommandArgs, _ denial: (ACLDenial, Int), context: String) {
        let object = denial.0 == .command ? spec.fullName : args[denial.1].string
        acl.addLog(
            reason: denial.0, context: context, object: object, username: session.user.name,
            clientInfo: clientInfoLine(session), maxLen: config.acllogMaxLen)
    }

    /// EXEC re-checks each queued command: rules may have changed since it was queued.
    func execDenied(_ session: ClientSession, _ spec: CommandSpec, _ args: CommandArgs) -> Bool {
        guard !session.user.unrestricted, let denial = session.user.check(spec, args) else { return false }
        logDenial(session, spec, args, denial, context: "multi")
        let reason: String
        switch denial.0 {
        case .command: reason = "no permission to execute the command or subcommand"
        case .key: reason = "no permission to touch the specified keys"
        case .channel: reason = "no permission to access one of the channels used as arguments"
        case .auth: reason = "no permission"
        }
        replyError(session, "NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: \(reason)")
        return true
    }

    /// Closes the connections authenticated as a user that no longer exists.
    func closeClients(of user: ACLUser, current: ClientSession) {
        for c in clients.values where c.user === user {
            c.user = acl.defaultUser
            c.authenticated = false
            kill(c, current: current)
        }
    }

    /// After ACL SETUSER narrows a user's channels, its subscribers that now hold channels
    /// or patterns outside them are disconnected (as Redis does).
    func killSubscribersIfNeeded(new: ACLUser, original: ACLUser, current: ClientSession) {
        if new.selectors.contains(where: \.allChannels) { return }
        let upcoming = new.selectors.flatMap(\.channels)
        let kept = original.selectors.flatMap(\.channels).allSatisfy { upcoming.contains($0) }
        if kept && !original.selectors.contains(where: \.allChannels) { return }
        func allowed(_ channel: Key, literal: Bool) -> Bool {
            let bytes = Array(channel.readableBytesView)
            return upcoming.contains { literal ? $0 == bytes : Glob.matches(pattern: $0, bytes) }
        }
        for c in clients.values.sorted(by: { $0.id < $1.id }) where c.user === original && c.isSubscribed {
            let violates = c.patterns.contains { !allowed($0, literal: true) }
                || c.channels.contains { !allowed($0, literal: false) }
                || c.shardChannels.contains { !allowed($0, literal: false) }
            if violates { kill(c, current: current) }
        }
    }

    // MARK: - Commands

    static func registerACLCommands(_ r: inout CommandRegistrar) {
        r.container("acl", group: "server", summary: "A container for Access List Control commands", since: "6.0.0")
        let admin = ["admin", "noscript", "loading", "stale"]
        let adminCats = ["@admin", "@slow", "@dangerous"]
        let plain = ["noscript", "loading", "stale"]
        r.sub("acl", "setuser", -3, admin, adminCats, "Modify or create the rules for a specific ACL user", since: "6.0.0") { b, s, a in
            for i in 2..<a.count { b.redact(s, i) }  // the whole rule list, as Redis
            b.aclSetUser(s, a)
        }
        r.sub("acl", "deluser", -3, admin, adminCats, "Remove the specified ACL users and the associated rules", since: "6.0.0") { b, s, a in
            let names = a.dropFirst(2).map(\.string)
            if names.contains("default") {
                b.replyError(s, "ERR The 'default' user cannot be removed")
                return
            }
            var deleted = 0
            for name in names {
                guard let u = b.acl.remove(name) else { continue }
                b.closeClients(of: u, current: s)
                deleted += 1
            }
            s.out.integer(deleted)
        }
        r.sub("acl", "getuser", 3, admin, adminCats, "Get the rules for a specific ACL user", since: "6.0.0") { b, s, a in
            guard let u = b.acl.user(a[2].string) else {
                s.out.null()
                return
            }
            b.writeUser(s, u)
        }
        r.sub("acl", "list", 2, admin, adminCats, "List the current ACL rules in ACL config file format", since: "6.0.0") { b, s, _ in
            let users = b.acl.sortedUsers
            s.out.arrayHeader(users.count)
            for u in users { s.out.bulk("user \(u.name) \(u.describe(b.acl.universe))") }
        }
        r.sub("acl", "users", 2, admin, adminCats, "List the username of all the configured ACL rules", since: "6.0.0") { b, s, _ in
            let users = b.acl.sortedUsers
            s.out.arrayHeader(users.count)
            for u in users { s.out.bulk(u.name) }
        }
        r.sub("acl", "whoami", 2, plain, ["@slow"], "Return the name of the user associated to the current connection", since: "6.0.0") { _, s, _ in
            s.out.bulk(s.user.name)
        }
        r.sub("acl", "cat", -2, plain, ["@slow"], "List the ACL categories or the commands inside a category", since: "6.0.0") { b, s, a in
            guard a.count <= 3 else {
                b.replyError(s, Self.subcommandSyntaxError(a))
                return
            }
            if a.count == 2 {
                s.out.arrayHeader(ACLCategory.names.count)
                for n in ACLCategory.names { s.out.bulk(n) }
                return
            }
            guard let bit = ACLCategory.bit(a[2].string) else {
                b.replyError(s, "ERR Unknown category '\(a[2].cString(limit: 128))'")
                return
            }
            // Runnel's own commands (ACL rules also accept the rest of Redis's table).
            let names = b.commands.all.flatMap(\.allSpecs).filter { ACLCategory.mask($0.categories) & bit != 0 }.map(\.fullName)
            s.out.arrayHeader(names.count)
            for n in names { s.out.bulk(n) }
        }
        r.sub("acl", "genpass", -2, plain, ["@slow"], "Generate a pseudorandom secure password to use for ACL users", since: "6.0.0") { b, s, a in
            guard a.count <= 3 else {
                b.replyError(s, Self.subcommandSyntaxError(a))
                return
            }
            var bits = 256
            if a.count == 3 {
                guard let v = RESPInteger.parse(a[2]) else {
                    b.replyError(s, "ERR value is not an integer or out of range")
                    return
                }
                bits = v
            }
            guard bits > 0 && bits <= 4096 else {
                b.replyError(s, "ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096")
                return
            }
            s.out.bulk(ACL.generatePassword(bits: bits))
        }
        r.sub("acl", "log", -2, admin, adminCats, "List latest events denied because of ACLs in place", since: "6.0.0") { b, s, a in
            b.aclLog(s, a)
        }
        r.sub("acl", "dryrun", -4, admin, adminCats, "Returns whether the user can execute the given command without executing the command.", since: "7.0.0") { b, s, a in
            b.aclDryRun(s, a)
        }
        r.sub("acl", "save", 2, admin, adminCats, "Save the current ACL rules in the configured ACL file", since: "6.0.0") { b, s, _ in
            b.aclSave(s)
        }
        r.sub("acl", "load", 2, admin, adminCats, "Reload the ACLs from the configured ACL file", since: "6.0.0") { b, s, _ in
            b.aclLoad(s)
        }
        r.help("acl", [
            "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CAT [<category>]",
            "    List all commands that belong to <category>, or all command categories",
            "    when no category is specified.",
            "DELUSER <username> [<username> ...]",
            "    Delete a list of users.",
            "DRYRUN <username> <command> [<arg> ...]",
            "    Returns whether the user can execute the given command without executing the command.",
            "GETUSER <username>",
            "    Get the user's details.",
            "GENPASS [<bits>]",
            "    Generate a secure 256-bit user password. The optional `bits` argument can",
            "    be used to specify a different size.",
            "LIST",
            "    Show users details in config file format.",
            "LOAD",
            "    Reload users from the ACL file.",
            "LOG [<count> | RESET]",
            "    Show the ACL log entries.",
            "SAVE",
            "    Save the current config to the ACL file.",
            "SETUSER <username> <attribute> [<attribute> ...]",
            "    Create or modify a user with the specified attributes.",
            "USERS",
            "    List all the registered usernames.",
            "WHOAMI",
            "    Return the current connection username.",
            "HELP",
            "    Prints this help.",
        ])
    }

    func aclSetUser(_ s: ClientSession, _ a: CommandArgs) {
        let name = a[2].string
        if ACL.hasSpaces(a[2].readableBytesView) {
            replyError(s, "ERR Usernames can't contain spaces or null characters")
            return
        }
        let rules: [[UInt8]]
        switch ACL.mergeSelectorArguments(a.dropFirst(3).map { Array($0.readableBytesView) }) {
        case .rules(let merged): rules = merged
        case .unmatched(let index):
            replyError(s, "ERR Unmatched parenthesis in acl selector starting at '\(a[index + 3].errorText)'.")
            return
        }
        switch acl.stage(name, rules) {
        case .failure(let e):
            replyError(s, "ERR Error in ACL SETUSER modifier '\(e.rule)': \(e.error.message)")
        case .success(let staged):
            if let existing = acl.user(name) {
                killSubscribersIfNeeded(new: staged, original: existing, current: s)
                existing.copyRules(from: staged)
            } else {
                acl.insert(staged)
            }
            s.out.ok()
        }
    }

    func writeUser(_ s: ClientSession, _ u: ACLUser) {
        func selectorFields(_ sel: ACLSelector) {
            s.out.bulk("commands" as StaticString)
            s.out.bulk(sel.describeCommands(acl.universe))
            s.out.bulk("keys" as StaticString)
            s.out.bulk(sel.keysDescription)
            s.out.bulk("channels" as StaticString)
            s.out.bulk(sel.channelsDescription)
        }
        s.out.mapHeader(6)
        s.out.bulk("flags" as StaticString)
        let flags = u.flagNames
        s.out.setHeader(flags.count)
        for f in flags { s.out.bulk(f) }
        s.out.bulk("passwords" as StaticString)
        s.out.arrayHeader(u.passwords.count)
        for p in u.passwords { s.out.bulk(p) }
        selectorFields(u.selectors[0])
        s.out.bulk("selectors" as StaticString)
        s.out.arrayHeader(u.selectors.count - 1)
        for sel in u.selectors.dropFirst() {
            s.out.mapHeader(3)
            selectorFields(sel)
        }
    }

    func aclLog(_ s: ClientSession, _ a: CommandArgs) {
        guard a.count <= 3 else {
            replyError(s, Self.subcommandSyntaxError(a))
            return
        }
        var count = 10
        if a.count == 3 {
            if a[2].equalsIgnoringCase("reset") {
                acl.log = []
                s.out.ok()
                return
            }
            guard let v = RESPInteger.parse(a[2]) else {
                replyError(s, "ERR value is not an integer or out of range")
                return
            }
            count = max(0, v)
        }
        let entries = acl.log.prefix(count)
        let now = Clock.nowMs()
        s.out.arrayHeader(entries.count)
        for e in entries {
            s.out.mapHeader(7)
            s.out.bulk("count" as StaticString)
            s.out.integer(e.count)
            s.out.bulk("reason" as StaticString)
            s.out.bulk(e.reason.logReason)
            s.out.bulk("context" as StaticString)
            s.out.bulk(e.context)
            s.out.bulk("object" as StaticString)
            s.out.bulk(e.object)
            s.out.bulk("username" as StaticString)
            s.out.bulk(e.username)
            s.out.bulk("age-seconds" as StaticString)
            s.out.double(Double(now - e.timeMs) / 1000)
            s.out.bulk("client-info" as StaticString)
            s.out.bulk(e.clientInfo)
        }
    }

    func aclDryRun(_ s: ClientSession, _ a: CommandArgs) {
        guard let user = acl.user(a[2].string) else {
            replyError(s, "ERR User '\(a[2].errorText)' not found")
            return
        }
        let cmd = CommandArgs(a.dropFirst(3))
        guard var spec = commands.lookup(cmd[0]) else {
            replyError(s, "ERR Command '\(cmd[0].errorText)' not found")
            return
        }
        if !spec.subcommands.isEmpty, cmd.count > 1 {
            guard let sub = spec.subcommand(cmd[1]) else {
                replyError(s, "ERR Command '\(cmd[0].errorText)' not found")
                return
            }
            spec = sub
        }
        guard spec.arityOK(cmd.count) else {
            replyError(s, "ERR wrong number of arguments for '\(spec.fullName)' command")
            return
        }
        guard let denial = user.check(spec, cmd) else {
            s.out.ok()
            return
        }
        switch denial.0 {
        case .command: s.out.bulk("This user has no permissions to run the '\(spec.fullName)' command")
        case .key: s.out.bulk("This user has no permissions to access the '\(cmd[denial.1].string)' key")
        case .channel, .auth: s.out.bulk("This user has no permissions to access the '\(cmd[denial.1].string)' channel")
        }
    }

    /// Redis's reply to a subcommand given the wrong arguments (names as the client typed them).
    static func subcommandSyntaxError(_ a: CommandArgs) -> String {
        "ERR unknown subcommand or wrong number of arguments for '\(String(a[1].string.prefix(128)))'. Try \(a[0].string.uppercased()) HELP."
    }

    /// The directory holding `path` (to fsync after a rename).
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let dir = String(path[..<slash])
        return dir.isEmpty ? "/" : dir
    }

    static let noACLFileError = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration."

    func aclSave(_ s: ClientSession) {
        guard !config.aclfile.isEmpty else {
            replyError(s, Self.noACLFileError)
            return
        }
        let path = config.aclfile
        let text = acl.fileText()
        runBlocking(s, { () -> String? in
            do throws(StorageError) {
                try Files.writeAtomically(path, Array(text.utf8), directory: Self.directory(of: path))
                return nil
            } catch {
                return error.description
            }
        }) { [self] problem in
            if let problem {
                logger.warning("ACL SAVE: \(problem)")
                replyError(s, "ERR There was an error trying to save the ACLs. Please check the server logs for more information")
            } else {
                s.out.ok()
            }
        }
    }

    func aclLoad(_ s: ClientSession) {
        guard !config.aclfile.isEmpty else {
            replyError(s, Self.noACLFileError)
            return
        }
        let path = config.aclfile
        runBlocking(s, { () -> Result<[UInt8], StorageError> in
            do throws(StorageError) { return .success(try Files.readAll(path, limit: 64 << 20)) } catch { return .failure(error) }
        }) { [self] result in
            switch result {
            case .failure(let error):
                var code = EIO
                if case .io(_, _, let e) = error { code = e }
                replyError(s, "ERR Error loading ACLs, opening file '\(path)': \(String(cString: strerror(code)))")
            case .success(let bytes):
                let text = String(decoding: bytes, as: UTF8.self)
                switch acl.parseFile(text, filename: path) {
                case .failure(let errors):
                    replyError(s, "ERR " + errors.text)
                case .success(let users):
                    let removed = acl.replaceAll(with: users)
                    for u in removed { closeClients(of: u, current: s) }
                    s.out.ok()
                }
            }
        }
    }
}

extension CommandSpec {
    static let migrateKeySpec = KeySpec("i3/0,1,0/rw,access,delete")!

    /// MIGRATE's keys as redis-server 7.0 finds them: the key argument, or, when it is empty
    /// and KEYS follows, the arguments after KEYS.
    static func migrateKeys(_ args: CommandArgs) -> [(Int, KeySpec)] {
        // Redis tries the key specs first: the key argument, and a KEYS keyword searched
        // backwards from the second-to-last argument. That spec is marked incomplete, so when
        // it finds KEYS, Redis falls back to migrateGetKeys, below.
        let keywordFound = args.count >= 3 && (1...(args.count - 2)).contains { args[$0].equalsIgnoringCase("keys") }
        if !keywordFound { return [(3, migrateKeySpec)] }
        // migrateGetKeys: the keys after the first KEYS (skipping AUTH's and AUTH2's values);
        // KEYS with a non-empty key argument names no key at all.
        var first = 3
        var count = 1
        var i = 6
        while i < args.count {
            if args[i].equalsIgnoringCase("auth") {
                i += 1
            } else if args[i].equalsIgnoringCase("auth2") {
                i += 2
            } else if args[i].equalsIgnoringCase("keys") {
                if args[3].readableBytes > 0 { return [] }
                first = i + 1
                count = args.count - first
                break
            }
            i += 1
        }
        guard first + count <= args.count else { return [] }
        return (first..<(first + count)).map { ($0, migrateKeySpec) }
    }

    /// Positions and needed permissions of the command's key arguments (none when the
    /// arguments do not fit its key specs, as Redis's key extraction).
    func keyPositions(_ args: CommandArgs) -> [(Int, KeyPermission)] {
        keyPositionsWithSpecs(args).map { ($0.0, $0.1.needs) }
    }

    /// The same with the spec each key comes from (COMMAND GETKEYSANDFLAGS prints its flags).
    func keyPositionsWithSpecs(_ args: CommandArgs) -> [(Int, KeySpec)] {
        if fullName == "migrate" { return Self.migrateKeys(args) }
        var out: [(Int, KeySpec)] = []
        for ks in keySpecs {
            guard let positions = ks.positions(in: args) else { return [] }
            for p in positions { out.append((p, ks)) }
        }
        return out
    }
}
