import ArgumentParser
import Logging
import RunnelStorage
import RunnelStreams

#if canImport(Glibc)
import Glibc
#endif

struct Segments: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "One row per segment: size, uncompressed size, ratio, frames, records, streams, first/last ID, state.")

    @OptionGroup var common: Common

    func run() throws {
        try common.checkExists()
        let segs: [Inspect.SegmentInfo]
        do { segs = try Inspect.segments(common.directory, progress: common.progress("segments")) } catch { throw fail(error) }
        var rows: [[String]] = []
        for s in segs {
            rows.append([
                s.name, String(s.size), String(s.rawBytes), ratio(s.rawBytes, max(1, s.size - 28)), String(s.frames),
                String(s.records), String(s.streams.count), s.firstID?.description ?? "-", s.lastID?.description ?? "-",
                (s.sealed ? "sealed" : "active") + (s.preallocated > 0 ? ", \(s.preallocated) B preallocated" : ""), s.problem.map { "\($0) at offset \(s.size - s.unreadableBytes)" } ?? "",
            ])
        }
        print(
            table(
                ["segment", "bytes", "raw", "ratio", "frames", "records", "streams", "first-append", "last-append", "state", "problem"], rows,
                rightAligned: [1, 2, 3, 4, 5, 6]))
        if segs.contains(where: { $0.problem != nil && !$0.problem!.hasPrefix("torn tail") }) { throw ExitCode(Exit.problems) }
    }
}

struct Cat: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print entries (or, with --records, the log records with their segment and offset).")

    @OptionGroup var common: Common

    @Option(help: "Only this stream (key).")
    var stream: String?

    @Option(help: "Only this database (default: all).")
    var db: Int?

    @Option(help: "First ID (inclusive; '-' for the start).")
    var from: String?

    @Option(help: "Last ID (inclusive; '+' for the end).")
    var to: String?

    @Flag(help: "Print the log's records (segments only, not the checkpoint) instead of entries.")
    var records = false

    @Flag(help: "One JSON object per line.")
    var json = false

    func run() throws {
        let start = try parseID(from, default: .zero, isEnd: false)
        let end = try parseID(to, default: .max, isEnd: true)
        let wanted = stream.map { Array($0.utf8) }
        func selected(_ d: Int?, _ k: [UInt8]?) -> Bool {
            if let wanted, k != wanted { return false }
            if let db, d != db { return false }
            return true
        }
        if records {
            var out = ""
            _ = try load(common) { v in
                guard selected(v.db ?? keyOfRecord(v.record)?.0, v.key ?? keyOfRecord(v.record)?.1) else { return }
                out += describe(v, json: json) + "\n"
                if out.utf8.count > 1 << 16 {
                    print(out, terminator: "")
                    out = ""
                }
            }
            print(out, terminator: "")
            return
        }
        let state = try load(common)
        var out: [UInt8] = []
        out.reserveCapacity(1 << 17)
        for cs in state.streams where selected(cs.db, cs.key) {
            let prefix = Array((json ? "{\"db\":\(cs.db),\"key\":\(runnel_dump.json(cs.key)),\"id\":\"" : keyName(cs.db, cs.key) + " ").utf8)
            _ = cs.stream.visit(from: start, to: end) { id, entry in
                out += prefix
                out += Array(id.description.utf8)
                if json {
                    out += Array("\",\"fields\":[".utf8)
                    var i = 0
                    entry.forEach { part in
                        out += Array((i % 2 == 0 ? (i == 0 ? "[" : ",[") : ",").utf8)
                        appendJSON(part, into: &out)
                        if i % 2 == 1 { out.append(UInt8(ascii: "]")) }
                        i += 1
                    }
                    out += Array("]}\n".utf8)
                } else {
                    entry.forEach { part in
                        out.append(UInt8(ascii: " "))
                        appendRendered(part, into: &out)
                    }
                    out.append(10)
                }
                if out.count > 1 << 16 {
                    writeOut(out)
                    out.removeAll(keepingCapacity: true)
                }
            }
        }
        writeOut(out)
    }
}

/// `render` into a byte buffer (the hot path of `cat`).
func appendRendered(_ bytes: ArraySlice<UInt8>, into out: inout [UInt8]) {
    let plain = bytes.withUnsafeBufferPointer { p -> Bool in !p.isEmpty && !needsQuoting(UnsafeRawBufferPointer(p)) }
    if plain {
        out.append(contentsOf: bytes)
    } else {
        out += Array(render(bytes).utf8)
    }
}

