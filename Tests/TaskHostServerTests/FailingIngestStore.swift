import Foundation
import TaskHostCore
import TaskHostStore

/// A queue whose enqueue fails with ``failure`` (a store that is busy, full,
/// damaged, …) and that passes every other call to ``base``: what the push
/// endpoint sees when the store cannot commit a push.
final class FailingIngestStore: TriggerQueueStore {
    let base: any TriggerQueueStore
    let failure: StoreError

    init(base: any TriggerQueueStore, failure: StoreError) {
        self.base = base
        self.failure = failure
    }

    func enqueue(_ triggers: [NewTrigger]) throws(StoreError) { throw failure }

    func claim(limit: Int, owner: String, now: Date, decide: (String, String) -> ClaimDecision) throws(StoreError) -> [QueuedTrigger] {
        try base.claim(limit: limit, owner: owner, now: now, decide: decide)
    }
    func park(app: String) throws(StoreError) -> Int { try base.park(app: app) }
    func park(id: String, note: String?) throws(StoreError) { try base.park(id: id, note: note) }
    func unpark(app: String) throws(StoreError) -> Int { try base.unpark(app: app) }
    func unpark(tasks: [(app: String, task: String)]) throws(StoreError) -> Int { try base.unpark(tasks: tasks) }
    func resumeWaiting(tasks: [(app: String, task: String)]) throws(StoreError) -> Int { try base.resumeWaiting(tasks: tasks) }
    func markDone(id: String, instanceId: String) throws(StoreError) { try base.markDone(id: id, instanceId: instanceId) }
    func markRetrying(id: String, instanceId: String?, error: String, availableAt: Date) throws(StoreError) {
        try base.markRetrying(id: id, instanceId: instanceId, error: error, availableAt: availableAt)
    }
    func markDead(id: String, instanceId: String?, error: String) throws(StoreError) {
        try base.markDead(id: id, instanceId: instanceId, error: error)
    }
    func release(id: String, instanceId: String?, note: String) throws(StoreError) {
        try base.release(id: id, instanceId: instanceId, note: note)
    }
    func recoverAbandoned(owner: String, now: Date) throws(StoreError) -> Int { try base.recoverAbandoned(owner: owner, now: now) }
    func queueCounts() throws(StoreError) -> [TriggerState: Int] { try base.queueCounts() }
    func queuedTriggers(states: [TriggerState], limit: Int) throws(StoreError) -> [QueuedTrigger] {
        try base.queuedTriggers(states: states, limit: limit)
    }
    func queuedTrigger(idPrefix: String) throws(StoreError) -> QueuedTrigger? { try base.queuedTrigger(idPrefix: idPrefix) }
    func requeue(id: String) throws(StoreError) -> Bool { try base.requeue(id: id) }
    func backlog(app: String, task: String) throws(StoreError) -> Int { try base.backlog(app: app, task: task) }
}
