import Foundation
import Synchronization
import TaskHostConcurrency
import Testing

/// The one way the host runs blocking work off the cooperative pool. Waits
/// here are for conditions, bounded by the suite's time limit, never timed.
@Suite(.timeLimit(.minutes(1))) struct BlockingExecutorTests {
    struct Refused: Error, Equatable { var code: Int }

    /// Runs `count` jobs that each wait until all of them have started: they
    /// return only if each ran on a thread of its own at the same time.
    static func runTogether(_ count: Int, on executor: BlockingExecutor) {
        let started = Mutex(0)
        let done = DispatchGroup()
        for _ in 0..<count {
            done.enter()
            executor.execute {
                started.withLock { $0 += 1 }
                while started.withLock({ $0 }) < count { usleep(500) }
                done.leave()
            }
        }
        done.wait()
    }

    @Test func everyJobRunsAtOnceOnAThreadOfItsOwn() {
        Self.runTogether(16, on: BlockingExecutor(name: "test-together"))
    }

    @Test func threadsThatFinishedTakeTheNextJobs() {
        let executor = BlockingExecutor(name: "test-waves")
        Self.runTogether(8, on: executor)
        Self.runTogether(12, on: executor)
        #expect(executor.threadCount <= 20)
    }

    @Test func atMostMaxThreadsRunAtOnceAndEveryJobRunsOnce() {
        let executor = BlockingExecutor(name: "test-bounded", maxThreads: 2)
        let running = Mutex((now: 0, most: 0))
        let runs = Mutex([Int](repeating: 0, count: 50))
        let done = DispatchGroup()
        for index in 0..<50 {
            done.enter()
            executor.execute {
                running.withLock {
                    $0.now += 1
                    $0.most = max($0.most, $0.now)
                }
                usleep(200)
                runs.withLock { $0[index] += 1 }
                running.withLock { $0.now -= 1 }
                done.leave()
            }
        }
        done.wait()
        #expect(running.withLock { $0.most } <= 2)
        #expect(runs.withLock { $0 } == [Int](repeating: 1, count: 50))
        #expect(executor.threadCount <= 2)
    }

    @Test func oneThreadRunsJobsInOrderOnTheSameThread() {
        let executor = BlockingExecutor(name: "test-serial", maxThreads: 1, idleTimeout: nil)
        let seen = Mutex<[(Int, pthread_t)]>([])
        let done = DispatchGroup()
        for index in 0..<20 {
            done.enter()
            executor.execute {
                seen.withLock { $0.append((index, pthread_self())) }
                done.leave()
            }
        }
        done.wait()
        let all = seen.withLock { $0 }
        #expect(all.map(\.0) == Array(0..<20))
        #expect(Set(all.map(\.1)).count == 1)
    }

    @Test func threadsCarryTheExecutorsNameCutToWhatTheKernelKeeps() async throws {
        let executor = BlockingExecutor(name: "taskhost-test-executor")
        let name = await executor.run { try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8) }
        #expect(name == "taskhost-test-e\n")
    }

    @Test func runReturnsTheValueAndRethrowsTheTypedError() async {
        let executor = BlockingExecutor(name: "test-run")
        #expect(await executor.run { 6 * 7 } == 42)
        do throws(Refused) {
            _ = try await executor.run { () throws(Refused) -> Int in throw Refused(code: 7) }
            Issue.record("no error")
        } catch {
            #expect(error == Refused(code: 7))
        }
    }

    @Test func runAndWaitHandsOverAValue() {
        final class NotSendable { var text = "made on the executor" }
        let executor = BlockingExecutor(name: "test-wait", maxThreads: 1, idleTimeout: nil)
        #expect(executor.runAndWait { NotSendable() }.text == "made on the executor")
    }

    @Test func idleThreadsRetireAndNewWorkStartsAThreadAgain() async {
        let executor = BlockingExecutor(name: "test-idle", idleTimeout: .milliseconds(20))
        #expect(await executor.run { 1 } == 1)
        while executor.threadCount > 0 { try? await Task.sleep(for: .milliseconds(5)) }
        #expect(await executor.run { 2 } == 2)
    }
}