/// A JSON string of bytes into a byte buffer; plain ASCII is copied as is.
func appendJSON(_ bytes: ArraySlice<UInt8>, into out: inout [UInt8]) {
    let simple = bytes.withUnsafeBufferPointer { p -> Bool in
        var bad = false
        for b in p { bad = bad || b < 0x20 || b >= 0x7F || b == 0x22 || b == 0x5C }
        return !bad
    }
    if simple {
        out.append(UInt8(ascii: "\""))
        out.append(contentsOf: bytes)
        out.append(UInt8(ascii: "\""))
    } else {
        out += Array(json(bytes).utf8)
    }
}

func keyOfRecord(_ r: LogRecord) -> (Int, [UInt8])? {
    switch r {
    case .streamNew(_, let db, let key), .keyRename(_, let db, let key), .keyCopy(_, _, let db, let key): return (db, key)
    default: return nil
    }
}

/// One record as a line of text or JSON.
func describe(_ v: Recovery.VisitedRecord, json asJSON: Bool) -> String {
    let seg = "segment-\(String(repeating: "0", count: max(0, 8 - String(v.segment).count)))\(v.segment).log"
    var fields: [(String, String)] = []  // name, JSON value
    var text: [String] = []
    let type: String
    func add(_ name: String, _ value: String, _ jsonValue: String? = nil) {
        fields.append((name, jsonValue ?? json(value)))
        text.append("\(name)=\(value)")
    }
    func ids(_ list: [StreamID]) -> String { list.map(\.description).joined(separator: ",") }
    switch v.record {
    case .streamNew(let h, let db, let key):
        type = "stream-new"; add("handle", "\(h)", "\(h)"); add("db", "\(db)", "\(db)"); add("key", render(key), json(key))
    case .keyDelete(let h): type = "key-delete"; add("handle", "\(h)", "\(h)")
    case .keyRename(let h, let db, let key):
        type = "key-rename"; add("handle", "\(h)", "\(h)"); add("db", "\(db)", "\(db)"); add("key", render(key), json(key))
    case .keyExpire(let h, let at): type = "key-expire"; add("handle", "\(h)", "\(h)"); add("at-ms", "\(at)", "\(at)")
    case .flush(let db): type = db == nil ? "flush-all" : "flush-db"; if let db { add("db", "\(db)", "\(db)") }
    case .keyCopy(let from, let h, let db, let key):
        type = "key-copy"; add("handle", "\(h)", "\(h)"); add("from", "\(from)", "\(from)"); add("db", "\(db)", "\(db)")
        add("key", render(key), json(key))
    case .swapDB(let a, let b): type = "swap-db"; add("db", "\(a)", "\(a)"); add("with", "\(b)", "\(b)")
    case .append(_, let id, let f, let newNode):
        type = "append"; add("id", id.description)
        if newNode { add("new-node", "yes", "true") }
        let pairs = f.arrays
        fields.append(("fields", "[" + pairs.map { json($0) }.joined(separator: ",") + "]"))
        text.append(pairs.map(render).joined(separator: " "))
    case .stream(_, let r):
        switch r {
        case .append(let id, _, _): type = "append"; add("id", id.description)
        case .delete(let list): type = "delete"; add("ids", ids(list))
        case .trim(let through): type = "trim"; add("through", through.description)
        case .setMetadata(let last, let added, let maxDel):
            type = "set-id"; add("last-id", last.description)
            if let added { add("entries-added", "\(added)", "\(added)") }
            if let maxDel { add("max-deleted-id", maxDel.description) }
        case .groupCreate(let g, let last, let read):
            type = "group-create"; add("group", render(g), json(g)); add("last-id", last.description)
            add("entries-read", read.map { "\($0)" } ?? "nil", read.map { "\($0)" } ?? "null")
        case .groupSetID(let g, let last, let read):
            type = "group-setid"; add("group", render(g), json(g)); add("last-id", last.description)
            add("entries-read", read.map { "\($0)" } ?? "nil", read.map { "\($0)" } ?? "null")
        case .groupDestroy(let g): type = "group-destroy"; add("group", render(g), json(g))
        case .consumerCreate(let g, let c, let t):
            type = "consumer-create"; add("group", render(g), json(g)); add("consumer", render(c), json(c)); add("time", "\(t)", "\(t)")
        case .consumerDelete(let g, let c):
            type = "consumer-delete"; add("group", render(g), json(g)); add("consumer", render(c), json(c))
        case .consumerSeen(let g, let c, let t):
            type = "consumer-seen"; add("group", render(g), json(g)); add("consumer", render(c), json(c)); add("time", "\(t)", "\(t)")
        case .consumerActive(let g, let c, let t):
            type = "consumer-active"; add("group", render(g), json(g)); add("consumer", render(c), json(c)); add("time", "\(t)", "\(t)")
        case .deliverNew(let g, let c, let list, let t, let noAck):
            type = "deliver"; add("group", render(g), json(g)); add("consumer", render(c), json(c)); add("time", "\(t)", "\(t)")
            if noAck { add("noack", "yes", "true") }
            add("ids", ids(list))
        case .redeliver(let g, let list, let t):
            type = "redeliver"; add("group", render(g), json(g)); add("time", "\(t)", "\(t)"); add("ids", ids(list))
        case .ack(let g, let list): type = "ack"; add("group", render(g), json(g)); add("ids", ids(list))
        case .claim(let g, let c, let id, let t, let n):
            type = "claim"; add("group", render(g), json(g)); add("consumer", render(c), json(c)); add("id", id.description)
            add("time", "\(t)", "\(t)"); add("count", "\(n)", "\(n)")
        case .dropPending(let g, let id): type = "drop-pending"; add("group", render(g), json(g)); add("id", id.description)
        case .groupLastID(let g, let id): type = "group-lastid"; add("group", render(g), json(g)); add("id", id.description)
        }
    }
    let key = v.key.map { keyName(v.db ?? 0, $0) } ?? keyOfRecord(v.record).map { keyName($0.0, $0.1) }
    if asJSON {
        var parts = ["\"segment\":\(json(seg))", "\"offset\":\(v.frameOffset)", "\"raw_offset\":\(v.rawOffset)", "\"type\":\"\(type)\""]
        if let db = v.db ?? keyOfRecord(v.record)?.0 { parts.append("\"db\":\(db)") }
        if let k = v.key ?? keyOfRecord(v.record)?.1 { parts.append("\"key\":\(json(k))") }
        parts += fields.map { "\(json($0.0)):\($0.1)" }
        return "{" + parts.joined(separator: ",") + "}"
    }
    return "\(seg)@\(v.frameOffset)+\(v.rawOffset) \(type) \(key ?? "-") " + text.joined(separator: " ")
}

struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Per stream: entries, first/last ID, bytes, groups, consumers, pending; totals; disk and compression.")

    @OptionGroup var common: Common

    func run() throws {
        let state = try load(common)
        var rows: [[String]] = []
        var consumers = 0
        for cs in state.streams {
            let c = cs.stream.groups.values.reduce(0) { $0 + $1.consumers.count }
            let p = cs.stream.groups.values.reduce(0) { $0 + $1.pending.count }
            consumers += c
            rows.append([
                String(cs.db), render(cs.key), String(cs.stream.length), cs.stream.length > 0 ? cs.stream.firstID.description : "-",
                cs.stream.lastID.description, String(cs.stream.storageBytes), String(cs.stream.groups.count), String(c), String(p),
            ])
        }
        print(table(["db", "key", "entries", "first-id", "last-id", "bytes", "groups", "consumers", "pending"], rows, rightAligned: [0, 2, 5, 6, 7, 8]))
        let r = state.report
        print("totals: \(r.streams) streams, \(r.entries) entries, \(r.groups) groups, \(consumers) consumers, \(r.pending) pending")
        let disk = r.checkpointBytes + r.segmentBytes
        print("disk: \(disk) bytes (checkpoint \(r.checkpointBytes), log \(r.segmentBytes) in \(r.segments) segments)")
        print("log: \(r.frames) frames, \(r.records) records, \(r.rawBytes) raw bytes, compression \(ratio(r.rawBytes, max(1, r.segmentBytes - 28 * r.segments)))")
        if r.truncatedBytes > 0 { print("tail: \(r.truncatedBytes) bytes not read (a torn or in-progress write)") }
    }
}

