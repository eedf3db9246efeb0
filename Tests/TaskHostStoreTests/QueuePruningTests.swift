import Foundation
import GRDB
import Synchronization
import TaskHostTestSupport
import Testing

@testable import TaskHostCore
@testable import TaskHostStore

/// Pruning the queue (`--keep-done`): settled triggers older than the cutoff
/// leave the store with the history of their instances; nothing else does.
@Suite struct QueuePruningTests {
    let now = Date()

    func trigger(_ task: String = "T") -> NewTrigger {
        NewTrigger(
            app: "a", task: task,
            event: TriggerEvent(kind: .pushNotification, triggerId: NewTrigger.newId(), payload: Array("p".utf8), channelId: "c"))
    }

    /// Enqueues one trigger per state in `states`, each last changed `age` ago; returns their ids by state.
    func queue(_ store: SQLiteTaskStore, _ states: [TriggerState], age: TimeInterval) throws -> [TriggerState: String] {
        var ids: [TriggerState: String] = [:]
        for state in states {
            let trigger = trigger()
            try store.enqueue([trigger])
            try setState(store, id: trigger.id, state, updatedAt: now.addingTimeInterval(-age))
            ids[state] = trigger.id
        }
        return ids
    }

    func setState(_ store: SQLiteTaskStore, id: String, _ state: TriggerState, updatedAt: Date) throws {
        try store.pool.write { db in
            try db.execute(
                sql: "UPDATE trigger SET state = ?, updated_at = ? WHERE id = ?",
                arguments: [state.rawValue, updatedAt.timeIntervalSince1970, id])
        }
    }

    /// Records an instance of `triggerId` that ended `age` ago (still running when `age` is nil), with `lines` log lines.
    func instance(_ store: SQLiteTaskStore, triggerId: String, age: TimeInterval?, lines: Int = 2) throws -> String {
        let id = NewTrigger.newId()
        let started = now.addingTimeInterval(-(age ?? 0) - 1)
        try store.insertInstance(
            InstanceRecord(
                id: id, app: "a", task: "T", triggerKind: .pushNotification, triggerId: triggerId, attempt: 1, hostPid: getpid(),
                startedAt: started))
        let log = (0..<lines).map { LogLine(stream: .task, text: "line \($0)") }
        if let age {
            try store.finishInstance(
                id: id, endedAt: now.addingTimeInterval(-age), outcome: .completed, progress: 100, sandbox: "", appendingLog: log)
        } else {
            try store.appendLog(instanceId: id, lines: log)
        }
        return id
    }

    func count(_ store: SQLiteTaskStore, _ sql: String) throws -> Int {
        try store.pool.read { db in try Int.fetchOne(db, sql: sql) ?? -1 }
    }

