import Testing
import RunnelTestSupport

@Suite("Differential: redis-server 7.0 vs runnel-server")
struct DifferentialTests {
    /// Runs every case against a fresh redis-server and runnel-server pair.
    func runAll(_ cases: [DiffCase], resp3: Bool) throws {
        let redis = try ServerProcess.redis()
        defer { redis.stop() }
        let runnel = try ServerProcess.runnel()
        defer { runnel.stop() }
        let runner = DifferentialRunner(redis: redis, runnel: runnel)
        var failures: [String] = []
        for c in cases {
            failures += runner.run(c, resp3: resp3)
        }
        for f in failures { Issue.record(Comment(rawValue: f)) }
        #expect(failures.isEmpty, "\(failures.count) differences")
    }

    @Test("Server core commands, RESP2 and RESP3", arguments: [false, true])
    func serverCore(resp3: Bool) throws {
        try runAll(serverCoreCases, resp3: resp3)
    }

    @Test("ACL commands and permission checks, RESP2 and RESP3", arguments: [false, true])
    func acl(resp3: Bool) throws {
        try runAll(aclCases, resp3: resp3)
    }

    @Test("Stream commands, RESP2 and RESP3", arguments: [false, true])
    func streams(resp3: Bool) throws {
        try runAll(streamCases, resp3: resp3)
    }
}
