/// Redis's serialized value format (DUMP/RESTORE payloads) for streams.
///
/// A payload is an RDB-encoded object — type byte, then the object — followed by the RDB
/// version (2 bytes, little-endian) and a CRC-64 (Jones polynomial, reflected, 8 bytes
/// little-endian) of everything before it. Runnel writes what redis-server 7.0 writes: object
/// type 19 (`STREAM_LISTPACKS_2`) at RDB version 10, each node a listpack laid out as Redis's
/// `t_stream.c` lays it out, strings longer than 20 bytes LZF-compressed when that saves space.
/// It reads types 15, 19 and 21 (Redis 5 to 7.2+) at versions up to 10, as Redis 7.0 does.
public enum RedisDump {
    public static let rdbVersion: UInt16 = 10
    static let typeStreamListpacks: UInt8 = 15
    static let typeStreamListpacks2: UInt8 = 19
    static let typeStreamListpacks3: UInt8 = 21

    /// Why a payload was refused, worded as Redis words it.
    public enum Failure: Error, Equatable, Sendable {
        /// Footer, version or checksum wrong.
        case versionOrChecksum
        /// Not a stream (Runnel stores streams only); the RDB type byte.
        case notAStream(UInt8)
        /// Malformed content.
        case badFormat
    }

    // MARK: - CRC-64 (Redis's crc64: Jones polynomial, reflected, init 0)

