import Foundation
import Synchronization
import TaskHostManifest
import TaskHostTestSupport
import Testing

@testable import TaskHostCore
@testable import TaskHostScheduling
@testable import TaskHostStore

/// Time triggers: one firing per period, across restarts.
@Suite struct TimerSchedulerTests {
    @Test func firesOncePerPeriodAcrossRestarts() throws {
        let store = try TestSupport.store()
        let task = TestSupport.task("Tick", "FaultyTasks.AsyncEchoTask", triggers: [.time(intervalMinutes: 15, oneShot: false)])
        let registry = TestSupport.registry([task])
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let first = TimerScheduler(store: store, registry: registry)
        #expect(try first.tick(now: start).isEmpty, "nothing is due before the first period ends")
        #expect(try first.tick(now: start.addingTimeInterval(14 * 60)).isEmpty)
        let due = try first.tick(now: start.addingTimeInterval(15 * 60 + 1))
        #expect(due.count == 1)
        #expect(due.first?.event.kind == .time)
        _ = try first.tick(now: start.addingTimeInterval(20 * 60))

        // A restart: a new scheduler over the same store, later in the same period.
        let second = TimerScheduler(store: store, registry: registry)
        _ = try second.tick(now: start.addingTimeInterval(25 * 60))
        #expect(try store.queueCounts() == [.pending: 1], "period 1 fired once, whatever the restarts")
        // The next period fires once more; missed periods are not caught up.
        _ = try second.tick(now: start.addingTimeInterval(31 * 60))
        _ = try second.tick(now: start.addingTimeInterval(91 * 60))
        #expect(try store.queueCounts() == [.pending: 3])
    }

    @Test func aOneShotTimerFiresOnce() throws {
        let store = try TestSupport.store()
        let task = TestSupport.task("Once", "FaultyTasks.AsyncEchoTask", triggers: [.time(intervalMinutes: 1, oneShot: true)])
        let scheduler = TimerScheduler(store: store, registry: TestSupport.registry([task]))
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        _ = try scheduler.tick(now: start)
        for minutes in [2.0, 5, 60] { _ = try scheduler.tick(now: start.addingTimeInterval(minutes * 60)) }
        #expect(try store.queueCounts() == [.pending: 1])
    }

    /// `run` ticks (on a thread of its own) until cancelled, and says when it enqueued.
    @Test func runTicksUntilCancelledAndReportsWhatItEnqueued() async throws {
        let store = try TestSupport.store()
        let task = TestSupport.task("Tick", "FaultyTasks.AsyncEchoTask", triggers: [.time(intervalMinutes: 1, oneShot: false)])
        // An anchor an hour old: the current period is due at the first tick.
        _ = try store.timerAnchor(app: "com.example.tests", task: "Tick", default: Date().addingTimeInterval(-3600))
        let scheduler = TimerScheduler(store: store, registry: TestSupport.registry([task]))
        let enqueued = Mutex(0)
        let running = Task { await scheduler.run(interval: .milliseconds(10)) { enqueued.withLock { $0 += 1 } } }
        let fired = await TestSupport.eventually { enqueued.withLock { $0 } >= 2 }
        running.cancel()
        await running.value
        #expect(fired, "run ticked and reported it")
        #expect(try store.queueCounts() == [.pending: 1], "the current period, once")
    }
}
