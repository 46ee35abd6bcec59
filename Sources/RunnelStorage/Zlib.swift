import CRunnelSystem
import CZlib

/// zlib's CRC-32 (IEEE), masked as LevelDB masks stored CRCs: a CRC computed over bytes that
/// themselves embed CRCs is weak, so the stored value is rotated and offset.
public enum Checksum {
    public static func crc32(_ raw: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
        // zlib takes a 32-bit length: longer buffers go in pieces.
        var crc = uLong(seed)
        var done = 0
        let base = raw.bindMemory(to: Bytef.self).baseAddress
        repeat {
            let n = min(raw.count - done, Zlib.maxPiece)
            crc = CZlib.crc32(crc, base.map { $0 + done }, uInt(n))
            done += n
        } while done < raw.count
        return UInt32(crc)
    }

    public static func crc32(_ bytes: [UInt8], seed: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { crc32($0, seed: seed) }
    }

    public static func mask(_ crc: UInt32) -> UInt32 {
        ((crc >> 15) | (crc << 17)) &+ 0xa282_ead8
    }

    public static func unmask(_ masked: UInt32) -> UInt32 {
        let rot = masked &- 0xa282_ead8
        return (rot >> 17) | (rot << 15)
    }
}

enum Zlib {
    /// The most bytes handed to zlib in one call (its counts are 32-bit).
    static let maxPiece = 1 << 30
}

/// A raw deflate stream (no zlib header), sync-flushed at each call so every frame ends on
/// a byte boundary and decodes with what came before it. `reset` starts an independent
/// stream: the next frame is a restart point a fresh inflater can begin at.
public final class Deflater {
    private var stream = z_stream()
    private var out: [UInt8] = []

    public init(level: Int32) {
        let rc = deflateInit2_(
            &stream, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        precondition(rc == Z_OK, "deflateInit2 failed: \(rc)")  // only on out-of-memory or a bad build
    }

    deinit { deflateEnd(&stream) }

    public func reset() { deflateReset(&stream) }

    /// Compresses `input` and sync-flushes. The trailing empty stored block (00 00 FF FF)
    /// is dropped: the reader appends it back (as WebSocket permessage-deflate does).
    public func compress(_ input: [UInt8]) -> [UInt8] {
        out.removeAll(keepingCapacity: true)
        // Input longer than zlib's 32-bit counts goes in pieces; only the last is flushed.
        let bound = Int(deflateBound(&stream, uLong(min(input.count, Zlib.maxPiece)))) + 64
        var chunk = [UInt8](repeating: 0, count: max(bound, 256))
        input.withUnsafeBufferPointer { inp in
            var done = 0
            repeat {
                let n = min(inp.count - done, Zlib.maxPiece)
                let flush = done + n == inp.count ? Z_SYNC_FLUSH : Z_NO_FLUSH
                stream.next_in = UnsafeMutablePointer(mutating: inp.baseAddress.map { $0 + done })
                stream.avail_in = uInt(n)
                repeat {
                    chunk.withUnsafeMutableBufferPointer { o in
                        stream.next_out = o.baseAddress
                        stream.avail_out = uInt(o.count)
                        _ = deflate(&stream, flush)
                        out.append(contentsOf: o[0..<(o.count - Int(stream.avail_out))])
                    }
                } while stream.avail_out == 0 || stream.avail_in > 0
                done += n
            } while done < inp.count
        }
        stream.next_in = nil
        if out.count >= 4 && out[out.count - 4] == 0 && out[out.count - 3] == 0 && out[out.count - 2] == 0xFF
            && out[out.count - 1] == 0xFF
        {
            out.removeLast(4)
        }
        return out
    }
}

/// Compresses a buffer as one complete raw deflate stream that ends in a final block: the
/// payload of a `whole` frame (FORMAT.md §4), which a reader inflates on its own. Uses
/// libdeflate when the system has it (about 1.6× zlib's speed at level 1 on records, with a
/// better ratio), else zlib.
public final class WholeDeflater {
    private let compressor: UnsafeMutableRawPointer?
    private var zlib = z_stream()
    private var zlibReady = false
    private let level: Int32

