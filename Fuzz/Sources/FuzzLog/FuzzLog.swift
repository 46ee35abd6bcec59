// The log reader on hostile files. The first byte picks what the rest is:
//   0: raw records of one region (the decoder behind every frame)
//   1: records, framed into a valid segment (correct header, CRCs, deflate) so the fuzzer
//      reaches inflate + decode + index building past the checksums
//   2: deflate payloads with valid frame CRCs (the inflater on garbage, wrong raw lengths)
//   3: a whole segment file as is (header and frame parsing)
//   4: a checkpoint file as is
// Every path must end in records or a typed error: never a crash, a hang or a huge allocation.
@testable import RunnelStorage
import RunnelStreams

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzLog(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let mode = data[0] % 5
    let rest = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    switch mode {
    case 0:
        var n = 0
        try? RecordCodec.decodeRegion(rest) { _ in n += 1 }
    case 1, 2:
        // Chunks: a length byte, then that many bytes.
        var segment = Framing.header(.segment, id: 1)
        let deflater = Deflater(level: 1)
        var i = 0
        var first = true
        while i < rest.count {
            let n = min(Int(rest[i]), rest.count - i - 1)
            let chunk = Array(rest[(i + 1)..<(i + 1 + n)])
            i += 1 + n
            if mode == 1 {
                if first { deflater.reset() }
                segment += Framing.frame(payload: deflater.compress(chunk), rawLength: chunk.count, restart: first)
            } else {
                let claimed = chunk.isEmpty ? 0 : Int(chunk[0]) * 97
                segment += Framing.frame(payload: chunk, rawLength: claimed, restart: first)
            }
            first = false
        }
        _ = SegmentIndex.build(segment: 1, bytes: segment)
    case 3:
        _ = SegmentIndex.build(segment: 1, bytes: rest)
    default:
        _ = try? CheckpointFile.decode(rest, file: "fuzz")
    }
    return 0
}
