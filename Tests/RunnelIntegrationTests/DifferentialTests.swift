import Testing
import RunnelTestSupport

@Suite("Differential: redis-server 7.0 vs runnel-server")
struct DifferentialTests {
    @Test("Server core commands, RESP2 and RESP3", arguments: [false, true])
    func serverCore(resp3: Bool) throws {
        let redis = try ServerProcess.redis()
        defer { redis.stop() }
        let runnel = try ServerProcess.runnel()
        defer { runnel.stop() }
        let runner = DifferentialRunner(redis: redis, runnel: runnel)
        var failures: [String] = []
        for c in serverCoreCases {
            failures += runner.run(c, resp3: resp3)
        }
        for f in failures { Issue.record(Comment(rawValue: f)) }
        #expect(failures.isEmpty, "\(failures.count) differences")
    }

    @Test("Stream commands, RESP2 and RESP3", arguments: [false, true])
    func streams(resp3: Bool) throws {
        let redis = try ServerProcess.redis()
        defer { redis.stop() }
        let runnel = try ServerProcess.runnel()
        defer { runnel.stop() }
        let runner = DifferentialRunner(redis: redis, runnel: runnel)
        var failures: [String] = []
        for c in streamCases {
            failures += runner.run(c, resp3: resp3)
        }
        for f in failures { Issue.record(Comment(rawValue: f)) }
        #expect(failures.isEmpty, "\(failures.count) differences")
    }
}
