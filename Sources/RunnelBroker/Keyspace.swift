import NIOCore
import RunnelRESP
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

    /// An argument as Redis's `%s` quotes it in an error message: the bytes up to the first
    /// NUL, exact also when they are not UTF-8 (`RESPWriter.escapedText`).
    var errorText: String { cString() }

    /// At most `limit` bytes, up to the first NUL: what Redis's `%.Ns` prints of an argument
    /// in an error message (exact bytes, as `errorText`).
    func cString(limit: Int = .max) -> String {
        let bytes = readableBytesView
        let end = bytes.firstIndex(of: 0) ?? bytes.endIndex
        return RESPWriter.escapedText(bytes[..<end].prefix(limit))
    }

    /// ASCII-lowercased string of the bytes.
    var lowercasedString: String {
        String(decoding: readableBytesView.map { ($0 >= 65 && $0 <= 90) ? $0 + 32 : $0 }, as: UTF8.self)
    }

    /// Whether the argument is exactly the one byte `c` (`$`, `>`, `*`, `~`, `=`).
    func isOnly(_ c: UInt8) -> Bool { readableBytes == 1 && firstByte == c }

    /// Case-insensitive ASCII comparison with a lowercase literal.
    func equalsIgnoringCase(_ lower: StaticString) -> Bool {
        guard readableBytes == lower.utf8CodeUnitCount else { return false }
        let l = lower.utf8Start
        // Raw bytes, not `readableBytesView`: a view retains and releases the storage.
        return withUnsafeReadableBytes { raw in
            for i in 0..<raw.count {
                let c = raw[i]
                let folded = (c >= 65 && c <= 90) ? c + 32 : c
                if folded != l[i] { return false }
            }
            return true
        }
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
    /// The stream's number in the log (0 until the storage engine binds it).
    public var handle: UInt64 = 0
    /// Redis's 24-bit `lru` field of the key's object. Under an LRU (or non-evicting)
    /// `maxmemory-policy` it is the LRU clock (Unix seconds mod 2^24) of the last access, read by
    /// OBJECT IDLETIME; under an LFU policy the minute (mod 2^16) of the last decay sits in the
    /// high 16 bits and the logarithmic access counter (OBJECT FREQ) in the low 8. One field for
    /// both, as in Redis: after the policy switches kind, OBJECT IDLETIME and FREQ read the other
    /// kind's bits as redis-server does, until the next access rewrites them.
    public var lru: UInt32

    /// `lru`: the field's first value, `StreamBox.fresh` (as Redis's createObject sets it).
    public init(_ stream: Stream = Stream(), journaled: Bool = false, lru: UInt32) {
        self.stream = stream
        self.lru = lru
        if journaled { self.stream.journal = RecordingJournal() }
    }
}

extension StreamBox {
    static let lruClockMax: UInt32 = (1 << 24) - 1
    static let lfuInitial: UInt32 = 5

    /// Redis's LRU clock: Unix seconds, 24 bits.
    static func lruClock(_ nowMs: Int64) -> UInt32 { UInt32(truncatingIfNeeded: nowMs / 1000) & lruClockMax }

    /// Redis's LFU clock: Unix minutes, 16 bits.
    static func lfuMinutes(_ nowMs: Int64) -> UInt32 { UInt32(truncatingIfNeeded: nowMs / 60_000) & 0xFFFF }

    /// The `lru` of a new object: the LRU clock, or the LFU minute with the initial counter.
    static func fresh(nowMs: Int64, lfu: Bool) -> UInt32 {
        lfu ? lfuMinutes(nowMs) << 8 | lfuInitial : lruClock(nowMs)
    }

    /// OBJECT IDLETIME: seconds between the LRU clock and `lru`, unwrapping as Redis does.
    func idleSeconds(nowMs: Int64) -> Int {
        let clock = Self.lruClock(nowMs)
        return Int(clock >= lru ? clock - lru : clock + (Self.lruClockMax - lru))
    }

    /// OBJECT FREQ: the counter after the decay due since it was last touched, one step per
    /// `decayMinutes` (Redis's LFUDecrAndReturn, its wrap of the minute clock included).
    func lfuDecayed(nowMs: Int64, decayMinutes: Int) -> UInt32 {
        let counter = lru & 0xFF
        guard decayMinutes > 0 else { return counter }
        let then = lru >> 8, now = Self.lfuMinutes(nowMs)
        let elapsed = now >= then ? now - then : 65535 - then + now
        let periods = Int(elapsed) / decayMinutes
        return periods > Int(counter) ? 0 : counter - UInt32(periods)
    }

    /// An access: the LRU clock, or under LFU a decay then a logarithmic increment (likelier
    /// the smaller the counter is).
    func touch(nowMs: Int64, lfu: Bool, logFactor: Int, decayMinutes: Int) {
        guard lfu else {
            lru = Self.lruClock(nowMs)
            return
        }
        var counter = lfuDecayed(nowMs: nowMs, decayMinutes: decayMinutes)
        if counter < 255 {
            let base = Double(max(0, Int(counter) - Int(Self.lfuInitial)))
            if Double.random(in: 0..<1) < 1.0 / (base * Double(logFactor) + 1) { counter += 1 }
        }
        lru = Self.lfuMinutes(nowMs) << 8 | counter
    }

    /// RESTORE's FREQ (used under an LFU policy) or IDLETIME (under any other), as Redis's
    /// objectSetLRUOrLFU: the idle time is taken from the LRU clock in Redis's C arithmetic
    /// (64-bit, wrapping), moved up by the clock's range if negative, then cut to 24 bits.
    func restore(freq: Int?, idleSeconds: Int?, nowMs: Int64, lfu: Bool) {
        if lfu {
            if let freq { lru = Self.lfuMinutes(nowMs) << 8 | UInt32(freq) }
        } else if let idleSeconds {
            var absolute = Int64(Self.lruClock(nowMs)) &- (Int64(idleSeconds) &* 1000 / 1000)
            if absolute < 0 { absolute &+= Int64(Self.lruClockMax) }
            lru = UInt32(truncatingIfNeeded: absolute) & Self.lruClockMax
        }
    }
}

