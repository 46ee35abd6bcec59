import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Incremental parser for client requests: RESP multibulk (`*N\r\n$len\r\n…`) and inline
/// commands (`PING\r\n`), with redis-server 7.0's framing rules and error texts.
///
/// The parser never copies argument bytes: a finished command is the caller's buffer plus
/// the offsets of its arguments (`CommandArgs`). While a multibulk command is incomplete it
/// holds only those offsets, not the buffer, so appending more input to the buffer never
/// triggers a copy-on-write of everything received so far.
public struct RESPCommandParser: Sendable {
    /// Longest inline request or length line, as Redis's `PROTO_INLINE_MAX_SIZE`.
    public static let inlineMaxSize = 64 * 1024

    /// `proto-max-bulk-len`: the largest accepted bulk argument.
    public var maxBulkLength: Int
    /// When true, the unauthenticated limits apply (at most 10 arguments of at most 16 KiB).
    public var unauthenticated: Bool = false

    // In-progress multibulk command: how many arguments remain, and where the parsed ones are.
    private var expectedArgs: Int = 0
    /// Spans of the in-progress command: the first `argCount` are parsed; entries past them
    /// are left from earlier commands and overwritten.
    private var argRanges: [CommandArgs.Span] = []
    private var argCount = 0
    private var scanned: Int = 0  // bytes past readerIndex already consumed by the in-progress command
    /// A finished command's span table, handed back by `recycle` for the next command.
    private var spare: [CommandArgs.Span] = []

    public init(maxBulkLength: Int = 512 * 1024 * 1024) {
        self.maxBulkLength = maxBulkLength
    }

    /// True while a multibulk command has started but not finished.
    public var isMidCommand: Bool { expectedArgs > 0 }

    /// Bytes past the reader index that belong to the finished arguments of the command in
    /// progress. Redis moves each parsed argument out of its query buffer, so its
    /// `client-query-buffer-limit` counts only what is left after them: the argument being
    /// received and whatever follows it.
    public var parsedArgumentBytes: Int { expectedArgs > 0 ? scanned : 0 }

