import NIOCore
import RunnelRESP
import RunnelStreams

/// Stream commands. This file holds the first slice (XADD without trimming, XLEN, XRANGE,
/// XREVRANGE, XDEL); the full command set and consumer groups are the streams issue.
extension Broker {
    static let invalidStreamID = "ERR Invalid stream ID specified as stream command argument"

    static func registerStreamCommands(_ r: inout CommandRegistrar) {
        r.add("xadd", -5, ["write", "denyoom", "fast"], ["@write", "@stream", "@fast"], "stream", "Appends a new entry to a stream", "5.0.0", keys: (1, 1, 1)) { b, s, a in
            b.xadd(s, a)
        }
        r.add("xlen", 2, ["readonly", "fast"], ["@read", "@stream", "@fast"], "stream", "Return the number of entries in a stream", "5.0.0", keys: (1, 1, 1)) { b, s, a in
            guard case .stream(let box)? = b.lookup(s.db, a[1]) else {
                s.out.integer(0)
                return
            }
            s.out.integer(box.stream.count)
        }
        r.add("xrange", -4, ["readonly"], ["@read", "@stream", "@slow"], "stream", "Return a range of elements in a stream, with IDs matching the specified IDs interval", "5.0.0", keys: (1, 1, 1), complexity: "O(N)") { b, s, a in
            b.xrange(s, a, reverse: false)
        }
        r.add("xrevrange", -4, ["readonly"], ["@read", "@stream", "@slow"], "stream", "Return a range of elements in a stream, with IDs matching the specified IDs interval, in reverse order (from greater to smaller IDs) compared to XRANGE", "5.0.0", keys: (1, 1, 1), complexity: "O(N)") { b, s, a in
            b.xrange(s, a, reverse: true)
        }
        r.add("xdel", -3, ["write", "fast"], ["@write", "@stream", "@fast"], "stream", "Removes the specified entries from the stream. Returns the number of items actually deleted, that may be different from the number of IDs passed in case certain IDs do not exist.", "5.0.0", keys: (1, 1, 1)) { b, s, a in
            var ids: [StreamID] = []
            for arg in a.dropFirst(2) {
                guard let id = Self.parseStreamID(arg, missingSeq: 0) else {
                    b.replyError(s, Self.invalidStreamID)
                    return
                }
                ids.append(id)
            }
            guard case .stream(let box)? = b.lookup(s.db, a[1]) else {
                s.out.integer(0)
                return
            }
            let removed = box.stream.delete(ids)
            if removed > 0 {
                b.touchWatched(s.db, a[1])
                b.notifyKeyspaceEvent(.stream, "xdel", a[1], s.db)
            }
            s.out.integer(removed)
        }
    }

    /// Parses `ms-seq` or `ms` (sequence `missingSeq`); nil when malformed.
    static func parseStreamID(_ arg: ByteBuffer, missingSeq: UInt64) -> StreamID? {
        let bytes = Array(arg.readableBytesView)
        if let dash = bytes.firstIndex(of: UInt8(ascii: "-")) {
            guard let ms = parseUInt64(bytes[..<dash]), let seq = parseUInt64(bytes[(dash + 1)...]) else { return nil }
            return StreamID(ms: ms, seq: seq)
        }
        guard let ms = parseUInt64(bytes[...]) else { return nil }
        return StreamID(ms: ms, seq: missingSeq)
    }

    /// Redis's `string2ull`: decimal digits only.
    static func parseUInt64(_ bytes: ArraySlice<UInt8>) -> UInt64? {
        guard !bytes.isEmpty, bytes.count <= 20 else { return nil }
        var v: UInt64 = 0
        for c in bytes {
            guard c >= 48 && c <= 57 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (r, o2) = m.addingReportingOverflow(UInt64(c - 48))
            if o1 || o2 { return nil }
            v = r
        }
        return v
    }

