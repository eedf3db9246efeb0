import Foundation
import Logging
import Synchronization
import TaskHostConcurrency
import TaskHostShared
import TaskHostTestSupport
import Testing

@testable import TaskHostCore
@testable import TaskHostIsolation
@testable import TaskHostScheduling
@testable import TaskHostStore

/// A store whose settlement writes (mark done, release, retry, dead letter,
/// an instance's outcome) fail as a full disk makes them fail, a given number
/// of times or until told otherwise; every other call goes to the SQLite store.
final class FailingSettlementStore: TaskStore, TriggerQueueStore {
    let base: SQLiteTaskStore
    private struct State {
        var failuresLeft: [String: Int] = [:]
        var attempts: [String: Int] = [:]
        var successes: [String: Int] = [:]
    }
    private let state = Mutex(State())
    /// Runs before each `insertInstance` with its call number (from 1); tests block there.
    let beforeInsertInstance = Mutex<(@Sendable (Int) -> Void)?>(nil)
    /// Runs after each `release` wrote; tests hold the releasing run there.
    let afterRelease = Mutex<(@Sendable () -> Void)?>(nil)
    /// How many times each trigger id was claimed.
    let claims = Mutex<[String: Int]>([:])

    init(base: SQLiteTaskStore) { self.base = base }

    /// The next `count` calls of `operation` fail (`Int.max`: until ``heal(_:)``).
    func fail(_ operation: String, times count: Int) { state.withLock { $0.failuresLeft[operation] = count } }
    func heal(_ operation: String) { state.withLock { $0.failuresLeft[operation] = 0 } }
    func attempts(_ operation: String) -> Int { state.withLock { $0.attempts[operation, default: 0] } }
    func successes(_ operation: String) -> Int { state.withLock { $0.successes[operation, default: 0] } }

    private func settle(_ operation: String, _ write: () throws(StoreError) -> Void) throws(StoreError) {
        let fails = state.withLock { state -> Bool in
            state.attempts[operation, default: 0] += 1
            guard state.failuresLeft[operation, default: 0] > 0 else { return false }
            state.failuresLeft[operation]! -= 1
            return true
        }
        if fails { throw StoreError("cannot \(operation): database or disk is full") }
        try write()
        state.withLock { $0.successes[operation, default: 0] += 1 }
    }

    // Settlements.
    func markDone(id: String, instanceId: String) throws(StoreError) {
        try settle("markDone") { () throws(StoreError) in try base.markDone(id: id, instanceId: instanceId) }
    }
    func markRetrying(id: String, instanceId: String?, error: String, availableAt: Date) throws(StoreError) {
        try settle("markRetrying") { () throws(StoreError) in
            try base.markRetrying(id: id, instanceId: instanceId, error: error, availableAt: availableAt)
        }
    }
    func markDead(id: String, instanceId: String?, error: String) throws(StoreError) {
        try settle("markDead") { () throws(StoreError) in try base.markDead(id: id, instanceId: instanceId, error: error) }
    }
    func release(id: String, instanceId: String?, note: String) throws(StoreError) {
        try settle("release") { () throws(StoreError) in try base.release(id: id, instanceId: instanceId, note: note) }
        afterRelease.withLock { $0 }?()
    }
    func finishInstance(
        id: String, endedAt: Date, outcome: InstanceOutcome, progress: UInt32, sandbox: String, appendingLog lines: [LogLine]
    ) throws(StoreError) {
        try settle("finishInstance") { () throws(StoreError) in
            try base.finishInstance(id: id, endedAt: endedAt, outcome: outcome, progress: progress, sandbox: sandbox, appendingLog: lines)
        }
    }

