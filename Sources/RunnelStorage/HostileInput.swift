/// Entry points that push arbitrary bytes through every reader of the storage format. The
/// fuzz target (Fuzz/Sources/FuzzLog) calls them with libFuzzer's inputs, and the test suite
/// replays the inputs that once crashed (fixtures/fuzz/log/regression-*). Every path must end
/// in records or a typed error: never a trap, a hang or a huge allocation.
public enum HostileInput {
    /// The first byte picks what the rest is:
    ///   0: raw records of one region (the decoder behind every frame)
    ///   1: records, framed into a valid segment (correct header, CRCs, deflate), so inputs
    ///      reach inflate + decode + index building past the checksums
    ///   2: deflate payloads with valid frame CRCs (the inflater on garbage, wrong raw lengths)
    ///   3: a whole segment file as is (header and frame parsing)
    ///   4: a checkpoint file as is
    public static func readLog(_ data: [UInt8]) {
        guard let first = data.first else { return }
        let rest = Array(data.dropFirst())
        switch first % 5 {
        case 0:
            try? RecordCodec.decodeRegion(rest) { _ in }
        case 1, 2:
            // Chunks: a length byte, then that many bytes.
            var segment = Framing.header(.segment, id: 1)
            let deflater = Deflater(level: 1)
            var i = 0
            var firstFrame = true
            while i < rest.count {
                let n = min(Int(rest[i]), rest.count - i - 1)
                let chunk = Array(rest[(i + 1)..<(i + 1 + n)])
                i += 1 + n
                if first % 5 == 1 {
                    segment += Framing.frame(payload: deflater.compress(chunk), rawLength: chunk.count, restart: firstFrame)
                } else {
                    let claimed = chunk.isEmpty ? 0 : Int(chunk[0]) * 97
                    segment += Framing.frame(payload: chunk, rawLength: claimed, restart: firstFrame)
                }
                firstFrame = false
            }
            _ = SegmentIndex.build(segment: 1, bytes: segment)
        case 3:
            _ = SegmentIndex.build(segment: 1, bytes: rest)
        default:
            _ = try? CheckpointFile.decode(rest, file: "hostile input")
        }
    }
}
