import Foundation
import Testing
import RunnelTestSupport

/// The retail example (examples/retail) run as a test: real services on redis-py, the broker
/// killed with SIGKILL in the middle under appendfsync always, then restarted on the same data
/// directory. The scenario audits its own event logs (`--check`); this test also reads its JSON
/// summary, so a scenario that silently did nothing cannot pass.
@Suite("Retail example", .serialized)
struct RetailExampleTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    struct Summary: Decodable {
        struct Group: Decodable {
            let orders_processed: Int
            let claimed: Int
            let final_lag: Int?
            let final_pending: Int?
            let workers_died: [String]
        }
        struct PubSub: Decodable {
            let published: Int
            let publish_failed_while_down: Int
            let received_by_monitoring: Int
            let received_after_restart: Int?
        }
        let orders_placed: Int
        let stream_length: Int
        let groups: [String: Group]
        let pubsub: PubSub
        let monitoring_reports: Int
        let crashed_and_restarted: Bool
        let failures: [String]
    }

    func runScenario(_ extra: [String]) throws -> (Int32, String, Summary?) {
        let json = ServerProcess.makeTempDir("retail") + "/summary.json"
        // `timeout` bounds the whole run; the services stop on their own when the scenario is gone.
        let (status, out) = try runCommand("/usr/bin/env", [
            "timeout", "180", "python3", Self.root + "/examples/retail/scenario.py",
            "--duration", "8", "--crash-at", "3", "--down", "1", "--appendfsync", "always",
            "--check", "--quiet", "--json", json,
        ] + extra, timeoutMs: 200_000)
        let summary = (try? Data(contentsOf: URL(fileURLWithPath: json))).flatMap {
            try? JSONDecoder().decode(Summary.self, from: $0)
        }
        return (status, out, summary)
    }

    func expectSurvived(_ status: Int32, _ out: String, _ summary: Summary?) {
        #expect(status == 0, "\(out)")
        guard let s = summary else {
            Issue.record("no summary written: \(out)")
            return
        }
        #expect(s.failures.isEmpty, "\(s.failures)")
        #expect(s.crashed_and_restarted)
        // ~50 orders/s for 8 s minus the second the broker was down.
        #expect(s.orders_placed > 150, "\(out)")
        #expect(s.stream_length >= s.orders_placed)
        for name in ["inventory", "shipping"] {
            let g = s.groups[name]
            #expect(g != nil, "group \(name) missing")
            #expect((g?.orders_processed ?? 0) >= s.orders_placed, "\(name): \(out)")
            #expect(g?.final_lag == 0 && g?.final_pending == 0, "\(name) did not drain: \(out)")
        }
        // inv-3 dies holding an unacknowledged batch; another inventory worker claims it.
        #expect(s.groups["inventory"]?.workers_died == ["inv-3"])
        #expect((s.groups["inventory"]?.claimed ?? 0) >= 1, "\(out)")
        // Pub/Sub: live before and after the restart; what was sent while the broker was down is gone.
        #expect(s.pubsub.publish_failed_while_down > 0, "\(out)")
        #expect((s.pubsub.received_after_restart ?? 0) > 0, "\(out)")
        #expect(s.pubsub.received_by_monitoring <= s.pubsub.published)
        #expect(s.monitoring_reports >= 2)
    }

    @Test("survives SIGKILL of runnel-server: nothing acknowledged lost, both groups process every order")
    func runnel() throws {
        let binary = try ServerProcess.runnelBinary()
        let (status, out, summary) = try runScenario(["--server", "runnel", "--runnel-binary", binary])
        expectSurvived(status, out, summary)
    }

    @Test("the same services run unchanged against redis-server")
    func redis() throws {
        guard ServerProcess.which("redis-server") != nil else {
            Issue.record("redis-server missing: run ./tools/test")
            return
        }
        let (status, out, summary) = try runScenario(["--server", "redis"])
        expectSurvived(status, out, summary)
    }
}
