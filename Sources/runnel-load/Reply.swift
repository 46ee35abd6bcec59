import NIOCore

/// A RESP2/RESP3 reply, parsed incrementally from a connection's input. The load generator
/// needs only enough of it to count replies, find stream IDs and fields, and read pushes.
enum Reply {
    case simple(ByteBuffer)
    case error(String)
    case integer(Int)
    case bulk(ByteBuffer?)
    case array([Reply]?)

    var arrayValue: [Reply]? { if case .array(let a) = self { return a } else { return nil } }
    var bulkValue: ByteBuffer? { if case .bulk(let b) = self { return b } else { return nil } }
    var isError: Bool { if case .error = self { return true } else { return false } }

    struct Malformed: Error, CustomStringConvertible {
        let byte: UInt8
        var description: String { "unexpected reply type byte \(byte)" }
    }

    /// Parses one reply from `buffer`; nil (and `buffer` untouched) when it is incomplete.
    static func parse(_ buffer: inout ByteBuffer) throws -> Reply? {
        let start = buffer.readerIndex
        guard let r = try parseOne(&buffer) else {
            buffer.moveReaderIndex(to: start)
            return nil
        }
        return r
    }

    private static func line(_ buffer: inout ByteBuffer) -> ByteBuffer? {
        let view = buffer.readableBytesView
        guard let cr = view.firstIndex(of: 13), cr + 1 < view.endIndex else { return nil }
        let length = cr - view.startIndex
        let l = buffer.readSlice(length: length)
        buffer.moveReaderIndex(forwardBy: 2)
        return l
    }

    private static func int(_ b: ByteBuffer) -> Int {
        var v = 0
        var neg = false
        for c in b.readableBytesView {
            if c == UInt8(ascii: "-") { neg = true } else { v = v * 10 + Int(c &- 48) }
        }
        return neg ? -v : v
    }

    private static func parseOne(_ buffer: inout ByteBuffer) throws -> Reply? {
        guard let type = buffer.readInteger(as: UInt8.self), let l = line(&buffer) else { return nil }
        switch type {
        case UInt8(ascii: "+"): return .simple(l)
        case UInt8(ascii: "-"): return .error(String(buffer: l))
        case UInt8(ascii: ":"): return .integer(int(l))
        case UInt8(ascii: "_"): return .bulk(nil)
        case UInt8(ascii: "$"):
            let n = int(l)
            if n < 0 { return .bulk(nil) }
            guard buffer.readableBytes >= n + 2, let b = buffer.readSlice(length: n) else { return nil }
            buffer.moveReaderIndex(forwardBy: 2)
            return .bulk(b)
        case UInt8(ascii: "*"), UInt8(ascii: ">"), UInt8(ascii: "~"), UInt8(ascii: "%"):
            var n = int(l)
            if n < 0 { return .array(nil) }
            if type == UInt8(ascii: "%") { n *= 2 }
            var items: [Reply] = []
            items.reserveCapacity(n)
            for _ in 0..<n {
                guard let item = try parseOne(&buffer) else { return nil }
                items.append(item)
            }
            return .array(items)
        default:
            throw Malformed(byte: type)
        }
    }
}

/// Encodes a command as a RESP multibulk.
func encodeCommand(_ args: [String], into buffer: inout ByteBuffer) {
    buffer.writeString("*\(args.count)\r\n")
    for a in args {
        buffer.writeString("$\(a.utf8.count)\r\n")
        buffer.writeString(a)
        buffer.writeString("\r\n")
    }
}
