import CRunnelSystem
import Foundation
import Testing

@testable import RunnelStorage

/// Background storage threads (checkpoints, snapshots) yield the CPU to the event loops and the
/// log writer; the writer's own threads keep the process's priority.
@Suite("Thread priority")
struct ThreadPriorityTests {
    /// Runs `priority`'s thread to completion and returns the nice value it saw itself at.
    private func niceOfThread(_ priority: ThreadPriority) -> Int32 {
        final class Seen: @unchecked Sendable { var nice: Int32 = -100 }
        let seen = Seen()
        let t = startJoinableThread(name: "runnel-test", priority: priority) {
            seen.nice = runnel_current_thread_nice()
        }
        t.join()
        return seen.nice
    }

    @Test func backgroundThreadsRunAtTheBackgroundNiceValue() {
        #if os(Linux)
        let base = runnel_current_thread_nice()
        // An unprivileged process cannot lower its nice value, so a suite already running nicer
        // than the background value keeps its own.
        #expect(niceOfThread(.background) == max(base, ThreadPriority.backgroundNice))
        #expect(niceOfThread(.normal) == base)
        // The caller's own priority is untouched by the threads it starts.
        #expect(runnel_current_thread_nice() == base)
        #endif
    }

    @Test func setNiceReportsFailureInsteadOfCrashing() {
        #if os(Linux)
        // Raising priority (a negative nice) needs privilege; unprivileged it fails with EACCES,
        // as root it succeeds; either way the call returns and the thread goes on.
        let t = startJoinableThread(name: "runnel-test") {
            let rc = runnel_set_current_thread_nice(-5)
            #expect(rc == 0 || rc == EACCES || rc == EPERM)
        }
        t.join()
        #endif
    }
}