/// Receives the keyspace's changes to streams (the storage engine).
protocol KeyspaceLog: AnyObject {
    /// A stream was stored under `key`: a new stream, or one moved by RENAME.
    func bound(db: Int, key: Key, box: StreamBox)
    /// A stream's key was removed.
    func removed(_ box: StreamBox)
    /// A stream's expiry changed (0: none).
    func expireChanged(_ box: StreamBox, at: Int64)
    /// Every key of `db` was removed.
    func flushed(db: Int, boxes: [StreamBox])
    /// COPY: `box`, a new stream holding a copy of `source`, was stored under `key`.
    func copied(db: Int, key: Key, box: StreamBox, from source: StreamBox)
    /// SWAPDB: the keys of databases `a` and `b` traded places.
    func swapped(_ a: Int, _ b: Int)
}

/// One logical database (SELECT 0…databases-1).
public struct Database {
    public private(set) var values: [Key: StoredValue] = [:]
    /// Absolute expiry time in Unix milliseconds, for keys that have one.
    public private(set) var expires: [Key: Int64] = [:]
    /// The storage engine, when persistence is on; `index` is this database's number.
    var log: (any KeyspaceLog)?
    var index = 0

    public var count: Int { values.count }

    public init() {}

    /// The value, ignoring expiry (the caller expires lazily first).
    func rawValue(_ key: Key) -> StoredValue? { values[key] }

    mutating func set(_ key: Key, _ value: StoredValue) {
        if let old = values[key], case .stream(let box) = old, let log {
            log.removed(box)
        }
        values[key.detached] = value
        if let log, case .stream(let box) = value { log.bound(db: index, key: key, box: box) }
    }

    @discardableResult
    mutating func remove(_ key: Key) -> StoredValue? {
        expires.removeValue(forKey: key)
        let old = values.removeValue(forKey: key)
        if let log, case .stream(let box)? = old { log.removed(box) }
        return old
    }

    /// A database's contents as plain tables: built from recovered state away from the loop.
    struct Tables {
        var values: [Key: StoredValue] = [:]
        var expires: [Key: Int64] = [:]
    }

    /// Takes recovered contents as they are, without logging them (startup, when empty).
    mutating func adopt(_ tables: Tables) {
        precondition(values.isEmpty && expires.isEmpty, "adopt into a database that holds keys")
        values = tables.values
        expires = tables.expires
    }

    /// RENAME: moves a value (and its expiry) to a key that does not exist; one log record.
    mutating func move(_ from: Key, to: Key) {
        guard let value = values.removeValue(forKey: from) else { return }
        let expiry = expires.removeValue(forKey: from)
        values[to.detached] = value
        if let log, case .stream(let box) = value { log.bound(db: index, key: to, box: box) }
        if let expiry { expires[to.detached] = expiry }
    }

    /// MOVE, first half: takes a value and its expiry out without logging a deletion (`put`
    /// logs where it went).
    mutating func take(_ key: Key) -> (StoredValue, Int64?)? {
        guard let value = values.removeValue(forKey: key) else { return nil }
        return (value, expires.removeValue(forKey: key))
    }

    /// MOVE, second half: stores a value taken from another database under a key that does
    /// not exist here; one log record (the stream's new database and key).
    mutating func put(_ key: Key, _ value: StoredValue, expireAt: Int64?) {
        values[key.detached] = value
        if let expireAt { expires[key.detached] = expireAt }
        if let log, case .stream(let box) = value { log.bound(db: index, key: key, box: box) }
    }

    /// COPY: stores `box`, a copy of `source`, under a key that does not exist here.
    mutating func putCopy(_ key: Key, _ box: StreamBox, of source: StreamBox, expireAt: Int64?) {
        values[key.detached] = .stream(box)
        if let log { log.copied(db: index, key: key, box: box, from: source) }
        if let expireAt { setExpire(key, at: expireAt) }
    }

    /// SWAPDB: trades the keys (and expiries) of two databases; each keeps its number.
    static func swapContents(_ a: inout Database, _ b: inout Database) {
        swap(&a.values, &b.values)
        swap(&a.expires, &b.expires)
        if let log = a.log { log.swapped(a.index, b.index) }
    }

    /// A key chosen at random (nil when the database is empty). O(keys): Swift's dictionary
    /// has no random access; keyspaces of a stream broker are small.
    func randomKey() -> Key? { values.keys.randomElement() }

    func expireTime(_ key: Key) -> Int64? { expires.isEmpty ? nil : expires[key] }

    mutating func setExpire(_ key: Key, at ms: Int64) {
        expires[key.detached] = ms
        if let log, case .stream(let box)? = values[key] { log.expireChanged(box, at: ms) }
    }

    @discardableResult
    mutating func removeExpire(_ key: Key) -> Bool {
        guard expires.removeValue(forKey: key) != nil else { return false }
        if let log, case .stream(let box)? = values[key] { log.expireChanged(box, at: 0) }
        return true
    }

    mutating func removeAll() {
        if let log {
            var boxes: [StreamBox] = []
            for case .stream(let box) in values.values { boxes.append(box) }
            log.flushed(db: index, boxes: boxes)
        }
        values.removeAll()
        expires.removeAll()
    }

    var keys: Dictionary<Key, StoredValue>.Keys { values.keys }
    var keysWithExpiry: Dictionary<Key, Int64>.Keys { expires.keys }
}
