import NIOCore
import RunnelRESP
import RunnelStreams

/// XINFO STREAM [FULL [COUNT n]], XINFO GROUPS, XINFO CONSUMERS, XINFO HELP.
extension Broker {
    static func registerXInfo(_ r: inout CommandRegistrar) {
        r.container("xinfo", group: "stream", summary: "A container for stream introspection commands", since: "5.0.0")
        r.sub("xinfo", "stream", -3, ["readonly"], ["@read", "@stream", "@slow"], "Get information about a stream", since: "5.0.0", keys: (2, 2, 1)) { b, s, a in
            b.xinfoStream(s, a)
        }
        r.sub("xinfo", "groups", 3, ["readonly"], ["@read", "@stream", "@slow"], "List the consumer groups of a stream", since: "5.0.0", keys: (2, 2, 1)) { b, s, a in
            guard let box = b.readStream(s.db, a[2]) else {
                b.replyError(s, "ERR no such key")
                return
            }
            let groups = box.stream.groups.sorted { $0.key.lexicographicallyPrecedes($1.key) }
            s.out.arrayHeader(groups.count)
            for (name, g) in groups {
                s.out.mapHeader(6)
                s.out.bulk("name" as StaticString)
                s.out.bulk(bytes: name)
                s.out.bulk("consumers" as StaticString)
                s.out.integer(g.consumers.count)
                s.out.bulk("pending" as StaticString)
                s.out.integer(g.pending.count)
                s.out.bulk("last-delivered-id" as StaticString)
                s.out.bulk(g.lastID.description)
                b.writeReadAndLag(s, box.stream, g)
            }
        }
        r.sub("xinfo", "consumers", 4, ["readonly"], ["@read", "@stream", "@slow"], "List the consumers in a consumer group", since: "5.0.0", keys: (2, 2, 1)) { b, s, a in
            guard let box = b.readStream(s.db, a[2]) else {
                b.replyError(s, "ERR no such key")
                return
            }
            guard let g = box.stream.groups[Array(a[3].readableBytesView)] else {
                b.noGroupForKey(s, a[2], a[3])
                return
            }
            let now = b.turnTimeMs
            let consumers = g.sortedConsumers
            s.out.arrayHeader(consumers.count)
            // Redis 7.2's fields: idle since the last attempt, inactive since the last success.
            for c in consumers {
                s.out.mapHeader(4)
                s.out.bulk("name" as StaticString)
                s.out.bulk(bytes: c.name)
                s.out.bulk("pending" as StaticString)
                s.out.integer(c.pending.count)
                s.out.bulk("idle" as StaticString)
                s.out.integer(Int(max(0, now &- c.seenTime)))
                s.out.bulk("inactive" as StaticString)
                s.out.integer(c.activeTime < 0 ? -1 : Int(max(0, now &- c.activeTime)))
            }
        }
        r.help("xinfo", [
            "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
            "HELP",
            "    Prints this help.",
        ])
    }

    func writeReadAndLag(_ s: ClientSession, _ stream: Stream, _ g: ConsumerGroup) {
        s.out.bulk("entries-read" as StaticString)
        if let read = g.entriesRead { s.out.integer(Int(read)) } else { s.out.null() }
        s.out.bulk("lag" as StaticString)
        if let lag = stream.lag(of: g) { s.out.integer(Int(lag)) } else { s.out.null() }
    }

    /// Redis's radix tree counts: one key per node, and the nodes its tree would have for
    /// those keys (see `Stream.radixTreeNodeCount`).
    private func writeTreeCounts(_ s: ClientSession, _ stream: Stream) {
        s.out.bulk("radix-tree-keys" as StaticString)
        s.out.integer(stream.nodes.count)
        s.out.bulk("radix-tree-nodes" as StaticString)
        s.out.integer(stream.radixTreeNodeCount)
    }