    func xadd(_ s: ClientSession, _ a: [ByteBuffer]) {
        var i = 2
        var noMkStream = false
        if a[i].equalsIgnoringCase("nomkstream") {
            noMkStream = true
            i += 1
        }
        guard i < a.count else {
            replyError(s, "ERR syntax error")
            return
        }
        let idArg = a[i]
        let fields = a.count - i - 1
        if fields <= 0 || fields % 2 != 0 {
            replyError(s, "ERR wrong number of arguments for 'xadd' command")
            return
        }
        let request: Stream.IDRequest
        if idArg.readableBytes == 1 && idArg.readableBytesView.first == UInt8(ascii: "*") {
            request = .auto
        } else {
            let bytes = Array(idArg.readableBytesView)
            if bytes.count > 2 && bytes.suffix(2) == [UInt8(ascii: "-"), UInt8(ascii: "*")] {
                guard let ms = Self.parseUInt64(bytes.dropLast(2)) else {
                    replyError(s, Self.invalidStreamID)
                    return
                }
                request = .autoSequence(ms: ms)
            } else {
                guard let id = Self.parseStreamID(idArg, missingSeq: 0) else {
                    replyError(s, Self.invalidStreamID)
                    return
                }
                request = .explicit(id)
            }
        }
        if case .explicit(let id) = request, id == .zero {
            replyError(s, "ERR The ID specified in XADD must be greater than 0-0")
            return
        }
        let box: StreamBox
        var created = false
        if case .stream(let existing)? = lookup(s.db, a[1]) {
            box = existing
        } else {
            if noMkStream {
                s.out.null()
                return
            }
            box = StreamBox()
            created = true
        }
        let values = a[(i + 1)...].map { Array($0.readableBytesView) }
        let id: StreamID
        do {
            id = try box.stream.append(request, fieldsAndValues: values, nowMs: UInt64(max(0, Clock.nowMs())))
        } catch {
            switch error {
            case .idZero: replyError(s, "ERR The ID specified in XADD must be greater than 0-0")
            case .idTooSmall, .exhausted:
                replyError(s, "ERR The ID specified in XADD is equal or smaller than the target stream top item")
            }
            return
        }
        if created { dbs[s.db].set(a[1], .stream(box)) }
        touchWatched(s.db, a[1])
        notifyKeyspaceEvent(.stream, "xadd", a[1], s.db)
        s.out.bulk(id.description)
    }

    func xrange(_ s: ClientSession, _ a: [ByteBuffer], reverse: Bool) {
        let startArg = reverse ? a[3] : a[2]
        let endArg = reverse ? a[2] : a[3]
        guard let start = Self.parseRangeBound(startArg, isStart: true),
            let end = Self.parseRangeBound(endArg, isStart: false)
        else {
            replyError(s, Self.invalidStreamID)
            return
        }
        var limit: Int?
        if a.count > 4 {
            guard a.count == 6, a[4].equalsIgnoringCase("count") else {
                replyError(s, "ERR syntax error")
                return
            }
            guard let n = RESPInteger.parse(a[5]) else {
                replyError(s, "ERR value is not an integer or out of range")
                return
            }
            limit = max(0, n)
        }
        guard case .some(let lo) = start, case .some(let hi) = end else {
            s.out.emptyArray()  // an exclusive bound past the ID space
            return
        }
        if limit == 0 {
            s.out.emptyArray()
            return
        }
        guard case .stream(let box)? = lookup(s.db, a[1]) else {
            s.out.emptyArray()
            return
        }
        let entries = box.stream.range(from: lo, to: hi, limit: limit, reverse: reverse)
        s.out.arrayHeader(entries.count)
        for e in entries { writeEntry(s, e) }
    }

    func writeEntry(_ s: ClientSession, _ e: StreamEntry) {
        s.out.arrayHeader(2)
        s.out.bulk(e.id.description)
        s.out.arrayHeader(e.fieldsAndValues.count)
        for fv in e.fieldsAndValues { s.out.bulk(bytes: fv) }
    }

    /// A range bound: `-`, `+`, `ms`, `ms-seq`, or exclusive `(id`. The inner optional is nil
    /// when an exclusive bound leaves nothing (e.g. `(` past the last possible ID).
    static func parseRangeBound(_ arg: ByteBuffer, isStart: Bool) -> StreamID?? {
        let bytes = Array(arg.readableBytesView)
        if bytes == [UInt8(ascii: "-")] { return .some(.zero) }
        if bytes == [UInt8(ascii: "+")] { return .some(.max) }
        if bytes.first == UInt8(ascii: "(") {
            guard let id = parseStreamID(ByteBuffer(bytes: bytes.dropFirst()), missingSeq: isStart ? 0 : .max) else {
                return nil
            }
            return .some(isStart ? id.successor : id.predecessor)
        }
        guard let id = parseStreamID(arg, missingSeq: isStart ? 0 : .max) else { return nil }
        return .some(id)
    }
}