    // Everything else, unchanged.
    func setting(app: String, key: String) throws(StoreError) -> StoredSetting? { try base.setting(app: app, key: key) }
    func setSetting(app: String, key: String, value: SettingValue) throws(StoreError) {
        try base.setSetting(app: app, key: key, value: value)
    }
    func deleteSetting(app: String, key: String) throws(StoreError) -> Bool { try base.deleteSetting(app: app, key: key) }
    func settings(app: String) throws(StoreError) -> [StoredSetting] { try base.settings(app: app) }
    func apps() throws(StoreError) -> [String] { try base.apps() }
    func insertInstance(_ record: InstanceRecord) throws(StoreError) {
        let call = attempts("insertInstance") + 1
        beforeInsertInstance.withLock { $0 }?(call)
        try settle("insertInstance") { () throws(StoreError) in try base.insertInstance(record) }
    }
    func instances(task: String?, limit: Int) throws(StoreError) -> [InstanceRecord] { try base.instances(task: task, limit: limit) }
    func instance(idPrefix: String) throws(StoreError) -> InstanceRecord? { try base.instance(idPrefix: idPrefix) }
    func appendLog(instanceId: String, lines: [LogLine]) throws(StoreError) { try base.appendLog(instanceId: instanceId, lines: lines) }
    func recordProgress(instanceId: String, progress: UInt32) throws(StoreError) {
        try base.recordProgress(instanceId: instanceId, progress: progress)
    }
    func log(instanceId: String) throws(StoreError) -> [LogLine] { try base.log(instanceId: instanceId) }
    func enqueue(_ triggers: [NewTrigger]) throws(StoreError) { try base.enqueue(triggers) }
    func claim(
        limit: Int, owner: String, now: Date, decide: (_ app: String, _ task: String) -> ClaimDecision
    ) throws(StoreError) -> [QueuedTrigger] {
        let claimed = try base.claim(limit: limit, owner: owner, now: now, decide: decide)
        claims.withLock { claims in
            for trigger in claimed { claims[trigger.id, default: 0] += 1 }
        }
        return claimed
    }
    func park(app: String) throws(StoreError) -> Int { try base.park(app: app) }
    func park(id: String, note: String?) throws(StoreError) { try base.park(id: id, note: note) }
    func unpark(app: String) throws(StoreError) -> Int { try base.unpark(app: app) }
    func unpark(tasks: [(app: String, task: String)]) throws(StoreError) -> Int { try base.unpark(tasks: tasks) }
    func resumeWaiting(tasks: [(app: String, task: String)]) throws(StoreError) -> Int { try base.resumeWaiting(tasks: tasks) }
    func recoverAbandoned(owner: String, now: Date) throws(StoreError) -> Int { try base.recoverAbandoned(owner: owner, now: now) }
    func queueCounts() throws(StoreError) -> [TriggerState: Int] { try base.queueCounts() }
    func queuedTriggers(states: [TriggerState], limit: Int) throws(StoreError) -> [QueuedTrigger] {
        try base.queuedTriggers(states: states, limit: limit)
    }
    func queuedTrigger(idPrefix: String) throws(StoreError) -> QueuedTrigger? { try base.queuedTrigger(idPrefix: idPrefix) }
    func requeue(id: String) throws(StoreError) -> Bool { try base.requeue(id: id) }
    func backlog(app: String, task: String) throws(StoreError) -> Int { try base.backlog(app: app, task: task) }
}

/// Keeps the messages logged at `warning` and above.
struct CollectingLogHandler: LogHandler {
    final class Lines: Sendable {
        let value = Mutex<[String]>([])
        var all: [String] { value.withLock { $0 } }
    }
    let lines: Lines
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        guard event.level >= .warning else { return }
        lines.value.withLock { $0.append("\(event.level): \(event.message)") }
    }
}

/// Settlement writes that fail are retried until they succeed; a host that
/// stops while they fail leaves its triggers to the next start's recovery.
@Suite struct SettlementRetryTests {
    func dispatcher(store: FailingSettlementStore, task: String, entryPoint: String, lines: CollectingLogHandler.Lines) -> Dispatcher {
        Dispatcher(
            store: store, runner: TaskRunner(store: store, workerPath: TestSupport.workerPath),
            registry: TestSupport.registry([TestSupport.task(task, entryPoint)]),
            retryPolicy: RetryPolicy(maxAttempts: 5, baseDelay: .milliseconds(50), maxDelay: .milliseconds(200)),
            pollInterval: .milliseconds(50), logger: Logger(label: "test") { _ in CollectingLogHandler(lines: lines) })
    }

    func enqueue(_ task: String, in store: SQLiteTaskStore) throws -> String {
        let event = TriggerEvent(kind: .application, triggerId: NewTrigger.newId())
        try store.enqueue([NewTrigger(app: "com.example.tests", task: task, event: event)])
        return event.triggerId
    }