    @Test func prunesExactlyTheSettledTriggersOlderThanTheCutoff() throws {
        let store = try TestSupport.store()
        let old = try queue(store, TriggerState.allCases, age: 3600)
        let recent = try queue(store, TriggerState.settled, age: 60)
        let result = try store.pruneSettled(before: now.addingTimeInterval(-600))
        #expect(result.triggers == 4)
        for state in TriggerState.settled {
            #expect(try store.queuedTrigger(idPrefix: old[state]!) == nil, "an old \(state) trigger is pruned")
            #expect(try store.queuedTrigger(idPrefix: recent[state]!)?.state == state, "a recent \(state) trigger stays")
        }
        for state in [TriggerState.pending, .running, .retrying, .parked, .waiting] {
            #expect(try store.queuedTrigger(idPrefix: old[state]!)?.state == state, "a \(state) trigger is never pruned, however old")
        }
        #expect(
            try store.queueCounts() == [
                .pending: 1, .running: 1, .retrying: 1, .parked: 1, .waiting: 1, .done: 1, .dead: 1, .expired: 1, .claimed: 1,
            ])
        #expect(try store.pruneSettled(before: now.addingTimeInterval(-600)) == PruneResult(), "a second prune finds nothing")
    }

    @Test func aLargeBacklogIsPrunedCompletelyInBatches() throws {
        let store = try TestSupport.store()
        let triggers = (0..<5000).map { _ in trigger() }
        try store.enqueue(triggers)
        try store.pool.write { db in
            try db.execute(
                sql: "UPDATE trigger SET state = 'done', updated_at = ?", arguments: [now.addingTimeInterval(-86_400).timeIntervalSince1970]
            )
        }
        let pending = trigger()
        try store.enqueue([pending])
        let deletes = DeletesPerCommit()
        store.pool.add(transactionObserver: deletes)
        let result = try store.pruneSettled(before: now, batchSize: 1000)
        #expect(result.triggers == 5000)
        #expect(try store.queueCounts() == [.pending: 1])
        // Five transactions of 1,000 rows each: the write lock is released between them.
        #expect(deletes.commits.withLock { $0 } == [1000, 1000, 1000, 1000, 1000])
        // A batch size that does not divide the backlog ends with a short batch.
        let more = (0..<25).map { _ in trigger() }
        try store.enqueue(more)
        for trigger in more { try setState(store, id: trigger.id, .dead, updatedAt: now.addingTimeInterval(-10)) }
        #expect(try store.pruneSettled(before: now, batchSize: 7).triggers == 25)
        #expect(try store.queueCounts() == [.pending: 1])
    }

    @Test func theHistoryOfPrunedTriggersGoesWithThemAndNoRowIsLeftDangling() throws {
        let store = try TestSupport.store()
        let old = try queue(store, [.done, .retrying], age: 3600)
        let settledInstance = try instance(store, triggerId: old[.done]!, age: 3700, lines: 3)
        let retryingInstance = try instance(store, triggerId: old[.retrying]!, age: 3700)
        let running = try queue(store, [.running], age: 3600)
        let runningInstance = try instance(store, triggerId: running[.running]!, age: nil)
        // Instances of `taskhost run`: their trigger never was in the queue.
        let oldLocal = try instance(store, triggerId: "local-old", age: 3600)
        let recentLocal = try instance(store, triggerId: "local-recent", age: 10)

        let result = try store.pruneSettled(before: now.addingTimeInterval(-600))
        #expect(result == PruneResult(triggers: 1, instances: 2))
        #expect(try store.instance(idPrefix: settledInstance) == nil)
        #expect(try store.instance(idPrefix: oldLocal) == nil)
        #expect(try store.log(instanceId: settledInstance).isEmpty)
        for kept in [retryingInstance, runningInstance, recentLocal] {
            #expect(try store.instance(idPrefix: kept) != nil, "the instance of a queued trigger, or a recent one, stays")
            #expect(try store.log(instanceId: kept).count == 2)
        }
        #expect(try count(store, "SELECT COUNT(*) FROM log_line WHERE instance_id NOT IN (SELECT id FROM instance)") == 0)
        // What history lists: every instance left, each with its log.
        #expect(Set(try store.instances(task: nil, limit: 100).map(\.id)) == [retryingInstance, runningInstance, recentLocal])
    }

    @Test func aTimersTriggerStaysSoThatItsPeriodNeverFiresTwiceButItsHistoryGoes() throws {
        let store = try TestSupport.store()
        let period = NewTrigger(app: "a", task: "T", event: TriggerEvent(kind: .time, triggerId: "t-period-1"))
        try store.enqueue([period])
        try setState(store, id: period.id, .done, updatedAt: now.addingTimeInterval(-3600))
        let ran = try instance(store, triggerId: period.id, age: 3700)

        let result = try store.pruneSettled(before: now.addingTimeInterval(-600))
        #expect(result == PruneResult(triggers: 0, instances: 1))
        #expect(try store.queuedTrigger(idPrefix: period.id)?.state == .done, "the period's row stays")
        #expect(try store.instance(idPrefix: ran) == nil)
        // What the scheduler does at its next tick: enqueueing the same period again changes nothing.
        try store.enqueue([period])
        #expect(try store.queueCounts() == [.done: 1])
    }

    @Test func anInstanceWithALongLogIsPrunedInATransactionOfItsOwn() throws {
        let store = try TestSupport.store()
        let ids = try (0..<3).map { _ in try instance(store, triggerId: "local", age: 3600, lines: 40) }
        let result = try store.pruneSettled(before: now, batchSize: 10)
        #expect(result.instances == 3)
        for id in ids { #expect(try store.instance(idPrefix: id) == nil) }
        #expect(try count(store, "SELECT COUNT(*) FROM log_line") == 0)
    }

    @Test func pruningReadsOnlyTheSettledIndex() throws {
        let store = try TestSupport.store()
        let plan = try store.queryPlan(SQLiteTaskStore.pruneTriggersSQL, arguments: [0, 1000])
        #expect(plan.contains("trigger_settled"), "\(plan)")
    }

    @Test(arguments: await StoreBackend.available()) func settledTriggersGoInBatchesWithTheirHistoryAndNothingElseDoes(
        backend: StoreBackend
    ) async throws {
        try await backend.withStore { store, _ in
            let started = Date().addingTimeInterval(-100)
            let timer = NewTrigger(app: "a", task: "T", event: TriggerEvent(kind: .time, triggerId: "t-period-1"))
            try store.enqueue((0..<7).map { _ in trigger() } + [timer])
            let claimed = try store.claim(limit: 20, owner: "host", now: Date()) { _, _ in true }
            #expect(claimed.count == 8)
            let others = claimed.filter { $0.id != timer.id }
            let (dead, running) = (others[0].id, others[1].id)
            try store.enqueue([trigger()])  // stays pending
            var instances: [String: String] = [:]  // by trigger id
            for (index, queued) in claimed.enumerated() {
                let id = RandomToken.uuid()
                instances[queued.id] = id
                try store.insertInstance(
                    InstanceRecord(
                        id: id, app: "a", task: "T", triggerKind: queued.event.kind, triggerId: queued.id, attempt: 1, hostPid: 1,
                        startedAt: started.addingTimeInterval(Double(index))))
                try store.finishInstance(
                    id: id, endedAt: started.addingTimeInterval(Double(index) + 0.5), outcome: .completed, progress: 0, sandbox: "",
                    appendingLog: [LogLine(stream: .task, text: "one"), LogLine(stream: .task, text: "two")])
                switch queued.id {
                case dead: try store.markDead(id: queued.id, instanceId: id, error: "gave up")
                case running: break  // still running
                default: try store.markDone(id: queued.id, instanceId: id)
                }
            }
            let local = RandomToken.uuid()  // taskhost run: its trigger never was in the queue
            try store.insertInstance(
                InstanceRecord(
                    id: local, app: "a", task: "T", triggerKind: .application, triggerId: "local", attempt: 1, hostPid: 1,
                    startedAt: started))
            try store.finishInstance(
                id: local, endedAt: started.addingTimeInterval(1), outcome: .completed, progress: 0, sandbox: "",
                appendingLog: (0..<5).map { LogLine(stream: .stdout, text: "line \($0)") })

            #expect(try store.pruneSettled(before: started.addingTimeInterval(-3600)) == PruneResult(), "nothing settled that long ago")
            let result = try store.pruneSettled(before: Date().addingTimeInterval(60), batchSize: 3)
            #expect(result == PruneResult(triggers: 6, instances: 8), "5 done and 1 dead; their 6, the timer's and the local one")
            #expect(try store.queueCounts() == [.running: 1, .pending: 1, .done: 1], "the running, the pending and the timer's stay")
            #expect(try store.queuedTrigger(idPrefix: timer.id)?.state == .done)
            #expect(try store.instances(task: nil, limit: 100).map(\.id) == [try #require(instances[running])])
            #expect(try store.log(instanceId: local).isEmpty && store.log(instanceId: instances[dead] ?? "").isEmpty)
            #expect(try store.pruneSettled(before: Date().addingTimeInterval(60)) == PruneResult(), "nothing left to prune")
        }
    }

    @Test func retentionsParseAndForeverPrunesNothing() throws {
        #expect(KeepDone(parsing: "forever") == .forever)
        #expect(KeepDone(parsing: "0") == .after(.zero))
        #expect(KeepDone(parsing: "7d") == .after(.seconds(7 * 86_400)))
        #expect(KeepDone(parsing: "36h") == .after(.seconds(36 * 3600)))
        #expect(KeepDone(parsing: "90m") == .after(.seconds(90 * 60)))
        #expect(KeepDone(parsing: "45") == .after(.seconds(45)))
        for bad in ["", "-1d", "7w", "soon", "1e300", "nan", "d"] { #expect(KeepDone(parsing: bad) == nil, "\(bad)") }
        #expect(KeepDone.default == .after(.seconds(7 * 86_400)))
        #expect(KeepDone.forever.cutoff(now: now) == nil)
        #expect(KeepDone(parsing: "0")?.cutoff(now: now) == now)
        #expect(KeepDone.after(.zero).pruneInterval == .seconds(1))
        #expect(KeepDone.default.pruneInterval == .seconds(60))
        #expect(KeepDone.default.description == "7d" && KeepDone.after(.seconds(90)).description == "90s")
    }
}

/// Counts the triggers each committed transaction deleted.
private final class DeletesPerCommit: TransactionObserver, Sendable {
    private let current = Mutex(0)
    let commits = Mutex<[Int]>([])

    func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool {
        if case .delete(let table) = eventKind { return table == "trigger" }
        return false
    }

    func databaseDidChange(with event: DatabaseEvent) { current.withLock { $0 += 1 } }

    func databaseDidCommit(_ db: Database) {
        let count = current.withLock { count in
            defer { count = 0 }
            return count
        }
        if count > 0 { commits.withLock { $0.append(count) } }
    }

    func databaseDidRollback(_ db: Database) { current.withLock { $0 = 0 } }
}