    static let crcTable: [UInt64] = (0..<256).map { i in
        var crc = UInt64(i)
        for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0x95AC_9329_AC4B_C9B5 : crc >> 1 }
        return crc
    }

    public static func crc64(_ bytes: ArraySlice<UInt8>, _ start: UInt64 = 0) -> UInt64 {
        var crc = start
        for b in bytes { crc = crcTable[Int((crc ^ UInt64(b)) & 0xFF)] ^ (crc >> 8) }
        return crc
    }

    // MARK: - LZF (the format of liblzf, which Redis uses for RDB strings)

    /// Compresses `input` into at most `limit` bytes; nil when it does not fit. Matches are
    /// chosen as liblzf 3.6 chooses them, which Debian's redis-server links: a match may start
    /// up to three bytes before the end (Redis's bundled copy stops at four). The hash table
    /// starts empty, so the output is deterministic; liblzf's keeps what its stack held, which
    /// can rarely add a match (any output decodes the same).
    static func lzfCompress(_ input: [UInt8], limit: Int) -> [UInt8]? {
        let n = input.count
        guard n > 0, limit > 0 else { return nil }
        let hlog = 16
        var table = [Int](repeating: -1, count: 1 << hlog)
        var out = [UInt8]()
        out.reserveCapacity(limit)
        func index(_ h: UInt32) -> Int { Int(((h >> UInt32(24 - hlog)) &- h &* 5) & UInt32((1 << hlog) - 1)) }
        var lit = 0
        out.append(0)  // literal run header, patched when the run ends
        var ip = 0
        var h = n >= 2 ? (UInt32(input[0]) << 8) | UInt32(input[1]) : 0
        /// Copies one input byte into the current literal run (at most 32 long).
        func literal() {
            lit += 1
            out.append(input[ip])
            ip += 1
            if lit == 32 {
                out[out.count - lit - 1] = UInt8(lit - 1)
                lit = 0
                out.append(0)
            }
        }
        func endRun() {
            out[out.count - lit - 1] = UInt8(truncatingIfNeeded: lit - 1)
            if lit == 0 { out.removeLast() }
        }
        while ip < n - 2 {
            h = (h << 8) | UInt32(input[ip + 2])
            let slot = index(h)
            let ref = table[slot]
            table[slot] = ip
            if ref > 0, ip - ref - 1 < 1 << 13, input[ref] == input[ip], input[ref + 1] == input[ip + 1],
                input[ref + 2] == input[ip + 2]
            {
                let off = ip - ref - 1
                var len = 2
                let maxLen = min(n - ip - len, (1 << 8) + (1 << 3))
                endRun()
                if out.count + 4 >= limit { return nil }
                // liblzf first compares 16 more bytes unconditionally when the match may be long
                // (`maxLen` then bounds only what follows), which decides the lengths it emits.
                var unrolledMatched = false
                if maxLen > 16 {
                    unrolledMatched = true
                    for _ in 0..<16 {
                        len += 1
                        if input[ref + len] != input[ip + len] {
                            unrolledMatched = false
                            break
                        }
                    }
                }
                if maxLen <= 16 || unrolledMatched {
                    repeat { len += 1 } while len < maxLen && input[ref + len] == input[ip + len]
                }
                len -= 2
                ip += 1
                if len < 7 {
                    out.append(UInt8(truncatingIfNeeded: (off >> 8) + (len << 5)))
                } else {
                    out.append(UInt8(truncatingIfNeeded: (off >> 8) + (7 << 5)))
                    out.append(UInt8(truncatingIfNeeded: len - 7))
                }
                out.append(UInt8(truncatingIfNeeded: off))
                lit = 0
                out.append(0)
                ip += len + 1
                if ip >= n - 2 { break }
                // Hash the two positions before the new one, as liblzf's VERY_FAST mode does.
                ip -= 2
                h = (UInt32(input[ip]) << 8) | UInt32(input[ip + 1])
                for _ in 0..<2 {
                    h = (h << 8) | UInt32(input[ip + 2])
                    table[index(h)] = ip
                    ip += 1
                }
            } else {
                if out.count >= limit { return nil }
                literal()
            }
        }
        if out.count + 3 > limit { return nil }
        while ip < n { literal() }
        endRun()
        return out.count <= limit ? out : nil
    }

    /// Decompresses to exactly `length` bytes; nil on any inconsistency.
    static func lzfDecompress(_ input: ArraySlice<UInt8>, length: Int) -> [UInt8]? {
        var out = [UInt8]()
        out.reserveCapacity(length)
        var ip = input.startIndex
        while ip < input.endIndex {
            let ctrl = Int(input[ip])
            ip += 1
            if ctrl < 32 {
                let run = ctrl + 1
                guard ip + run <= input.endIndex, out.count + run <= length else { return nil }
                out.append(contentsOf: input[ip..<ip + run])
                ip += run
            } else {
                var len = ctrl >> 5
                if len == 7 {
                    guard ip < input.endIndex else { return nil }
                    len += Int(input[ip])
                    ip += 1
                }
                guard ip < input.endIndex else { return nil }
                let back = ((ctrl & 0x1F) << 8) + Int(input[ip]) + 1
                ip += 1
                len += 2
                guard back <= out.count, out.count + len <= length else { return nil }
                let from = out.count - back
                for k in 0..<len { out.append(out[from + k]) }
            }
        }
        return out.count == length ? out : nil
    }

    // MARK: - RDB primitives

    struct Writer {
        var bytes: [UInt8] = []

        mutating func length(_ v: UInt64) {
            if v < 64 {
                bytes.append(UInt8(v))
            } else if v < 16384 {
                bytes.append(0x40 | UInt8(v >> 8))
                bytes.append(UInt8(v & 0xFF))
            } else if v <= UInt64(UInt32.max) {
                bytes.append(0x80)
                for s in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8((v >> UInt64(s)) & 0xFF)) }
            } else {
                bytes.append(0x81)
                for s in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8((v >> UInt64(s)) & 0xFF)) }
            }
        }

        mutating func milliseconds(_ t: Int64) {
            let v = UInt64(bitPattern: t)
            for s in stride(from: 0, through: 56, by: 8) { bytes.append(UInt8((v >> UInt64(s)) & 0xFF)) }
        }

        mutating func rawID(_ id: StreamID) {
            for s in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8((id.ms >> UInt64(s)) & 0xFF)) }
            for s in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8((id.seq >> UInt64(s)) & 0xFF)) }
        }

        /// `rdbSaveRawString`: small integers as integers, long strings LZF-compressed when
        /// that saves at least 4 bytes, the rest as length and bytes.
        mutating func string(_ s: [UInt8]) {
            if s.count <= 11, let v = Self.exactInteger(s) {
                if v >= -128 && v <= 127 {
                    bytes += [0xC0, UInt8(truncatingIfNeeded: v)]
                    return
                } else if v >= -32768 && v <= 32767 {
                    bytes += [0xC1, UInt8(truncatingIfNeeded: v), UInt8(truncatingIfNeeded: v >> 8)]
                    return
                } else if v >= Int64(Int32.min) && v <= Int64(Int32.max) {
                    bytes.append(0xC2)
                    for sh in stride(from: 0, through: 24, by: 8) { bytes.append(UInt8(truncatingIfNeeded: v >> Int64(sh))) }
                    return
                }
            }
            if s.count > 20, let packed = RedisDump.lzfCompress(s, limit: s.count - 4) {
                bytes.append(0xC3)
                length(UInt64(packed.count))
                length(UInt64(s.count))
                bytes += packed
                return
            }
            length(UInt64(s.count))
            bytes += s
        }

        /// The value when `s` is the canonical decimal text of an Int64 (as `ll2string` writes it).
        static func exactInteger(_ s: [UInt8]) -> Int64? {
            guard s.allSatisfy({ $0 < 0x80 }) else { return nil }
            let text = String(decoding: s, as: UTF8.self)
            guard let v = Int64(text), String(v) == text else { return nil }
            return v
        }
    }

    struct Reader {
        let bytes: [UInt8]
        var pos: Int

        mutating func byte() throws(Failure) -> UInt8 {
            guard pos < bytes.count else { throw .badFormat }
            pos += 1
            return bytes[pos - 1]
        }

        mutating func take(_ n: Int) throws(Failure) -> ArraySlice<UInt8> {
            guard n >= 0, n <= bytes.count - pos else { throw .badFormat }
            pos += n
            return bytes[pos - n..<pos]
        }

        /// A length, or (`encoded` true) a special string encoding's number.
        mutating func lengthOrEncoding() throws(Failure) -> (UInt64, encoded: Bool) {
            let first = try byte()
            switch first >> 6 {
            case 0: return (UInt64(first & 0x3F), false)
            case 1: return ((UInt64(first & 0x3F) << 8) | UInt64(try byte()), false)
            case 2:
                let width = first == 0x80 ? 4 : first == 0x81 ? 8 : 0
                guard width > 0 else { throw .badFormat }
                var v: UInt64 = 0
                for b in try take(width) { v = (v << 8) | UInt64(b) }
                return (v, false)
            default: return (UInt64(first & 0x3F), true)
            }
        }

        mutating func length() throws(Failure) -> UInt64 {
            let (v, encoded) = try lengthOrEncoding()
            guard !encoded else { throw .badFormat }
            return v
        }

        /// A count bounded by what the rest of the payload could hold (one byte each at least).
        mutating func count() throws(Failure) -> Int {
            let v = try length()
            guard v <= UInt64(bytes.count - pos) else { throw .badFormat }
            return Int(v)
        }

        mutating func milliseconds() throws(Failure) -> Int64 {
            var v: UInt64 = 0
            for (i, b) in try take(8).enumerated() { v |= UInt64(b) << UInt64(8 * i) }
            return Int64(bitPattern: v)
        }

        mutating func rawID() throws(Failure) -> StreamID {
            let b = try take(16)
            var ms: UInt64 = 0
            var seq: UInt64 = 0
            for (i, x) in b.enumerated() {
                if i < 8 { ms = (ms << 8) | UInt64(x) } else { seq = (seq << 8) | UInt64(x) }
            }
            return StreamID(ms: ms, seq: seq)
        }

        mutating func string() throws(Failure) -> [UInt8] {
            let (v, encoded) = try lengthOrEncoding()
            guard encoded else { return Array(try take(Int(clamping: v))) }
            switch v {
            case 0: return Array(String(Int8(bitPattern: try byte())).utf8)
            case 1:
                let b = try take(2)
                return Array(String(Int16(bitPattern: UInt16(b[b.startIndex]) | UInt16(b[b.startIndex + 1]) << 8)).utf8)
            case 2:
                var u: UInt32 = 0
                for (i, x) in try take(4).enumerated() { u |= UInt32(x) << UInt32(8 * i) }
                return Array(String(Int32(bitPattern: u)).utf8)
            case 3:
                let packedLength = try length()
                let plainLength = try length()
                guard plainLength <= 1 << 32, packedLength <= UInt64(bytes.count - pos) else { throw .badFormat }
                guard let plain = RedisDump.lzfDecompress(try take(Int(packedLength)), length: Int(plainLength)) else {
                    throw .badFormat
                }
                return plain
            default: throw .badFormat
            }
        }
    }

    // MARK: - Listpacks

    enum Element: Equatable {
        case integer(Int64)
        case string([UInt8])
    }

    struct ListpackWriter {
        var body: [UInt8] = []
        var count = 0

        mutating func integer(_ v: Int64) {
            var enc: [UInt8]
            if v >= 0 && v <= 127 {
                enc = [UInt8(v)]
            } else if v >= -4096 && v <= 4095 {
                let u = UInt16(bitPattern: Int16(v)) & 0x1FFF
                enc = [0xC0 | UInt8(u >> 8), UInt8(u & 0xFF)]
            } else if v >= Int64(Int16.min) && v <= Int64(Int16.max) {
                enc = [0xF1] + littleEndian(UInt64(bitPattern: v), 2)
            } else if v >= -8_388_608 && v <= 8_388_607 {
                enc = [0xF2] + littleEndian(UInt64(bitPattern: v), 3)
            } else if v >= Int64(Int32.min) && v <= Int64(Int32.max) {
                enc = [0xF3] + littleEndian(UInt64(bitPattern: v), 4)
            } else {
                enc = [0xF4] + littleEndian(UInt64(bitPattern: v), 8)
            }
            element(enc)
        }

        /// A string element, stored as an integer when listpack would (`lpStringToInt64`).
        mutating func string(_ s: ArraySlice<UInt8>) {
            if let v = s.withUnsafeBytes({ ListpackSize.integerValue(raw: $0) }) {
                integer(v)
                return
            }
            var enc: [UInt8]
            if s.count < 64 {
                enc = [0x80 | UInt8(s.count)]
            } else if s.count < 4096 {
                enc = [0xE0 | UInt8(s.count >> 8), UInt8(s.count & 0xFF)]
            } else {
                enc = [0xF0] + littleEndian(UInt64(s.count), 4)
            }
            enc += s
            element(enc)
        }

        private mutating func element(_ enc: [UInt8]) {
            body += enc
            let l = enc.count
            // The back-length: the element's size, 7 bits per byte, most significant first.
            if l <= 127 {
                body.append(UInt8(l))
            } else if l < 16383 {
                body += [UInt8(l >> 7), UInt8(l & 127) | 128]
            } else if l < 2_097_151 {
                body += [UInt8(l >> 14), UInt8((l >> 7) & 127) | 128, UInt8(l & 127) | 128]
            } else if l < 268_435_455 {
                body += [UInt8(l >> 21), UInt8((l >> 14) & 127) | 128, UInt8((l >> 7) & 127) | 128, UInt8(l & 127) | 128]
            } else {
                body += [UInt8(l >> 28), UInt8((l >> 21) & 127) | 128, UInt8((l >> 14) & 127) | 128,
                         UInt8((l >> 7) & 127) | 128, UInt8(l & 127) | 128]
            }
            count += 1
        }

        func finish() -> [UInt8] {
            let total = 6 + body.count + 1
            return littleEndian(UInt64(total), 4) + littleEndian(UInt64(min(count, 65535)), 2) + body + [0xFF]
        }

        func littleEndian(_ v: UInt64, _ n: Int) -> [UInt8] { (0..<n).map { UInt8((v >> UInt64(8 * $0)) & 0xFF) } }
    }

    /// The elements of a listpack; throws on anything malformed.
    static func listpackElements(_ lp: [UInt8]) throws(Failure) -> [Element] {
        guard lp.count >= 7, lp.last == 0xFF else { throw .badFormat }
        let total = Int(lp[0]) | Int(lp[1]) << 8 | Int(lp[2]) << 16 | Int(lp[3]) << 24
        guard total == lp.count else { throw .badFormat }
        var out: [Element] = []
        var i = 6
        let end = lp.count - 1
        func need(_ n: Int) throws(Failure) { guard n <= end - i else { throw .badFormat } }
        func littleEndian(_ at: Int, _ n: Int) -> UInt64 {
            var v: UInt64 = 0
            for k in 0..<n { v |= UInt64(lp[at + k]) << UInt64(8 * k) }
            return v
        }
        func signExtend(_ v: UInt64, bits: Int) -> Int64 {
            let shift = UInt64(64 - bits)
            return Int64(bitPattern: v << shift) >> Int64(shift)
        }
        while i < end {
            let start = i
            let b = lp[i]
            if b & 0x80 == 0 {
                out.append(.integer(Int64(b)))
                i += 1
            } else if b & 0xC0 == 0x80 {
                let n = Int(b & 0x3F)
                try need(1 + n)
                out.append(.string(Array(lp[i + 1..<i + 1 + n])))
                i += 1 + n
            } else if b & 0xE0 == 0xC0 {
                try need(2)
                out.append(.integer(signExtend(UInt64(b & 0x1F) << 8 | UInt64(lp[i + 1]), bits: 13)))
                i += 2
            } else if b & 0xF0 == 0xE0 {
                try need(2)
                let n = Int(b & 0x0F) << 8 | Int(lp[i + 1])
                try need(2 + n)
                out.append(.string(Array(lp[i + 2..<i + 2 + n])))
                i += 2 + n
            } else {
                switch b {
                case 0xF1, 0xF2, 0xF3, 0xF4:
                    let n = b == 0xF1 ? 2 : b == 0xF2 ? 3 : b == 0xF3 ? 4 : 8
                    try need(1 + n)
                    out.append(.integer(signExtend(littleEndian(i + 1, n), bits: 8 * n)))
                    i += 1 + n
                case 0xF0:
                    try need(5)
                    let n = Int(littleEndian(i + 1, 4))
                    try need(5 + n)
                    out.append(.string(Array(lp[i + 5..<i + 5 + n])))
                    i += 5 + n
                default:
                    throw .badFormat
                }
            }
            // Skip the back-length after checking it names the element's size.
            let l = i - start
            let backlen = l <= 127 ? 1 : l < 16383 ? 2 : l < 2_097_151 ? 3 : l < 268_435_455 ? 4 : 5
            try need(backlen)
            i += backlen
        }
        return out
    }
}

