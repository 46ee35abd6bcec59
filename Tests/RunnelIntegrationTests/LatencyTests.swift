import Testing
import RunnelTestSupport

/// LATENCY HISTOGRAM, INFO latencystats and LATENCY DOCTOR/GRAPH on the running binary.
@Suite("Latency tracking and reports")
struct LatencyTrackingTests {
    @Test("LATENCY HISTOGRAM counts every call in cumulative power-of-two buckets; INFO latencystats has the percentiles")
    func histogram() throws {
        let server = try ServerProcess.runnel()
        defer { server.stop() }
        let c = try TestConnection(port: server.port)
        _ = try c.command("CONFIG", "RESETSTAT")
        for _ in 0..<50 { _ = try c.command("PING") }
        _ = try c.command("XADD", "s", "*", "f", "v")
        let reply = try c.command("LATENCY", "HISTOGRAM", "ping", "xadd", "xinfo")
        guard let top = reply.elements, top.count == 4 else {
            Issue.record("unexpected reply \(reply)")
            return
        }
        #expect(top[0] == .bulk(Array("ping".utf8)))
        let ping = top[1].elements ?? []
        #expect(ping.count == 4 && ping[0] == .bulk(Array("calls".utf8)) && ping[1] == .integer(50))
        let buckets = (ping.count == 4 ? ping[3].elements : nil) ?? []
        var last = 0
        var previousBound = 0
        for i in stride(from: 0, to: buckets.count - 1, by: 2) {
            guard case .integer(let bound) = buckets[i], case .integer(let calls) = buckets[i + 1] else { continue }
            #expect(bound > previousBound && calls > last)
            previousBound = bound
            last = calls
        }
        #expect(last == 50)
        let info = try c.command("INFO", "latencystats").text ?? ""
        #expect(info.contains("# Latencystats\r\n"))
        #expect(info.contains("latency_percentiles_usec_ping:p50="))
        #expect(info.contains(",p99.9="))
        #expect(try c.command("INFO").text?.contains("Latencystats") == false)
    }

    @Test("LATENCY DOCTOR and GRAPH describe recorded spikes")
    func doctorAndGraph() throws {
        let server = try ServerProcess.runnel()
        defer { server.stop() }
        let c = try TestConnection(port: server.port)
        #expect(try c.command("LATENCY", "DOCTOR").text?.hasPrefix("I'm sorry, Dave, I can't do that.") == true)
        _ = try c.command("CONFIG", "SET", "latency-monitor-threshold", "1")
        #expect(try c.command("LATENCY", "DOCTOR").text?.hasPrefix("Dave, no latency spike was observed") == true)
        // A slow command: a long XRANGE over many entries.
        var args = ["XADD", "big", "*"]
        for i in 0..<10 { args += ["f\(i)", String(repeating: "v", count: 50)] }
        for _ in 0..<2000 { c.send(args) }
        _ = try c.read(2000, timeoutMs: 60_000)
        var spiked = false
        for _ in 0..<20 where !spiked {
            _ = try c.command("XRANGE", "big", "-", "+")
            spiked = (try c.command("LATENCY", "LATEST").elements?.isEmpty == false)
        }
        guard spiked else { return }  // too fast a machine to make a 1 ms spike: nothing to report
        let doctor = try c.command("LATENCY", "DOCTOR").text ?? ""
        #expect(doctor.hasPrefix("Dave, I have observed latency spikes"), "\(doctor)")
        #expect(doctor.contains("latency spikes (average "), "\(doctor)")
        let graph = try c.command("LATENCY", "GRAPH", "command").text ?? ""
        #expect(graph.hasPrefix("command - high "), "\(graph)")
        #expect(graph.contains(String(repeating: "-", count: 80)))
    }
}
