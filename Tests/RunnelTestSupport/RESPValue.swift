/// A parsed RESP2/RESP3 reply, for tests.
public indirect enum RESPValue: Equatable, Sendable, CustomStringConvertible {
    case simple(String)
    case error(String)
    case integer(Int)
    case bulk([UInt8]?)
    case array([RESPValue]?)
    case map([(RESPValue, RESPValue)])
    case set([RESPValue])
    case push([RESPValue])
    case double(String)
    case boolean(Bool)
    case null
    case verbatim(String)
    case bigNumber(String)

    public static func == (a: RESPValue, b: RESPValue) -> Bool { a.description == b.description }

    public var description: String {
        switch self {
        case .simple(let s): return "+\(s)"
        case .error(let s): return "-\(s)"
        case .integer(let i): return ":\(i)"
        case .bulk(let b): return b.map { "\"\(String(decoding: $0, as: UTF8.self))\"" } ?? "(nil)"
        case .array(let a): return a.map { "[" + $0.map(\.description).joined(separator: ", ") + "]" } ?? "(nil array)"
        case .map(let m): return "{" + m.map { "\($0.0): \($0.1)" }.joined(separator: ", ") + "}"
        case .set(let s): return "~{" + s.map(\.description).joined(separator: ", ") + "}"
        case .push(let p): return ">[" + p.map(\.description).joined(separator: ", ") + "]"
        case .double(let d): return ",\(d)"
        case .boolean(let b): return b ? "#t" : "#f"
        case .null: return "_"
        case .verbatim(let v): return "=\(v)"
        case .bigNumber(let n): return "(\(n)"
        }
    }

    /// The same value with every scalar blanked: types and aggregate sizes only.
    public var shape: String {
        switch self {
        case .simple: return "+"
        case .error(let s): return "-" + (s.split(separator: " ").first.map(String.init) ?? "")
        case .integer: return ":"
        case .bulk(let b): return b == nil ? "$nil" : "$"
        case .array(let a): return a.map { "*[" + $0.map(\.shape).joined(separator: ",") + "]" } ?? "*nil"
        case .map(let m): return "%[" + m.map { "\($0.0.shape)=\($0.1.shape)" }.joined(separator: ",") + "]"
        case .set(let s): return "~[" + s.map(\.shape).joined(separator: ",") + "]"
        case .push(let p): return ">[" + p.map(\.shape).joined(separator: ",") + "]"
        case .double: return ","
        case .boolean: return "#"
        case .null: return "_"
        case .verbatim: return "="
        case .bigNumber: return "("
        }
    }

    /// Bulk or simple string contents as text.
    public var text: String? {
        switch self {
        case .simple(let s), .error(let s), .verbatim(let s): return s
        case .bulk(let b): return b.map { String(decoding: $0, as: UTF8.self) }
        default: return nil
        }
    }

    public var elements: [RESPValue]? {
        switch self {
        case .array(let a): return a
        case .set(let s), .push(let s): return s
        default: return nil
        }
    }
}

/// Parses complete replies out of a byte array.
public struct RESPReplyParser {
    public enum Failure: Error { case malformed(String) }

    /// Parses one reply at `offset`; returns it and the offset after it, or nil if incomplete.
    public static func parse(_ bytes: [UInt8], at offset: Int) throws -> (RESPValue, Int)? {
        guard offset < bytes.count else { return nil }
        guard let lineEnd = findCRLF(bytes, from: offset + 1) else { return nil }
        let line = String(decoding: bytes[(offset + 1)..<lineEnd], as: UTF8.self)
        let next = lineEnd + 2
        func count() throws -> Int {
            guard let n = Int(line) else { throw Failure.malformed("bad length \(line)") }
            return n
        }
        func elements(_ n: Int, from start: Int) throws -> ([RESPValue], Int)? {
            var out: [RESPValue] = []
            var pos = start
            for _ in 0..<n {
                guard let (v, p) = try parse(bytes, at: pos) else { return nil }
                out.append(v)
                pos = p
            }
            return (out, pos)
        }
        switch bytes[offset] {
        case UInt8(ascii: "+"): return (.simple(line), next)
        case UInt8(ascii: "-"): return (.error(line), next)
        case UInt8(ascii: ":"): return (.integer(try count()), next)
        case UInt8(ascii: ","): return (.double(line), next)
        case UInt8(ascii: "#"): return (.boolean(line == "t"), next)
        case UInt8(ascii: "_"): return (.null, next)
        case UInt8(ascii: "("): return (.bigNumber(line), next)
        case UInt8(ascii: "$"), UInt8(ascii: "="):
            let n = try count()
            if n < 0 { return (.bulk(nil), next) }
            guard bytes.count >= next + n + 2 else { return nil }
            let body = Array(bytes[next..<(next + n)])
            if bytes[offset] == UInt8(ascii: "=") {
                return (.verbatim(String(decoding: body, as: UTF8.self)), next + n + 2)
            }
            return (.bulk(body), next + n + 2)
        case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: ">"):
            let n = try count()
            if n < 0 { return (.array(nil), next) }
            guard let (items, end) = try elements(n, from: next) else { return nil }
            switch bytes[offset] {
            case UInt8(ascii: "~"): return (.set(items), end)
            case UInt8(ascii: ">"): return (.push(items), end)
            default: return (.array(items), end)
            }
        case UInt8(ascii: "%"):
            let n = try count()
            guard let (items, end) = try elements(n * 2, from: next) else { return nil }
            var pairs: [(RESPValue, RESPValue)] = []
            var i = 0
            while i < items.count {
                pairs.append((items[i], items[i + 1]))
                i += 2
            }
            return (.map(pairs), end)
        default:
            throw Failure.malformed("unknown type byte \(bytes[offset])")
        }
    }

    /// All complete replies in `bytes`, and the number of bytes they span.
    public static func parseAll(_ bytes: [UInt8]) throws -> ([RESPValue], Int) {
        var values: [RESPValue] = []
        var pos = 0
        while let (v, p) = try parse(bytes, at: pos) {
            values.append(v)
            pos = p
        }
        return (values, pos)
    }

    static func findCRLF(_ bytes: [UInt8], from: Int) -> Int? {
        var i = from
        while i + 1 < bytes.count {
            if bytes[i] == 13 && bytes[i + 1] == 10 { return i }
            i += 1
        }
        return nil
    }
}

/// Encodes a command as a RESP multibulk request.
public func encodeCommand(_ args: [[UInt8]]) -> [UInt8] {
    var out = Array("*\(args.count)\r\n".utf8)
    for a in args {
        out += Array("$\(a.count)\r\n".utf8)
        out += a
        out += [13, 10]
    }
    return out
}

public func encodeCommand(_ args: [String]) -> [UInt8] { encodeCommand(args.map { Array($0.utf8) }) }