struct IndexCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index", abstract: "Print index points and check them against their segments.")

    @OptionGroup var common: Common

    @Argument(help: "Only this segment number.")
    var segment: UInt64?

    func run() throws {
        try common.checkExists()
        let dir = common.directory
        let segs: [Inspect.SegmentInfo]
        do { segs = try Inspect.segments(dir, progress: common.progress("index")) } catch { throw fail(error) }
        // Key names for the handles: the checkpoint's stream records, then the segments'
        // streamNew and keyRename records (collected by the same pass that read them).
        var names: [UInt64: String] = [:]
        for (h, k) in (try? Inspect.checkpointKeys(dir)) ?? [:] { names[h] = keyName(k.db, k.key) }
        for s in segs {
            for k in s.keys { names[k.handle] = keyName(k.db, k.key) }
        }
        var bad = false
        for s in segs where segment == nil || s.id == segment {
            let path = dir.file(dir.indexName(s.id))
            let stored: SegmentIndex?
            var status: String
            if let bytes = try? readFile(path) {
                do {
                    stored = try SegmentIndex.decode(bytes, file: path)
                    status = stored == s.index ? "matches its segment" : "DOES NOT MATCH its segment"
                    if stored != s.index { bad = true }
                } catch {
                    stored = nil
                    status = "unreadable: \(error)"
                    bad = true
                }
            } else {
                stored = nil
                status = s.sealed ? "MISSING (rebuilt at the next start)" : "none (active segment; built when sealed)"
                if s.sealed { bad = true }
            }
            print("\(dir.indexName(s.id)): \(status)")
            for p in (stored ?? s.index)?.points ?? [] {
                let spans = p.spans.sorted { $0.key < $1.key }.map { h, span in
                    "\(names[h] ?? "#\(h)") \(span.first)..\(span.last) (\(span.count))"
                }
                print("  offset \(p.offset): " + (spans.isEmpty ? "no appends" : spans.joined(separator: ", ")))
            }
        }
        if bad { throw ExitCode(Exit.problems) }
    }
}

func readFile(_ path: String) throws -> [UInt8] {
    guard let fp = fopen(path, "rb") else { throw ExitCode(Exit.usage) }
    defer { fclose(fp) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = fread(&buf, 1, buf.count, fp)
        if n <= 0 { break }
        out.append(contentsOf: buf[0..<n])
    }
    return out
}

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check every frame's CRC, record decoding, index and checkpoint consistency; exit 1 on any problem.")

    @OptionGroup var common: Common

    func run() throws {
        try common.checkExists()
        var totals = Inspect.Totals()
        let problems = Inspect.verify(common.directory, totals: &totals, progress: common.progress("verifying segment"))
        for p in problems { print(p) }
        let errors = problems.filter { !$0.isNote }
        if errors.isEmpty {
            print("ok: \(totals.segments) segments, \(totals.frames) frames, \(totals.records) records, \(totals.rawBytes) raw bytes")
        } else {
            print("\(errors.count) problem(s) found")
            throw ExitCode(Exit.problems)
        }
    }
}

