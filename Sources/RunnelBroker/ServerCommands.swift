import NIOCore
import RunnelRESP
import RunnelStorage

#if canImport(Glibc)
import Glibc
#endif

extension Broker {
    /// SAVE, BGSAVE and BGREWRITEAOF with persistence off (`appendonly no`): there is nowhere
    /// to save to, so they fail rather than answer as if the data were on disk.
    static let nothingToSaveTo =
        "ERR persistence is off (appendonly no): the dataset is kept in memory only and cannot be saved; start the server with --appendonly yes to keep it on disk"

    /// SAVE: a snapshot, replying when it is complete. The client waits; others do not.
    func save(_ s: ClientSession) {
        guard let p = persistence else {
            replyError(s, Self.nothingToSaveTo)
            return
        }
        if p.snapshotRunning {
            replyError(s, "ERR Background save already in progress")
            return
        }
        p.snapshot(now: Clock.nowMs())
        s.suspended = true
        snapshotWaiters.append { [weak self, weak s] outcome in
            guard let self, let s else { return }
            if let error = outcome.error {
                self.replyError(s, "ERR \(error)")
            } else {
                s.out.ok()
            }
            self.resume(s)
        }
    }

    static func registerServerCommands(_ r: inout CommandRegistrar) {
        r.add("info", -1, ["loading", "stale"], ["@slow", "@dangerous"], "server", "Get information and statistics about the server") { b, s, a in
            s.out.verbatim(b.infoText(sections: a.dropFirst().map { $0.lowercasedString }))
        }
        r.add("time", 1, ["loading", "stale", "fast"], ["@fast"], "server", "Return the current server time", "2.6.0") { _, s, _ in
            let us = Clock.nowUs()
            s.out.arrayHeader(2)
            s.out.bulk(String(us / 1_000_000))
            s.out.bulk(String(us % 1_000_000))
        }
        r.add("lastsave", 1, ["loading", "stale", "fast"], ["@admin", "@fast", "@dangerous"], "server", "Get the UNIX time stamp of the last successful save to disk") { b, s, _ in
            s.out.integer(Int(b.lastSaveTime))
        }
        r.add("save", 1, ["admin", "noscript", "no_async_loading", "no_multi"], ["@admin", "@slow", "@dangerous"], "server", "Synchronously save the dataset to disk") { b, s, _ in
            b.save(s)
        }
        r.add("bgsave", -1, ["admin", "noscript", "no_async_loading"], ["@admin", "@slow", "@dangerous"], "server", "Asynchronously save the dataset to disk") { b, s, a in
            if a.count > 2 || (a.count == 2 && !a[1].equalsIgnoringCase("schedule")) {
                b.replyError(s, "ERR syntax error")
                return
            }
            guard let p = b.persistence else {
                b.replyError(s, Broker.nothingToSaveTo)
                return
            }
            // As Redis 7.0: a save in progress is an error (SCHEDULE or not); inside EXEC the
            // save is "scheduled" and starts when the transaction has run (Persistence).
            if p.snapshotRunning && !p.snapshotDeferred {
                b.replyError(s, "ERR Background save already in progress")
                return
            }
            if !p.snapshotDeferred { p.snapshot(now: Clock.nowMs()) }
            if s.inExec {
                s.out.simpleString("Background saving scheduled" as StaticString)
            } else {
                s.out.simpleString("Background saving started" as StaticString)
            }
        }
        r.add("bgrewriteaof", 1, ["admin", "noscript", "no_async_loading"], ["@admin", "@slow", "@dangerous"], "server", "Asynchronously rewrite the append-only file") { b, s, _ in
            guard let p = b.persistence else {
                b.replyError(s, Broker.nothingToSaveTo)
                return
            }
            if p.isCheckpointRunning && !p.checkpointDeferred {
                b.replyError(s, "ERR Background append only file rewriting already in progress")
                return
            }
            if !p.checkpointDeferred { p.checkpoint(now: Clock.nowMs()) }
            if s.inExec {
                s.out.simpleString("Background append only file rewriting scheduled" as StaticString)
            } else {
                s.out.simpleString("Background append only file rewriting started" as StaticString)
            }
        }
        r.add("shutdown", -1, ["admin", "noscript", "loading", "stale", "no_multi", "allow_busy"], ["@admin", "@slow", "@dangerous"], "server", "Synchronously save the dataset to disk and then shut down the server") { b, s, a in
            // As Redis: any of NOSAVE, SAVE, NOW, FORCE, ABORT (repeats allowed); ABORT with
            // another flag, or NOSAVE with SAVE, is a syntax error.
            var abort = false, save = false, nosave = false, force = false, otherFlag = false
            for opt in a.dropFirst() {
                if opt.equalsIgnoringCase("abort") {
                    abort = true
                } else if opt.equalsIgnoringCase("nosave") {
                    nosave = true
                } else if opt.equalsIgnoringCase("save") {
                    save = true
                } else if opt.equalsIgnoringCase("force") {
                    force = true
                    otherFlag = true
                } else if opt.equalsIgnoringCase("now") {
                    otherFlag = true
                } else {
                    b.replyError(s, "ERR syntax error")
                    return
                }
            }
            if abort && (save || nosave || otherFlag) || save && nosave {
                b.replyError(s, "ERR syntax error")
                return
            }
            if abort {
                b.replyError(s, "ERR No shutdown in progress.")
                return
            }
            // SHUTDOWN SAVE asks for the dataset on disk; with persistence off it cannot be, and
            // Redis refuses to exit when its save fails (FORCE exits anyway).
            if save && b.persistence == nil && !force {
                b.logger.warning("SHUTDOWN SAVE refused: persistence is off (appendonly no), the dataset cannot be saved; use SHUTDOWN NOSAVE or SHUTDOWN SAVE FORCE to exit without it")
                b.replyError(s, "ERR Errors trying to SHUTDOWN. Check logs.")
                return
            }
            b.logger.notice("User requested shutdown...")
            s.closeAfterReply = true
            b.onShutdown?()
        }
        registerConfigCommands(&r)
        registerCommandCommands(&r)
        registerSlowlogCommands(&r)
        registerLatencyCommands(&r)
    }

