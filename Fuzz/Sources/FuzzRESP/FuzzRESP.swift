// Feeds arbitrary bytes to the RESP command parser, whole and split at a fuzzer-chosen point,
// with a small bulk limit so length checks are reached. Any crash, hang or unbounded
// allocation is a bug; the parser must either produce commands, ask for more bytes, or throw.
import NIOCore
import RunnelRESP

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRESP(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    guard size > 0 else { return 0 }
    let split = Int(bytes[0]) % (size)
    var parser = RESPCommandParser(maxBulkLength: 1 << 16)
    parser.unauthenticated = bytes[0] & 0x80 != 0
    var buffer = ByteBufferAllocator().buffer(capacity: size)
    var fed = 1
    for end in [max(1, split), size] where end >= fed {
        buffer.writeBytes(UnsafeBufferPointer(rebasing: bytes[fed..<end]))
        fed = end
        var guardCount = 0
        while guardCount < size + 2 {
            guardCount += 1
            let before = buffer.readerIndex
            do {
                guard var args = try parser.next(&buffer) else { break }
                // Every argument lies inside what was fed.
                precondition(args.reduce(0) { $0 + $1.readableBytes } <= size)
                parser.recycle(&args)
                precondition(buffer.readerIndex > before || args.isEmpty)
            } catch {
                return 0  // a protocol error closes the connection: nothing more to parse
            }
        }
    }
    return 0
}
