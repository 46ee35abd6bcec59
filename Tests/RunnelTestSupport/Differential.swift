import Foundation
import RunnelRESP
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// One differential script: lines sent to redis-server and to Runnel, replies compared.
///
/// Line syntax (one step per line):
/// - `CMD arg "quoted arg"` — a command on connection 0, sent as a RESP multibulk request
///   (split with redis-cli's quoting rules).
/// - `@2 CMD …` — the same on connection 2 (connections open on first use).
/// - `@2 ?` — read whatever arrives on connection 2 (Pub/Sub messages) without sending.
/// - `raw:PING\r\n` — send raw bytes (`\r`, `\n`, `\xHH` escapes) for protocol tests.
/// - `~CMD …` — compare only the reply's shape (types and sizes), for replies with ids/times.
/// - `%CMD …` — compare exactly except clock readings and idle times (XPENDING, XINFO
///   consumers and PEL entries), so delivery counts and owners are checked.
/// - `=CMD …` — compare with the words of every string sorted (ACL rule lists, whose single
///   commands redis-server prints in its hash-table order, which changes from run to run).
/// - `sleep:50` — pause 50 ms.
/// - `$ID2` in a command — connection 2's client ID on each server (IDs differ between them).
public struct DiffCase: Sendable, CustomStringConvertible {
    public let name: String
    public let steps: [String]
    public init(_ name: String, _ steps: [String]) {
        self.name = name
        self.steps = steps
    }
    public var description: String { name }
}

/// Runs `DiffCase`s against a redis-server and a runnel-server and reports differences.
public final class DifferentialRunner {
    public let redis: ServerProcess
    public let runnel: ServerProcess

    public init(redis: ServerProcess, runnel: ServerProcess) {
        self.redis = redis
        self.runnel = runnel
    }

