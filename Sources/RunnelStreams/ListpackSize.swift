/// Byte sizes of Redis's listpack encoding, used only to decide where a stream node ends.
///
/// Redis starts a new stream node when the tail node's listpack would reach
/// `stream-node-max-bytes` or holds `stream-node-max-entries` entries, and `~` trimming removes
/// whole nodes. To trim exactly what Redis trims, Runnel tracks the size each node would have as
/// a listpack (it stores entries in its own compact encoding, `StreamNode`).
public enum ListpackSize {
    /// Header (total bytes, element count) plus the end byte.
    public static let empty = 7

    /// Size of an element whose encoding+data take `l` bytes, including its back-length.
    /// Redis's thresholds are one below the powers of 128 (`lpEncodeBacklen`: `l < 16383`
    /// takes 2 bytes), so an element of exactly 16,383 bytes has a 3-byte back-length.
    @inline(__always)
    static func withBacklen(_ l: Int) -> Int {
        if l <= 127 { return l + 1 }
        if l < 16383 { return l + 2 }
        if l < 2_097_151 { return l + 3 }
        if l < 268_435_455 { return l + 4 }
        return l + 5
    }

    /// An integer element.
    public static func integer(_ v: Int64) -> Int {
        let l: Int
        if v >= 0 && v <= 127 {
            l = 1
        } else if v >= -4096 && v <= 4095 {
            l = 2
        } else if v >= Int64(Int16.min) && v <= Int64(Int16.max) {
            l = 3
        } else if v >= -8_388_608 && v <= 8_388_607 {
            l = 4
        } else if v >= Int64(Int32.min) && v <= Int64(Int32.max) {
            l = 5
        } else {
            l = 9
        }
        return withBacklen(l)
    }

    /// A string element; strings that look like integers are stored as integers, as listpack does.
    public static func string(_ bytes: [UInt8]) -> Int { string(bytes[...]) }

    public static func string(_ bytes: ArraySlice<UInt8>) -> Int {
        bytes.withUnsafeBytes { string(raw: $0) }
    }

    /// The same for raw bytes (no array retained on the append path).
    public static func string(raw bytes: UnsafeRawBufferPointer) -> Int {
        if let v = integerValue(raw: bytes) { return integer(v) }
        let n = bytes.count
        let l: Int
        if n < 64 {
            l = 1 + n
        } else if n < 4096 {
            l = 2 + n
        } else {
            l = 5 + n
        }
        return withBacklen(l)
    }

    /// Redis's `lpStringToInt64`: optional '-', digits, no leading zeros, fits in Int64.
    static func integerValue(raw b: UnsafeRawBufferPointer) -> Int64? {
        let n = b.count
        if n == 0 || n > 20 { return nil }
        var i = b.startIndex
        let first = b[i]
        if n == 1 && first == UInt8(ascii: "0") { return 0 }
        var negative = false
        if first == UInt8(ascii: "-") {
            negative = true
            i += 1
            if n == 1 { return nil }
        }
        guard b[i] >= UInt8(ascii: "1") && b[i] <= UInt8(ascii: "9") else { return nil }
        var v: UInt64 = 0
        while i < b.endIndex {
            let d = b[i] &- UInt8(ascii: "0")
            if d > 9 { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(d))
            if o1 || o2 { return nil }
            v = a
            i += 1
        }
        if negative {
            if v > UInt64(Int64.max) + 1 { return nil }
            return v == UInt64(Int64.max) + 1 ? Int64.min : -Int64(v)
        }
        return v > UInt64(Int64.max) ? nil : Int64(v)
    }
}
