/// File headers and CRC-framed blocks (docs/FORMAT.md, "Files" and "Frames").
///
///     frame := crc:u32le  len:varint  rawLen:varint  flags:u8  payload[len]
///
/// `crc` is the masked CRC-32 of every byte after it in the frame. `payload` is raw deflate
/// output whose sync-flush marker (00 00 FF FF) was dropped; inflating it gives `rawLen`
/// bytes of records. Flag bit 0 (`restart`) means the deflate stream and the record delta
/// state start afresh at this frame. Flag bit 1 (`whole`, version 2) means the payload is a
/// complete deflate stream of its own, outside the file's shared stream.
public enum FileKind: Sendable {
    case segment, checkpoint, index

    var magic: [UInt8] {
        switch self {
        case .segment: return Array("RUNNELLG".utf8)
        case .checkpoint: return Array("RUNNELCK".utf8)
        case .index: return Array("RUNNELIX".utf8)
        }
    }
}

public enum Framing {
    /// The version this build writes. Version 2 added the `whole` frame flag; a version-2
    /// reader reads version 1 unchanged.
    public static let formatVersion: UInt32 = 2
    public static let readableVersions: ClosedRange<UInt32> = 1...2
    public static let headerSize = 28
    /// Upper bounds a reader accepts before trusting a length field. They are above the
    /// largest frame a writer makes: a frame holds one region (~64 KiB of records, or one
    /// command's up to 256 MiB) or a checkpoint frame's ~256 KiB, plus at most one record
    /// that is larger, and a record is
    /// never larger than the command that made it (a connection holds at most 3 GiB of
    /// input) or, in a checkpoint, a node (under 1 GiB of entries, or one entry of at most
    /// 1 GiB). Both stay below 4 GiB, so zlib's 32-bit counts can describe a whole frame.
    public static let maxRaw = 0xE000_0000  // 3.5 GiB
    /// Deflate output can exceed its input by a few bytes per 16 KiB block when the input
    /// does not compress; 1/64 is far more than that.
    public static let maxPayload = maxRaw + maxRaw >> 6
    static let restartFlag: UInt8 = 1
    static let wholeFlag: UInt8 = 2

    /// `magic[8] version:u32 flags:u32 id:u64 crc:u32` (crc masked, over the first 24 bytes).
    static func header(_ kind: FileKind, id: UInt64) -> [UInt8] {
        var s = ByteSink(capacity: headerSize)
        s.bytes.append(contentsOf: kind.magic)
        s.u32(formatVersion)
        s.u32(0)
        s.u64(id)
        s.u32(Checksum.mask(Checksum.crc32(s.bytes)))
        return s.bytes
    }

    /// Checks a file header; returns the file's id.
    static func parseHeader(_ bytes: [UInt8], kind: FileKind, file: String) throws(StorageError) -> UInt64 {
        guard bytes.count >= headerSize else {
            throw .corrupt(file: file, offset: 0, reason: "file shorter than its \(headerSize)-byte header")
        }
        guard Array(bytes[0..<8]) == kind.magic else {
            throw .unsupported(file: file, reason: "bad magic (not a Runnel \(kind) file)")
        }
        var src = ByteSource(bytes, from: 8, to: headerSize)
        let version = try! src.u32()
        _ = try! src.u32()
        let id = try! src.u64()
        let crc = try! src.u32()
        guard Checksum.mask(Checksum.crc32(Array(bytes[0..<24]))) == crc else {
            throw .corrupt(file: file, offset: 0, reason: "header CRC mismatch")
        }
        guard readableVersions.contains(version) else {
            throw .unsupported(
                file: file,
                reason: "format version \(version), this build reads \(readableVersions.lowerBound) to \(readableVersions.upperBound)")
        }
        return id
    }

