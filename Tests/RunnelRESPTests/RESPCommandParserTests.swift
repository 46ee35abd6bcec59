import NIOCore
import NIOEmbedded
import Testing

@testable import RunnelRESP

/// Parses every command in `input`, feeding it in chunks of `chunk` bytes.
private func parseAll(_ input: [UInt8], chunk: Int) throws(RESPProtocolError) -> [[String]] {
    var parser = RESPCommandParser()
    var buffer = ByteBuffer()
    var out: [[String]] = []
    var i = 0
    while i < input.count {
        buffer.writeBytes(input[i..<min(input.count, i + chunk)])
        i += chunk
        while let args = try parser.next(&buffer) {
            if !args.isEmpty { out.append(args.map { String(buffer: $0) }) }
        }
    }
    return out
}

private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

@Suite("RESP command parser")
struct RESPCommandParserTests {
    static let pipeline = bytes(
        "*3\r\n$4\r\nXADD\r\n$1\r\ns\r\n$0\r\n\r\nPING\r\n*1\r\n$4\r\nPING\r\nECHO \"a b\" 'c'\r\n*0\r\n*2\r\n$4\r\nECHO\r\n$5\r\nx\r\ny!\r\n"
    )
    static let expected = [["XADD", "s", ""], ["PING"], ["PING"], ["ECHO", "a b", "c"], ["ECHO", "x\r\ny!"]]

    @Test("pipelined batch parses into every command")
    func pipelined() throws {
        #expect(try parseAll(Self.pipeline, chunk: Self.pipeline.count) == Self.expected)
    }

    @Test("fragmented at every byte boundary", arguments: 1...12)
    func fragmented(chunk: Int) throws {
        #expect(try parseAll(Self.pipeline, chunk: chunk) == Self.expected)
    }

    @Test("split at each single position gives the same commands")
    func everySplitPoint() throws {
        for cut in 1..<Self.pipeline.count {
            var parser = RESPCommandParser()
            var buffer = ByteBuffer()
            var out: [[String]] = []
            buffer.writeBytes(Self.pipeline[..<cut])
            while let a = try parser.next(&buffer) { if !a.isEmpty { out.append(a.map { String(buffer: $0) }) } }
            buffer.writeBytes(Self.pipeline[cut...])
            while let a = try parser.next(&buffer) { if !a.isEmpty { out.append(a.map { String(buffer: $0) }) } }
            #expect(out == Self.expected, "cut at \(cut)")
        }
    }

    @Test("protocol errors carry Redis's texts", arguments: [
        ("*x\r\n", "Protocol error: invalid multibulk length"),
        ("*3000000000\r\n", "Protocol error: invalid multibulk length"),
        ("*1\r\n+PING\r\n", "Protocol error: expected '$', got '+'"),
        ("*1\r\n$-1\r\n", "Protocol error: invalid bulk length"),
        ("*1\r\n$536870913\r\n", "Protocol error: invalid bulk length"),
        ("*1\r\n$99999999999999999999999\r\n", "Protocol error: invalid bulk length"),
        ("*1\r\n$01\r\n", "Protocol error: invalid bulk length"),
        ("*1\r\n$9999999999999999999\r\n", "Protocol error: invalid bulk length"),
        ("*1\r\n$1000000000000000000\r\n", "Protocol error: invalid bulk length"),
        ("*1\r\n$-0\r\n", "Protocol error: invalid bulk length"),
        ("*1\r\n$\r\n", "Protocol error: invalid bulk length"),
        ("ECHO \"abc\r\n", "Protocol error: unbalanced quotes in request"),
        ("ECHO 'a'b\r\n", "Protocol error: unbalanced quotes in request"),
    ])
    func errors(input: String, message: String) {
        #expect(throws: RESPProtocolError(message)) { try parseAll(bytes(input), chunk: 3) }
    }

    @Test("oversized lines are refused without buffering forever")
    func oversizedLines() {
        let inline = [UInt8](repeating: UInt8(ascii: "a"), count: 70_000)
        #expect(throws: RESPProtocolError("Protocol error: too big inline request")) { try parseAll(inline, chunk: 4096) }
        let mbulk = bytes("*") + [UInt8](repeating: UInt8(ascii: "1"), count: 70_000)
        #expect(throws: RESPProtocolError("Protocol error: too big mbulk count string")) { try parseAll(mbulk, chunk: 4096) }
        let bulk = bytes("*1\r\n$") + [UInt8](repeating: UInt8(ascii: "1"), count: 70_000)
        #expect(throws: RESPProtocolError("Protocol error: too big bulk count string")) { try parseAll(bulk, chunk: 4096) }
    }

    @Test("a large bulk header waits for data without allocating it")
    func largeBulkHeaderWaits() throws {
        var parser = RESPCommandParser()
        var buffer = ByteBuffer(string: "*2\r\n$4\r\nECHO\r\n$500000000\r\nabc")
        #expect(try parser.next(&buffer) == nil)
        #expect(parser.isMidCommand)
        #expect(buffer.capacity < 1024 * 1024)
    }

