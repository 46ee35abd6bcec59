// The log reader on hostile files: see RunnelStorage's HostileInput.readLog for what the
// first byte selects. Inputs that once crashed it live in fixtures/fuzz/log/regression-*,
// which the test suite replays.
import RunnelStorage

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzLog(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    HostileInput.readLog(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
