import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The protocol a connection speaks: RESP2 (default) or RESP3 (after `HELLO 3`).
public enum RESPVersion: Int, Sendable {
    case resp2 = 2
    case resp3 = 3
}

/// Writes replies into a `ByteBuffer`, choosing the RESP2 or RESP3 shape of each reply type.
///
/// RESP3 types fall back as redis-server does for RESP2 clients: maps become flat arrays of
/// 2·n elements, sets become arrays, doubles become bulk strings, booleans become integers,
/// nulls become `$-1` (or `*-1` for a null array), verbatim strings become bulk strings and
/// push messages become arrays.
public struct RESPWriter {
    public var buffer: ByteBuffer
    public var version: RESPVersion

    public init(buffer: ByteBuffer, version: RESPVersion) {
        self.buffer = buffer
        self.version = version
    }

    @inlinable
    mutating func writeCRLF() { buffer.writeStaticString("\r\n") }

    /// Formats `value` in decimal at `p`; returns the bytes written (at most 20).
    @inlinable
    static func formatDecimal(_ value: Int, at p: UnsafeMutableRawPointer) -> Int {
        let sign = value < 0 ? 1 : 0
        if sign == 1 { p.storeBytes(of: UInt8(ascii: "-"), as: UInt8.self) }
        let magnitude = UInt64(value.magnitude)
        let digits = decimalDigits(magnitude)
        putDecimal(magnitude, endingAt: p + sign + digits)
        return sign + digits
    }

