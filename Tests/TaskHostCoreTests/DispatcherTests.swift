import Foundation
import Logging
import Synchronization
import TaskHostShared
import TaskHostTestSupport
import Testing

@testable import TaskHostCore
@testable import TaskHostIsolation
@testable import TaskHostManifest
@testable import TaskHostScheduling
@testable import TaskHostStore

/// The dispatcher: retries with backoff, dead-letters, concurrency.
@Suite struct DispatcherTests {
    func dispatcher(_ tasks: [TaskDeclaration], store: SQLiteTaskStore, maxAttempts: Int, global: Int = 2) -> Dispatcher {
        Dispatcher(
            store: store, runner: TaskRunner(store: store, workerPath: TestSupport.workerPath),
            registry: TestSupport.registry(tasks), limits: ConcurrencyLimits(global: global),
            retryPolicy: RetryPolicy(maxAttempts: maxAttempts, baseDelay: .milliseconds(50), maxDelay: .milliseconds(200)),
            pollInterval: .milliseconds(50), logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
    }

    func enqueue(_ task: String, in store: SQLiteTaskStore) throws -> String {
        let event = TriggerEvent(kind: .application, triggerId: NewTrigger.newId())
        try store.enqueue([NewTrigger(app: "com.example.tests", task: task, event: event)])
        return event.triggerId
    }

    @Test func aTaskThatFailsItsFirstAttemptsIsRetriedUntilItCompletes() async throws {
        let store = try TestSupport.store()
        let dispatcher = dispatcher([TestSupport.task("Flaky", "FaultyTasks.FlakyTask")], store: store, maxAttempts: 5)
        let id = try enqueue("Flaky", in: store)
        let running = Task { await dispatcher.run() }
        let done = try await TestSupport.eventually { try store.queuedTrigger(idPrefix: id)?.state == .done }
        dispatcher.shutdown()
        await running.value
        #expect(done)
        #expect(try store.queuedTrigger(idPrefix: id)?.attempts == 3)
        #expect(try store.setting(app: "com.example.tests", key: "FlakyTask")?.value == "completed on attempt 3")
        let outcomes = try store.instances(task: "Flaky", limit: 10).reversed().map(\.outcome)
        #expect(outcomes == [.failed("attempt 1 fails on purpose"), .failed("attempt 2 fails on purpose"), .completed])
        #expect(try store.instances(task: "Flaky", limit: 10).allSatisfy { $0.triggerId == id }, "every attempt sees the same trigger id")
    }

    @Test func aTaskThatKeepsFailingIsDeadLettered() async throws {
        let store = try TestSupport.store()
        let dispatcher = dispatcher([TestSupport.task("Crash", "FaultyTasks.CrashingTask")], store: store, maxAttempts: 2)
        let id = try enqueue("Crash", in: store)
        let running = Task { await dispatcher.run() }
        let dead = try await TestSupport.eventually { try store.queuedTrigger(idPrefix: id)?.state == .dead }
        dispatcher.shutdown()
        await running.value
        #expect(dead)
        let trigger = try #require(try store.queuedTrigger(idPrefix: id))
        #expect(trigger.attempts == 2)
        #expect(trigger.lastError?.hasPrefix("crashed (signal") == true)
    }

    @Test func refusedTasksAreDeadLetteredAtOnceUnknownOnesWait() async throws {
        let store = try TestSupport.store()
        let dispatcher = dispatcher([TestSupport.task("NotFinal", "FaultyTasks.NotFinalTask")], store: store, maxAttempts: 5)
        let refused = try enqueue("NotFinal", in: store)
        let unknown = try enqueue("Gone", in: store)
        let running = Task { await dispatcher.run() }
        let settled = try await TestSupport.eventually { try store.queueCounts() == [.dead: 1, .parked: 1] }
        dispatcher.shutdown()
        await running.value
        #expect(settled, "\((try? store.queueCounts()) ?? [:])")
        #expect(try store.queuedTrigger(idPrefix: refused)?.attempts == 1)
        #expect(try store.queuedTrigger(idPrefix: refused)?.lastError?.hasPrefix("refused: TaskEntryPoint") == true)
        #expect(try store.queuedTrigger(idPrefix: unknown)?.state == .parked, "a task not loaded here is parked (ParkedTriggerTests)")
    }

    @Test func aWorkerThatCannotStartForLackOfDescriptorsIsRetriedNotDeadLettered() async throws {
        let store = try TestSupport.store()
        let failures = FailingSpawns(count: 2, errno: EMFILE)
        let runner = TaskRunner(
            store: store, workerPath: TestSupport.workerPath, sandbox: SandboxOptions(), isolation: .spawn,
            cgroups: ProcessCgroups.detect(), spawnWorker: failures.spawn)
        // One attempt only: were the failed starts the task's failures, it would be dead-lettered.
        let dispatcher = Dispatcher(
            store: store, runner: runner, registry: TestSupport.registry([TestSupport.task("Echo", "FaultyTasks.AsyncEchoTask")]),
            retryPolicy: RetryPolicy(maxAttempts: 1), pollInterval: .milliseconds(50),
            logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        let id = try enqueue("Echo", in: store)
        let running = Task { await dispatcher.run() }
        let settled = try await TestSupport.eventually {
            try [.done, .dead].contains(store.queuedTrigger(idPrefix: id)?.state ?? .pending)
        }
        dispatcher.shutdown()
        await running.value
        #expect(settled)
        #expect(failures.remaining == 0, "both failing starts were tried")
        let trigger = try #require(try store.queuedTrigger(idPrefix: id))
        #expect(trigger.state == .done, "\(trigger.lastError ?? "")")
        #expect(trigger.attempts == 1, "the starts that failed for lack of descriptors used no attempt")
        #expect(try store.instances(task: "Echo", limit: 10).map(\.outcome) == [.completed], "no instance recorded for the failed starts")
    }

    @Test func resourceExhaustionIsTransientOtherSpawnErrorsAreNot() {
        for code in [EMFILE, ENFILE, ENOMEM, EAGAIN] { #expect(WorkerSpawnError(message: "x", errno: code).resourcesExhausted) }
        for code in [ENOENT, EACCES, ENOEXEC] { #expect(!WorkerSpawnError(message: "x", errno: code).resourcesExhausted) }
        #expect(!WorkerSpawnError(message: "no errno").resourcesExhausted)
    }

    @Test func shutdownCancelsRunningInstancesAndKeepsTheirTriggers() async throws {
        let store = try TestSupport.store()
        let dispatcher = dispatcher([TestSupport.task("Hold", "FaultyTasks.DeferralUntilCanceledTask")], store: store, maxAttempts: 5)
        let id = try enqueue("Hold", in: store)
        let running = Task { await dispatcher.run() }
        #expect(await TestSupport.eventually { dispatcher.runningCount == 1 })
        try await Task.sleep(for: .milliseconds(200))
        dispatcher.shutdown()
        await running.value
        let trigger = try #require(try store.queuedTrigger(idPrefix: id))
        #expect(trigger.state == .pending)
        #expect(trigger.attempts == 0)
        #expect(try store.instances(task: "Hold", limit: 1).first?.outcome == .canceled(.terminating))
    }

    @Test func theGlobalLimitBoundsConcurrentInstances() async throws {
        let store = try TestSupport.store()
        let dispatcher = dispatcher(
            [TestSupport.task("Hold", "FaultyTasks.DeferralUntilCanceledTask")], store: store, maxAttempts: 5, global: 2)
        for _ in 0..<4 { _ = try enqueue("Hold", in: store) }
        let running = Task { await dispatcher.run() }
        #expect(await TestSupport.eventually { dispatcher.runningCount == 2 })
        try await Task.sleep(for: .milliseconds(300))
        #expect(dispatcher.runningCount == 2)
        #expect(try store.queueCounts()[.running] == 2)
        dispatcher.shutdown()
        await running.value
        #expect(try store.queueCounts() == [.pending: 4])
    }
}

/// A worker start that fails `count` times with `errno`, then starts workers.
final class FailingSpawns: Sendable {
    private let left: Mutex<Int>
    private let code: Int32

    init(count: Int, errno code: Int32) {
        left = Mutex(count)
        self.code = code
    }

    var remaining: Int { left.withLock { $0 } }

    func spawn(executable: String, environment: [String]) throws(WorkerSpawnError) -> WorkerProcess {
        let fail = left.withLock { left in
            defer { left = max(0, left - 1) }
            return left > 0
        }
        if fail {
            throw WorkerSpawnError(message: "cannot create the worker's descriptors: \(String(cString: strerror(code)))", errno: code)
        }
        return try WorkerProcess.spawn(executable: executable, environment: environment)
    }
}
