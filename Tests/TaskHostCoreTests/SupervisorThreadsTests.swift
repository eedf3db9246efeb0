import Foundation
import Synchronization
@testable import TaskHostIsolation
import Testing

/// The threads instances are supervised on: every job gets a thread at once
/// (a supervisor blocks for its instance's whole life, so a job queued behind
/// another would wait for that instance to end), and threads are reused.
@Suite(.timeLimit(.minutes(1))) struct SupervisorThreadsTests {
    /// Runs `count` jobs that each wait until all of them have started: the
    /// jobs return only if each ran on a thread of its own at the same time.
    static func runTogether(_ count: Int, on threads: SupervisorThreads) {
        let started = Mutex(0)
        let done = DispatchGroup()
        for _ in 0..<count {
            done.enter()
            threads.run {
                started.withLock { $0 += 1 }
                while started.withLock({ $0 }) < count { usleep(500) }
                done.leave()
            }
        }
        done.wait()
    }

    @Test func everyJobRunsAtOnceOnAThreadOfItsOwn() {
        Self.runTogether(16, on: SupervisorThreads())
    }

    @Test func threadsThatFinishedTakeTheNextJobs() {
        let threads = SupervisorThreads()
        Self.runTogether(8, on: threads)
        // A second wave, while the first wave's threads idle: all of it still
        // runs at once, whichever threads it lands on.
        Self.runTogether(12, on: threads)
    }

    @Test func eachJobRunsExactlyOnce() {
        let threads = SupervisorThreads()
        let runs = Mutex([Int](repeating: 0, count: 200))
        let done = DispatchGroup()
        for index in 0..<200 {
            done.enter()
            threads.run {
                runs.withLock { $0[index] += 1 }
                done.leave()
            }
        }
        done.wait()
        #expect(runs.withLock { $0 } == [Int](repeating: 1, count: 200))
    }
}
