import NIOCore
import RunnelRESP
import RunnelStreams

/// Stream ID argument parsing with redis-server's rules (`streamGenericParseIDOrReply`).
enum StreamIDArg {
    static let invalid = "ERR Invalid stream ID specified as stream command argument"

    /// Redis's `string2ull`: strict decimal first, then `strtoull` (leading space, sign,
    /// leading zeros accepted; a minus wraps around).
    static func parseULL(_ b: ArraySlice<UInt8>) -> UInt64? {
        if b.isEmpty { return nil }
        let strict = Array(b).withUnsafeBytes { RESPInteger.parse($0) }
        if let strict { return strict < 0 ? nil : UInt64(strict) }
        // strtoull: leading white space, an optional sign (minus wraps), digits to the end.
        var i = b.startIndex
        while i < b.endIndex && (b[i] == 0x20 || (b[i] >= 0x09 && b[i] <= 0x0D)) { i += 1 }
        var negative = false
        if i < b.endIndex && (b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-")) {
            negative = b[i] == UInt8(ascii: "-")
            i += 1
        }
        guard i < b.endIndex else { return nil }
        var v: UInt64 = 0
        while i < b.endIndex {
            let d = b[i] &- UInt8(ascii: "0")
            guard d <= 9 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(d))
            if o1 || o2 { return nil }
            v = a
            i += 1
        }
        return negative ? 0 &- v : v
    }

    /// Parses an ID. `strict` refuses `-` and `+`; `missingSeq` fills an absent sequence.
    /// With `allowAutoSeq`, `ms-*` returns `autoSeq = true`.
    static func parse(_ arg: ByteBuffer, strict: Bool, missingSeq: UInt64, allowAutoSeq: Bool = false)
        -> (id: StreamID, autoSeq: Bool)?
    {
        let b = Array(arg.readableBytesView)
        if b.count > 127 { return nil }
        if b.count == 1 && (b[0] == UInt8(ascii: "-") || b[0] == UInt8(ascii: "+")) {
            if strict { return nil }
            return (b[0] == UInt8(ascii: "-") ? .zero : .max, false)
        }
        if let dash = b.firstIndex(of: UInt8(ascii: "-")) {
            guard let ms = parseULL(b[..<dash]) else { return nil }
            let rest = b[(dash + 1)...]
            if allowAutoSeq && rest.count == 1 && rest.first == UInt8(ascii: "*") {
                return (StreamID(ms: ms, seq: 0), true)
            }
            guard let seq = parseULL(rest) else { return nil }
            return (StreamID(ms: ms, seq: seq), false)
        }
        guard let ms = parseULL(b[...]) else { return nil }
        return (StreamID(ms: ms, seq: missingSeq), false)
    }

    /// An interval bound: `(id` is exclusive. Returns the ID and whether it is exclusive.
    static func parseInterval(_ arg: ByteBuffer, missingSeq: UInt64) -> (StreamID, Bool)? {
        if arg.readableBytes > 1 && arg.firstByte == UInt8(ascii: "(") {
            let rest = arg.getSlice(at: arg.readerIndex + 1, length: arg.readableBytes - 1)!
            guard let (id, _) = parse(rest, strict: true, missingSeq: missingSeq) else { return nil }
            return (id, true)
        }
        guard let (id, _) = parse(arg, strict: false, missingSeq: missingSeq) else { return nil }
        return (id, false)
    }
}