    func xinfoStream(_ s: ClientSession, _ a: CommandArgs) {
        // The key first, as in Redis: a missing key is "no such key" whatever the options say.
        guard let box = readStream(s.db, a[2]) else {
            replyError(s, "ERR no such key")
            return
        }
        var full = false
        var count = 10
        if a.count > 3 {
            guard a[3].equalsIgnoringCase("full"), a.count == 4 || a.count == 6 else {
                replyError(s, Broker.subcommandSyntaxError(a))
                return
            }
            full = true
            if a.count == 6 && a[4].equalsIgnoringCase("count") {
                guard let n = RESPInteger.parse(a[5]) else {
                    replyError(s, "ERR value is not an integer or out of range")
                    return
                }
                count = n
            } else if a.count != 4 {
                replyError(s, Broker.subcommandSyntaxError(a))
                return
            }
        }
        let st = box.stream
        s.out.mapHeader(full ? 9 : 10)
        s.out.bulk("length" as StaticString)
        s.out.integer(st.length)
        writeTreeCounts(s, st)
        s.out.bulk("last-generated-id" as StaticString)
        s.out.bulk(st.lastID.description)
        s.out.bulk("max-deleted-entry-id" as StaticString)
        s.out.bulk(st.maxDeletedID.description)
        s.out.bulk("entries-added" as StaticString)
        s.out.integer(Int(truncatingIfNeeded: st.entriesAdded))
        s.out.bulk("recorded-first-entry-id" as StaticString)
        s.out.bulk(st.firstID.description)
        let groups = st.groups.sorted { $0.key.lexicographicallyPrecedes($1.key) }
        if !full {
            s.out.bulk("groups" as StaticString)
            s.out.integer(groups.count)
            s.out.bulk("first-entry" as StaticString)
            if let e = st.range(from: .zero, to: .max, limit: 1).first { writeEntry(s, e) } else { s.out.null() }
            s.out.bulk("last-entry" as StaticString)
            if let e = st.range(from: .zero, to: .max, limit: 1, reverse: true).first { writeEntry(s, e) } else { s.out.null() }
            return
        }
        let limit = count <= 0 ? Int.max : count
        s.out.bulk("entries" as StaticString)
        let entries = st.range(from: .zero, to: .max, limit: limit)
        s.out.arrayHeader(entries.count)
        for e in entries { writeEntry(s, e) }
        s.out.bulk("groups" as StaticString)
        s.out.arrayHeader(groups.count)
        for (name, g) in groups {
            s.out.mapHeader(7)
            s.out.bulk("name" as StaticString)
            s.out.bulk(bytes: name)
            s.out.bulk("last-delivered-id" as StaticString)
            s.out.bulk(g.lastID.description)
            writeReadAndLag(s, st, g)
            s.out.bulk("pel-count" as StaticString)
            s.out.integer(g.pending.count)
            s.out.bulk("pending" as StaticString)
            let pel = g.pendingOrder.range(from: .zero, to: .max, limit: limit)
            s.out.arrayHeader(pel.count)
            for id in pel {
                let nack = g.pending[id]!
                s.out.arrayHeader(4)
                s.out.bulkStreamID(ms: id.ms, seq: id.seq)
                s.out.bulk(bytes: nack.consumer)
                s.out.integer(Int(nack.deliveryTime))
                s.out.integer(Int(truncatingIfNeeded: nack.deliveryCount))
            }
            s.out.bulk("consumers" as StaticString)
            let consumers = g.sortedConsumers
            s.out.arrayHeader(consumers.count)
            for c in consumers {
                s.out.mapHeader(5)
                s.out.bulk("name" as StaticString)
                s.out.bulk(bytes: c.name)
                s.out.bulk("seen-time" as StaticString)
                s.out.integer(Int(c.seenTime))
                s.out.bulk("active-time" as StaticString)
                s.out.integer(Int(c.activeTime))
                s.out.bulk("pel-count" as StaticString)
                s.out.integer(c.pending.count)
                s.out.bulk("pending" as StaticString)
                let ids = c.pending.range(from: .zero, to: .max, limit: limit)
                s.out.arrayHeader(ids.count)
                for id in ids {
                    let nack = g.pending[id]!
                    s.out.arrayHeader(3)
                    s.out.bulkStreamID(ms: id.ms, seq: id.seq)
                    s.out.integer(Int(nack.deliveryTime))
                    s.out.integer(Int(truncatingIfNeeded: nack.deliveryCount))
                }
            }
        }
    }
}