    /// Parses the next command from `buffer`.
    ///
    /// Returns `nil` when more bytes are needed (the buffer's reader index is left where the
    /// command starts). Returns an empty command for an empty request (`*0`, `*-1`, a blank
    /// inline line), which a server ignores. On success the reader index moves past the command.
    public mutating func next(_ buffer: inout ByteBuffer) throws(RESPProtocolError) -> CommandArgs? {
        if expectedArgs == 0 {
            guard let first = buffer.firstByte else { return nil }
            if first != UInt8(ascii: "*") {
                return try parseInline(&buffer)
            }
            // Multibulk header.
            guard let lineEnd = findCR(buffer, from: 1) else {
                if buffer.readableBytes > Self.inlineMaxSize { throw .tooBigMultibulkCount }
                return nil
            }
            guard let count = parseInteger(buffer, from: 1, to: lineEnd), count <= Int(Int32.max) else {
                throw .invalidMultibulkLength
            }
            if count <= 0 {
                buffer.moveReaderIndex(forwardBy: lineEnd + 2)
                return CommandArgs()
            }
            if unauthenticated && count > 10 { throw .unauthenticatedMultibulk }
            expectedArgs = count
            scanned = lineEnd + 2
            argCount = 0
        }
        // Scan the bulk headers over the raw bytes in one pass, writing spans into the table
        // through a pointer (an `append` per argument costs a uniqueness check each).
        enum Step { case complete, needMore, failed(RESPProtocolError) }
        let want = expectedArgs
        let maxBulk = maxBulkLength
        let limited = unauthenticated
        var done = argCount
        var pos = scanned
        let step: Step = buffer.withUnsafeReadableBytes { raw -> Step in
            let count = raw.count
            guard let base = raw.baseAddress else { return .needMore }
            // Room for every argument these bytes can hold (each takes at least 6: `$0\r\n\r\n`)
            // and never more than the header announced, so a huge count allocates nothing.
            let room = min(want, done + (count - pos) / 6 + 1)
            if argRanges.count < room {
                argRanges.append(contentsOf: repeatElement(CommandArgs.Span(offset: 0, length: 0), count: room - argRanges.count))
            }
            return argRanges.withUnsafeMutableBufferPointer { table -> Step in
                while done < want {
                    guard pos < count else { return .needMore }
                    let marker = raw[pos]
                    if marker != UInt8(ascii: "$") {
                        // Redis looks at the marker only once the whole line (a '\r' and one
                        // more byte) is in; until then it waits, as for any header.
                        guard Self.lineCR(base, count: count, from: pos) != nil else {
                            if count - pos > Self.inlineMaxSize { return .failed(.tooBigBulkCount) }
                            return .needMore
                        }
                        return .failed(.expectedDollar(got: marker))
                    }
                    // Fast path: short decimal length followed by CRLF.
                    // Wrapping arithmetic: at most 18 digits cannot overflow, and every offset
                    // is within the buffer (each checked operation is a compare and a branch).
                    var i = pos &+ 1
                    var length = 0
                    var digits = 0
                    while i < count, case let d = raw[i] &- UInt8(ascii: "0"), d <= 9, digits < 18 {
                        length = length &* 10 &+ Int(d)
                        digits &+= 1
                        i &+= 1
                    }
                    let lineEnd: Int
                    if i &+ 1 < count && raw[i] == 0x0D && digits > 0 && !(digits > 1 && raw[pos &+ 1] == UInt8(ascii: "0")) {
                        lineEnd = i
                    } else {
                        // General path: find the CR, then parse with string2ll rules.
                        guard let hit = Self.lineCR(base, count: count, from: pos + 1) else {
                            if count - pos > Self.inlineMaxSize { return .failed(.tooBigBulkCount) }
                            return .needMore
                        }
                        lineEnd = hit
                        guard let parsed = RESPInteger.parse(UnsafeRawBufferPointer(start: base + pos + 1, count: lineEnd - pos - 1))
                        else { return .failed(.invalidBulkLength) }
                        length = parsed
                    }
                    guard length >= 0, length <= maxBulk else { return .failed(.invalidBulkLength) }
                    if limited && length > 16384 { return .failed(.unauthenticatedBulk) }
                    let dataStart = lineEnd &+ 2
                    // Redis skips the two bytes after the payload without checking them.
                    // (Written so that nothing overflows even for a length near Int.max, which
                    // proto-max-bulk-len allows; past this check every offset is in the buffer.)
                    guard length <= count &- dataStart &- 2 else { return .needMore }
                    table[done] = CommandArgs.Span(offset: dataStart, length: length)
                    done &+= 1
                    pos = dataStart &+ length &+ 2
                }
                return .complete
            }
        }
        argCount = done
        scanned = pos
        switch step {
        case .complete: break
        case .needMore: return nil
        case .failed(let error):
            reset()
            throw error
        }
        // The command takes the span table; the next one reuses the table `recycle` gave back.
        var spans: [CommandArgs.Span] = []
        swap(&spans, &argRanges)
        swap(&argRanges, &spare)
        let args = CommandArgs(base: buffer, spans: spans, count: argCount)
        buffer.moveReaderIndex(forwardBy: scanned)
        reset()
        return args
    }

    /// Hands a finished command's span table back for reuse by the next command (the caller
    /// drops the command first, so the table is uniquely referenced and is not copied).
    public mutating func recycle(_ args: inout CommandArgs) {
        let spans = args.takeSpans()
        if spans.count <= 1024 { spare = spans }  // do not keep a huge command's table
    }

    private mutating func reset() {
        expectedArgs = 0
        scanned = 0
        argCount = 0
        if argRanges.count > 1024 { argRanges = [] }
    }

    /// Offset (relative to the reader index) of a `\r` that has at least one byte after it.
    private func findCR(_ buffer: ByteBuffer, from offset: Int) -> Int? {
        buffer.withUnsafeReadableBytes { raw -> Int? in
            guard let base = raw.baseAddress else { return nil }
            return Self.lineCR(base, count: raw.count, from: offset)
        }
    }

