import NIOConcurrencyHelpers
import NIOCore

/// Sends a command, waits for its reply, sends the next: `depth` commands in flight, until the
/// deadline or `limit` replies. Latency is measured from send to reply.
final class ClosedLoop: Role, @unchecked Sendable {
    let depth: Int
    let deadline: UInt64
    let limit: Int
    let make: (UInt64, inout ByteBuffer) -> Void
    private var sendTimes: [UInt64] = []
    private var head = 0
    private(set) var sent = 0

    init(depth: Int, deadline: UInt64, limit: Int = .max, make: @escaping (UInt64, inout ByteBuffer) -> Void) {
        self.depth = depth
        self.deadline = deadline
        self.limit = limit
        self.make = make
    }

    private var outstanding: Int { sendTimes.count - head }

    private func send(_ now: UInt64, _ out: inout ByteBuffer) {
        if head > 4096 && head * 2 > sendTimes.count {
            sendTimes.removeFirst(head)
            head = 0
        }
        sendTimes.append(now)
        sent += 1
        make(now, &out)
    }

    override func start(now: UInt64, _ out: inout ByteBuffer) {
        for _ in 0..<min(depth, limit) { send(now, &out) }
    }

    override func reply(_ r: Reply, now: UInt64, _ out: inout ByteBuffer) -> Bool {
        let t0 = sendTimes[head]
        head += 1
        if r.isError { noteError(r) }
        if now <= deadline {
            replies += 1
            record(now - t0)
            if sent < limit { send(now, &out) }
        }
        return outstanding > 0
    }
}

/// Sends at a fixed rate (open loop, so a slow server cannot slow the offered load), each
/// command stamped with its send time; counts replies.
final class Paced: Role, @unchecked Sendable {
    let perSecond: Double
    let start: UInt64
    let deadline: UInt64
    let make: (UInt64, inout ByteBuffer) -> Void
    private(set) var sent = 0

    init(perSecond: Double, start: UInt64, deadline: UInt64, make: @escaping (UInt64, inout ByteBuffer) -> Void) {
        self.perSecond = perSecond
        self.start = start
        self.deadline = deadline
        self.make = make
    }

    override var paced: Bool { true }

    override func tick(now: UInt64, _ out: inout ByteBuffer) -> Bool {
        if now < start { return true }
        let until = min(now, deadline)
        let due = Int(Double(until &- start) * perSecond / 1e9) - sent
        for _ in 0..<min(max(due, 0), 10_000) {
            make(now, &out)
            sent += 1
        }
        return now < deadline
    }

    override func reply(_ r: Reply, now: UInt64, _ out: inout ByteBuffer) -> Bool {
        if r.isError { noteError(r) }
        replies += 1
        return true
    }
}

/// A consumer of a group: XREADGROUP COUNT n [BLOCK ms] STREAMS key >, then XACK of what it
/// got pipelined with the next read. Entries carrying a `ts` field give end-to-end latency.
final class Consumer: Role, @unchecked Sendable {
    enum Pending { case read, ack }
    let key: String
    let group: String
    let name: String
    let count: Int
    let blockMs: Int?
    let producersDone: NIOLockedValueBox<Bool>
    let hardDeadline: UInt64
    private var expected: [Pending] = []
    private(set) var consumed = 0
    private(set) var lastConsumedAt: UInt64 = 0

    init(key: String, group: String, name: String, count: Int, blockMs: Int?, producersDone: NIOLockedValueBox<Bool>, hardDeadline: UInt64) {
        self.key = key
        self.group = group
        self.name = name
        self.count = count
        self.blockMs = blockMs
        self.producersDone = producersDone
        self.hardDeadline = hardDeadline
    }

    private func sendRead(_ out: inout ByteBuffer) {
        var args = ["XREADGROUP", "GROUP", group, name, "COUNT", String(count)]
        if let blockMs { args += ["BLOCK", String(blockMs)] }
        encodeCommand(args + ["STREAMS", key, ">"], into: &out)
        expected.append(.read)
    }

