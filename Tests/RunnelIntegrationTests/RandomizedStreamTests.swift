import Testing
import RunnelTestSupport

@Suite("Randomized differential: stream command sequences")
struct RandomizedStreamTests {
    static var seeds: [UInt64] {
        if let env = getenvString("RUNNEL_SEED"), let seed = UInt64(env) { return [seed] }
        return [1, 2, 3, 4, 5, 6]
    }

    @Test("seeded sequences give identical replies", arguments: [false, true])
    func sequences(resp3: Bool) throws {
        let redis = try ServerProcess.redis()
        defer { redis.stop() }
        let runnel = try ServerProcess.runnel()
        defer { runnel.stop() }
        let runner = DifferentialRunner(redis: redis, runnel: runnel)
        for seed in Self.seeds {
            var gen = StreamScriptGenerator(seed: seed &+ (resp3 ? 1000 : 0))
            let script = (0..<1500).map { _ in gen.command() }
            let failures = runner.runPipelined(script, resp3: resp3, label: "RUNNEL_SEED=\(seed)\(resp3 ? " RESP3" : "")")
            for f in failures { Issue.record(Comment(rawValue: f)) }
            #expect(failures.isEmpty, "rerun with RUNNEL_SEED=\(seed)")
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

func getenvString(_ name: String) -> String? {
    guard let p = getenv(name) else { return nil }
    return String(cString: p)
}