    /// Where Redis's `strchr(p, '\r')` finds a header line's end: the first `\r` at or after
    /// `from`, with at least one byte after it, and no NUL byte before it (Redis's query
    /// buffer is a C string to strchr, so a NUL hides everything after it: Redis then waits
    /// for more input until the 64 KiB limit). Nil when the line is not complete in that sense.
    @inline(__always)
    static func lineCR(_ base: UnsafeRawPointer, count: Int, from: Int) -> Int? {
        guard from < count, let hit = memchr(base + from, 0x0D, count - from) else { return nil }
        let cr = base.distance(to: UnsafeRawPointer(hit))
        guard cr + 1 < count, cr == from || memchr(base + from, 0, cr - from) == nil else { return nil }
        return cr
    }

    /// Redis's `string2ll` on the bytes in `[from, to)`: optional '-', no leading zeros, no '+'.
    private func parseInteger(_ buffer: ByteBuffer, from: Int, to: Int) -> Int? {
        buffer.withUnsafeReadableBytes { raw in
            RESPInteger.parse(UnsafeRawBufferPointer(start: raw.baseAddress! + from, count: to - from))
        }
    }

    private mutating func parseInline(_ buffer: inout ByteBuffer) throws(RESPProtocolError) -> CommandArgs? {
        // Offset of the first '\n' and whether a '\r' precedes it, via memchr.
        // A NUL before the '\n' hides it from Redis's strchr: the line is not complete then.
        let found = buffer.withUnsafeReadableBytes { raw -> (Int, Bool)? in
            guard let base = raw.baseAddress, let hit = memchr(base, 0x0A, raw.count) else { return nil }
            let offset = base.distance(to: UnsafeRawPointer(hit))
            if offset > 0 && memchr(base, 0, offset) != nil { return nil }
            return (offset, offset > 0 && raw[offset - 1] == 0x0D)
        }
        guard let (nlOffset, hasCR) = found else {
            if buffer.readableBytes > Self.inlineMaxSize { throw .tooBigInline }
            return nil
        }
        let lineLength = hasCR ? nlOffset - 1 : nlOffset
        var spans = spare
        spare = []
        let plain = buffer.withUnsafeReadableBytes { raw in
            InlineSplitter.plainSpans(UnsafeRawBufferPointer(rebasing: raw[0..<lineLength]), into: &spans)
        }
        let args: CommandArgs
        if plain {
            args = CommandArgs(base: buffer, spans: spans, count: spans.count)
        } else {
            // Quotes and escapes: the arguments are new bytes, in a buffer of their own.
            spare = spans
            guard let parts = InlineSplitter.splitQuoted(buffer.getSlice(at: buffer.readerIndex, length: lineLength)!) else {
                throw .unbalancedQuotes
            }
            args = CommandArgs(parts)
        }
        buffer.moveReaderIndex(forwardBy: nlOffset + 1)
        return args
    }
}

/// Integer parsing with redis-server's strictness (`string2ll`).
public enum RESPInteger {
    @inlinable
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> Int? {
        let n = bytes.count
        if n == 0 || n > 20 { return nil }
        var i = 0
        var negative = false
        if bytes[0] == UInt8(ascii: "-") {
            negative = true
            i = 1
            if n == 1 { return nil }
        }
        if bytes[i] == UInt8(ascii: "0") {
            return (n == 1) ? 0 : nil
        }
        var value: UInt64 = 0
        while i < n {
            let d = bytes[i] &- UInt8(ascii: "0")
            if d > 9 { return nil }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(d))
            if o1 || o2 { return nil }
            value = a
            i += 1
        }
        if negative {
            if value > UInt64(Int64.max) + 1 { return nil }
            return value == UInt64(Int64.max) + 1 ? Int.min : -Int(value)
        }
        if value > UInt64(Int64.max) { return nil }
        return Int(value)
    }

    /// Parses a whole `ByteBuffer`'s readable bytes.
    @inlinable
    public static func parse(_ buffer: ByteBuffer) -> Int? {
        buffer.withUnsafeReadableBytes { parse($0) }
    }
}

extension ByteBuffer {
    /// The first readable byte, if any. Not `readableBytesView.first`: a view retains and
    /// releases the storage, which costs on every command.
    @inlinable
    public var firstByte: UInt8? { readableBytes > 0 ? getInteger(at: readerIndex, as: UInt8.self) : nil }
}