    @Test("bulk lengths near Int.max (proto-max-bulk-len allows them) wait, never overflow")
    func bulkLengthNearIntMax() throws {
        for header in ["$9223372036854775807", "$9223372036854775806", "$9223372036854775805", "$999999999999999999"] {
            var parser = RESPCommandParser(maxBulkLength: Int.max)
            var buffer = ByteBuffer(string: "*2\r\n$4\r\nECHO\r\n\(header)\r\nabcdef")
            #expect(try parser.next(&buffer) == nil, "\(header)")
            #expect(parser.isMidCommand)
            // More bytes change nothing: still waiting, the first argument still parsed.
            buffer.writeString("ghijkl")
            #expect(try parser.next(&buffer) == nil, "\(header)")
            #expect(parser.parsedArgumentBytes > 0)
        }
    }

    @Test("unauthenticated limits")
    func unauthenticated() {
        var parser = RESPCommandParser()
        parser.unauthenticated = true
        var b1 = ByteBuffer(string: "*11\r\n")
        #expect(throws: RESPProtocolError("Protocol error: unauthenticated multibulk length")) { try parser.next(&b1) }
        var parser2 = RESPCommandParser()
        parser2.unauthenticated = true
        var b2 = ByteBuffer(string: "*1\r\n$16385\r\n")
        #expect(throws: RESPProtocolError("Protocol error: unauthenticated bulk length")) { try parser2.next(&b2) }
    }

    @Test("a command's arguments read in place, survive recycling of the next, and detach")
    func commandArgs() throws {
        var parser = RESPCommandParser()
        var buffer = ByteBuffer(string: "*4\r\n$4\r\nXADD\r\n$1\r\ns\r\n$1\r\n*\r\n$0\r\n\r\n*2\r\n$4\r\nECHO\r\n$3\r\nabc\r\n  PING  x  \r\nECHO \"a b\"\n")
        var first = try #require(try parser.next(&buffer))
        #expect(first.count == 4)
        #expect((0..<4).map { first.length($0) } == [4, 1, 1, 0])
        #expect(first.withUnsafeBytes(0) { Array($0) } == Array("XADD".utf8))
        #expect(first.isOnly(2, UInt8(ascii: "*")) && !first.isOnly(1, UInt8(ascii: "*")) && !first.isOnly(3, UInt8(ascii: "*")))
        #expect(first.bytesEqual(0, ByteBuffer(string: "XADD")) && first.bytesEqual(3, ByteBuffer()))
        #expect(!first.bytesEqual(0, ByteBuffer(string: "xadd")) && !first.bytesEqual(0, ByteBuffer(string: "XAD")))
        #expect(!first.bytesEqual(1, ByteBuffer(string: "t")) && !first.bytesEqual(3, ByteBuffer(string: "s")))
        let kept = first.detached
        #expect(kept == first)
        #expect(kept == CommandArgs(strings: ["XADD", "s", "*", ""]))
        parser.recycle(&first)
        #expect(first.isEmpty)
        // The next command reuses the recycled span table; the detached copy is unaffected.
        var second = try #require(try parser.next(&buffer))
        #expect(second.map { String(buffer: $0) } == ["ECHO", "abc"])
        #expect(kept.map { String(buffer: $0) } == ["XADD", "s", "*", ""])
        parser.recycle(&second)
        // Inline without quotes: spans into the input; with quotes: bytes of its own.
        let plain = try #require(try parser.next(&buffer))
        #expect(plain.map { String(buffer: $0) } == ["PING", "x"])
        #expect(plain.withUnsafeBytes(1) { Array($0) } == [UInt8(ascii: "x")])
        let quoted = try #require(try parser.next(&buffer))
        #expect(quoted.map { String(buffer: $0) } == ["ECHO", "a b"])
        #expect(quoted.length(1) == 3)
        #expect(buffer.readableBytes == 0)
        #expect(try parser.next(&buffer) == nil)
    }

    @Test("inline splitting follows sdssplitargs")
    func inlineSplit() {
        func split(_ s: String) -> [String]? { InlineSplitter.split(ByteBuffer(string: s))?.map { String(buffer: $0) } }
        #expect(split("  a  b ") == ["a", "b"])
        #expect(split("\"\\x41\\x4a\\n\" x") == ["AJ\n", "x"])
        #expect(split("'it\\'s'") == ["it's"])
        #expect(split("a\"b c\"") == ["ab c"])
        #expect(split("\"\"") == [""])
        #expect(split("\"abc") == nil)
        #expect(split("\"a\"b") == nil)
        #expect(split("") == [])
    }

    @Test("strict integer parsing", arguments: [
        ("0", 0), ("123", 123), ("-5", -5), ("9223372036854775807", Int.max), ("-9223372036854775808", Int.min),
    ])
    func integers(text: String, value: Int) {
        #expect(RESPInteger.parse(ByteBuffer(string: text)) == value)
    }

    @Test("integers Redis rejects", arguments: ["", "-", "01", "+1", " 1", "1 ", "9223372036854775808", "1a", "-0x"])
    func badIntegers(text: String) {
        #expect(RESPInteger.parse(ByteBuffer(string: text)) == nil)
    }
}
