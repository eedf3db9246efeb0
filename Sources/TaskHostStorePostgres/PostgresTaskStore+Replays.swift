package import Foundation
import PostgresNIO
import TaskHostCore
package import TaskHostStore

/// Replays: a past instance's trigger queued again, with the same payload,
/// channel, headers and arguments, a new trigger id, and a mark that says
/// which instance it repeats (as in SQLite's store).
extension PostgresTaskStore: ReplayStore {
    /// Queues the trigger that started the instance `idPrefix` names (its id,
    /// or its first characters, 4 at least) again, as a new pending trigger
    /// marked as a replay of that instance, in one statement (which notifies
    /// the hosts listening for wake-ups); returns it.
    package func replay(instance idPrefix: String, now: Date) throws(ReplayError) -> QueuedTrigger {
        let instance = try instanceToReplay(idPrefix)
        let newId = NewTrigger.newId(now: now)
        let replayed: QueuedTrigger?
        do {
            let what = "replay the trigger of instance \(instance.id)"
            let rows = try rows(
                what,
                Self.notifying(
                    """
                    INSERT INTO trigger (id, app, task, kind, payload, channel_id, headers, arguments, state,
                        attempts, created_at, available_at, expires_at, updated_at, replay_of)
                    SELECT \(newId), app, task, kind, payload, channel_id, headers, arguments, 'pending', 0, \(now), \(now), NULL,
                        \(now), \(instance.id)
                    FROM trigger WHERE id = \(instance.triggerId)
                    RETURNING \(unescaped: Self.triggerColumns)
                    """))
            replayed = try decoding(what) { try rows.first.map(Self.trigger(from:)) }
        } catch {
            throw ReplayError(.store, error.description, underlying: error)
        }
        guard let replayed else { throw .payloadNotKept(instance) }
        return replayed
    }
}