    override func start(now: UInt64, _ out: inout ByteBuffer) { sendRead(&out) }

    override func reply(_ r: Reply, now: UInt64, _ out: inout ByteBuffer) -> Bool {
        let kind = expected.removeFirst()
        if r.isError {
            noteError(r)
            return false
        }
        if kind == .ack { return true }
        guard let streams = r.arrayValue, let first = streams.first?.arrayValue, first.count == 2,
            let entries = first[1].arrayValue, !entries.isEmpty
        else {
            // Nothing new: done once the producers are (or at the hard deadline).
            if producersDone.withLockedValue({ $0 }) || now > hardDeadline { return false }
            sendRead(&out)
            return true
        }
        var ack = ["XACK", key, group]
        ack.reserveCapacity(3 + entries.count)
        for entry in entries {
            guard let parts = entry.arrayValue, parts.count == 2, let id = parts[0].bulkValue else { continue }
            ack.append(String(buffer: id))
            if let fields = parts[1].arrayValue, fields.count >= 2, let f = fields[0].bulkValue,
                f.readableBytes == 2, f.getString(at: f.readerIndex, length: 2) == "ts",
                let v = fields[1].bulkValue, let ts = UInt64(String(buffer: v)), now >= ts
            {
                record(now - ts)
            }
        }
        consumed += entries.count
        lastConsumedAt = now
        encodeCommand(ack, into: &out)
        expected.append(.ack)
        if now > hardDeadline { return true }
        sendRead(&out)
        return true
    }
}

/// A subscriber: SUBSCRIBE channel, then counts messages; a payload that starts with a
/// timestamp ("<ns>:...") gives delivery latency.
final class Subscriber: Role, @unchecked Sendable {
    let channel: String
    let subscribed: NIOLockedValueBox<Int>
    let countUntil: UInt64
    private(set) var delivered = 0
    private(set) var deliveredInWindow = 0

    init(channel: String, subscribed: NIOLockedValueBox<Int>, countUntil: UInt64) {
        self.channel = channel
        self.subscribed = subscribed
        self.countUntil = countUntil
    }

    override func start(now: UInt64, _ out: inout ByteBuffer) {
        encodeCommand(["SUBSCRIBE", channel], into: &out)
    }

    override func reply(_ r: Reply, now: UInt64, _ out: inout ByteBuffer) -> Bool {
        guard let parts = r.arrayValue, parts.count == 3, let kind = parts[0].bulkValue else {
            if r.isError { noteError(r) }
            return true
        }
        if kind.readableBytes == 9 {  // "subscribe"
            subscribed.withLockedValue { $0 += 1 }
            return true
        }
        delivered += 1
        if now <= countUntil { deliveredInWindow += 1 }
        if let payload = parts[2].bulkValue {
            var ts: UInt64 = 0
            for c in payload.readableBytesView {
                if c == UInt8(ascii: ":") { break }
                ts = ts &* 10 &+ UInt64(c &- 48)
            }
            if ts > 0 && now >= ts { record(now - ts) }
        }
        return true
    }
}

/// Sends a fixed list of commands and keeps their replies (setup and checks).
final class Script: Role, @unchecked Sendable {
    let commands: [[String]]
    let done: EventLoopPromise<[Reply]>
    private var got: [Reply] = []

    init(_ commands: [[String]], done: EventLoopPromise<[Reply]>) {
        self.commands = commands
        self.done = done
    }

    override func start(now: UInt64, _ out: inout ByteBuffer) {
        for c in commands { encodeCommand(c, into: &out) }
        if commands.isEmpty { done.succeed([]) }
    }

    override func reply(_ r: Reply, now: UInt64, _ out: inout ByteBuffer) -> Bool {
        got.append(r)
        if got.count == commands.count {
            done.succeed(got)
            return false
        }
        return true
    }
}