struct Repair: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Truncate a torn tail, or cut the log at the first bad frame (the originals are kept in DIR/damaged/); rebuild indexes and a lost or damaged MANIFEST.")

    @OptionGroup var common: Common

    func run() throws {
        try common.checkExists()
        let dir = common.directory
        let lock: DirectoryLock
        do {
            try dir.refuseIfSnapshot()
            lock = try DirectoryLock(dir)
        } catch { throw fail(error) }
        defer { withExtendedLifetime(lock) {} }
        let result: Recovery.Result
        do {
            result = try Recovery.recover(dir, repair: true, logger: Logger(label: "runnel-dump"))
        } catch {
            throw fail(error)
        }
        let r = result.report
        if let repaired = r.repaired { print("repaired: \(repaired)") }
        if r.truncatedBytes > 0 && r.repaired == nil { print("truncated a torn tail: \(r.truncatedBytes) bytes") }
        if r.indexesRebuilt > 0 { print("rebuilt \(r.indexesRebuilt) index file(s)") }
        if r.repaired == nil && r.truncatedBytes == 0 && r.indexesRebuilt == 0 { print("nothing to repair") }
        print("now: \(r.streams) streams, \(r.entries) entries, \(r.groups) groups, \(r.pending) pending")
    }
}

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print RESP commands that rebuild the streams, groups and PELs in a redis-server (`redis-cli --pipe`).",
        discussion: """
            By default each stream is one RESTORE of the payload redis-server 7.0's DUMP would \
            give (with its expiry, ABSTTL): exact — every entry, the stream's metadata, groups, \
            consumers with their seen times, pending entries with owners, delivery times and \
            counts (also those whose entry was deleted), and the node layout. A stream whose \
            payload is over 512 MiB (redis-server's proto-max-bulk-len) is written as commands.
            --commands writes XADD, XSETID, XGROUP and XCLAIM instead, for servers that do not \
            take Redis 7.0 payloads. It loses what those commands cannot set: pending entries \
            whose entry was deleted (XCLAIM ignores them, as in redis-server's own AOF rewrite; \
            their number is printed), consumers' seen times, and the node layout.
            """)

    @OptionGroup var common: Common

    @Flag(help: "RESP output (the only format, and the default).")
    var resp = false

    @Flag(help: "Portable commands instead of RESTORE payloads (lossy; see above).")
    var commands = false

    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    /// redis-server's default `proto-max-bulk-len`: a larger RESTORE payload is refused.
    static let maxPayload = 512 << 20

    func run() throws {
        let state = try load(common)
        var out: [UInt8] = []
        func command(_ args: [[UInt8]]) {
            out += Array("*\(args.count)\r\n".utf8)
            for a in args {
                out += Array("$\(a.count)\r\n".utf8)
                out += a
                out += [13, 10]
            }
            if out.count > 1 << 16 { flush() }
        }
        func flush() {
            writeOut(out)
            out.removeAll(keepingCapacity: true)
        }
        let s = Self.bytes
        var currentDB = -1
        var dropped = 0
        var asCommands = 0
        for cs in state.streams {
            if cs.db != currentDB {
                command([s("SELECT"), s(String(cs.db))])
                currentDB = cs.db
            }
            if !commands {
                let payload = cs.stream.redisDumpPayload()
                if payload.count <= Self.maxPayload {
                    var restore = [s("RESTORE"), cs.key, s(String(cs.expireAt)), payload, s("REPLACE")]
                    if cs.expireAt > 0 { restore.append(s("ABSTTL")) }
                    command(restore)
                    continue
                }
                asCommands += 1
            }
            dropped += Self.writeCommands(cs, command)
        }
        if currentDB != 0 && currentDB != -1 { command([s("SELECT"), s("0")]) }
        flush()
        if asCommands > 0 {
            printErr("runnel-dump: \(asCommands) stream(s) with a payload over 512 MiB written as commands (XADD …)")
        }
        if dropped > 0 {
            printErr("runnel-dump: \(dropped) pending entries whose entry was deleted are not exported: XCLAIM cannot recreate them (the default RESTORE form keeps them)")
        }
    }

    /// One stream as XADD, XSETID, XGROUP and XCLAIM commands; returns the pending entries
    /// left out because their entry is gone.
    static func writeCommands(_ cs: CheckpointStream, _ command: ([[UInt8]]) -> Void) -> Int {
        let s = bytes
        let key = cs.key
        let stream = cs.stream
        if stream.length == 0 {
            // An empty stream: made by a group created with MKSTREAM and destroyed again,
            // which leaves no entry, deletion or counter behind (XSETID sets them next).
            command([s("XGROUP"), s("CREATE"), key, s("runnel-export"), s("0"), s("MKSTREAM")])
            command([s("XGROUP"), s("DESTROY"), key, s("runnel-export")])
        } else {
            _ = stream.visit(from: .zero, to: .max) { id, entry in
                var fields: [[UInt8]] = []
                entry.forEach { fields.append(Array($0)) }
                command([s("XADD"), key, s(id.description)] + fields)
            }
        }
        command([
            s("XSETID"), key, s(stream.lastID.description), s("ENTRIESADDED"), s(String(stream.entriesAdded)),
            s("MAXDELETEDID"), s(stream.maxDeletedID.description),
        ])
        var dropped = 0
        for (name, g) in stream.groups.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
            var create = [s("XGROUP"), s("CREATE"), key, name, s(g.lastID.description)]
            if let read = g.entriesRead { create += [s("ENTRIESREAD"), s(String(read))] }
            command(create)
            for c in g.sortedConsumers { command([s("XGROUP"), s("CREATECONSUMER"), key, name, c.name]) }
            for id in g.pendingOrder.all {
                guard let p = g.pending[id] else { continue }
                guard stream.entry(id) != nil else {
                    dropped += 1
                    continue
                }
                command([
                    s("XCLAIM"), key, name, p.consumer, s("0"), s(id.description), s("TIME"), s(String(p.deliveryTime)),
                    s("RETRYCOUNT"), s(String(p.deliveryCount)), s("FORCE"), s("JUSTID"),
                ])
            }
        }
        if cs.expireAt > 0 { command([s("PEXPIREAT"), key, s(String(cs.expireAt))]) }
        return dropped
    }
}

