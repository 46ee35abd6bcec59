#if canImport(Glibc)
import Glibc
#endif

/// A blocking TCP client for tests: send bytes, read replies with time bounds.
public final class TestConnection {
    public private(set) var fd: Int32
    public private(set) var buffer: [UInt8] = []
    public private(set) var closedByPeer = false

    public enum Failure: Error, CustomStringConvertible {
        case connect(Int32, Int32)
        case timeout(String)
        public var description: String {
            switch self {
            case .connect(let port, let e): return "connect to 127.0.0.1:\(port) failed: errno \(e)"
            case .timeout(let s): return "timeout: \(s)"
            }
        }
    }

    public init(port: Int, host: String = "127.0.0.1") throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr(host)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if rc != 0 {
            let e = errno
            Glibc.close(fd)
            // A class whose init throws after setting every property still runs its deinit:
            // closing the number again there could close another thread's new descriptor
            // (seen as "stat …: Bad file descriptor" in a parallel storage test).
            fd = -1
            throw Failure.connect(Int32(port), e)
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    public func close() { shutdown(fd, Int32(SHUT_RDWR)) }

    public func send(_ bytes: [UInt8]) {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            sent += n
        }
    }

    public func send(_ args: [String]) { send(encodeCommand(args)) }

    /// Reads whatever arrives within `timeoutMs`; returns false on timeout, true if bytes came.
    @discardableResult
    public func fill(timeoutMs: Int) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let r = poll(&p, 1, Int32(timeoutMs))
        guard r > 0 else { return false }
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = recv(fd, &chunk, chunk.count, 0)
        if n <= 0 {
            closedByPeer = true
            return false
        }
        buffer += chunk[0..<n]
        return true
    }

    /// Takes `count` complete replies, waiting up to `timeoutMs` in total.
    public func read(_ count: Int = 1, timeoutMs: Int = 5000) throws -> [RESPValue] {
        let deadline = monotonicMs() + timeoutMs
        while true {
            let (values, used) = try RESPReplyParser.parseAll(buffer)
            if values.count >= count {
                // Consume exactly `count` replies.
                var pos = 0
                var taken: [RESPValue] = []
                for _ in 0..<count {
                    let (v, p) = try RESPReplyParser.parse(buffer, at: pos)!
                    taken.append(v)
                    pos = p
                }
                buffer.removeFirst(pos)
                _ = used
                return taken
            }
            let left = deadline - monotonicMs()
            if left <= 0 || closedByPeer { throw Failure.timeout("wanted \(count) replies, have \(values.count)") }
            fill(timeoutMs: left)
        }
    }

    public func command(_ args: String...) throws -> RESPValue {
        send(args)
        return try read(1)[0]
    }

    public func command(_ args: [String]) throws -> RESPValue {
        send(args)
        return try read(1)[0]
    }

    /// Raw bytes of all complete replies that arrive until the connection is quiet for
    /// `quietMs` (after waiting up to `firstMs` for the first byte).
    public func readUntilQuiet(firstMs: Int, quietMs: Int) -> [UInt8] {
        if buffer.isEmpty { fill(timeoutMs: firstMs) }
        while fill(timeoutMs: quietMs) {}
        let (_, used) = (try? RESPReplyParser.parseAll(buffer)) ?? ([], 0)
        let out = Array(buffer[0..<used])
        buffer.removeFirst(used)
        return out
    }

    /// Raw bytes of exactly `count` complete replies (waiting up to `timeoutMs`), then anything
    /// else that arrives within `quietMs`.
    public func readReplies(count: Int, timeoutMs: Int, quietMs: Int) -> [UInt8] {
        let deadline = monotonicMs() + timeoutMs
        while ((try? RESPReplyParser.parseAll(buffer))?.0.count ?? 0) < count {
            let left = deadline - monotonicMs()
            if left <= 0 || closedByPeer { break }
            fill(timeoutMs: left)
        }
        while fill(timeoutMs: quietMs) {}
        let (_, used) = (try? RESPReplyParser.parseAll(buffer)) ?? ([], 0)
        let out = Array(buffer[0..<used])
        buffer.removeFirst(used)
        return out
    }

    /// Waits until the peer closes the connection; true if it did within `timeoutMs`.
    public func waitForClose(timeoutMs: Int) -> Bool {
        let deadline = monotonicMs() + timeoutMs
        while !closedByPeer && monotonicMs() < deadline {
            fill(timeoutMs: max(1, deadline - monotonicMs()))
        }
        return closedByPeer
    }
}

public func monotonicMs() -> Int {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int(ts.tv_sec) * 1000 + Int(ts.tv_nsec) / 1_000_000
}