    // MARK: - CONFIG

    /// Parameters whose values CONFIG SET redacts in SLOWLOG and MONITOR (Redis's
    /// SENSITIVE_CONFIG flag).
    static let sensitiveConfigs: Set<String> = ["requirepass", "masterauth"]

    static func registerConfigCommands(_ r: inout CommandRegistrar) {
        r.container("config", group: "server", summary: "A container for server configuration commands", since: "2.0.0")
        let flags = ["admin", "noscript", "loading", "stale"]
        let cats = ["@admin", "@slow", "@dangerous"]
        r.sub("config", "get", -3, flags, cats, "Get the values of configuration parameters", since: "2.0.0") { b, s, a in
            var seen = Set<String>()
            var pairs: [(String, String)] = []
            for p in a.dropFirst(2) {
                for (k, v) in b.config.matching(p.string) where seen.insert(k).inserted {
                    pairs.append((k, v))
                }
            }
            s.out.mapHeader(pairs.count)
            for (k, v) in pairs {
                s.out.bulk(k)
                s.out.bulk(v)
            }
        }
        r.sub("config", "set", -4, flags + ["may_replicate"], cats, "Set configuration parameters to the given values", since: "2.0.0") { b, s, a in
            guard a.count % 2 == 0 else {
                b.replyError(s, "ERR syntax error")
                return
            }
            // Values of sensitive parameters are redacted, whatever else is wrong in the call.
            for i in stride(from: 2, to: a.count, by: 2) where Self.sensitiveConfigs.contains(a[i].lowercasedString) {
                b.redact(s, i + 1)
            }
            // As Redis: every name is checked first (unknown, immutable, given twice; the first
            // problem is reported), then the values in order. Name errors quote the argument as
            // typed, value errors the directive's name as registered (lowercase, an alias stays
            // an alias). An alias and its directive are different entries to Redis, so giving both
            // is not "duplicate"; the later value wins.
            var updated = b.config
            var seen = Set<String>()
            var names: [String] = []
            for i in stride(from: 2, to: a.count, by: 2) {
                let name = a[i].string
                guard let canonical = ServerConfig.canonicalName(name) else {
                    b.replyError(s, "ERR Unknown option or number of arguments for CONFIG SET - '\(a[i].errorText)'")
                    return
                }
                // `dir` and `dbfilename` are Redis's protected configs: refused as such unless
                // enable-protected-configs allows them (then as immutable: Runnel's data
                // directory is locked and opened at startup).
                if canonical == "dir" || canonical == "dbfilename" {
                    let allowed = b.config.value(of: "enable-protected-configs")
                    guard allowed == "yes" || (allowed == "local" && Self.isLoopback(s.remoteAddress)) else {
                        b.replyError(s, "ERR CONFIG SET failed (possibly related to argument '\(a[i].errorText)') - can't set protected config")
                        return
                    }
                }
                guard ServerConfig.isMutable(canonical) else {
                    b.replyError(s, "ERR CONFIG SET failed (possibly related to argument '\(a[i].errorText)') - can't set immutable config")
                    return
                }
                guard seen.insert(name.lowercased()).inserted else {
                    b.replyError(s, "ERR CONFIG SET failed (possibly related to argument '\(a[i].errorText)') - duplicate parameter")
                    return
                }
                names.append(canonical)
            }
            for (k, name) in names.enumerated() {
                do {
                    try updated.set(name, a[3 + 2 * k].string)
                } catch let error as ServerConfig.SetError {
                    b.replyError(s, "ERR CONFIG SET failed (possibly related to argument '\(a[2 + 2 * k].string.lowercased())') - \(error.reason)")
                    return
                } catch {
                    return
                }
            }
            if updated.appendonly != b.config.appendonly {
                // The storage engine is opened (directory locked, state recovered) at start.
                b.replyError(s, "ERR CONFIG SET failed (possibly related to argument 'appendonly') - Runnel switches persistence on or off only at startup (--appendonly)")
                return
            }
            // Listeners and certificates change off the event loop (binding waits on it); the
            // new ones are in place before the old ones close, and nothing changes on failure.
            let listenerNames = ["port", "bind", "tls-port", "tls-cert-file", "tls-key-file", "tls-ca-cert-file", "tls-auth-clients"]
            if let reconfigure = b.reconfigureListeners,
                listenerNames.contains(where: { updated.value(of: $0) != b.config.value(of: $0) })
            {
                let old = b.config
                let candidate = updated
                let typed = stride(from: 2, to: a.count, by: 2).map { a[$0].string }
                guard !s.inExec else {
                    // Binding waits on the event loop, which a transaction holds.
                    b.replyError(s, "ERR CONFIG SET of listeners (port, bind, tls-*) inside MULTI is not supported by Runnel")
                    return
                }
                b.runBlocking(s, { reconfigure(old, candidate) }) { failure in
                    if let failure {
                        let argument = typed.first { ServerConfig.canonicalName($0) == failure.directive } ?? failure.directive
                        b.replyError(s, "ERR CONFIG SET failed (possibly related to argument '\(argument)') - \(failure.reason)")
                    } else {
                        b.applyConfig(candidate)
                        s.out.ok()
                    }
                }
                return
            }
            b.applyConfig(updated)
            s.out.ok()
        }
        r.sub("config", "resetstat", 2, flags, cats, "Reset the stats returned by INFO", since: "2.0.0") { b, s, _ in
            b.resetStats()
            s.out.ok()
        }
        r.sub("config", "rewrite", 2, flags, cats, "Rewrite the configuration file with the in memory configuration", since: "2.8.0") { b, s, _ in
            guard !b.configFile.isEmpty else {
                b.replyError(s, "ERR The server is running without a config file")
                return
            }
            // File I/O and fsync run off the event loop; this client's later commands wait.
            let path = b.configFile
            let values = ServerConfig.directives.map { ($0.name, b.config.value(of: $0.name) ?? "") }
            // Users go into the config file unless they live in an ACL file (as Redis).
            let users = b.config.aclfile.isEmpty ? b.acl.sortedUsers.map { "user \($0.name) \($0.describe(b.acl.universe))" } : []
            b.runBlocking(s, { Broker.rewriteConfigFile(path: path, values: values, users: users) }) { problem in
                if let problem {
                    b.replyError(s, "ERR Rewriting config file: \(problem)")
                } else {
                    s.out.ok()
                }
            }
        }
        r.help("config", [
            "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
            "HELP",
            "    Prints this help.",
        ])
    }

