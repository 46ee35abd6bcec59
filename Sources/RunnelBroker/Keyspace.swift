import NIOCore
import RunnelStreams

/// A key: its bytes, stored compactly (copied out of the request buffer).
public typealias Key = ByteBuffer

extension ByteBuffer {
    /// A compact copy that does not keep a larger receive buffer alive.
    @inlinable
    var detached: ByteBuffer {
        var b = ByteBufferAllocator().buffer(capacity: readableBytes)
        b.writeImmutableBuffer(self)
        return b
    }

    /// The bytes as a String (lossy UTF-8), for messages and logs.
    var string: String { String(decoding: readableBytesView, as: UTF8.self) }

    /// ASCII-lowercased string of the bytes.
    var lowercasedString: String {
        String(decoding: readableBytesView.map { ($0 >= 65 && $0 <= 90) ? $0 + 32 : $0 }, as: UTF8.self)
    }

    /// Case-insensitive ASCII comparison with a lowercase literal.
    func equalsIgnoringCase(_ lower: StaticString) -> Bool {
        guard readableBytes == lower.utf8CodeUnitCount else { return false }
        let l = lower.utf8Start
        var i = 0
        for c in readableBytesView {
            let folded = (c >= 65 && c <= 90) ? c + 32 : c
            if folded != l[i] { return false }
            i += 1
        }
        return true
    }
}

/// A value stored under a key. Runnel stores streams only.
public enum StoredValue {
    case stream(StreamBox)

    /// The name TYPE reports.
    public var typeName: String {
        switch self {
        case .stream: return "stream"
        }
    }
}

/// A stream held by reference in the keyspace, so commands mutate it in place.
public final class StreamBox {
    public var stream: Stream
    public init(_ stream: Stream = Stream(), journaled: Bool = false) {
        self.stream = stream
        if journaled { self.stream.journal = [] }
    }
}

/// One logical database (SELECT 0…databases-1).
public struct Database {
    public private(set) var values: [Key: StoredValue] = [:]
    /// Absolute expiry time in Unix milliseconds, for keys that have one.
    public private(set) var expires: [Key: Int64] = [:]

    public var count: Int { values.count }

    public init() {}

    /// The value, ignoring expiry (the caller expires lazily first).
    func rawValue(_ key: Key) -> StoredValue? { values[key] }

    mutating func set(_ key: Key, _ value: StoredValue) {
        values[key.detached] = value
    }

    @discardableResult
    mutating func remove(_ key: Key) -> StoredValue? {
        expires.removeValue(forKey: key)
        return values.removeValue(forKey: key)
    }

    func expireTime(_ key: Key) -> Int64? { expires[key] }

    mutating func setExpire(_ key: Key, at ms: Int64) {
        expires[key.detached] = ms
    }

    @discardableResult
    mutating func removeExpire(_ key: Key) -> Bool {
        expires.removeValue(forKey: key) != nil
    }

    mutating func removeAll() {
        values.removeAll()
        expires.removeAll()
    }

    var keys: Dictionary<Key, StoredValue>.Keys { values.keys }
    var keysWithExpiry: Dictionary<Key, Int64>.Keys { expires.keys }
}
