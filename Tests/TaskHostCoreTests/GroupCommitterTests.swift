import Foundation
import GRDB
import Synchronization
@testable import TaskHostCore
import TaskHostTestSupport
import Testing

/// Push ingest's group commit: concurrent enqueues share transactions, and
/// each returns only once its own trigger is stored.
@Suite(.timeLimit(.minutes(1))) struct GroupCommitterTests {
    static func trigger() -> NewTrigger {
        NewTrigger(
            app: "a", task: "T",
            event: TriggerEvent(kind: .pushNotification, triggerId: NewTrigger.newId(), payload: Array("p".utf8), channelId: "c"))
    }

    @Test func everyEnqueueIsStoredWhenItReturns() async throws {
        let store = try TestSupport.store()
        let commits = Mutex(0)
        let committer = GroupCommitter(store: store, maxBatch: 16) { commits.withLock { $0 += 1 } }
        let missing = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<100 {
                group.addTask {
                    let trigger = Self.trigger()
                    try await committer.enqueue(trigger)
                    return try store.queuedTrigger(idPrefix: trigger.id) == nil
                }
            }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(missing == 0)
        #expect(try store.queueCounts() == [.pending: 100])
        committer.close()
    }

    @Test func anEnqueueAfterCloseIsRefusedAndNothingIsStored() async throws {
        let store = try TestSupport.store()
        let committer = GroupCommitter(store: store)
        try await committer.enqueue(Self.trigger())
        committer.close()
        await #expect(throws: StoreError.self) { try await committer.enqueue(Self.trigger()) }
        #expect(try store.queueCounts() == [.pending: 1])
    }

    @Test func aFailedCommitFailsItsCallers() async throws {
        let directory = TestSupport.temporaryDirectory()
        let store = try SQLiteTaskStore(path: directory + "/store.sqlite")
        let committer = GroupCommitter(store: store)
        // The queue's table is gone: the batch's transaction fails, and its
        // caller hears so instead of a 201 for a push that was not stored.
        try await store.pool.write { db in try db.execute(sql: "ALTER TABLE trigger RENAME TO trigger_gone") }
        await #expect(throws: StoreError.self) { try await committer.enqueue(Self.trigger()) }
        committer.close()
    }
}
