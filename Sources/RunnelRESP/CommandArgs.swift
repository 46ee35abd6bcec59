import NIOCore

/// One command's arguments: byte ranges of the buffer they were parsed from.
///
/// A parsed command holds the input buffer once (one reference count) and a table of spans,
/// instead of one `ByteBuffer` slice per argument (a retain and a release each, thirteen pairs
/// for a five-field XADD). `self[i]` still gives argument `i` as a `ByteBuffer` slice; hot
/// paths that only read an argument's bytes use `length(_:)` and `withUnsafeBytes(_:_:)`,
/// which touch no reference count.
public struct CommandArgs: RandomAccessCollection, Sendable {
    /// Where an argument lies: bytes `[offset, offset + length)` after the base's reader index.
    public struct Span: Sendable, Equatable {
        public var offset: Int
        public var length: Int

        @inlinable
        public init(offset: Int, length: Int) {
            self.offset = offset
            self.length = length
        }
    }

    /// The bytes the spans point into (reader index at the command's first byte).
    @usableFromInline var base: ByteBuffer
    /// The first `count` entries are the arguments' spans (the parser's table may be longer).
    @usableFromInline var spans: [Span]
    @usableFromInline var argumentCount: Int

    public init() {
        base = ByteBuffer()
        spans = []
        argumentCount = 0
    }

    /// Arguments lying in `base`, at the first `count` of `spans` (relative to its reader index).
    @inlinable
    public init(base: ByteBuffer, spans: [Span], count: Int) {
        precondition(count <= spans.count)
        self.base = base
        self.spans = spans
        self.argumentCount = count
    }

    /// A command of its own: the arguments' bytes are copied into one new buffer.
    public init<S: Sequence>(_ arguments: S) where S.Element == ByteBuffer {
        var total = 0
        var count = 0
        for a in arguments {
            total += a.readableBytes
            count += 1
        }
        var buffer = ByteBuffer()
        buffer.reserveCapacity(total)
        var spans: [Span] = []
        spans.reserveCapacity(count)
        for a in arguments {
            spans.append(Span(offset: buffer.writerIndex, length: a.readableBytes))
            buffer.writeImmutableBuffer(a)
        }
        self.init(base: buffer, spans: spans, count: count)
    }

    /// The arguments as strings, copied (tests, configuration).
    public init(strings: [String]) {
        self.init(strings.map { ByteBuffer(string: $0) })
    }

    @inlinable public var startIndex: Int { 0 }
    @inlinable public var endIndex: Int { argumentCount }
    @inlinable public var count: Int { argumentCount }
    @inlinable public var isEmpty: Bool { count == 0 }

    /// Argument `i` as a slice of the base buffer (retains the buffer).
    @inlinable
    public subscript(i: Int) -> ByteBuffer {
        let s = span(i)
        return base.getSlice(at: base.readerIndex + s.offset, length: s.length)!
    }

    @inlinable @inline(__always)
    func span(_ i: Int) -> Span {
        precondition(i >= 0 && i < count, "argument index out of range")
        return spans[i]
    }

    /// Length of argument `i` in bytes.
    @inlinable
    public func length(_ i: Int) -> Int { span(i).length }

    /// Calls `body` with argument `i`'s bytes, without retaining the buffer.
    @inlinable
    public func withUnsafeBytes<R>(_ i: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let s = span(i)
        return try base.withUnsafeReadableBytes { raw in
            try body(UnsafeRawBufferPointer(rebasing: raw[s.offset..<(s.offset + s.length)]))
        }
    }

    /// Whether argument `i` is exactly the one byte `c` (`$`, `>`, `*`, …).
    @inlinable
    public func isOnly(_ i: Int, _ c: UInt8) -> Bool {
        let s = span(i)
        return s.length == 1 && base.getInteger(at: base.readerIndex + s.offset, as: UInt8.self) == c
    }

    /// Whether argument `i` has exactly the bytes of `other` (no retain of the base buffer).
    @inlinable
    public func bytesEqual(_ i: Int, _ other: ByteBuffer) -> Bool {
        let n = span(i).length
        guard n == other.readableBytes else { return false }
        guard n > 0 else { return true }
        return withUnsafeBytes(i) { mine in other.withUnsafeReadableBytes { mine.elementsEqual($0) } }
    }

    /// A copy holding only its own arguments' bytes, for a command kept after its input
    /// buffer moves on (MULTI's queue, a command postponed by CLIENT PAUSE).
    public var detached: CommandArgs { CommandArgs(self) }

    /// Gives the span table back so the parser can reuse it (its entries are overwritten).
    @inlinable
    mutating func takeSpans() -> [Span] {
        var out: [Span] = []
        swap(&out, &spans)
        argumentCount = 0
        return out
    }
}

extension CommandArgs: Equatable {
    public static func == (lhs: CommandArgs, rhs: CommandArgs) -> Bool {
        lhs.count == rhs.count && lhs.indices.allSatisfy { lhs[$0] == rhs[$0] }
    }
}