    /// Runs a case; returns one message per mismatching step (empty when identical).
    public func run(_ c: DiffCase, resp3: Bool) -> [String] {
        var failures: [String] = []
        for server in [redis, runnel] {
            if let admin = try? TestConnection(port: server.port) {
                _ = try? admin.command("FLUSHALL")
                _ = try? admin.command("CONFIG", "SET", "notify-keyspace-events", "")
                // Cases may create users: start each from the default user alone.
                if case .array(let users?)? = try? admin.command("ACL", "USERS") {
                    for case .bulk(let name?) in users where name != Array("default".utf8) {
                        _ = try? admin.command("ACL", "DELUSER", String(decoding: name, as: UTF8.self))
                    }
                }
                _ = try? admin.command("ACL", "LOG", "RESET")
            }
        }
        var conns: [Int: (TestConnection, TestConnection)] = [:]
        var ids: [Int: (String, String)] = [:]
        func connection(_ n: Int) throws -> (TestConnection, TestConnection) {
            if let c = conns[n] { return c }
            let pair = (try TestConnection(port: redis.port), try TestConnection(port: runnel.port))
            if resp3 {
                for conn in [pair.0, pair.1] {
                    conn.send(["HELLO", "3"])
                    _ = try conn.read(1)
                }
            }
            var idPair = ("", "")
            if c.steps.contains(where: { $0.contains("$ID\(n)") }) {
                if case .integer(let a) = try pair.0.command("CLIENT", "ID") { idPair.0 = String(a) }
                if case .integer(let b) = try pair.1.command("CLIENT", "ID") { idPair.1 = String(b) }
            }
            ids[n] = idPair
            conns[n] = pair
            return pair
        }
        for (index, original) in c.steps.enumerated() {
            var line = Substring(original)
            var conn = 0
            if line.hasPrefix("@"), let space = line.firstIndex(of: " "), let n = Int(line[line.index(after: line.startIndex)..<space]) {
                conn = n
                line = line[line.index(after: space)...]
            }
            if line.hasPrefix("sleep:") {
                usleep(UInt32(Int(line.dropFirst(6)) ?? 0) * 1000)
                continue
            }
            var shapeOnly = false
            var unordered = false
            if line.hasPrefix("^") {
                unordered = true
                line = line.dropFirst()
                if line.hasPrefix("@"), let space = line.firstIndex(of: " "), let n = Int(line[line.index(after: line.startIndex)..<space]) {
                    conn = n
                    line = line[line.index(after: space)...]
                }
            }
            if line.hasPrefix("~") {
                shapeOnly = true
                line = line.dropFirst()
            }
            var timesMasked = false
            if line.hasPrefix("%") {
                timesMasked = true
                line = line.dropFirst()
            }
            var wordsUnordered = false
            if line.hasPrefix("=") {
                wordsUnordered = true
                line = line.dropFirst()
            }
            let pair: (TestConnection, TestConnection)
            do {
                pair = try connection(conn)
            } catch {
                failures.append("[\(c.name)] step \(index + 1) `\(original)`: cannot connect: \(error)")
                break
            }
            let readOnly = line == "?"
            if !readOnly {
                // Each server gets the line with its own client IDs.
                var lines = (String(line), String(line))
                if line.contains("$ID") {
                    for n in ids.keys.sorted(by: >) {
                        lines.0 = lines.0.replacingOccurrences(of: "$ID\(n)", with: ids[n]!.0)
                        lines.1 = lines.1.replacingOccurrences(of: "$ID\(n)", with: ids[n]!.1)
                    }
                }
                var bytes: ([UInt8], [UInt8]) = ([], [])
                if line.hasPrefix("raw:") {
                    bytes.0 = Self.unescape(String(lines.0.dropFirst(4)))
                    bytes.1 = Self.unescape(String(lines.1.dropFirst(4)))
                } else {
                    guard let args0 = InlineSplitter.split(bytes: Array(lines.0.utf8)),
                        let args1 = InlineSplitter.split(bytes: Array(lines.1.utf8))
                    else {
                        failures.append("[\(c.name)] step \(index + 1): bad step syntax `\(original)`")
                        continue
                    }
                    bytes = (encodeCommand(args0), encodeCommand(args1))
                }
                pair.0.send(bytes.0)
                pair.1.send(bytes.1)
            }
            let expected = pair.0.readUntilQuiet(firstMs: readOnly ? 150 : 1500, quietMs: 15)
            let expectedCount = (try? RESPReplyParser.parseAll(expected).0.count) ?? 0
            let actual = pair.1.readReplies(count: expectedCount, timeoutMs: 1500, quietMs: 15)
            let same: Bool
            if unordered {
                same = Self.unorderedKey(expected) == Self.unorderedKey(actual)
            } else if wordsUnordered {
                let e = (try? RESPReplyParser.parseAll(expected).0.map { Self.sortingWords($0).description }) ?? []
                let a = (try? RESPReplyParser.parseAll(actual).0.map { Self.sortingWords($0).description }) ?? []
                same = e == a
            } else if timesMasked {
                let e = (try? RESPReplyParser.parseAll(expected).0.map { Self.maskingTimes(Self.without72Fields($0)).description }) ?? []
                let a = (try? RESPReplyParser.parseAll(actual).0.map { Self.maskingTimes(Self.without72Fields($0)).description }) ?? []
                same = !e.isEmpty && e == a
            } else if shapeOnly {
                let e = (try? RESPReplyParser.parseAll(expected).0.map { Self.without72Fields($0).shape }) ?? []
                let a = (try? RESPReplyParser.parseAll(actual).0.map { Self.without72Fields($0).shape }) ?? []
                same = e == a
            } else {
                same = expected == actual
            }
            if !same {
                failures.append(
                    "[\(c.name)\(resp3 ? " RESP3" : "")] step \(index + 1) `\(original)`\n  redis:  \(Self.escape(expected))\n  runnel: \(Self.escape(actual))"
                )
            }
            if pair.0.closedByPeer != pair.1.closedByPeer {
                failures.append(
                    "[\(c.name)\(resp3 ? " RESP3" : "")] step \(index + 1) `\(original)`: connection closed by redis: \(pair.0.closedByPeer), by runnel: \(pair.1.closedByPeer)"
                )
            }
        }
        for (_, pair) in conns {
            pair.0.close()
            pair.1.close()
        }
        return failures
    }

    /// How a pipelined reply is compared: exactly, by shape (`~`), or with times masked (`%`).
    enum Comparison { case exact, shape, timesMasked }

