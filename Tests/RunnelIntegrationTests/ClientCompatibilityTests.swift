import Foundation
import Testing
import RunnelTestSupport

@Suite("Real clients")
struct ClientCompatibilityTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    func run(_ executable: String, _ args: [String]) throws -> (Int32, String) {
        try runCommand(executable, args)
    }

    @Test("redis-py in RESP2 and RESP3 passes the same checks on redis-server and Runnel")
    func redisPy() throws {
        let redis = try ServerProcess.redis()
        defer { redis.stop() }
        let runnel = try ServerProcess.runnel()
        defer { runnel.stop() }
        let script = Self.root + "/tools/compat-clients"
        let (oracleStatus, oracleOut) = try run("/usr/bin/env", ["python3", script, "\(redis.port)"])
        #expect(oracleStatus == 0, "the script must pass on redis-server itself: \(oracleOut)")
        let (status, out) = try run("/usr/bin/env", ["python3", script, "\(runnel.port)"])
        #expect(status == 0, "\(out)")
    }

    @Test("redis-cli: commands, RESP3 and inline help work")
    func redisCli() throws {
        let runnel = try ServerProcess.runnel()
        defer { runnel.stop() }
        guard let cli = ServerProcess.which("redis-cli") else {
            Issue.record("redis-cli missing: run ./tools/test")
            return
        }
        let port = "\(runnel.port)"
        #expect(try run(cli, ["-p", port, "PING"]) == (0, "PONG\n"))
        #expect(try run(cli, ["-p", port, "XADD", "s", "5-1", "k", "v"]) == (0, "5-1\n"))
        #expect(try run(cli, ["--no-raw", "-p", port, "XRANGE", "s", "-", "+"]) == (0, "1) 1) \"5-1\"\n   2) 1) \"k\"\n      2) \"v\"\n"))
        #expect(try run(cli, ["--no-raw", "-3", "-p", port, "CONFIG", "GET", "hz"]) == (0, "1# \"hz\" => \"10\"\n"))
        #expect(try run(cli, ["--no-raw", "-p", port, "GET", "x"]).1 == "(error) ERR unknown command 'GET', with args beginning with: 'x' \n")
    }
}
