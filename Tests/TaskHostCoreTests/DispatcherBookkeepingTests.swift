import Foundation
import Logging
import Synchronization
import TaskHostIsolation
import TaskHostTestSupport
import Testing

@testable import TaskHostCore
@testable import TaskHostScheduling
@testable import TaskHostStore

/// The dispatcher's table of running instances stays right when a trigger is
/// released by its run and claimed again before that run has ended (issue
/// 14's full-disk attack crashed `serve` there: the second run found its entry
/// removed by the first one's end).
@Suite struct DispatcherBookkeepingTests {
    /// Waits on the calling thread (a store call: the dispatcher's, never the test's) until `condition` holds, at most 120 s
    /// (the whole suite runs at once on two cores: waits are long, and end as soon as they can).
    static func block(until condition: () -> Bool) {
        let deadline = Date().addingTimeInterval(120)
        while !condition(), Date() < deadline { usleep(2_000) }
    }

    @Test func aTriggerClaimedAgainBeforeItsReleasingRunEndedKeepsBothRunsApart() async throws {
        let base = try TestSupport.store()
        let store = FailingSettlementStore(base: base)
        let lines = CollectingLogHandler.Lines()
        let dispatcher = Dispatcher(
            store: store, runner: TaskRunner(store: store, workerPath: TestSupport.workerPath),
            registry: TestSupport.registry([TestSupport.task("Echo", "FaultyTasks.AsyncEchoTask")]),
            limits: ConcurrencyLimits(global: 2, perTask: 2),
            pollInterval: .milliseconds(20), logger: Logger(label: "test") { _ in CollectingLogHandler(lines: lines) })
        let event = TriggerEvent(kind: .application, triggerId: NewTrigger.newId())
        try base.enqueue([NewTrigger(app: "com.example.tests", task: "Echo", event: event)])
        let id = event.triggerId

        // The first run cannot record its instance (a full disk): the trigger is released.
        store.fail("insertInstance", times: 1)
        // The release holds its run until the trigger was claimed again and the
        // second run reached its own instance row, which waits for the test.
        let secondRunMayGoOn = Mutex(false)
        let secondRunWaits = Mutex(false)
        store.afterRelease.withLock {
            $0 = { Self.block { store.claims.withLock { $0[id] ?? 0 } >= 2 && secondRunWaits.withLock { $0 } } }
        }
        store.beforeInsertInstance.withLock {
            $0 = { call in
                guard call == 2 else { return }
                secondRunWaits.withLock { $0 = true }
                Self.block { secondRunMayGoOn.withLock { $0 } }
            }
        }
        let running = Task { await dispatcher.run() }

        // The first run has ended; the second is under way.
        #expect(await TestSupport.eventually { dispatcher.finishedRuns == 1 })
        #expect(dispatcher.runningCount == 1, "the second run is still counted after the first one ended")
        secondRunMayGoOn.withLock { $0 = true }
        let done = try await TestSupport.eventually { try base.queuedTrigger(idPrefix: id)?.state == .done }
        dispatcher.shutdown()
        await running.value
        #expect(done)
        #expect(store.claims.withLock { $0[id] } == 2)
        #expect(try base.instances(task: "Echo", limit: 10).map(\.outcome) == [.completed])
        #expect(dispatcher.runningCount == 0)
    }
}