extension Stream {
    /// This stream as a DUMP payload, byte for byte what redis-server 7.0 produces for the
    /// same stream (up to LZF's choice of matches).
    public func redisDumpPayload() -> [UInt8] {
        var w = RedisDump.Writer()
        w.bytes.append(RedisDump.typeStreamListpacks2)
        w.length(UInt64(nodes.count))
        for node in nodes {
            var key = RedisDump.Writer()
            key.rawID(node.masterID)
            w.string(key.bytes)
            w.string(node.redisListpack())
        }
        w.length(UInt64(length))
        w.length(lastID.ms)
        w.length(lastID.seq)
        w.length(firstID.ms)
        w.length(firstID.seq)
        w.length(maxDeletedID.ms)
        w.length(maxDeletedID.seq)
        w.length(entriesAdded)
        let sortedGroups = groups.sorted { $0.key.lexicographicallyPrecedes($1.key) }
        w.length(UInt64(sortedGroups.count))
        for (name, g) in sortedGroups {
            w.string(name)
            w.length(g.lastID.ms)
            w.length(g.lastID.seq)
            w.length(UInt64(bitPattern: g.entriesRead ?? -1))
            w.length(UInt64(g.pending.count))
            for id in g.pendingOrder.all {
                guard let nack = g.pending[id] else { continue }
                w.rawID(id)
                w.milliseconds(nack.deliveryTime)
                w.length(nack.deliveryCount)
            }
            let consumers = g.consumers.values.sorted { $0.name.lexicographicallyPrecedes($1.name) }
            w.length(UInt64(consumers.count))
            for c in consumers {
                w.string(c.name)
                w.milliseconds(c.seenTime)
                w.length(UInt64(c.pending.count))
                for id in c.pending.all { w.rawID(id) }
            }
        }
        w.bytes += [UInt8(RedisDump.rdbVersion & 0xFF), UInt8(RedisDump.rdbVersion >> 8)]
        let crc = RedisDump.crc64(w.bytes[...])
        for s in stride(from: 0, through: 56, by: 8) { w.bytes.append(UInt8((crc >> UInt64(s)) & 0xFF)) }
        return w.bytes
    }

