import RunnelStreams

/// Errors of the storage layer. Each carries the file and offset or the operation it concerns.
public enum StorageError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A system call failed.
    case io(operation: String, path: String, errno: Int32)
    /// Another process holds the data directory's lock.
    case locked(path: String)
    /// A frame failed its CRC or length check in the middle of the log.
    case corrupt(file: String, offset: Int, reason: String)
    /// Bytes that passed their CRC do not decode (a bug or a foreign file).
    case malformed(file: String, offset: Int, reason: String)
    /// A file whose header or version this build cannot read.
    case unsupported(file: String, reason: String)
    /// The data directory holds state the server's configuration cannot take.
    case mismatch(path: String, reason: String)

    public var description: String {
        switch self {
        case .io(let op, let path, let e):
            return "\(op) \(path): \(String(cString: strerror(e)))"
        case .locked(let path):
            return "data directory \(path) is locked by another runnel-server (LOCK held)"
        case .corrupt(let file, let offset, let reason):
            return "corrupt log \(file) at offset \(offset): \(reason)"
        case .malformed(let file, let offset, let reason):
            return "undecodable record in \(file) at offset \(offset): \(reason)"
        case .unsupported(let file, let reason):
            return "unsupported file \(file): \(reason)"
        case .mismatch(let path, let reason):
            return "data directory \(path): \(reason)"
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Little helpers to build byte strings: varints (LEB128), zigzag, fixed little-endian.
struct ByteSink {
    var bytes: [UInt8] = []

    init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }

    var count: Int { bytes.count }

    @inline(__always)
    mutating func byte(_ b: UInt8) { bytes.append(b) }

    @inline(__always)
    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    @inline(__always)
    mutating func varint(_ value: Int) { varint(UInt64(value)) }

    /// Signed values, zigzag-encoded so small magnitudes stay short.
    @inline(__always)
    mutating func svarint(_ value: Int64) {
        varint(Varint.zigzag(value))
    }

    @inline(__always)
    mutating func string<C: Collection>(_ s: C) where C.Element == UInt8 {
        varint(s.count)
        bytes.append(contentsOf: s)
    }

    mutating func u32(_ v: UInt32) {
        for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt32(i)))) }
    }

    mutating func u64(_ v: UInt64) {
        for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
    }

    mutating func id(_ id: StreamID) {
        varint(id.ms)
        varint(id.seq)
    }
}

/// A bounds-checked reader over bytes; every read throws `Truncated` past the end.
struct ByteSource {
    struct Truncated: Error {}

    let bytes: [UInt8]
    var position: Int
    let end: Int

    init(_ bytes: [UInt8], from: Int = 0, to: Int? = nil) {
        self.bytes = bytes
        // Never past the array, whatever a corrupt length asked for.
        self.end = min(to ?? bytes.count, bytes.count)
        self.position = min(from, self.end)
    }

    var isAtEnd: Bool { position >= end }
    var remaining: Int { end - position }

    @inline(__always)
    mutating func byte() throws(Truncated) -> UInt8 {
        guard position < end else { throw Truncated() }
        defer { position += 1 }
        return bytes[position]
    }

    @inline(__always)
    mutating func varint() throws(Truncated) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < end, shift < 64 else { throw Truncated() }
            let b = bytes[position]
            position += 1
            result |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return result }
            shift += 7
        }
    }

    /// A varint that must fit in an Int no larger than `limit`.
    @inline(__always)
    mutating func count(limit: Int = Int(Int32.max)) throws(Truncated) -> Int {
        let v = try varint()
        guard v <= UInt64(limit) else { throw Truncated() }
        return Int(v)
    }

    @inline(__always)
    mutating func svarint() throws(Truncated) -> Int64 {
        let v = try varint()
        return Int64(bitPattern: (v >> 1) ^ (0 &- (v & 1)))
    }

    /// A varint length of bytes that must follow it inside this source. (The bound is checked
    /// after the varint is read: `count(limit: remaining)` would allow the varint's own bytes.)
    @inline(__always)
    mutating func length() throws(Truncated) -> Int {
        let v = try varint()
        guard v <= UInt64(remaining) else { throw Truncated() }
        return Int(v)
    }

    mutating func string() throws(Truncated) -> [UInt8] {
        let n = try length()
        defer { position += n }
        return Array(bytes[position..<position + n])
    }

    /// Reads a string into `list` without making an array of it.
    mutating func appendString(to list: inout FieldList) throws(Truncated) {
        let n = try length()
        defer { position += n }
        bytes.withUnsafeBytes { list.append(raw: UnsafeRawBufferPointer(rebasing: $0[position..<position + n])) }
    }

    mutating func u32() throws(Truncated) -> UInt32 {
        guard remaining >= 4 else { throw Truncated() }
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(bytes[position + i]) << (8 * UInt32(i)) }
        position += 4
        return v
    }

    mutating func u64() throws(Truncated) -> UInt64 {
        guard remaining >= 8 else { throw Truncated() }
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(bytes[position + i]) << (8 * UInt64(i)) }
        position += 8
        return v
    }

    mutating func id() throws(Truncated) -> StreamID {
        StreamID(ms: try varint(), seq: try varint())
    }
}