    /// `libdeflate: false` forces zlib (tests; both write the same format).
    public init(level: Int32, libdeflate: Bool = true) {
        self.level = level
        compressor = libdeflate ? runnel_libdeflate_compressor(level) : nil
    }

    deinit {
        runnel_libdeflate_free_compressor(compressor)
        if zlibReady { deflateEnd(&zlib) }
    }

    /// Whether libdeflate does the work.
    public var usesLibdeflate: Bool { compressor != nil }

    public func compress(_ input: [UInt8]) -> [UInt8] {
        if let c = compressor {
            let bound = runnel_libdeflate_compress_bound(c, input.count)
            var size = 0
            let out = [UInt8](unsafeUninitializedCapacity: bound) { o, count in
                size = input.withUnsafeBytes { runnel_libdeflate_compress(c, $0.baseAddress, $0.count, o.baseAddress, o.count) }
                count = size
            }
            if size > 0 { return out }  // the bound always fits; zlib below otherwise
        }
        return zlibCompress(input)
    }

    private func zlibCompress(_ input: [UInt8]) -> [UInt8] {
        if !zlibReady {
            let rc = deflateInit2_(
                &zlib, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
            precondition(rc == Z_OK, "deflateInit2 failed: \(rc)")  // only on out-of-memory or a bad build
            zlibReady = true
        }
        defer { deflateReset(&zlib) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: max(Int(deflateBound(&zlib, uLong(min(input.count, Zlib.maxPiece)))) + 64, 256))
        input.withUnsafeBufferPointer { inp in
            var done = 0
            var rc = Z_OK
            repeat {
                let n = min(inp.count - done, Zlib.maxPiece)
                let flush = done + n == inp.count ? Z_FINISH : Z_NO_FLUSH
                zlib.next_in = UnsafeMutablePointer(mutating: inp.baseAddress.map { $0 + done })
                zlib.avail_in = uInt(n)
                repeat {
                    chunk.withUnsafeMutableBufferPointer { o in
                        zlib.next_out = o.baseAddress
                        zlib.avail_out = uInt(o.count)
                        rc = deflate(&zlib, flush)
                        out.append(contentsOf: o[0..<(o.count - Int(zlib.avail_out))])
                    }
                } while zlib.avail_in > 0 || (flush == Z_FINISH && rc != Z_STREAM_END)
                done += n
            } while done < inp.count
        }
        zlib.next_in = nil
        return out
    }
}

/// The reading side of `Deflater`.
public final class Inflater {
    public struct Failure: Error { public let code: Int32 }

    private var stream = z_stream()