    @inlinable
    mutating func writeDecimal(_ value: Int) {
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 20) { ptr in
            Self.formatDecimal(value, at: ptr.baseAddress!)
        }
    }

    /// `<marker><count>\r\n` in one buffer write.
    @inlinable
    mutating func writeHeader(_ marker: UInt8, _ count: Int) {
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 24) { ptr in
            let base = ptr.baseAddress!
            base.storeBytes(of: marker, as: UInt8.self)
            let n = 1 + Self.formatDecimal(count, at: base + 1)
            base.storeBytes(of: 0x0A0D as UInt16, toByteOffset: n, as: UInt16.self)  // "\r\n" little-endian
            return n + 2
        }
    }

    // MARK: - Simple types

    /// `+OK`-style status reply. The text must not contain CR or LF.
    @inlinable
    public mutating func simpleString(_ text: StaticString) {
        writeFramed(UInt8(ascii: "+"), UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    public mutating func simpleString(_ text: String) {
        var text = text
        text.withUTF8 { writeFramed(UInt8(ascii: "+"), UnsafeRawBufferPointer($0)) }
    }

    /// `<marker><bytes>\r\n` in one buffer write (one capacity check, no per-byte writes:
    /// the hot replies go through here).
    @inlinable
    mutating func writeFramed(_ marker: UInt8, _ bytes: UnsafeRawBufferPointer) {
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: bytes.count + 3) { ptr in
            let base = ptr.baseAddress!
            base.storeBytes(of: marker, as: UInt8.self)
            if bytes.count > 0 { (base + 1).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
            base.storeBytes(of: 0x0A0D as UInt16, toByteOffset: 1 + bytes.count, as: UInt16.self)
            return bytes.count + 3
        }
    }

    public mutating func ok() { simpleString("OK" as StaticString) }

    /// An error reply. `text` is the full message including its code, e.g. `ERR syntax error`.
    /// CR and LF are replaced by spaces as Redis does.
    public mutating func error(_ text: String) {
        buffer.writeInteger(UInt8(ascii: "-"))
        if text.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0xF4 }) {
            // Newlines become spaces (as Redis's addReplyError does); stand-ins for raw bytes
            // (`escapedText`) become those bytes again.
            for scalar in text.unicodeScalars {
                if scalar.value >= Self.rawByteBase {
                    buffer.writeInteger(UInt8(scalar.value - Self.rawByteBase + 0x80))
                } else if scalar == "\r" || scalar == "\n" {
                    buffer.writeInteger(UInt8(0x20))
                } else {
                    buffer.writeString(String(scalar))
                }
            }
        } else {
            buffer.writeString(text)
        }
        writeCRLF()
    }

    /// First of the 128 stand-in scalars (U+10FF80…U+10FFFF, private use) for bytes 0x80…0xFF
    /// that are not part of valid UTF-8.
    public static let rawByteBase: UInt32 = 0x10FF80

    /// Argument bytes as text for an error message: valid UTF-8 as it is, every other byte as
    /// its stand-in scalar, which `error` writes back as the byte. So errors quote arguments
    /// byte for byte, as Redis's do. (Valid UTF-8 for U+10FF80…U+10FFFF, private-use code
    /// points no client sends, would come out as single bytes.)
    public static func escapedText<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let b = Array(bytes)
        if !b.contains(where: { $0 >= 0x80 }) { return String(decoding: b, as: UTF8.self) }
        var out = String.UnicodeScalarView()
        var i = 0
        while i < b.count {
            let lead = b[i]
            var length = 0
            var value: UInt32 = 0
            var minimum: UInt32 = 0
            switch lead {
            case 0x00...0x7F: length = 1; value = UInt32(lead)
            case 0xC2...0xDF: length = 2; value = UInt32(lead & 0x1F); minimum = 0x80
            case 0xE0...0xEF: length = 3; value = UInt32(lead & 0x0F); minimum = 0x800
            case 0xF0...0xF4: length = 4; value = UInt32(lead & 0x07); minimum = 0x10000
            default: length = 0
            }
            var valid = length > 0 && i + length <= b.count
            if valid {
                for k in 1..<max(length, 1) where valid {
                    let c = b[i + k]
                    if c & 0xC0 != 0x80 { valid = false } else { value = value << 6 | UInt32(c & 0x3F) }
                }
            }
            if valid, value >= minimum, let scalar = Unicode.Scalar(value) {
                out.append(scalar)
                i += length
            } else {
                out.append(Unicode.Scalar(rawByteBase + UInt32(lead) - 0x80)!)
                i += 1
            }
        }
        return String(out)
    }

    @inlinable
    public mutating func integer(_ value: Int) {
        writeHeader(UInt8(ascii: ":"), value)
    }

    @inlinable
    public mutating func bulk(_ bytes: ByteBuffer) {
        bytes.withUnsafeReadableBytes { writeBulk($0) }
    }

    /// `$<count>\r\n<bytes>\r\n` in one buffer write.
    @inlinable
    mutating func writeBulk(_ src: UnsafeRawBufferPointer) {
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: src.count + 26) { ptr in
            let base = ptr.baseAddress!
            base.storeBytes(of: UInt8(ascii: "$"), as: UInt8.self)
            var n = 1 + Self.formatDecimal(src.count, at: base + 1)
            base.storeBytes(of: 0x0A0D as UInt16, toByteOffset: n, as: UInt16.self)
            n += 2
            if src.count > 0 { (base + n).copyMemory(from: src.baseAddress!, byteCount: src.count) }
            n += src.count
            base.storeBytes(of: 0x0A0D as UInt16, toByteOffset: n, as: UInt16.self)
            return n + 2
        }
    }

    public mutating func bulk<Bytes: Sequence>(bytes: Bytes) where Bytes.Element == UInt8 {
        let arr = Array(bytes)
        writeHeader(UInt8(ascii: "$"), arr.count)
        buffer.writeBytes(arr)
        writeCRLF()
    }

    /// A stream ID `ms-seq` as a bulk string, formatted without allocating.
    public mutating func bulkStreamID(ms: UInt64, seq: UInt64) {
        let a = Self.decimalDigits(ms)
        let c = Self.decimalDigits(seq)
        // `$<len>\r\n<ms>-<seq>\r\n` in one buffer write.
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 24 + a + c + 3) { ptr in
            let base = ptr.baseAddress!
            base.storeBytes(of: UInt8(ascii: "$"), as: UInt8.self)
            var n = 1 + Self.formatDecimal(a + 1 + c, at: base + 1)
            base.storeBytes(of: 0x0A0D as UInt16, toByteOffset: n, as: UInt16.self)
            n += 2
            Self.putDecimal(ms, endingAt: base + n + a)
            n += a
            base.storeBytes(of: UInt8(ascii: "-"), toByteOffset: n, as: UInt8.self)
            n += 1
            Self.putDecimal(seq, endingAt: base + n + c)
            n += c
            base.storeBytes(of: 0x0A0D as UInt16, toByteOffset: n, as: UInt16.self)
            return n + 2
        }
    }

    /// Decimal digits of `v` (1 for 0).
    @usableFromInline @inline(__always)
    static func decimalDigits(_ v: UInt64) -> Int {
        var n = 1
        var bound: UInt64 = 10
        while n < 20 && v >= bound {
            n += 1
            bound &*= 10
        }
        return n
    }

    /// Writes `v` in decimal so that its last digit is just before `end`, two digits at a
    /// time from a table (an ID's 13-digit milliseconds in 7 steps).
    @usableFromInline @inline(__always)
    static func putDecimal(_ v: UInt64, endingAt end: UnsafeMutableRawPointer) {
        let pairs: StaticString = "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"
        let table = UnsafeRawPointer(pairs.utf8Start)
        var x = v
        var p = end
        while x >= 100 {
            let r = Int(x % 100)
            x /= 100
            p -= 2
            p.copyMemory(from: table + 2 * r, byteCount: 2)
        }
        if x >= 10 {
            p -= 2
            p.copyMemory(from: table + 2 * Int(x), byteCount: 2)
        } else {
            p -= 1
            p.storeBytes(of: UInt8(ascii: "0") + UInt8(x), as: UInt8.self)
        }
    }

    /// A bulk string from contiguous bytes (one copy, no intermediate array).
    public mutating func bulk(slice: ArraySlice<UInt8>) {
        slice.withUnsafeBytes { writeBulk($0) }
    }

    public mutating func bulk(_ text: String) {
        writeHeader(UInt8(ascii: "$"), text.utf8.count)
        buffer.writeString(text)
        writeCRLF()
    }

    @inlinable
    public mutating func bulk(_ text: StaticString) {
        writeHeader(UInt8(ascii: "$"), text.utf8CodeUnitCount)
        buffer.writeStaticString(text)
        writeCRLF()
    }

    /// The null reply: `$-1` in RESP2, `_` in RESP3.
    public mutating func null() {
        if version == .resp3 { buffer.writeStaticString("_\r\n") } else { buffer.writeStaticString("$-1\r\n") }
    }

    /// The null array: `*-1` in RESP2, `_` in RESP3.
    public mutating func nullArray() {
        if version == .resp3 { buffer.writeStaticString("_\r\n") } else { buffer.writeStaticString("*-1\r\n") }
    }

    /// A double: RESP3 `,` type, RESP2 bulk string, both with Redis's `%.17g` text.
    public mutating func double(_ value: Double) {
        let text = RESPDouble.format(value)
        if version == .resp3 {
            buffer.writeInteger(UInt8(ascii: ","))
            buffer.writeString(text)
            writeCRLF()
        } else {
            bulk(text)
        }
    }

    /// A boolean: RESP3 `#t`/`#f`, RESP2 `:1`/`:0`.
    public mutating func boolean(_ value: Bool) {
        if version == .resp3 {
            buffer.writeStaticString(value ? "#t\r\n" : "#f\r\n")
        } else {
            integer(value ? 1 : 0)
        }
    }

    /// A verbatim string (`=len\r\ntxt:…` in RESP3, a bulk string in RESP2).
    public mutating func verbatim(_ text: String, format: StaticString = "txt") {
        if version == .resp3 {
            writeHeader(UInt8(ascii: "="), text.utf8.count + 4)
            buffer.writeStaticString(format)
            buffer.writeInteger(UInt8(ascii: ":"))
            buffer.writeString(text)
            writeCRLF()
        } else {
            bulk(text)
        }
    }

    // MARK: - Aggregates (headers; the caller writes the elements)

    @inlinable
    public mutating func arrayHeader(_ count: Int) { writeHeader(UInt8(ascii: "*"), count) }

    /// A map of `count` pairs: `%count` in RESP3, `*2·count` in RESP2.
    public mutating func mapHeader(_ count: Int) {
        if version == .resp3 { writeHeader(UInt8(ascii: "%"), count) } else { writeHeader(UInt8(ascii: "*"), count * 2) }
    }

    /// A set: `~count` in RESP3, `*count` in RESP2.
    public mutating func setHeader(_ count: Int) {
        if version == .resp3 { writeHeader(UInt8(ascii: "~"), count) } else { writeHeader(UInt8(ascii: "*"), count) }
    }

    /// An out-of-band push: `>count` in RESP3, `*count` in RESP2.
    public mutating func pushHeader(_ count: Int) {
        if version == .resp3 { writeHeader(UInt8(ascii: ">"), count) } else { writeHeader(UInt8(ascii: "*"), count) }
    }

    /// An empty array.
    public mutating func emptyArray() { buffer.writeStaticString("*0\r\n") }

    /// Appends bytes that already are a complete RESP reply.
    public mutating func raw(_ bytes: ByteBuffer) {
        var copy = bytes
        buffer.writeBuffer(&copy)
    }

    /// Writes stored RESP3 values (one or more, back to back) in this connection's protocol:
    /// as they are for RESP3, with maps, sets, nulls, booleans and doubles in their RESP2 shape
    /// otherwise. For fixed reply data (the command documentation catalog). Returns false, having
    /// written a prefix, if the bytes are not well-formed RESP3.
    @discardableResult
    public mutating func transcode(resp3 text: String) -> Bool {
        if version == .resp3 {
            buffer.writeString(text)
            return true
        }
        let bytes = Array(text.utf8)
        var i = 0
        while i < bytes.count {
            guard transcodeValue(bytes, &i) else { return false }
        }
        return true
    }

    private mutating func transcodeValue(_ b: [UInt8], _ i: inout Int) -> Bool {
        guard i < b.count, let lineEnd = Self.lineEnd(b, from: i + 1) else { return false }
        let marker = b[i]
        let head = b[(i + 1)..<lineEnd]
        i = lineEnd + 2
        let count = Int(String(decoding: head, as: UTF8.self))
        switch marker {
        case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: "%"), UInt8(ascii: ">"):
            guard let n = count else { return false }
            let items = marker == UInt8(ascii: "%") ? 2 * n : n
            writeHeader(UInt8(ascii: "*"), items)
            for _ in 0..<max(items, 0) {
                guard transcodeValue(b, &i) else { return false }
            }
        case UInt8(ascii: "$"), UInt8(ascii: "="):
            guard let n = count, n >= 0, i + n + 2 <= b.count else { return false }
            // A verbatim string's 4-byte format prefix ("txt:") is dropped in RESP2, as Redis does.
            let skip = marker == UInt8(ascii: "=") ? min(4, n) : 0
            bulk(slice: b[(i + skip)..<(i + n)])
            i += n + 2
        case UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: ":"):
            buffer.writeBytes(b[(i - head.count - 3)..<i])
        case UInt8(ascii: "_"):
            null()
        case UInt8(ascii: "#"):
            integer(head.first == UInt8(ascii: "t") ? 1 : 0)
        case UInt8(ascii: ","):
            bulk(slice: head)
        default:
            return false
        }
        return true
    }

    private static func lineEnd(_ b: [UInt8], from start: Int) -> Int? {
        var j = start
        while j + 1 < b.count {
            if b[j] == 13 && b[j + 1] == 10 { return j }
            j += 1
        }
        return nil
    }
}

/// Double formatting as redis-server prints doubles in replies.
public enum RESPDouble {
    /// `%.17g`, as redis-server 7.0's addReplyDouble prints (so 0.028 is
    /// "0.028000000000000001" and 0.5 is "0.5"); "inf", "-inf", "nan" as Redis.
    public static func format(_ value: Double) -> String {
        if value.isInfinite { return value > 0 ? "inf" : "-inf" }
        if value.isNaN { return "nan" }
        var buffer = [CChar](repeating: 0, count: 64)
        let n = withVaList([value]) { vsnprintf(&buffer, buffer.count, "%.17g", $0) }
        return String(decoding: buffer.prefix(Int(max(0, min(n, 63)))).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
