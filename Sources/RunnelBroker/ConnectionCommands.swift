import NIOCore
import RunnelRESP

extension Broker {
    static let compatibleRedisVersion = "7.0.15"
    public static let runnelVersion = "0.1.0"

    static func registerConnectionCommands(_ r: inout CommandRegistrar) {
        r.add("ping", -1, ["fast"], ["@fast", "@connection"], "connection", "Ping the server") { b, s, a in
            if a.count > 2 {
                b.replyError(s, "ERR wrong number of arguments for 'ping' command")
                return
            }
            if s.resp == .resp2 && s.isSubscribed {
                s.out.arrayHeader(2)
                s.out.bulk("pong" as StaticString)
                if a.count == 2 { s.out.bulk(a[1]) } else { s.out.bulk("" as StaticString) }
            } else if a.count == 2 {
                s.out.bulk(a[1])
            } else {
                s.out.simpleString("PONG" as StaticString)
            }
        }
        r.add("echo", 2, ["loading", "stale", "fast"], ["@fast", "@connection"], "connection", "Echo the given string") { _, s, a in
            s.out.bulk(a[1])
        }
        r.add("quit", -1, ["allow_busy", "noscript", "loading", "stale", "fast", "no_auth"], ["@fast", "@connection"], "connection", "Close the connection") { _, s, _ in
            s.out.ok()
            s.closeAfterReply = true
        }
        r.add("reset", 1, ["noscript", "loading", "stale", "fast", "no_auth"], ["@fast", "@connection"], "connection", "Reset the connection", "6.2.0") { b, s, _ in
            b.discardTransaction(s)
            b.pubsub.removeAll(s)
            b.stopMonitor(s)
            b.disableTracking(s)
            s.db = 0
            s.resp = .resp2
            s.out.version = .resp2
            s.name = nil
            // RESET turns OFF and a pending SKIP off (its own +RESET is then sent) but not the
            // skipping of itself.
            s.replyOff = false
            s.replySkipNext = false
            if !s.replySkip { b.cutSilencedReplies(s) }
            s.user = b.acl.defaultUser
            s.authenticated = s.user.nopass && s.user.enabled
            s.out.simpleString("RESET" as StaticString)
        }
        r.add("select", 2, ["loading", "stale", "fast"], ["@fast", "@connection"], "connection", "Change the selected database for the current connection") { b, s, a in
            guard let index = b.int32Argument(s, a[1]) else { return }
            guard index >= 0 && index < b.dbs.count else {
                b.replyError(s, "ERR DB index is out of range")
                return
            }
            s.db = index
            s.out.ok()
        }
        r.add("auth", -2, ["noscript", "loading", "stale", "fast", "no_auth", "allow_busy"], ["@fast", "@connection"], "connection", "Authenticate to the server") { b, s, a in
            if a.count > 3 {
                b.replyError(s, "ERR syntax error")
                return
            }
            b.redact(s, 1)
            if a.count == 3 { b.redact(s, 2) }
            if a.count == 2 && b.acl.defaultUser.nopass {
                b.replyError(s, "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
                return
            }
            let user = a.count == 3 ? a[1].string : "default"
            if b.authenticate(s, user: user, password: a[a.count - 1], command: a[0]) {
                s.out.ok()
            } else {
                b.replyError(s, "WRONGPASS invalid username-password pair or user is disabled.")
            }
        }
        r.add("hello", -1, ["noscript", "loading", "stale", "fast", "no_auth", "allow_busy"], ["@fast", "@connection"], "connection", "Handshake with Redis", "6.0.0") { b, s, a in
            b.hello(s, a)
        }
        registerClientCommands(&r)
        registerTrackingCommands(&r)
    }

    static func validClientName(_ name: ByteBuffer) -> Bool {
        name.readableBytesView.allSatisfy { $0 >= 0x21 && $0 <= 0x7E }
    }

    func hello(_ s: ClientSession, _ a: CommandArgs) {
        var version = s.resp
        var i = 1
        if a.count >= 2 {
            guard let v = RESPInteger.parse(a[1]) else {
                replyError(s, "ERR Protocol version is not an integer or out of range")
                return
            }
            guard v == 2 || v == 3 else {
                replyError(s, "NOPROTO unsupported protocol version")
                return
            }
            version = v == 3 ? .resp3 : .resp2
            i = 2
        }
        // As redis-server 7.0: the options take effect one by one, in order. AUTH logs in (or
        // fails) and SETNAME renames at once, so an error in a later option leaves them done
        // but the protocol unchanged.
        while i < a.count {
            let more = a.count - i - 1
            if a[i].equalsIgnoringCase("auth") && more >= 2 {
                redact(s, i + 1)
                redact(s, i + 2)
                guard authenticate(s, user: a[i + 1].string, password: a[i + 2], command: a[0]) else {
                    replyError(s, "WRONGPASS invalid username-password pair or user is disabled.")
                    return
                }
                i += 3
            } else if a[i].equalsIgnoringCase("setname") && more >= 1 {
                guard Self.validClientName(a[i + 1]) else {
                    replyError(s, "ERR Client names cannot contain spaces, newlines or special characters.")
                    return
                }
                s.name = a[i + 1].readableBytes == 0 ? nil : a[i + 1].detached
                i += 2
            } else {
                replyError(s, "ERR Syntax error in HELLO option '\(a[i].errorText)'")
                return
            }
        }
        if !s.authenticated {
            replyError(s, "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
            return
        }
        s.resp = version
        s.out.version = version
        s.out.mapHeader(7)
        s.out.bulk("server" as StaticString)
        s.out.bulk("redis" as StaticString)
        s.out.bulk("version" as StaticString)
        s.out.bulk(Self.compatibleRedisVersion)
        s.out.bulk("proto" as StaticString)
        s.out.integer(version.rawValue)
        s.out.bulk("id" as StaticString)
        s.out.integer(s.id)
        s.out.bulk("mode" as StaticString)
        s.out.bulk("standalone" as StaticString)
        s.out.bulk("role" as StaticString)
        s.out.bulk("master" as StaticString)
        s.out.bulk("modules" as StaticString)
        s.out.emptyArray()
    }

    // MARK: - CLIENT

    static func registerClientCommands(_ r: inout CommandRegistrar) {
        r.container("client", group: "connection", summary: "A container for client connection commands", since: "2.4.0")
        let flags = ["noscript", "loading", "stale"]
        r.sub("client", "id", 2, flags, ["@slow", "@connection"], "Returns the client ID for the current connection", since: "5.0.0") { _, s, _ in
            s.out.integer(s.id)
        }
        r.sub("client", "getname", 2, flags, ["@slow", "@connection"], "Get the current connection name", since: "2.6.9") { _, s, _ in
            if let n = s.name { s.out.bulk(n) } else { s.out.null() }
        }
        r.sub("client", "setname", 3, flags, ["@slow", "@connection"], "Set the current connection name", since: "2.6.9") { b, s, a in
            guard Self.validClientName(a[2]) else {
                b.replyError(s, "ERR Client names cannot contain spaces, newlines or special characters.")
                return
            }
            s.name = a[2].readableBytes == 0 ? nil : a[2].detached
            s.out.ok()
        }
        r.sub("client", "info", 2, flags, ["@slow", "@connection"], "Returns information about the current client connection.", since: "6.2.0") { b, s, _ in
            s.out.verbatim(b.clientInfoLine(s) + "\n")
        }
        r.sub("client", "list", -2, ["admin", "noscript", "loading", "stale"], ["@admin", "@slow", "@dangerous", "@connection"], "Get the list of client connections", since: "2.4.0") { b, s, a in
            var filterType: String?
            var ids: Set<Int>?
            var i = 2
            while i < a.count {
                if a[i].equalsIgnoringCase("type") && i + 1 < a.count {
                    let t = a[i + 1].lowercasedString
                    guard ["normal", "master", "replica", "slave", "pubsub"].contains(t) else {
                        b.replyError(s, "ERR Unknown client type '\(a[i + 1].errorText)'")
                        return
                    }
                    filterType = t
                    i += 2
                } else if a[i].equalsIgnoringCase("id") && i + 1 < a.count {
                    var set = Set<Int>()
                    var j = i + 1
                    while j < a.count {
                        guard let id = RESPInteger.parse(a[j]), id > 0 else {
                            b.replyError(s, "ERR Invalid client ID")
                            return
                        }
                        set.insert(id)
                        j += 1
                    }
                    ids = set
                    i = j
                } else {
                    b.replyError(s, "ERR syntax error")
                    return
                }
            }
            var text = ""
            for c in b.clients.values.sorted(by: { $0.id < $1.id }) {
                if let ids, !ids.contains(c.id) { continue }
                if let t = filterType {
                    let isPubsub = c.isSubscribed
                    if t == "pubsub" && !isPubsub { continue }
                    if t == "normal" && isPubsub { continue }
                    if t == "master" || t == "replica" || t == "slave" { continue }
                }
                text += b.clientInfoLine(c) + "\n"
            }
            s.out.verbatim(text)
        }
        r.sub("client", "kill", -3, ["admin", "noscript", "loading", "stale"], ["@admin", "@slow", "@dangerous", "@connection"], "Kill the connection of a client", since: "2.4.0") { b, s, a in
            b.clientKill(s, a)
        }
        r.sub("client", "reply", 3, flags, ["@slow", "@connection"], "Instruct the server whether to reply to commands", since: "3.2.0") { b, s, a in
            // As Redis: the flags change at once, so inside EXEC OFF silences the commands after it
            // and ON the rest, while SKIP applies to the next command after EXEC.
            if a[2].equalsIgnoringCase("on") {
                b.cutSilencedReplies(s)
                s.replyOff = false
                s.replySkip = false
                s.out.ok()
            } else if a[2].equalsIgnoringCase("off") {
                s.replyOff = true
                if s.silenceFrom == nil { s.silenceFrom = s.out.buffer.writerIndex }
            } else if a[2].equalsIgnoringCase("skip") {
                if !s.replyOff { s.replySkipNext = true }
            } else {
                b.replyError(s, "ERR syntax error")
            }
        }
        r.sub("client", "pause", -3, ["admin", "noscript", "loading", "stale"], ["@admin", "@slow", "@dangerous", "@connection"], "Stop processing commands from clients for some time", since: "2.9.50") { b, s, a in
            guard let ms = RESPInteger.parse(a[2]) else {
                b.replyError(s, "ERR timeout is not an integer or out of range")
                return
            }
            guard ms >= 0 else {
                b.replyError(s, "ERR timeout is negative")
                return
            }
            var writesOnly = false
            if a.count == 4 {
                if a[3].equalsIgnoringCase("write") {
                    writesOnly = true
                } else if !a[3].equalsIgnoringCase("all") {
                    b.replyError(s, "ERR CLIENT PAUSE mode must be WRITE or ALL")
                    return
                }
            } else if a.count > 4 {
                b.replyError(s, Broker.subcommandSyntaxError(a))
                return
            }
            let (until, overflow) = Clock.nowMs().addingReportingOverflow(Int64(ms))
            b.pause(untilMs: overflow ? Int64.max : until, writesOnly: writesOnly)
            s.out.ok()
        }
        r.sub("client", "unpause", 2, ["admin", "noscript", "loading", "stale"], ["@admin", "@slow", "@dangerous", "@connection"], "Resume processing of clients that were paused", since: "6.2.0") { b, s, _ in
            b.unpause()
            s.out.ok()
        }
        r.sub("client", "no-evict", 3, ["admin", "noscript", "loading", "stale"], ["@admin", "@slow", "@dangerous", "@connection"], "Set client eviction mode for the current connection", since: "7.0.0") { b, s, a in
            if a[2].equalsIgnoringCase("on") || a[2].equalsIgnoringCase("off") {
                s.noEvict = a[2].equalsIgnoringCase("on")
                s.out.ok()
            } else {
                b.replyError(s, "ERR syntax error")
            }
        }
        r.sub("client", "unblock", -3, ["admin", "noscript", "loading", "stale"], ["@admin", "@slow", "@dangerous", "@connection"], "Unblock a client blocked in a blocking command from a different connection", since: "5.0.0") { b, s, a in
            if a.count > 4 {
                b.replyError(s, Broker.subcommandSyntaxError(a))
                return
            }
            // The reason is checked before the id, as in Redis.
            if a.count == 4 && !(a[3].equalsIgnoringCase("timeout") || a[3].equalsIgnoringCase("error")) {
                b.replyError(s, "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
                return
            }
            guard let id = RESPInteger.parse(a[2]) else {
                b.replyError(s, "ERR value is not an integer or out of range")
                return
            }
            s.out.integer(b.clientUnblock(id, error: a.count == 4 && a[3].equalsIgnoringCase("error")) ? 1 : 0)
        }
        r.help("client", [
            "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CACHING (YES|NO)",
            "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
            "GETREDIR",
            "    Return the client ID we are redirecting to when tracking is enabled.",
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are:",
            "    * ADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made from the specified address",
            "    * LADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made to specified local address",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Kill connections by type.",
            "    * USER <username>",
            "      Kill connections authenticated by <username>.",
            "    * SKIPME (YES|NO)",
            "      Skip killing current connection (default: yes).",
            "LIST [options ...]",
            "    Return information about client connections. Options:",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Return clients of specified type.",
            "UNPAUSE",
            "    Stop the current client pause, resuming traffic.",
            "PAUSE <timeout> [WRITE|ALL]",
            "    Suspend all, or just write, clients for <timeout> milliseconds.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "UNBLOCK <clientid> [TIMEOUT|ERROR]",
            "    Unblock the specified blocked client.",
            "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
            "         [OPTIN] [OPTOUT] [NOLOOP]",
            "    Control server assisted client side caching.",
            "TRACKINGINFO",
            "    Report tracking status for the current connection.",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
            "HELP",
            "    Prints this help.",
        ])
    }

    /// One CLIENT LIST line, with Redis's field names and order.
    func clientInfoLine(_ c: ClientSession) -> String {
        let now = Clock.nowMs()
        // Whole Unix seconds apart, as Redis keeps these times in seconds.
        let age = now / 1000 - c.createdAtMs / 1000
        let idle = now / 1000 - c.lastInteractionMs / 1000
        let multi = c.inMulti ? c.multiQueue.count : c.inExec ? c.execCount : -1
        let obl = c.out.buffer.readableBytes
        return "id=\(c.id) addr=\(c.remoteAddress) laddr=\(c.localAddress) fd=8 name=\(c.name?.string ?? "") "
            + "age=\(age) idle=\(idle) flags=\(c.flagString(blocked: blockedSessions[c.id] != nil || isPostponed(c.id))) db=\(c.db) sub=\(c.channels.count) "
            + "psub=\(c.patterns.count) ssub=\(c.shardChannels.count) multi=\(multi) qbuf=0 qbuf-free=0 "
            + "argv-mem=0 multi-mem=0 rbs=16384 rbp=0 obl=\(obl) oll=0 omem=\(c.bufferedBytes()) tot-mem=0 "
            + "events=r cmd=\(c.lastCommandName) user=\(c.user.name) redir=\(c.tracking.on ? c.trackingRedirection : -1) resp=\(c.resp.rawValue)"
    }

    func clientKill(_ s: ClientSession, _ a: CommandArgs) {
        if a.count == 3 {
            // Old form: CLIENT KILL addr:port
            let addr = a[2].string
            guard let victim = clients.values.first(where: { $0.remoteAddress == addr }) else {
                replyError(s, "ERR No such client")
                return
            }
            s.out.ok()
            kill(victim, current: s)
            return
        }
        var id: Int?
        var addr: String?
        var laddr: String?
        var type: String?
        var user: ACLUser?
        var skipMe = true
        var i = 2
        while i + 1 < a.count {
            let value = a[i + 1]
            if a[i].equalsIgnoringCase("id") {
                guard let v = RESPInteger.parse(value), v > 0 else {
                    replyError(s, "ERR client-id should be greater than 0")
                    return
                }
                id = v
            } else if a[i].equalsIgnoringCase("addr") {
                addr = value.string
            } else if a[i].equalsIgnoringCase("laddr") {
                laddr = value.string
            } else if a[i].equalsIgnoringCase("type") {
                let t = value.lowercasedString
                guard ["normal", "master", "replica", "slave", "pubsub"].contains(t) else {
                    replyError(s, "ERR Unknown client type '\(value.errorText)'")
                    return
                }
                type = t
            } else if a[i].equalsIgnoringCase("user") {
                guard let u = acl.user(value.string) else {
                    replyError(s, "ERR No such user '\(value.errorText)'")
                    return
                }
                user = u
            } else if a[i].equalsIgnoringCase("skipme") {
                if value.equalsIgnoringCase("yes") {
                    skipMe = true
                } else if value.equalsIgnoringCase("no") {
                    skipMe = false
                } else {
                    replyError(s, "ERR syntax error")
                    return
                }
            } else {
                replyError(s, "ERR syntax error")
                return
            }
            i += 2
        }
        if i != a.count {
            replyError(s, "ERR syntax error")
            return
        }
        var victims: [ClientSession] = []
        for c in clients.values.sorted(by: { $0.id < $1.id }) {
            if let id, c.id != id { continue }
            if let addr, c.remoteAddress != addr { continue }
            if let laddr, c.localAddress != laddr { continue }
            if let type {
                if type == "pubsub" && !c.isSubscribed { continue }
                if type == "normal" && c.isSubscribed { continue }
                if type == "master" || type == "replica" || type == "slave" { continue }
            }
            if let user, c.user !== user { continue }
            if skipMe && c === s { continue }
            victims.append(c)
        }
        s.out.integer(victims.count)
        for v in victims { kill(v, current: s) }
    }

    /// Closes a client's connection; the current client closes once the running command has
    /// replied (Redis's CLIENT_CLOSE_AFTER_COMMAND: ACL DELUSER of itself still gets its reply).
    func kill(_ victim: ClientSession, current: ClientSession) {
        if victim === current {
            victim.closeAfterCommand = true
        } else {
            victim.killed = true
            disconnect(victim)
            victim.close?()
        }
    }
}
