#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Byte-array helpers for the append path (XADD: node storage, field list, log record), where
/// the standard library's generic `append(contentsOf:)` costs tens of instructions per call
/// and a `Repeated` collection would be copied element by element.
public enum RawBytes {
    @usableFromInline
    static let zeroCount = 4096
    @usableFromInline
    nonisolated(unsafe) static let zeros: UnsafeRawPointer = {
        UnsafeRawPointer(calloc(zeroCount, 1)!)
    }()

    /// Grows `array` by `count` zero bytes, for a caller that overwrites them next (an
    /// `Array` cannot grow uninitialized): memcpy from a 4 KiB zero block, piece by piece.
    @inlinable
    public static func grow(_ array: inout [UInt8], by count: Int) {
        var left = count
        while left > 0 {
            let n = min(left, zeroCount)
            array.append(contentsOf: UnsafeRawBufferPointer(start: zeros, count: n))
            left -= n
        }
    }

    /// Byte equality of two raw buffers: short ones (field names) compared in a loop, which
    /// costs less than the call to memcmp, longer ones with memcmp.
    @inlinable
    public static func equal(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        let n = a.count
        guard n == b.count else { return false }
        if n <= 16 {
            for i in 0..<n where a.load(fromByteOffset: i, as: UInt8.self) != b.load(fromByteOffset: i, as: UInt8.self) {
                return false
            }
            return true
        }
        return memcmp(a.baseAddress!, b.baseAddress!, n) == 0
    }
}