struct SnapshotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot", abstract: "List the snapshots of a data directory (SAVE/BGSAVE make them), optionally verifying them.")

    @OptionGroup var common: Common

    @Flag(help: "Check every file of every snapshot against its size and CRC.")
    var verify = false

    func run() throws {
        try common.checkExists()
        let list = Snapshot.list(common.directory)
        var rows: [[String]] = []
        var bad = false
        for (path, info) in list {
            let name = String(path.split(separator: "/").last ?? "")
            switch info {
            case .success(let i):
                var status = "-"
                if verify {
                    let problems = Snapshot.verify(path)
                    status = problems.isEmpty ? "ok" : problems.joined(separator: "; ")
                    if !problems.isEmpty { bad = true }
                }
                rows.append([name, isoTime(i.createdMs), String(i.totalBytes), String(i.files.count), i.summary, status])
            case .failure(let e):
                bad = true
                rows.append([name, "-", "-", "-", "unreadable: \(e)", "error"])
            }
        }
        if rows.isEmpty {
            print("no snapshots in \(common.dir)/\(Snapshot.directoryName)")
        } else {
            print(table(["name", "created", "bytes", "files", "contents", verify ? "verify" : "-"], rows, rightAligned: [2, 3]))
        }
        if bad { throw ExitCode(Exit.problems) }
    }
}

func isoTime(_ ms: Int64) -> String {
    var t = time_t(ms / 1000)
    var tmv = tm()
    gmtime_r(&t, &tmv)
    func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
    return "\(tmv.tm_year + 1900)-\(two(tmv.tm_mon + 1))-\(two(tmv.tm_mday))T\(two(tmv.tm_hour)):\(two(tmv.tm_min)):\(two(tmv.tm_sec))Z"
}

struct Restore: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Restore a snapshot into a data directory: verify, copy to a temporary directory, rename into place.")

    @Argument(help: "Snapshot directory (DIR/snapshots/<name>).")
    var snapshot: String

    @Option(help: "Target data directory.")
    var to: String

    @Flag(help: "Replace a non-empty target.")
    var force = false

    func run() throws {
        do {
            let info = try Snapshot.restore(snapshot, to: to, force: force)
            print("restored \(info.name) (\(info.summary)) into \(to): \(info.files.count) files, \(info.totalBytes) bytes")
        } catch {
            throw fail(error)
        }
    }
}

/// Writes bytes to standard output (fd 1), retrying short writes.
func writeOut(_ bytes: [UInt8]) {
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeBytes { write(1, $0.baseAddress! + done, $0.count - done) }
        if n <= 0 { return }
        done += n
    }
}

/// Whether any byte is ≤ 0x20, ≥ 0x7F, `"` or `\\` — eight bytes at a time (bit tricks from
/// "Bit Twiddling Hacks": haszero/hasless/hasmore), since `cat` checks every value it prints.
@inline(__always)
func needsQuoting(_ p: UnsafeRawBufferPointer) -> Bool {
    let ones: UInt64 = 0x0101_0101_0101_0101
    let highs: UInt64 = 0x8080_8080_8080_8080
    @inline(__always) func hasZero(_ v: UInt64) -> Bool { (v &- ones) & ~v & highs != 0 }
    var i = 0
    let n = p.count
    while i + 8 <= n {
        let x = p.loadUnaligned(fromByteOffset: i, as: UInt64.self)
        let below = (x &- ones &* 0x21) & ~x & highs  // a byte < 0x21
        let above = ((x &+ ones) | x) & highs  // a byte > 0x7E
        if below | above != 0 || hasZero(x ^ (ones &* 0x22)) || hasZero(x ^ (ones &* 0x5C)) { return true }
        i += 8
    }
    while i < n {
        let b = p[i]
        if b <= 0x20 || b >= 0x7F || b == 0x22 || b == 0x5C { return true }
        i += 1
    }
    return false
}
