/// A framing error in a client's request stream.
///
/// The `message` is the exact text redis-server 7.0 sends (after `-ERR `) before it closes the
/// connection, e.g. `Protocol error: invalid bulk length`.
public struct RESPProtocolError: Error, Hashable, Sendable, CustomStringConvertible {
    public let message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }

    static let invalidMultibulkLength = RESPProtocolError("Protocol error: invalid multibulk length")
    static let invalidBulkLength = RESPProtocolError("Protocol error: invalid bulk length")
    static let tooBigMultibulkCount = RESPProtocolError("Protocol error: too big mbulk count string")
    static let tooBigBulkCount = RESPProtocolError("Protocol error: too big bulk count string")
    static let tooBigInline = RESPProtocolError("Protocol error: too big inline request")
    static let unbalancedQuotes = RESPProtocolError("Protocol error: unbalanced quotes in request")
    static let unauthenticatedMultibulk = RESPProtocolError("Protocol error: unauthenticated multibulk length")
    static let unauthenticatedBulk = RESPProtocolError("Protocol error: unauthenticated bulk length")

    static func expectedDollar(got byte: UInt8) -> RESPProtocolError {
        RESPProtocolError("Protocol error: expected '$', got '\(Character(Unicode.Scalar(byte)))'")
    }
}