    /// Sends every command in one pipeline to both servers and compares the replies one by
    /// one (a `~` prefix compares shape only, a `%` prefix masks times). For long generated
    /// sequences without blocking commands. Returns the differences, at most `maxReported`.
    public func runPipelined(_ commands: [String], resp3: Bool, label: String, maxReported: Int = 5) -> [String] {
        var failures: [String] = []
        for server in [redis, runnel] {
            if let admin = try? TestConnection(port: server.port) { _ = try? admin.command("FLUSHALL") }
        }
        guard let r = try? TestConnection(port: redis.port), let n = try? TestConnection(port: runnel.port) else {
            return ["[\(label)] cannot connect"]
        }
        var payload: [UInt8] = []
        var comparisons: [Comparison] = []
        if resp3 {
            payload += encodeCommand(["HELLO", "3"])
            comparisons.append(.shape)
        }
        for c in commands {
            var line = Substring(c)
            var comparison = Comparison.exact
            if line.hasPrefix("~") {
                comparison = .shape
                line = line.dropFirst()
            } else if line.hasPrefix("%") {
                comparison = .timesMasked
                line = line.dropFirst()
            }
            guard let args = InlineSplitter.split(bytes: Array(line.utf8)) else { continue }
            payload += encodeCommand(args)
            comparisons.append(comparison)
        }
        r.send(payload)
        n.send(payload)
        guard let expected = try? r.read(comparisons.count, timeoutMs: 30_000),
            let actual = try? n.read(comparisons.count, timeoutMs: 30_000)
        else {
            return ["[\(label)] did not get \(comparisons.count) replies from both servers"]
        }
        let offset = resp3 ? 1 : 0
        for i in 0..<comparisons.count {
            let same: Bool
            switch comparisons[i] {
            case .exact: same = expected[i] == actual[i]
            case .shape: same = Self.without72Fields(expected[i]).shape == Self.without72Fields(actual[i]).shape
            case .timesMasked:
                same = Self.maskingTimes(Self.without72Fields(expected[i])) == Self.maskingTimes(Self.without72Fields(actual[i]))
            }
            if !same {
                let command = i >= offset ? commands[i - offset] : "HELLO 3"
                failures.append("[\(label)] command \(i + 1 - offset) `\(command)`\n  redis:  \(expected[i])\n  runnel: \(actual[i])")
                if failures.count >= maxReported { break }
            }
        }
        return failures
    }

    /// Consumer fields Redis 7.2 added (Runnel reports them, as its issue asks; the 7.0 oracle
    /// does not): removed from maps and flat key/value arrays before shapes are compared.
    static let fields72: Set<String> = ["inactive", "active-time"]

    static func without72Fields(_ v: RESPValue) -> RESPValue {
        func isNew(_ k: RESPValue) -> Bool {
            if case .bulk(let b?) = k { return fields72.contains(String(decoding: b, as: UTF8.self)) }
            return false
        }
        switch v {
        case .array(let a?):
            var out: [RESPValue] = []
            var i = 0
            let flatMap = a.count % 2 == 0 && stride(from: 0, to: a.count, by: 2).contains { isNew(a[$0]) }
            while i < a.count {
                if flatMap && i % 2 == 0 && isNew(a[i]) {
                    i += 2
                    continue
                }
                out.append(without72Fields(a[i]))
                i += 1
            }
            return .array(out)
        case .map(let m): return .map(m.filter { !isNew($0.0) }.map { ($0.0, without72Fields($0.1)) })
        case .set(let s): return .set(s.map(without72Fields))
        default: return v
        }
    }

    /// Keys whose values are clock readings or idle times in XINFO replies.
    static let timeKeys: Set<String> = ["seen-time", "active-time", "idle", "inactive"]

    /// The value with every clock reading and idle time of XINFO, XPENDING and XCLAIM-family
    /// replies replaced by 0, so that `%` lines compare delivery counts, owners and IDs
    /// exactly while times may differ by the milliseconds between the two servers.
    static func maskingTimes(_ v: RESPValue) -> RESPValue {
        func text(_ v: RESPValue) -> String? {
            if case .bulk(let b?) = v { return String(decoding: b, as: UTF8.self) }
            if case .simple(let s) = v { return s }
            return nil
        }
        func isInt(_ v: RESPValue) -> Bool { if case .integer = v { return true } else { return false } }
        func isID(_ v: RESPValue) -> Bool { text(v).map { $0.contains("-") && $0.first?.isNumber == true } ?? false }
        switch v {
        case .array(let a?):
            var out = a.map(maskingTimes)
            // Flat key/value arrays (RESP2 maps).
            if out.count % 2 == 0 {
                for i in stride(from: 0, to: out.count, by: 2) where text(out[i]).map(timeKeys.contains) == true && isInt(out[i + 1]) {
                    out[i + 1] = .integer(0)
                }
            }
            // Pending entries: [id, consumer, idle-or-time, count] and [id, time, count].
            if out.count == 4, isID(out[0]), text(out[1]) != nil, isInt(out[2]), isInt(out[3]) { out[2] = .integer(0) }
            if out.count == 3, isID(out[0]), isInt(out[1]), isInt(out[2]) { out[1] = .integer(0) }
            return .array(out)
        case .map(let m):
            return .map(m.map { k, v in (k, text(k).map(timeKeys.contains) == true && isInt(v) ? .integer(0) : maskingTimes(v)) })
        case .set(let s): return .set(s.map(maskingTimes))
        case .bulk(let b?): return .bulk(Array(maskingClientFields(String(decoding: b, as: UTF8.self)).utf8))
        case .verbatim(let t): return .verbatim(String(t.prefix(4)) + maskingClientFields(String(t.dropFirst(4))))  // "txt:"
        default: return v
        }
    }

