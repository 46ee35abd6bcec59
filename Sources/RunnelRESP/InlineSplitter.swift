import NIOCore

/// Splits an inline request line into arguments the way redis-server's `sdssplitargs` does:
/// whitespace separates arguments; `"…"` understands `\xHH`, `\n`, `\r`, `\t`, `\b`, `\a` and
/// `\<char>`; `'…'` understands only `\'`; a closing quote must be followed by whitespace or
/// the end of the line. Returns nil for unbalanced quotes.
public enum InlineSplitter {
    public static func split(_ line: ByteBuffer) -> [ByteBuffer]? {
        var spans: [CommandArgs.Span] = []
        // Fast path: no quotes means plain whitespace splitting into zero-copy slices.
        if line.withUnsafeReadableBytes({ plainSpans($0, into: &spans) }) {
            return spans.map { line.getSlice(at: line.readerIndex + $0.offset, length: $0.length)! }
        }
        return splitQuoted(line)
    }

    /// Where the whitespace-separated words of `raw` lie (`spans` is cleared first, its storage
    /// reused). False, with `spans` incomplete, when the line has a quote: the caller then
    /// takes the general path.
    static func plainSpans(_ raw: UnsafeRawBufferPointer, into spans: inout [CommandArgs.Span]) -> Bool {
        spans.removeAll(keepingCapacity: true)
        var start = -1
        var i = 0
        let n = raw.count
        while i <= n {
            if i < n {
                let c = raw[i]
                if c == UInt8(ascii: "\"") || c == UInt8(ascii: "'") { return false }
                if !isSpaceByte(c) {
                    if start < 0 { start = i }
                    i += 1
                    continue
                }
            }
            if start >= 0 {
                spans.append(CommandArgs.Span(offset: start, length: i - start))
                start = -1
            }
            i += 1
        }
        return true
    }

    /// The general path, with quotes and escapes (copies each argument).
    static func splitQuoted(_ line: ByteBuffer) -> [ByteBuffer]? {
        let view = line.readableBytesView
        let bytes = Array(view)
        var args: [ByteBuffer] = []
        var i = 0
        let n = bytes.count
        func isSpace(_ c: UInt8) -> Bool {
            c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0B || c == 0x0C || c == 0x0D
        }
        func hexValue(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        while true {
            while i < n && isSpace(bytes[i]) { i += 1 }
            if i >= n { return args }
            var current: [UInt8] = []
            var inDouble = false
            var inSingle = false
            var done = false
            while !done {
                if inDouble {
                    if i >= n { return nil }
                    let c = bytes[i]
                    if c == UInt8(ascii: "\\") && i + 3 < n && bytes[i + 1] == UInt8(ascii: "x"),
                        let h = hexValue(bytes[i + 2]), let l = hexValue(bytes[i + 3])
                    {
                        current.append(h << 4 | l)
                        i += 3
                    } else if c == UInt8(ascii: "\\") && i + 1 < n {
                        i += 1
                        switch bytes[i] {
                        case UInt8(ascii: "n"): current.append(0x0A)
                        case UInt8(ascii: "r"): current.append(0x0D)
                        case UInt8(ascii: "t"): current.append(0x09)
                        case UInt8(ascii: "b"): current.append(0x08)
                        case UInt8(ascii: "a"): current.append(0x07)
                        default: current.append(bytes[i])
                        }
                    } else if c == UInt8(ascii: "\"") {
                        if i + 1 < n && !isSpace(bytes[i + 1]) { return nil }
                        done = true
                    } else {
                        current.append(c)
                    }
                } else if inSingle {
                    if i >= n { return nil }
                    let c = bytes[i]
                    if c == UInt8(ascii: "\\") && i + 1 < n && bytes[i + 1] == UInt8(ascii: "'") {
                        i += 1
                        current.append(UInt8(ascii: "'"))
                    } else if c == UInt8(ascii: "'") {
                        if i + 1 < n && !isSpace(bytes[i + 1]) { return nil }
                        done = true
                    } else {
                        current.append(c)
                    }
                } else {
                    if i >= n { done = true; break }
                    let c = bytes[i]
                    if isSpace(c) {
                        done = true
                    } else if c == UInt8(ascii: "\"") {
                        inDouble = true
                    } else if c == UInt8(ascii: "'") {
                        inSingle = true
                    } else {
                        current.append(c)
                    }
                }
                if i < n { i += 1 }
            }
            args.append(ByteBuffer(bytes: current))
        }
    }
}

@inline(__always)
func isSpaceByte(_ c: UInt8) -> Bool {
    c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0B || c == 0x0C || c == 0x0D
}

extension InlineSplitter {
    /// Splits raw bytes (a config line) with the same rules; nil on unbalanced quotes.
    public static func split(bytes: [UInt8]) -> [[UInt8]]? {
        split(ByteBuffer(bytes: bytes)).map { $0.map { Array($0.readableBytesView) } }
    }
}
