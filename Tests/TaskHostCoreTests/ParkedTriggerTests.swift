import Foundation
import Logging
import TaskHostManifest
import TaskHostTestSupport
import Testing

@testable import TaskHostCore
@testable import TaskHostIsolation
@testable import TaskHostPlugins
@testable import TaskHostScheduling
@testable import TaskHostStore

/// Triggers whose task this host does not run (its plugin removed or being
/// replaced): parked, not dead-lettered, until the task is registered again.
@Suite struct ParkedTriggerTests {
    func trigger(_ id: String, task: String, expiresAt: Date? = nil) -> NewTrigger {
        NewTrigger(app: "a", task: task, event: TriggerEvent(kind: .pushNotification, triggerId: id), expiresAt: expiresAt)
    }

    @Test func aClaimParksWhatItCannotRunWithoutAnAttemptAndReadsItNoMore() throws {
        let store = try Fixtures.store()
        try store.enqueue([
            trigger("gone-1", task: "Gone"), trigger("gone-ttl", task: "Gone", expiresAt: Date().addingTimeInterval(3600)),
            trigger("here", task: "Here"),
        ])
        let claimed = try store.claim(limit: 10, owner: "h", now: Date()) { _, task in
            task == "Gone" ? .park(reason: "task Gone not loaded on this host") : .take
        }
        #expect(claimed.map(\.id) == ["here"])
        #expect(try store.queueCounts() == [.parked: 2, .running: 1])
        let parked = try #require(try store.queuedTrigger(idPrefix: "gone-1"))
        #expect(parked.state == .parked && parked.attempts == 0, "\(parked)")
        #expect(parked.lastError == "task Gone not loaded on this host")

        // Out of the claim's index: the next claims do not even read them.
        var read = 0
        #expect(
            try store.claim(limit: 10, owner: "h", now: Date()) { _, _ in
                read += 1
                return .take
            }.isEmpty)
        #expect(read == 0)

        // A parked trigger still ends by its own time to live, and only by it.
        #expect(try store.claim(limit: 10, owner: "h", now: Date().addingTimeInterval(7200)) { _, _ in .take }.isEmpty)
        #expect(try store.queuedTrigger(idPrefix: "gone-ttl")?.state == .expired)
        #expect(try store.queuedTrigger(idPrefix: "gone-1")?.state == .parked)

        // Its task registered again: pending, and claimed with its first attempt.
        #expect(try store.unpark(tasks: [(app: "a", task: "Other"), (app: "b", task: "Gone")]) == 0)
        #expect(try store.unpark(tasks: [(app: "a", task: "Gone")]) == 1)
        let again = try store.claim(limit: 10, owner: "h", now: Date()) { _, _ in .take }
        #expect(again.map(\.id) == ["gone-1"] && again.first?.attempts == 1)
    }

    @Test func parkingAndUnparkingATaskUseTheStateIndexAndExpiryCoversParkedTriggers() throws {
        let store = try Fixtures.store()
        let unpark = try store.queryPlan(SQLiteTaskStore.unparkTaskSQL, arguments: [0, "a", "T"])
        #expect(unpark.contains("trigger_by_state"), "\(unpark)")
        let expire = try store.queryPlan(SQLiteTaskStore.expireSQL, arguments: [0, 0])
        #expect(expire.contains("USING INDEX trigger_expiry"), "\(expire)")
    }

    @Test func aTriggerOfATaskNotLoadedHereWaitsParkedWithoutABusyLoopAndRunsOnceLoaded() async throws {
        let store = try Fixtures.store()
        let echo = Fixtures.task("Echo", "FaultyTasks.AsyncEchoTask")
        let registry = Fixtures.registry([Fixtures.task("Other", "FaultyTasks.AsyncEchoTask")])
        let dispatcher = Dispatcher(
            store: store, runner: TaskRunner(store: store, workerPath: Fixtures.workerPath), registry: registry,
            retryPolicy: RetryPolicy(maxAttempts: 1), pollInterval: .milliseconds(50),
            logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        let id = NewTrigger.newId()
        try store.enqueue([NewTrigger(app: "com.example.tests", task: "Echo", event: TriggerEvent(kind: .pushNotification, triggerId: id))])
        let running = Task { await dispatcher.run() }
        defer { dispatcher.shutdown() }

        #expect(try await Fixtures.eventually { try store.queuedTrigger(idPrefix: id)?.state == .parked }, "parked, not dead-lettered")
        let parked = try #require(try store.queuedTrigger(idPrefix: id))
        #expect(parked.attempts == 0)
        #expect(
            parked.lastError?.hasPrefix("task \"Echo\" of com.example.tests not loaded on this host") == true, "\(parked.lastError ?? "")")

        // No busy loop: over a second the store is asked at the poll interval
        // (20 times at 50 ms), not over and over for the parked trigger.
        let before = dispatcher.claimCount
        try await Task.sleep(for: .seconds(1))
        let claims = dispatcher.claimCount - before
        #expect(claims <= 40, "\(claims) claims in a second")
        let still = try #require(try store.queuedTrigger(idPrefix: id))
        #expect(still.state == .parked && still.attempts == 0, "\(still)")

        // The task appears (its plugin dropped in again): the trigger runs, on its first attempt.
        registry.replace(
            plugin: "late", with: [RegisteredTask(app: Fixtures.app([echo]), task: echo, libraryPath: echo.library, plugin: "late")])
        #expect(try await Fixtures.eventually { try store.queuedTrigger(idPrefix: id)?.state == .done })
        #expect(try store.queuedTrigger(idPrefix: id)?.attempts == 1)
        dispatcher.shutdown()
        await running.value
    }

    @Test func aNoCachePushCannotStartATaskThatIsNotLoaded() throws {
        let store = try Fixtures.store()
        let dispatcher = Dispatcher(
            store: store, runner: TaskRunner(store: store, workerPath: Fixtures.workerPath),
            registry: Fixtures.registry([Fixtures.task("Echo", "FaultyTasks.AsyncEchoTask")]))
        #expect(dispatcher.hasCapacity(app: "com.example.tests", task: "Echo"))
        #expect(!dispatcher.hasCapacity(app: "com.example.tests", task: "Gone"))
    }
}
