import NIOCore
import Testing

@testable import RunnelRESP

@Suite("RESP reply writer")
struct RESPWriterTests {
    func render(_ version: RESPVersion, _ body: (inout RESPWriter) -> Void) -> String {
        var w = RESPWriter(buffer: ByteBuffer(), version: version)
        body(&w)
        return String(buffer: w.buffer)
    }

    @Test("scalars")
    func scalars() {
        #expect(render(.resp2) { $0.integer(-42) } == ":-42\r\n")
        #expect(render(.resp2) { $0.integer(Int.min) } == ":-9223372036854775808\r\n")
        #expect(render(.resp2) { $0.integer(0) } == ":0\r\n")
        #expect(render(.resp2) { $0.bulk("hey") } == "$3\r\nhey\r\n")
        #expect(render(.resp2) { $0.error("ERR a\r\nb") } == "-ERR a  b\r\n")
        #expect(render(.resp2) { $0.ok() } == "+OK\r\n")
    }

    @Test("stored RESP3 values written in either protocol")
    func transcode() {
        let stored = "%2\r\n$4\r\nname\r\n~2\r\n+RO\r\n:-3\r\n$5\r\nextra\r\n*3\r\n_\r\n#t\r\n,1.5\r\n$0\r\n\r\n"
        #expect(render(.resp3) { $0.transcode(resp3: stored) } == stored)
        let resp2 = "*4\r\n$4\r\nname\r\n*2\r\n+RO\r\n:-3\r\n$5\r\nextra\r\n*3\r\n$-1\r\n:1\r\n$3\r\n1.5\r\n$0\r\n\r\n"
        #expect(render(.resp2) { $0.transcode(resp3: stored) } == resp2)
        #expect(render(.resp2) { $0.transcode(resp3: "=7\r\ntxt:abc\r\n") } == "$3\r\nabc\r\n")
        // Malformed input stops with false, never traps.
        for bad in ["*2\r\n:1\r\n", "$5\r\nab\r\n", "?x\r\n", "*x\r\n", "$-1\r\n", "+no end"] {
            var ok = true
            _ = render(.resp2) { ok = $0.transcode(resp3: bad) }
            #expect(!ok, "\(bad.debugDescription)")
        }
    }

    @Test("errors quote argument bytes exactly, UTF-8 or not")
    func errorBytes() {
        let samples: [[UInt8]] = [[0x78, 0x94, 0x79], [0xC3], [0xC3, 0xA9], [0xE2, 0x82, 0xAC], [0xE2, 0x82], [0xC0, 0x80],
                                  [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xF0, 0x9F, 0x98, 0x80], Array(0x80...0xFF)]
        for bytes in samples {
            let text = "ERR x '" + RESPWriter.escapedText(bytes) + "'\r\n"
            var w = RESPWriter(buffer: ByteBuffer(), version: .resp2)
            w.error(text)
            #expect(Array(w.buffer.readableBytesView) == Array("-ERR x '".utf8) + bytes + Array("'  \r\n".utf8))
        }
        #expect(RESPWriter.escapedText(Array("plain é".utf8)) == "plain é")
    }

    @Test("integers at every digit count, both signs")
    func integers() {
        var samples: [Int] = [0, 1, 9, 10, 99, 100, Int.max, Int.min, Int.min + 1]
        var p = 1
        for _ in 0..<18 {
            p *= 10
            samples += [p - 1, p, p + 1]
        }
        for v in samples + samples.map { $0 == Int.min ? Int.max : -$0 } {
            #expect(render(.resp2) { $0.integer(v) } == ":\(v)\r\n")
        }
    }

    @Test("stream IDs as bulk strings, at every digit count")
    func streamIDs() {
        var samples: [UInt64] = [0, 9, 10, 99, 100, 101, 1_764_000_000_000, .max, .max - 1]
        var p: UInt64 = 1
        for _ in 0..<19 {
            p *= 10
            samples += [p - 1, p, p + 1]
        }
        for ms in samples {
            for seq in [0, 7, 10, 12345, ms] {
                let text = "\(ms)-\(seq)"
                #expect(render(.resp2) { $0.bulkStreamID(ms: ms, seq: seq) } == "$\(text.utf8.count)\r\n\(text)\r\n")
            }
        }
    }

    @Test("RESP3 types fall back to RESP2 shapes")
    func fallbacks() {
        #expect(render(.resp2) { $0.null() } == "$-1\r\n")
        #expect(render(.resp3) { $0.null() } == "_\r\n")
        #expect(render(.resp2) { $0.nullArray() } == "*-1\r\n")
        #expect(render(.resp3) { $0.nullArray() } == "_\r\n")
        #expect(render(.resp2) { $0.mapHeader(2) } == "*4\r\n")
        #expect(render(.resp3) { $0.mapHeader(2) } == "%2\r\n")
        #expect(render(.resp2) { $0.setHeader(3) } == "*3\r\n")
        #expect(render(.resp3) { $0.setHeader(3) } == "~3\r\n")
        #expect(render(.resp2) { $0.pushHeader(3) } == "*3\r\n")
        #expect(render(.resp3) { $0.pushHeader(3) } == ">3\r\n")
        #expect(render(.resp2) { $0.boolean(true) } == ":1\r\n")
        #expect(render(.resp3) { $0.boolean(false) } == "#f\r\n")
        #expect(render(.resp2) { $0.double(1.5) } == "$3\r\n1.5\r\n")
        #expect(render(.resp3) { $0.double(3) } == ",3\r\n")
        #expect(render(.resp3) { $0.double(-.infinity) } == ",-inf\r\n")
        // %.17g, as redis-server 7.0 prints doubles.
        #expect(render(.resp3) { $0.double(0.028) } == ",0.028000000000000001\r\n")
        #expect(render(.resp2) { $0.double(0.16) } == "$4\r\n0.16\r\n")
        #expect(render(.resp3) { $0.double(1e20) } == ",1e+20\r\n")
        #expect(render(.resp3) { $0.double(-0.5) } == ",-0.5\r\n")
        #expect(render(.resp2) { $0.verbatim("a") } == "$1\r\na\r\n")
        #expect(render(.resp3) { $0.verbatim("a") } == "=5\r\ntxt:a\r\n")
    }
}
