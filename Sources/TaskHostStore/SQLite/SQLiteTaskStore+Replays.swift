package import Foundation
import GRDB

/// Replays: a past instance's trigger queued again, with the same payload,
/// channel, headers and arguments, a new trigger id, and a mark that says
/// which instance it repeats. The mark is kept on the new trigger and on
/// the instance that runs it (`taskhost history` shows it).
extension SQLiteTaskStore: ReplayStore {
    /// Queues the trigger that started the instance `idPrefix` names (its
    /// id, or its first characters, 4 at least) again, as a new pending
    /// trigger marked as a replay of that instance; returns the new trigger.
    ///
    /// Only triggers that went through the queue (pushes, `taskhost
    /// trigger`, timers) can be replayed: the queue keeps every trigger's
    /// payload, `taskhost run` keeps none. The new trigger has no time to
    /// live (the original's has usually run out) and starts at attempt 1.
    package func replay(instance idPrefix: String, now: Date) throws(ReplayError) -> QueuedTrigger {
        let instance = try instanceToReplay(idPrefix)
        let newId = NewTrigger.newId(now: now)
        let replayed: QueuedTrigger?
        do {
            replayed = try write("replay the trigger of instance \(instance.id)") { db -> QueuedTrigger? in
                let time = now.timeIntervalSince1970
                try db.execute(
                    sql: """
                        INSERT INTO trigger (id, app, task, kind, payload, channel_id, headers, arguments, state,
                            attempts, created_at, available_at, expires_at, updated_at, replay_of)
                        SELECT ?, app, task, kind, payload, channel_id, headers, arguments, 'pending', 0, ?, ?, NULL, ?, ?
                        FROM trigger WHERE id = ?
                        """,
                    arguments: [newId, time, time, time, instance.id, instance.triggerId])
                guard db.changesCount == 1 else { return nil }  // the original is not in the queue
                return try Row.fetchOne(db, sql: "SELECT * FROM trigger WHERE id = ?", arguments: [newId]).map(Self.trigger(from:))
            }
        } catch {
            throw ReplayError(.store, error.description, underlying: error)
        }
        guard let replayed else { throw .payloadNotKept(instance) }
        return replayed
    }
}