    /// CLIENT INFO/LIST lines with the fields that differ between any two servers (ids,
    /// addresses, ages, buffer sizes) replaced by `*`; other text unchanged.
    static func maskingClientFields(_ text: String) -> String {
        guard text.contains(" addr="), text.contains(" laddr=") else { return text }
        let varying: Set<Substring> = ["id", "addr", "laddr", "fd", "age", "idle", "qbuf", "qbuf-free", "argv-mem",
                                       "multi-mem", "rbs", "rbp", "obl", "oll", "omem", "tot-mem", "events"]
        return text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.split(separator: " ", omittingEmptySubsequences: false).map { word -> String in
                guard let eq = word.firstIndex(of: "=") else { return String(word) }
                // A redirect is a client id: kept when none (-1, 0), masked otherwise.
                if word[..<eq] == "redir" && !["-1", "0"].contains(word[word.index(after: eq)...]) { return "redir=ID" }
                guard varying.contains(word[..<eq]) else { return String(word) }
                return word[..<eq] + "=*"
            }.joined(separator: " ")
        }.joined(separator: "\n")
    }

    /// The value with the space-separated words of every bulk string sorted, without rules for
    /// Runnel's commands that Redis 7.0 does not have (XACKDEL, XDELEX, in @write and @stream).
    static func sortingWords(_ v: RESPValue) -> RESPValue {
        switch v {
        case .bulk(let b?):
            // Parentheses (selectors) are words of their own, so that order inside them does not matter.
            let spaced = b.flatMap { c -> [UInt8] in c == UInt8(ascii: "(") || c == UInt8(ascii: ")") ? [32, c, 32] : [c] }
            let words = spaced.split(separator: 32).map { String(decoding: $0, as: UTF8.self) }
                .filter { !["+xackdel", "-xackdel", "+xdelex", "-xdelex"].contains($0) }.sorted()
            return .bulk(Array(words.joined(separator: " ").utf8))
        case .array(let a?): return .array(a.map(sortingWords))
        case .map(let m): return .map(m.map { (sortingWords($0.0), sortingWords($0.1)) })
        case .set(let s): return .set(s.map(sortingWords))
        default: return v
        }
    }

    /// Replies as a multiset: top-level replies sorted, and each array's elements sorted.
    static func unorderedKey(_ bytes: [UInt8]) -> [String] {
        let values = (try? RESPReplyParser.parseAll(bytes).0) ?? []
        return values.map { v -> String in
            if let elements = v.elements { return v.shape + ":" + elements.map(\.description).sorted().joined(separator: ",") }
            if case .map(let pairs) = v { return "%" + pairs.map { "\($0.0)=\($0.1)" }.sorted().joined(separator: ",") }
            return v.description
        }.sorted()
    }

    public static func escape(_ bytes: [UInt8]) -> String {
        var s = ""
        for b in bytes.prefix(2000) {
            switch b {
            case 13: s += "\\r"
            case 10: s += "\\n"
            case 32...126: s += String(UnicodeScalar(b))
            default: s += "\\x" + String(b, radix: 16)
            }
        }
        return bytes.count > 2000 ? s + "…(\(bytes.count) bytes)" : s
    }

    public static func unescape(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        let b = Array(text.utf8)
        var i = 0
        while i < b.count {
            if b[i] == UInt8(ascii: "\\") && i + 1 < b.count {
                switch b[i + 1] {
                case UInt8(ascii: "r"): out.append(13); i += 2; continue
                case UInt8(ascii: "n"): out.append(10); i += 2; continue
                case UInt8(ascii: "\\"): out.append(92); i += 2; continue
                case UInt8(ascii: "x") where i + 3 < b.count:
                    if let v = UInt8(String(decoding: b[(i + 2)...(i + 3)], as: UTF8.self), radix: 16) {
                        out.append(v)
                        i += 4
                        continue
                    }
                default: break
                }
            }
            out.append(b[i])
            i += 1
        }
        return out
    }
}