    /// The records that build the stream a DUMP payload holds (replayed into an empty
    /// stream, and logged, by RESTORE). Throws on a bad footer, a non-stream or bad content.
    /// `skipChecksum`: DEBUG SET-SKIP-CHECKSUM-VALIDATION 1 (the version is still checked).
    public static func records(fromRedisDump payload: [UInt8], skipChecksum: Bool = false) throws(RedisDump.Failure) -> [StreamRecord] {
        guard payload.count >= 10 else { throw .versionOrChecksum }
        let footer = payload.count - 10
        let version = UInt16(payload[footer]) | UInt16(payload[footer + 1]) << 8
        var crc: UInt64 = 0
        for k in 0..<8 { crc |= UInt64(payload[footer + 2 + k]) << UInt64(8 * k) }
        guard version <= RedisDump.rdbVersion, skipChecksum || RedisDump.crc64(payload[..<(footer + 2)]) == crc else {
            throw .versionOrChecksum
        }
        var r = RedisDump.Reader(bytes: Array(payload[..<footer]), pos: 0)
        let type = try r.byte()
        guard [RedisDump.typeStreamListpacks, RedisDump.typeStreamListpacks2, RedisDump.typeStreamListpacks3].contains(type)
        else { throw .notAStream(type) }
        var records: [StreamRecord] = []
        var deleted: [StreamID] = []
        var previous: StreamID?
        var firstLive: StreamID?
        let nodeCount = try r.count()
        for _ in 0..<nodeCount {
            let key = try r.string()
            guard key.count == 16 else { throw .badFormat }
            var kr = RedisDump.Reader(bytes: key, pos: 0)
            let master = try kr.rawID()
            let elements = try RedisDump.listpackElements(try r.string())
            var e = elements[...]
            func int() throws(RedisDump.Failure) -> Int64 {
                guard case .integer(let v)? = e.popFirst() else { throw .badFormat }
                return v
            }
            func bytes() throws(RedisDump.Failure) -> [UInt8] {
                switch e.popFirst() {
                case .integer(let v)?: return Array(String(v).utf8)
                case .string(let s)?: return s
                case nil: throw .badFormat
                }
            }
            let live = try int()
            let dead = try int()
            let masterFieldCount = try int()
            guard live >= 0, dead >= 0, masterFieldCount > 0, masterFieldCount <= elements.count else { throw .badFormat }
            var masterFields: [[UInt8]] = []
            for _ in 0..<masterFieldCount { masterFields.append(try bytes()) }
            guard try int() == 0 else { throw .badFormat }
            var seenLive: Int64 = 0
            var seenDead: Int64 = 0
            var first = true
            while !e.isEmpty {
                let flags = try int()
                let msDelta = UInt64(bitPattern: try int())
                let seqDelta = UInt64(bitPattern: try int())
                let id = StreamID(ms: master.ms &+ msDelta, seq: master.seq &+ seqDelta)
                if first { guard id == master else { throw .badFormat } }
                if let previous { guard id > previous else { throw .badFormat } }
                previous = id
                var fields: [[UInt8]] = []
                if flags & 2 != 0 {
                    for f in masterFields {
                        fields.append(f)
                        fields.append(try bytes())
                    }
                } else {
                    let n = try int()
                    guard n > 0, n <= e.count else { throw .badFormat }
                    for _ in 0..<(2 * n) { fields.append(try bytes()) }
                }
                _ = try int()  // lp-count
                records.append(.append(id: id, fields: fields, newNode: first))
                first = false
                if flags & 1 != 0 {
                    deleted.append(id)
                    seenDead += 1
                } else {
                    if firstLive == nil { firstLive = id }
                    seenLive += 1
                }
            }
            guard !first, seenLive == live, seenDead == dead, live > 0 else { throw .badFormat }
        }
        if !deleted.isEmpty { records.append(.delete(ids: deleted)) }
        let length = try r.length()
        let lastID = StreamID(ms: try r.length(), seq: try r.length())
        var entriesAdded = length
        var maxDeleted = StreamID.zero
        if type != RedisDump.typeStreamListpacks {
            _ = StreamID(ms: try r.length(), seq: try r.length())  // first ID: derived from the entries
            maxDeleted = StreamID(ms: try r.length(), seq: try r.length())
            entriesAdded = try r.length()
        }
        if let previous { guard lastID >= previous else { throw .badFormat } }
        records.append(.setMetadata(lastID: lastID, entriesAdded: entriesAdded, maxDeletedID: maxDeleted))
        let groupCount = try r.count()
        for _ in 0..<groupCount {
            let name = try r.string()
            let groupLast = StreamID(ms: try r.length(), seq: try r.length())
            let entriesRead: Int64?
            if type != RedisDump.typeStreamListpacks {
                let raw = Int64(bitPattern: try r.length())
                entriesRead = raw < 0 ? nil : raw
            } else {
                // A payload from before Redis 7.0 has no read counters: estimate each group's
                // from its last-delivered ID, as Redis does when it loads one.
                entriesRead = Stream.estimateEntriesRead(
                    upTo: groupLast, entriesAdded: entriesAdded, length: Int(clamping: length),
                    lastID: lastID, firstID: firstLive ?? .zero, maxDeletedID: maxDeleted)
            }
            records.append(.groupCreate(name: name, lastID: groupLast, entriesRead: entriesRead))
            var nacks: [StreamID: (Int64, UInt64)] = [:]
            let pelCount = try r.count()
            for _ in 0..<pelCount {
                let id = try r.rawID()
                let time = try r.milliseconds()
                nacks[id] = (time, try r.length())
            }
            guard nacks.count == pelCount else { throw .badFormat }
            let consumerCount = try r.count()
            var owned = 0
            for _ in 0..<consumerCount {
                let consumer = try r.string()
                let seen = try r.milliseconds()
                let active = type == RedisDump.typeStreamListpacks3 ? try r.milliseconds() : seen
                records.append(.consumerCreate(group: name, consumer: consumer, time: seen))
                if active >= 0 { records.append(.consumerActive(group: name, consumer: consumer, time: active)) }
                let ownCount = try r.count()
                for _ in 0..<ownCount {
                    let id = try r.rawID()
                    guard let (time, count) = nacks[id] else { throw .badFormat }
                    records.append(.claim(group: name, consumer: consumer, id: id, deliveryTime: time, deliveryCount: count))
                    owned += 1
                }
            }
            // Every pending entry has exactly one owner.
            guard owned == pelCount else { throw .badFormat }
        }
        guard r.pos == r.bytes.count else { throw .badFormat }
        return records
    }
}

extension StreamNode {
    /// The node as the listpack Redis keeps for it: the master entry (live count, deleted
    /// count, field names, 0), then per entry flags, ID deltas, fields (unless the master's),
    /// values and the entry's element count.
    func redisListpack() -> [UInt8] {
        var lp = RedisDump.ListpackWriter()
        lp.integer(Int64(live))
        lp.integer(Int64(deleted))
        lp.integer(Int64(masterFields.count))
        for j in 0..<masterFields.count { lp.string(masterFields[j]) }
        lp.integer(0)
        forEachSlot { slot, r in
            let flags = data[slot.offset]
            let fields = decodeBody(flags: flags, &r)
            let same = flags & 2 != 0
            lp.integer(Int64(flags))
            lp.integer(Int64(bitPattern: slot.id.ms &- masterID.ms))
            lp.integer(Int64(bitPattern: slot.id.seq &- masterID.seq))
            let n = fields.count / 2
            if same {
                for j in 0..<n { lp.string(fields[2 * j + 1][...]) }
            } else {
                lp.integer(Int64(n))
                for f in fields { lp.string(f[...]) }
            }
            lp.integer(Int64(n + 3 + (same ? 0 : n + 1)))
            return true
        }
        return lp.finish()
    }
}