    /// Makes a validated configuration current and applies what changes at run time.
    func applyConfig(_ updated: ServerConfig) {
        let oldHz = config.hz
        let oldMaxmemory = config.maxmemory
        let passwordChanged = updated.requirepass != config.requirepass
        config = updated
        if passwordChanged { acl.setRequirePass(updated.requirepass) }
        acl.allChannelsByDefault = updated.aclPubsubDefault == "allchannels"
        if let p = persistence, let policy = FsyncPolicy(rawValue: updated.appendfsync), policy != p.policy {
            p.setPolicy(policy)
        }
        persistence?.writer.commitSpinUs = updated.logCommitSpinUs
        persistence?.writer.commitDelayUs = updated.logCommitDelayUs
        if config.hz != oldHz && cronTask != nil {
            stopCron()
            startCron()
        }
        // A new limit applies from the next command, not from the next cron tick.
        if config.maxmemory > 0 && config.maxmemory != oldMaxmemory { streamDataBytes = measureStreamData() }
    }

    /// CONFIG RESETSTAT: clears INFO stats, commandstats and errorstats.
    func resetStats() {
        stats = BrokerStats()
        for spec in commands.all {
            for c in spec.allSpecs {
                c.calls = 0
                c.usec = 0
                c.rejectedCalls = 0
                c.failedCalls = 0
                c.latencyTracker = nil
            }
        }
    }
    /// CONFIG REWRITE, as redis-server 7.0 rewrites a file: each option's existing lines are
    /// replaced in place, one new line per old one (left-over old lines become blank); options
    /// not in the file are appended when they differ from the default (`dir`, `save` and
    /// `latency-tracking-info-percentiles` always), after a blank line and a
    /// `# Generated by CONFIG REWRITE` line unless the file has one; users replace the `user`
    /// lines in order, the rest come last. Runs of blank lines are written as one. Comments
    /// and unknown lines are kept. Values are
    /// written as Redis writes them: strings quoted, memory sizes in units, one line per `save`
    /// point and per changed `client-output-buffer-limit` class. Returns an error text.
    static func rewriteConfigFile(path configFile: String, values: [(String, String)], users: [String]? = nil) -> String? {
        let current = Dictionary(values, uniquingKeysWith: { a, _ in a })
        var lines: [String] = []
        if let fp = fopen(configFile, "r") {
            var buf = [CChar](repeating: 0, count: 65536)
            while fgets(&buf, Int32(buf.count), fp) != nil {
                let end = buf.firstIndex(of: 0) ?? buf.count
                var line = String(decoding: buf[..<end].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if line.hasSuffix("\n") { line.removeLast() }
                lines.append(line)
            }
            fclose(fp)
        }
        let signature = "# Generated by CONFIG REWRITE"
        var output = lines
        var slots: [String: [Int]] = [:]  // option -> its old lines, in order
        for (i, line) in lines.enumerated() {
            let trimmed = line.drop(while: { $0 == " " || $0 == "\t" })
            guard !trimmed.isEmpty, !trimmed.hasPrefix("#"), let word = trimmed.split(separator: " ").first else { continue }
            let name = word.lowercased()
            if let option = name == "user" ? "user" : ServerConfig.canonicalName(name) { slots[option, default: []].append(i) }
        }
        var appended: [String] = []
        /// One option's new lines, each written over the option's next old line, or appended
        /// when forced; old lines left over are removed.
        func rewrite(_ option: String, _ newLines: [(String, force: Bool)]) {
            var old = slots[option] ?? []
            for (line, force) in newLines {
                if !old.isEmpty {
                    output[old.removeFirst()] = line
                } else if force {
                    appended.append(line)
                }
            }
            for i in old { output[i] = "" }  // an orphaned line becomes blank
            slots[option] = nil
        }
        let defaults = ServerConfig()
        for d in ServerConfig.directives {
            let value = current[d.name] ?? ""
            rewrite(d.name, Self.rewrittenLines(d, value, changed: value != defaults.value(of: d.name)))
        }
        if let users { rewrite("user", users.map { ($0, true) }) }
        var text = output + [""]
        if !appended.isEmpty {
            if !lines.contains(signature) { text.append(signature) }
            text += appended
        }
        // Every run of blank lines is written as one, as Redis does.
        var content = ""
        var wasEmpty = false
        for line in text {
            if line.isEmpty && wasEmpty { continue }
            wasEmpty = line.isEmpty
            content += line + "\n"
        }
        do {
            try Files.writeAtomically(configFile, Array(content.utf8), directory: directory(of: configFile))
            return nil
        } catch {
            if case .io(_, _, let e) = error { return String(cString: strerror(e)) }
            return error.description
        }
    }

    /// A directive's lines as CONFIG REWRITE writes them, each with whether it must be written
    /// when the file does not have the option.
    static func rewrittenLines(_ d: ServerConfig.Directive, _ value: String, changed: Bool) -> [(String, force: Bool)] {
        let name = d.name
        switch (d.kind, name) {
        case (_, "save"):
            let words = value.split(separator: " ")
            if words.count < 2 { return [("save \"\"", true)] }
            return stride(from: 0, to: words.count - 1, by: 2).map { ("save \(words[$0]) \(words[$0 + 1])", true) }
        case (_, "client-output-buffer-limit"):
            let words = value.split(separator: " ").map(String.init)
            let defaults = d.defaultValue.split(separator: " ").map(String.init)
            return stride(from: 0, to: words.count - 3, by: 4).map { i in
                let limits = [Self.memoryText(words[i + 1]), Self.memoryText(words[i + 2]), words[i + 3]]
                let kind = words[i] == "slave" ? "replica" : words[i]
                let differs = i + 3 >= defaults.count || Array(words[i...(i + 3)]) != Array(defaults[i...(i + 3)])
                return ("\(name) \(kind) \(limits.joined(separator: " "))", differs)
            }
        case (_, "latency-tracking-info-percentiles"):
            return [("\(name) \(value)", true)]
        case (_, "dir"):
            return [("\(name) \(Self.quotedRepr(value))", true)]
        case (_, "notify-keyspace-events"):
            return [("\(name) \(Self.quotedRepr(value))", changed)]
        case (_, "bind"), (_, "replicaof"):
            return [("\(name) \(value)", changed)]
        case (.string, _):
            return [("\(name) \(Self.quotedRepr(value))", changed)]
        case (.memory, _), (.unsignedMemory, _):
            return [("\(name) \(Self.memoryText(value))", changed)]
        case (.memoryOrPercent, _):
            return [("\(name) \(value.hasSuffix("%") ? value : Self.memoryText(value))", changed)]
        default:
            return [("\(name) \(value)", changed)]
        }
    }

    /// A byte count as Redis writes it in a config file: in gb, mb or kb when it divides.
    static func memoryText(_ value: String) -> String {
        guard let n = UInt64(value), n != 0 else { return value }
        for (unit, size) in [("gb", UInt64(1) << 30), ("mb", 1 << 20), ("kb", 1 << 10)] where n % size == 0 {
            return "\(n / size)\(unit)"
        }
        return value
    }

    /// `value` in double quotes with C escapes, as Redis's `sdscatrepr` (MONITOR's quoting).
    static func quotedRepr(_ value: String) -> String {
        var out = ByteBuffer()
        writeQuoted(ByteBuffer(string: value), into: &out)
        return String(buffer: out)
    }

    // MARK: - COMMAND

    static func registerCommandCommands(_ r: inout CommandRegistrar) {
        r.add("command", -1, ["loading", "stale"], ["@slow", "@connection"], "server", "Get array of Redis command details", "2.8.13") { b, s, _ in
            let all = b.commands.all
            s.out.arrayHeader(all.count)
            for c in all { b.writeCommandInfo(s, c) }
        }
        let flags = ["loading", "stale"]
        let cats = ["@slow", "@connection"]
        r.sub("command", "count", 2, flags, cats, "Get total number of Redis commands", since: "2.8.13") { b, s, _ in
            s.out.integer(b.commands.all.count)
        }
        r.sub("command", "info", -2, flags, cats, "Get array of specific Redis command details, or all when no argument is given", since: "2.8.13") { b, s, a in
            let names = a.count > 2 ? a.dropFirst(2).map { $0.lowercasedString } : b.commands.all.map(\.fullName)
            s.out.arrayHeader(names.count)
            for n in names {
                if let c = b.lookupFullName(n) { b.writeCommandInfo(s, c) } else { s.out.null() }
            }
        }
        r.sub("command", "docs", -2, flags, cats, "Get array of specific Redis command documentation", since: "7.0.0") { b, s, a in
            let specs = a.count > 2 ? a.dropFirst(2).compactMap { b.lookupFullName($0.lowercasedString) } : b.commands.all
            s.out.mapHeader(specs.count)
            for c in specs {
                s.out.bulk(c.fullName)
                b.writeCommandDocs(s, c)
            }
        }
        r.sub("command", "list", -2, flags, cats, "Get an array of Redis command names", since: "7.0.0") { b, s, a in
            var names = b.commands.all.flatMap { $0.allSpecs.map(\.fullName) }
            if a.count == 5 && a[2].equalsIgnoringCase("filterby") {
                let value = a[4].lowercasedString
                if a[3].equalsIgnoringCase("pattern") {
                    names = names.filter { Glob.matches(pattern: Array(value.utf8), $0.utf8, caseInsensitive: true) }
                } else if a[3].equalsIgnoringCase("aclcat") {
                    names = names.filter { b.lookupFullName($0)?.categories.contains("@" + value) == true }
                } else if a[3].equalsIgnoringCase("module") {
                    names = []
                } else {
                    b.replyError(s, "ERR syntax error")
                    return
                }
            } else if a.count != 2 {
                b.replyError(s, "ERR syntax error")
                return
            }
            s.out.arrayHeader(names.count)
            for n in names { s.out.bulk(n) }
        }
        r.sub("command", "getkeys", -4, flags, cats, "Extract keys given a full Redis command", since: "2.8.13") { b, s, a in
            guard let keys = b.commandKeys(s, CommandArgs(a.dropFirst(2))) else { return }
            s.out.arrayHeader(keys.count)
            for k in keys { s.out.bulk(k.0) }
        }
        r.sub("command", "getkeysandflags", -4, flags, cats, "Extract keys and access flags given a full Redis command", since: "7.0.0") { b, s, a in
            guard let keys = b.commandKeys(s, CommandArgs(a.dropFirst(2))) else { return }
            s.out.arrayHeader(keys.count)
            for (k, flags) in keys {
                s.out.arrayHeader(2)
                s.out.bulk(k)
                s.out.setHeader(flags.count)
                for f in flags { s.out.simpleString(f) }
            }
        }
        r.help("command", [
            "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full Redis command.",
            "HELP",
            "    Prints this help.",
        ])
    }

    /// Keys of a full command line by its (first, last, step) key positions; nil after an error reply.
    func commandKeys(_ s: ClientSession, _ cmd: CommandArgs) -> [(ByteBuffer, [String])]? {
        // As Redis's lookupCommand: a container with an argument must name one of its subcommands.
        var spec = commands.lookup(cmd[0])
        if let container = spec, !container.subcommands.isEmpty, cmd.count > 1 { spec = container.subcommand(cmd[1]) }
        guard let spec else {
            replyError(s, "ERR Invalid command specified")
            return nil
        }
        guard !spec.keySpecs.isEmpty else {
            replyError(s, "ERR The command has no key arguments")
            return nil
        }
        guard spec.arityOK(cmd.count) else {
            replyError(s, "ERR Invalid number of arguments specified for command")
            return nil
        }
        let keys = spec.keyPositionsWithSpecs(cmd).map { (cmd[$0.0], $0.1.flagNames) }
        if keys.isEmpty {
            replyError(s, "ERR Invalid arguments specified for command")
            return nil
        }
        return keys
    }

    func lookupFullName(_ name: String) -> CommandSpec? {
        let parts = name.split(separator: "|", maxSplits: 1).map(String.init)
        guard let top = commands.lookup(parts[0]) else { return nil }
        return parts.count == 2 ? top.subcommands[parts[1]] : top
    }

    func writeCommandInfo(_ s: ClientSession, _ c: CommandSpec) {
        s.out.arrayHeader(10)
        s.out.bulk(c.fullName)
        s.out.integer(c.arity)
        // Flags, tips and key specifications as redis-server 7.0 reports them, where Redis has the
        // command (Runnel's table keeps the flags that drive its own behaviour).
        let doc = redisCommandDocs[c.fullName]
        if let doc {
            s.out.transcode(resp3: doc.flags)
        } else {
            s.out.setHeader(c.flags.count)
            for f in c.flags { s.out.simpleString(f) }
        }
        s.out.integer(c.firstKey)
        s.out.integer(c.lastKey)
        s.out.integer(c.keyStep)
        s.out.setHeader(c.categories.count)
        for cat in c.categories { s.out.simpleString(cat) }
        if let doc {
            s.out.transcode(resp3: doc.tips)
            s.out.transcode(resp3: doc.keySpecs)
        } else {
            s.out.setHeader(0)
            s.out.setHeader(0)
        }
        // As Redis: an empty set for a command without subcommands, else an array.
        let subs = c.subcommands.values.sorted { $0.fullName < $1.fullName }
        if subs.isEmpty { s.out.setHeader(0) } else { s.out.arrayHeader(subs.count) }
        for sub in subs { writeCommandInfo(s, sub) }
    }

    /// Redis 7.0's documentation of the command where Redis has it (`redisCommandDocs`: summary,
    /// history, arguments …), else what the command table knows; subcommands from the table.
    func writeCommandDocs(_ s: ClientSession, _ c: CommandSpec) {
        let subs = c.subcommands.values.sorted { $0.fullName < $1.fullName }
        if let doc = redisCommandDocs[c.fullName] {
            s.out.mapHeader(doc.docFields + (subs.isEmpty ? 0 : 1))
            s.out.transcode(resp3: doc.docs)
        } else {
            s.out.mapHeader(subs.isEmpty ? 4 : 5)
            s.out.bulk("summary" as StaticString)
            s.out.bulk(c.summary)
            s.out.bulk("since" as StaticString)
            s.out.bulk(c.since)
            s.out.bulk("group" as StaticString)
            s.out.bulk(c.group)
            s.out.bulk("complexity" as StaticString)
            s.out.bulk(c.complexity)
        }
        if !subs.isEmpty {
            s.out.bulk("subcommands" as StaticString)
            s.out.mapHeader(subs.count)
            for sub in subs {
                s.out.bulk(sub.fullName)
                writeCommandDocs(s, sub)
            }
        }
    }

    // MARK: - LATENCY

    /// The latency monitor (`latency-monitor-threshold` ms, 0 = off): commands slower than the
    /// threshold are recorded as events `command` or `fast-command`, as redis-server does.
    static func registerLatencyCommands(_ r: inout CommandRegistrar) {
        r.container("latency", group: "server", summary: "A container for latency diagnostics commands", since: "2.8.13")
        let flags = ["admin", "noscript", "loading", "stale"]
        let cats = ["@admin", "@slow", "@dangerous"]
        r.sub("latency", "latest", 2, flags, cats, "Return the latest latency samples for all events.", since: "2.8.13") { b, s, _ in
            let events = b.latencyEvents.sorted { $0.key < $1.key }
            s.out.arrayHeader(events.count)
            for (name, e) in events {
                s.out.arrayHeader(4)
                s.out.bulk(name)
                s.out.integer(e.samples.last?.time ?? 0)
                s.out.integer(e.samples.last?.ms ?? 0)
                s.out.integer(e.maxMs)
            }
        }
        r.sub("latency", "history", 3, flags, cats, "Return timestamp-latency samples for an event.", since: "2.8.13") { b, s, a in
            let samples = b.latencyEvents[a[2].string]?.samples ?? []
            s.out.arrayHeader(samples.count)
            for sample in samples {
                s.out.arrayHeader(2)
                s.out.integer(sample.time)
                s.out.integer(sample.ms)
            }
        }
        r.sub("latency", "reset", -2, flags, cats, "Reset latency data for one or more events.", since: "2.8.13") { b, s, a in
            if a.count == 2 {
                s.out.integer(b.latencyEvents.count)
                b.latencyEvents.removeAll()
                return
            }
            var n = 0
            for name in a[2...] where b.latencyEvents.removeValue(forKey: name.string) != nil { n += 1 }
            s.out.integer(n)
        }
        r.sub("latency", "histogram", -2, flags, cats, "Return the cumulative distribution of latencies of a subset of commands or all.", since: "7.0.0") { b, s, a in
            b.latencyHistogram(s, a.dropFirst(2).map(\.string))
        }
        r.sub("latency", "doctor", 2, flags, cats, "Return a human readable latency analysis report.", since: "2.8.13") { b, s, _ in
            s.out.verbatim(b.latencyDoctorReport())
        }
        r.sub("latency", "graph", 3, flags, cats, "Return a latency graph for the event.", since: "2.8.13") { b, s, a in
            let name = a[2].string
            guard let e = b.latencyEvents[name], !e.samples.isEmpty else {
                b.replyError(s, "ERR No samples available for event '\(name)'")
                return
            }
            s.out.verbatim(b.latencyGraph(name, e))
        }
        r.help("latency", [
            "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "GRAPH <event>",
            "    Return an ASCII latency graph for the <event> class.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
            "HELP",
            "    Prints this help.",
        ])
    }

    // MARK: - SLOWLOG

    static func registerSlowlogCommands(_ r: inout CommandRegistrar) {
        r.container("slowlog", group: "server", summary: "A container for slow log commands", since: "2.2.12")
        let flags = ["admin", "loading", "stale"]
        let cats = ["@admin", "@slow", "@dangerous"]
        r.sub("slowlog", "get", -2, flags, cats, "Get the slow log's entries", since: "2.2.12") { b, s, a in
            var count = 10
            if a.count == 3 {
                guard let n = RESPInteger.parse(a[2]), n >= -1 else {
                    b.replyError(s, "ERR count should be greater than or equal to -1")
                    return
                }
                count = n == -1 ? b.slowlog.count : n
            } else if a.count > 3 {
                b.replyError(s, Broker.subcommandSyntaxError(a))
                return
            }
            let entries = b.slowlog.prefix(count)
            s.out.arrayHeader(entries.count)
            for e in entries {
                s.out.arrayHeader(6)
                s.out.integer(e.id)
                s.out.integer(Int(e.timestamp))
                s.out.integer(e.durationUs)
                s.out.arrayHeader(e.args.count)
                for arg in e.args { s.out.bulk(arg) }
                s.out.bulk(e.clientAddress)
                s.out.bulk(e.clientName)
            }
        }
        r.sub("slowlog", "len", 2, flags, cats, "Get the slow log's length", since: "2.2.12") { b, s, _ in
            s.out.integer(b.slowlog.count)
        }
        r.sub("slowlog", "reset", 2, flags, cats, "Clear all entries from the slow log", since: "2.2.12") { b, s, _ in
            b.slowlog.removeAll()
            s.out.ok()
        }
        r.help("slowlog", [
            "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
            "HELP",
            "    Prints this help.",
        ])
    }
}
