import NIOCore
import RunnelRESP

/// Live-only Pub/Sub registry: channels, patterns and shard channels → subscribed sessions.
/// Nothing here is ever written to disk.
struct PubSubHub {
    /// Subscribers of each channel, in subscription order.
    var channels: [Key: [ClientSession]] = [:]
    var patterns: [Key: [ClientSession]] = [:]
    var shardChannels: [Key: [ClientSession]] = [:]
    /// Patterns in the order they were first subscribed (PUBLISH matches them in this order).
    var patternOrder: [Key] = []

    enum Kind { case channel, pattern, shard }

    mutating func add(_ session: ClientSession, _ name: Key, _ kind: Kind) -> Bool {
        switch kind {
        case .channel:
            guard session.channels.insert(name).inserted else { return false }
            channels[name, default: []].append(session)
        case .pattern:
            guard session.patterns.append(name).inserted else { return false }
            if patterns[name] == nil { patternOrder.append(name) }
            patterns[name, default: []].append(session)
        case .shard:
            guard session.shardChannels.insert(name).inserted else { return false }
            shardChannels[name, default: []].append(session)
        }
        return true
    }

    mutating func remove(_ session: ClientSession, _ name: Key, _ kind: Kind) -> Bool {
        switch kind {
        case .channel:
            guard session.channels.remove(name) != nil else { return false }
            Self.drop(session, name, from: &channels)
        case .pattern:
            guard session.patterns.remove(name) != nil else { return false }
            Self.drop(session, name, from: &patterns)
            if patterns[name] == nil { patternOrder.removeAll { $0 == name } }
        case .shard:
            guard session.shardChannels.remove(name) != nil else { return false }
            Self.drop(session, name, from: &shardChannels)
        }
        return true
    }

    private static func drop(_ session: ClientSession, _ name: Key, from table: inout [Key: [ClientSession]]) {
        guard var list = table[name] else { return }
        list.removeAll { $0 === session }
        table[name] = list.isEmpty ? nil : list
    }

    mutating func removeAll(_ session: ClientSession) {
        for c in session.channels { _ = remove(session, c, .channel) }
        for p in session.patterns { _ = remove(session, p, .pattern) }
        for s in session.shardChannels { _ = remove(session, s, .shard) }
    }
}

extension Broker {
    /// Delivers a message to channel and pattern subscribers; returns the receiver count.
    func publish(channel: ByteBuffer, message: ByteBuffer) -> Int {
        var receivers = 0
        if let subs = pubsub.channels[channel] {
            // Encode once; RESP2 and RESP3 differ only in the first byte ('*' vs '>').
            var frame = RESPWriter(buffer: publishScratch, version: .resp2)
            publishScratch = ByteBuffer()
            frame.buffer.clear()
            defer { publishScratch = frame.buffer }
            frame.arrayHeader(3)
            frame.bulk("message" as StaticString)
            frame.bulk(channel)
            frame.bulk(message)
            for session in subs {
                deliver(frame.buffer, to: session)
                receivers += 1
            }
        }
        if !pubsub.patterns.isEmpty {
            for pattern in pubsub.patternOrder {
                guard let subs = pubsub.patterns[pattern],
                    Glob.matches(pattern: pattern.readableBytesView, channel.readableBytesView)
                else { continue }
                var frame = RESPWriter(buffer: ByteBufferAllocator().buffer(capacity: 48), version: .resp2)
                frame.arrayHeader(4)
                frame.bulk("pmessage" as StaticString)
                frame.bulk(pattern)
                frame.bulk(channel)
                frame.bulk(message)
                for session in subs {
                    deliver(frame.buffer, to: session)
                    receivers += 1
                }
            }
        }
        return receivers
    }

    func publishShard(channel: ByteBuffer, message: ByteBuffer) -> Int {
        guard let subs = pubsub.shardChannels[channel] else { return 0 }
        var frame = RESPWriter(buffer: ByteBufferAllocator().buffer(capacity: 48), version: .resp2)
        frame.arrayHeader(3)
        frame.bulk("smessage" as StaticString)
        frame.bulk(channel)
        frame.bulk(message)
        for session in subs { deliver(frame.buffer, to: session) }
        return subs.count
    }