    public init() {
        let rc = inflateInit2_(&stream, -15, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        precondition(rc == Z_OK, "inflateInit2 failed: \(rc)")
    }

    deinit {
        inflateEnd(&stream)
        runnel_libdeflate_free_decompressor(decompressor)
        if wholeReady { inflateEnd(&whole) }
    }

    public func reset() { inflateReset(&stream) }

    private var decompressor: UnsafeMutableRawPointer?
    private var triedLibdeflate = false
    private var whole = z_stream()
    private var wholeReady = false

    /// Inflates one frame of `bytes`: a whole frame on its own, any other in the shared stream.
    public func inflate(_ frame: FrameInfo, in bytes: [UInt8]) throws(Failure) -> [UInt8] {
        frame.whole
            ? try inflateWhole(bytes, from: frame.payloadStart, to: frame.end, rawLength: frame.rawLength)
            : try inflate(bytes, from: frame.payloadStart, to: frame.end, rawLength: frame.rawLength)
    }

    /// Inflates the payload of a `whole` frame (a complete deflate stream, `bytes[from..<to]`
    /// exactly) into exactly `rawLength` bytes; the shared stream of `inflate` is untouched.
    /// `libdeflate: false` forces zlib (tests).
    public func inflateWhole(
        _ bytes: [UInt8], from: Int, to: Int, rawLength: Int, libdeflate: Bool = true
    ) throws(Failure) -> [UInt8] {
        if libdeflate && !triedLibdeflate {
            triedLibdeflate = true
            decompressor = runnel_libdeflate_decompressor()
        }
        if libdeflate, let d = decompressor {
            var read = 0
            var written = 0
            var rc: Int32 = 0
            let output = [UInt8](unsafeUninitializedCapacity: max(rawLength, 1)) { o, count in
                rc = bytes.withUnsafeBytes { b in
                    runnel_libdeflate_decompress(d, b.baseAddress! + from, to - from, o.baseAddress, rawLength, &read, &written)
                }
                count = rc == 0 ? written : 0
            }
            if rc != -1 {
                guard rc == 0, read == to - from, written == rawLength else { throw Failure(code: Z_DATA_ERROR) }
                return output
            }
        }
        if !wholeReady {
            let rc = inflateInit2_(&whole, -15, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
            precondition(rc == Z_OK, "inflateInit2 failed: \(rc)")
            wholeReady = true
        }
        defer { inflateReset(&whole) }
        var rc: Int32 = Z_OK
        var leftIn = 0
        var leftOut = 0
        let output = [UInt8](unsafeUninitializedCapacity: rawLength + 1) { o, count in
            bytes.withUnsafeBufferPointer { inp in
                whole.next_in = UnsafeMutablePointer(mutating: inp.baseAddress.map { $0 + from })
                whole.avail_in = uInt(to - from)
                whole.next_out = o.baseAddress
                whole.avail_out = uInt(o.count)
                rc = CZlib.inflate(&whole, Z_FINISH)
                leftIn = Int(whole.avail_in)
                leftOut = Int(whole.avail_out)
                whole.next_in = nil
                whole.next_out = nil
            }
            count = o.count - leftOut
        }
        guard rc == Z_STREAM_END, leftIn == 0, output.count == rawLength else {
            throw Failure(code: rc == Z_STREAM_END || rc == Z_OK ? Z_DATA_ERROR : rc)
        }
        return output
    }

    /// Inflates one frame's payload (`bytes[from..<to]` plus the dropped sync marker) into
    /// exactly `rawLength` bytes; anything else (bad data, more or fewer bytes) throws.
    public func inflate(_ bytes: [UInt8], from: Int, to: Int, rawLength: Int) throws(Failure) -> [UInt8] {
        var input = [UInt8]()
        input.reserveCapacity(to - from + 4)
        input.append(contentsOf: bytes[from..<to])
        input.append(contentsOf: [0, 0, 0xFF, 0xFF] as [UInt8])
        // One spare byte detects output longer than declared; the storage is not zero-filled.
        var rc: Int32 = Z_OK
        var leftIn = 0
        var leftOut = 0
        let output = [UInt8](unsafeUninitializedCapacity: rawLength + 1) { o, count in
            input.withUnsafeBufferPointer { inp in
                stream.next_in = UnsafeMutablePointer(mutating: inp.baseAddress)
                stream.avail_in = uInt(inp.count)
                stream.next_out = o.baseAddress
                stream.avail_out = uInt(o.count)
                rc = CZlib.inflate(&stream, Z_SYNC_FLUSH)
                leftIn = Int(stream.avail_in)
                leftOut = Int(stream.avail_out)
                stream.next_in = nil
                stream.next_out = nil
            }
            count = o.count - leftOut
        }
        guard rc == Z_OK || rc == Z_BUF_ERROR, leftIn == 0, leftOut == 1, output.count == rawLength else {
            throw Failure(code: rc == Z_OK ? Z_DATA_ERROR : rc)
        }
        return output
    }
}