    /// One frame around an already compressed payload.
    static func frame(payload: [UInt8], rawLength: Int, restart: Bool, whole: Bool = false) -> [UInt8] {
        var body = ByteSink(capacity: payload.count + 16)
        body.varint(payload.count)
        body.varint(rawLength)
        body.byte((restart ? restartFlag : 0) | (whole ? wholeFlag : 0))
        body.bytes.append(contentsOf: payload)
        var out = ByteSink(capacity: body.count + 4)
        out.u32(Checksum.mask(Checksum.crc32(body.bytes)))
        out.bytes.append(contentsOf: body.bytes)
        return out.bytes
    }
}

/// A frame found in a file.
public struct FrameInfo: Sendable, Equatable {
    public var offset: Int
    public var payloadStart: Int
    public var payloadLength: Int
    public var rawLength: Int
    public var restart: Bool
    /// The payload is a complete deflate stream, inflated on its own (`Inflater.inflateWhole`).
    public var whole: Bool = false
    public var end: Int { payloadStart + payloadLength }
}

/// What stops a frame scan.
public enum FrameProblem: Error, Sendable, Equatable {
    /// The file ends inside this frame (a torn write at the tail).
    case truncated(offset: Int)
    /// The frame is complete but fails its CRC or sanity checks.
    case corrupt(offset: Int, reason: String)
}

/// Walks the frames of a file image.
struct FrameScanner {
    let bytes: [UInt8]
    var position: Int
    /// With `zeroTail` (segments), where the file's trailing run of zero bytes starts; else
    /// `bytes.count`. A frame boundary at or past it is a clean end: a segment preallocated
    /// with zeros ends there. A frame may itself end in zero bytes, so only frame *starts* are
    /// compared to it.
    let dataEnd: Int

    init(_ bytes: [UInt8], from: Int = Framing.headerSize, zeroTail: Bool = false) {
        self.bytes = bytes
        self.position = from
        self.dataEnd = zeroTail ? Self.trailingZerosStart(bytes, notBefore: from) : bytes.count
    }

    /// The offset after the last non-zero byte at or after `notBefore`.
    static func trailingZerosStart(_ bytes: [UInt8], notBefore: Int) -> Int {
        bytes.withUnsafeBytes { raw -> Int in
            var end = raw.count
            let floor = max(0, min(notBefore, end))
            // Eight bytes at a time while aligned, then byte by byte.
            while end - floor >= 8 && end % 8 != 0 && raw[end - 1] == 0 { end -= 1 }
            while end - floor >= 8 && raw.loadUnaligned(fromByteOffset: end - 8, as: UInt64.self) == 0 { end -= 8 }
            while end > floor && raw[end - 1] == 0 { end -= 1 }
            return end
        }
    }

    /// The next frame; nil at a clean end of file (its end, or the start of a zero tail).
    mutating func next() -> Result<FrameInfo, FrameProblem>? {
        let start = position
        guard start < dataEnd else { return nil }
        var src = ByteSource(bytes, from: start)
        guard let crc = try? src.u32() else { return .failure(.truncated(offset: start)) }
        guard let len = try? src.varint(), let raw = try? src.varint(), let flags = try? src.byte() else {
            return .failure(.truncated(offset: start))
        }
        guard len <= UInt64(Framing.maxPayload), raw <= UInt64(Framing.maxRaw), raw > 0 else {
            return .failure(.corrupt(offset: start, reason: "implausible frame lengths (payload \(len), raw \(raw))"))
        }
        let payloadStart = src.position
        let end = payloadStart + Int(len)
        guard end <= bytes.count else { return .failure(.truncated(offset: start)) }
        let actual = bytes.withUnsafeBufferPointer {
            Checksum.crc32(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: $0[(start + 4)..<end])))
        }
        guard Checksum.mask(actual) == crc else {
            return .failure(.corrupt(offset: start, reason: "CRC mismatch"))
        }
        guard flags & ~(Framing.restartFlag | Framing.wholeFlag) == 0 else {
            return .failure(.corrupt(offset: start, reason: "unknown frame flags \(flags)"))
        }
        position = end
        return .success(
            FrameInfo(offset: start, payloadStart: payloadStart, payloadLength: Int(len), rawLength: Int(raw),
                      restart: flags & Framing.restartFlag != 0, whole: flags & Framing.wholeFlag != 0))
    }
}