    /// Appends a pre-encoded RESP2 push frame to a session's output, as a push in RESP3.
    private func deliver(_ frame: ByteBuffer, to session: ClientSession) {
        guard !session.killed else { return }
        // One raw copy per subscriber (RESP3 swaps the leading '*' for '>').
        let push = session.resp == .resp3
        let start = session.out.buffer.writerIndex
        defer { notePush(session, from: start) }
        _ = frame.withUnsafeReadableBytes { src in
            session.out.buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: src.count) { dst in
                dst.baseAddress!.copyMemory(from: src.baseAddress!, byteCount: src.count)
                if push { dst.storeBytes(of: UInt8(ascii: ">"), as: UInt8.self) }
                return src.count
            }
        }
        scheduleFlush(session)
    }

    /// Writes a (un)subscribe confirmation: [kind, name, count] as a push.
    func writeSubscriptionReply(_ session: ClientSession, _ kind: StaticString, _ name: ByteBuffer?, _ count: Int) {
        let start = session.out.buffer.writerIndex
        session.out.pushHeader(3)
        session.out.bulk(kind)
        if let name { session.out.bulk(name) } else { session.out.null() }
        session.out.integer(count)
        notePush(session, from: start)
    }

    /// Ends a silenced stretch of `s`'s output (CLIENT REPLY): drops what was written since
    /// `silenceFrom`, except the pushes written there. Nothing to do when no stretch is open.
    func cutSilencedReplies(_ s: ClientSession) {
        guard let from = s.silenceFrom else { return }
        s.silenceFrom = nil
        var kept: [UInt8] = []
        for range in s.keptPushes where range.lowerBound >= from {
            kept += s.out.buffer.getBytes(at: range.lowerBound, length: range.count) ?? []
        }
        s.keptPushes = []
        s.out.buffer.moveWriterIndex(to: max(from, s.out.buffer.readerIndex))
        if !kept.isEmpty { s.out.buffer.writeBytes(kept) }
    }

    /// Records a push just written to `s` from `start` while `s`'s own command runs silenced
    /// by CLIENT REPLY OFF or SKIP, so that cutting the command's replies leaves it (Redis
    /// writes pushes whatever the reply mode).
    @inline(__always)
    func notePush(_ s: ClientSession, from start: Int) {
        if s.silenceFrom != nil && processingSession === s { s.keptPushes.append(start..<s.out.buffer.writerIndex) }
    }

    // MARK: - Commands

    static func registerPubSubCommands(_ r: inout CommandRegistrar) {
        let subFlags = ["pubsub", "noscript", "loading", "stale"]
        r.add("subscribe", -2, subFlags, ["@pubsub", "@slow"], "pubsub", "Listen for messages published to the given channels", "2.0.0") { b, s, a in
            for name in a.dropFirst() {
                _ = b.pubsub.add(s, name.detached, .channel)
                b.writeSubscriptionReply(s, "subscribe", name, s.subscriptionCount)
            }
        }
        r.add("psubscribe", -2, subFlags, ["@pubsub", "@slow"], "pubsub", "Listen for messages published to channels matching the given patterns", "2.0.0") { b, s, a in
            for name in a.dropFirst() {
                _ = b.pubsub.add(s, name.detached, .pattern)
                b.writeSubscriptionReply(s, "psubscribe", name, s.subscriptionCount)
            }
        }
        r.add("ssubscribe", -2, subFlags, ["@pubsub", "@slow"], "pubsub", "Listen for messages published to the given shard channels", "7.0.0", keys: (1, -1, 1)) { b, s, a in
            // Inside EXEC a client may not block; SUBSCRIBE is let through there for backward
            // compatibility, SSUBSCRIBE is not (Redis 7.0).
            if s.inExec {
                b.replyError(s, "ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client")
                return
            }
            for name in a.dropFirst() {
                _ = b.pubsub.add(s, name.detached, .shard)
                b.writeSubscriptionReply(s, "ssubscribe", name, s.shardChannels.count)
            }
        }
        r.add("unsubscribe", -1, subFlags, ["@pubsub", "@slow"], "pubsub", "Stop listening for messages posted to the given channels", "2.0.0") { b, s, a in
            b.unsubscribe(s, Array(a.dropFirst()), .channel)
        }
        r.add("punsubscribe", -1, subFlags, ["@pubsub", "@slow"], "pubsub", "Stop listening for messages posted to channels matching the given patterns", "2.0.0") { b, s, a in
            b.unsubscribe(s, Array(a.dropFirst()), .pattern)
        }
        r.add("sunsubscribe", -1, subFlags, ["@pubsub", "@slow"], "pubsub", "Stop listening for messages posted to the given shard channels", "7.0.0", keys: (1, -1, 1)) { b, s, a in
            b.unsubscribe(s, Array(a.dropFirst()), .shard)
        }
        r.add("publish", 3, ["pubsub", "loading", "stale", "fast", "may_replicate"], ["@pubsub", "@fast"], "pubsub", "Post a message to a channel", "2.0.0") { b, s, a in
            s.out.integer(b.publish(channel: a[1], message: a[2]))
        }
        r.add("spublish", 3, ["pubsub", "loading", "stale", "fast", "may_replicate"], ["@pubsub", "@fast"], "pubsub", "Post a message to a shard channel", "7.0.0", keys: (1, 1, 1)) { b, s, a in
            s.out.integer(b.publishShard(channel: a[1], message: a[2]))
        }
        r.container("pubsub", group: "pubsub", summary: "A container for Pub/Sub commands", since: "2.8.0")
        let introspect = ["pubsub", "loading", "stale"]
        r.sub("pubsub", "channels", -2, introspect, ["@pubsub", "@slow"], "List active channels") { b, s, a in
            guard a.count <= 3 else {
                b.replyError(s, "ERR unknown subcommand or wrong number of arguments for '\(a[1].errorText)'. Try PUBSUB HELP.")
                return
            }
            b.replyChannelList(s, b.pubsub.channels, pattern: a.count > 2 ? a[2] : nil)
        }
        r.sub("pubsub", "shardchannels", -2, introspect, ["@pubsub", "@slow"], "List active shard channels") { b, s, a in
            guard a.count <= 3 else {
                b.replyError(s, "ERR unknown subcommand or wrong number of arguments for '\(a[1].errorText)'. Try PUBSUB HELP.")
                return
            }
            b.replyChannelList(s, b.pubsub.shardChannels, pattern: a.count > 2 ? a[2] : nil)
        }
        r.sub("pubsub", "numsub", -2, introspect, ["@pubsub", "@slow"], "Get the count of subscribers for channels") { b, s, a in
            s.out.arrayHeader((a.count - 2) * 2)
            for name in a.dropFirst(2) {
                s.out.bulk(name)
                s.out.integer(b.pubsub.channels[name]?.count ?? 0)
            }
        }
        r.sub("pubsub", "shardnumsub", -2, introspect, ["@pubsub", "@slow"], "Get the count of subscribers for shard channels") { b, s, a in
            s.out.arrayHeader((a.count - 2) * 2)
            for name in a.dropFirst(2) {
                s.out.bulk(name)
                s.out.integer(b.pubsub.shardChannels[name]?.count ?? 0)
            }
        }
        r.sub("pubsub", "numpat", 2, introspect, ["@pubsub", "@slow"], "Get the count of unique patterns pattern subscriptions") { b, s, _ in
            s.out.integer(b.pubsub.patterns.count)
        }
        r.help("pubsub", [
            "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a <pattern> (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
            "HELP",
            "    Prints this help.",
        ])
    }

    func replyChannelList(_ s: ClientSession, _ table: [Key: [ClientSession]], pattern: ByteBuffer?) {
        let names = table.keys.filter { name in
            pattern.map { Glob.matches(pattern: $0.readableBytesView, name.readableBytesView) } ?? true
        }
        s.out.arrayHeader(names.count)
        for n in names { s.out.bulk(n) }
    }

    func unsubscribe(_ s: ClientSession, _ names: [ByteBuffer], _ kind: PubSubHub.Kind) {
        let label: StaticString
        let current: [Key]
        switch kind {
        case .channel: label = "unsubscribe"; current = Array(s.channels)
        case .pattern: label = "punsubscribe"; current = Array(s.patterns)
        case .shard: label = "sunsubscribe"; current = Array(s.shardChannels)
        }
        let targets = names.isEmpty ? current : names
        if targets.isEmpty {
            writeSubscriptionReply(s, label, nil, kind == .shard ? s.shardChannels.count : s.subscriptionCount)
            return
        }
        for name in targets {
            _ = pubsub.remove(s, name, kind)
            writeSubscriptionReply(s, label, name, kind == .shard ? s.shardChannels.count : s.subscriptionCount)
        }
    }
}