    @Test func settlementsThatFailAreRetriedUntilTheTriggerIsDoneAndTheOutcomeRecordedOnce() async throws {
        let base = try TestSupport.store()
        let store = FailingSettlementStore(base: base)
        store.fail("finishInstance", times: 3)
        store.fail("markDone", times: 4)
        let lines = CollectingLogHandler.Lines()
        let dispatcher = dispatcher(store: store, task: "Echo", entryPoint: "FaultyTasks.AsyncEchoTask", lines: lines)
        let id = try enqueue("Echo", in: base)
        let running = Task { await dispatcher.run() }
        let done = try await TestSupport.eventually { try base.queuedTrigger(idPrefix: id)?.state == .done }
        dispatcher.shutdown()
        await running.value
        let state = try base.queuedTrigger(idPrefix: id)?.state
        #expect(done, "the trigger was left \(String(describing: state))")
        #expect(store.attempts("finishInstance") == 4)
        #expect(store.successes("finishInstance") == 1, "the outcome is recorded exactly once")
        #expect(store.attempts("markDone") == 5)
        #expect(store.successes("markDone") == 1)
        let instances = try base.instances(task: "Echo", limit: 10)
        #expect(instances.map(\.outcome) == [.completed], "one instance, with its outcome")
        #expect(try base.queuedTrigger(idPrefix: id)?.attempts == 1, "settled without another run")
        // Logged once per failure streak, not per attempt.
        let failures = lines.all.filter { $0.contains("cannot ") }
        #expect(failures.count <= 2, "\(failures)")
        #expect(!failures.isEmpty)
    }

    @Test func aHostStoppedWhileSettlementsFailLeavesTheTriggerToTheNextStart() async throws {
        let base = try TestSupport.store()
        let store = FailingSettlementStore(base: base)
        store.fail("markDone", times: .max)
        let lines = CollectingLogHandler.Lines()
        let first = dispatcher(store: store, task: "Echo", entryPoint: "FaultyTasks.AsyncEchoTask", lines: lines)
        let id = try enqueue("Echo", in: base)
        let running = Task { await first.run() }
        // The instance completed; marking its trigger done keeps failing and is retried.
        #expect(await TestSupport.eventually { store.attempts("markDone") >= 3 })
        first.shutdown()
        await running.value  // gives up within the dispatcher's settlement patience
        #expect(try base.queuedTrigger(idPrefix: id)?.state == .running, "unsettled, not lost and not marked done")
        #expect(lines.all.contains { $0.contains("gave up") && $0.contains("next start recovers") }, "\(lines.all)")

        // The next start (another owner) recovers it as after a crash, and runs it.
        store.heal("markDone")
        let second = dispatcher(store: store, task: "Echo", entryPoint: "FaultyTasks.AsyncEchoTask", lines: lines)
        let next = Task { await second.run() }
        let done = try await TestSupport.eventually { try base.queuedTrigger(idPrefix: id)?.state == .done }
        second.shutdown()
        await next.value
        #expect(done)
        #expect(try base.queuedTrigger(idPrefix: id)?.attempts == 2)
    }

    @Test func backoffDoublesFromFiftyMillisecondsUpToFiveSeconds() {
        let retry = SettlementRetry(logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        #expect(
            (1...9).map { retry.backoff(afterAttempts: $0) } == [
                .milliseconds(50), .milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800),
                .milliseconds(1600), .milliseconds(3200), .seconds(5), .seconds(5),
            ])
        #expect(retry.backoff(afterAttempts: 1000) == .seconds(5))
    }

    @Test func aSettlementGivesUpOnceTheHostStopsAndNotBefore() async {
        let retry = SettlementRetry(
            firstDelay: .milliseconds(1), maxDelay: .milliseconds(5), logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        let attempts = Mutex(0)
        let settled = await retry.perform("write", on: BlockingExecutor(name: "test-settle")) {
            let count = attempts.withLock { value -> Int in
                value += 1
                return value
            }
            if count < 20 { throw StoreError("disk full") }
        }
        #expect(settled)
        #expect(attempts.withLock { $0 } == 20)
        retry.stop(after: .zero)
        let gaveUp = await retry.perform("write", on: BlockingExecutor(name: "test-settle")) { throw StoreError("disk full") }
        #expect(!gaveUp)
    }

    /// A settlement refused for good (another host's claim holds the trigger:
    /// fencing) is tried once, logged and dropped, never retried; one that
    /// fails for a while (busy, unavailable, full) is retried.
    @Test func aSettlementRefusedForGoodIsNotRetried() async {
        let retry = SettlementRetry(
            firstDelay: .milliseconds(1), maxDelay: .milliseconds(5), logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        let attempts = Mutex(0)
        let settled = await retry.perform("mark the trigger done", on: BlockingExecutor(name: "test-settle")) {
            attempts.withLock { $0 += 1 }
            throw StoreError("trigger t1: this host's claim was taken over", code: .constraint)
        }
        #expect(settled, "the write is over: nothing is left to retry")
        #expect(attempts.withLock { $0 } == 1)
        #expect(StoreError("x", code: .constraint).isPermanent)
        #expect(StoreError.Code.allCases.filter { StoreError("x", code: $0).isPermanent } == [.constraint])
    }
}
