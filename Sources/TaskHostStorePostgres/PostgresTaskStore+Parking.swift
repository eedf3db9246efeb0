import Foundation
import PostgresNIO
import TaskHostCore
package import TaskHostStore

/// Parked triggers: those whose task cannot run now (not loaded, disabled, or
/// its plugin quarantined), out of the claim's way until their task is
/// registered again (as in SQLite's store). Unparking notifies the hosts
/// listening for wake-ups when it made a trigger runnable.
extension PostgresTaskStore {
    /// Parks the app's waiting triggers that no other live host runs: with
    /// several hosts, a plugin quarantined or disabled here leaves alone the
    /// triggers of its tasks that another host (one whose heartbeat is within
    /// a lease, with the task in its registered list) can run, and this host's
    /// claims skip them anyway (they claim only the tasks it registered).
    package func park(app: String) throws(StoreError) -> Int {
        let reason =
            "the plugin of \(app) is quarantined or disabled on this host, and no other live host runs its task "
            + "(taskhost plugins list says why); this trigger runs once a host runs the plugin again"
        let now = Date()
        let liveSince = now.addingTimeInterval(-Self.seconds(leaseDuration))
        return try execute(
            "park the triggers of \(app)",
            """
            UPDATE trigger SET state = 'parked', last_error = \(reason), updated_at = \(now)
            WHERE state IN ('pending', 'retrying') AND app = \(app)
                AND NOT EXISTS (SELECT 1 FROM hosts WHERE id <> \(hostId) AND heartbeat_at > \(liveSince)
                                AND trigger.app || '/' || trigger.task = ANY(hosts.tasks))
            RETURNING 1
            """)
    }

    package func unpark(app: String) throws(StoreError) -> Int {
        try execute(
            "unpark triggers",
            Self.notifying(
                "UPDATE trigger SET state = 'pending', updated_at = \(Date()) WHERE state = 'parked' AND app = \(app) RETURNING 1"))
    }

    package func unpark(tasks: [(app: String, task: String)]) throws(StoreError) -> Int {
        try makePending("unpark the triggers of registered tasks", from: .parked, tasks)
    }

    /// Makes the triggers of `tasks` in `state` pending again, in one statement
    /// for all of them (their apps and names as two arrays); returns how many.
    func makePending(_ what: String, from state: TriggerState, _ tasks: [(app: String, task: String)]) throws(StoreError) -> Int {
        guard !tasks.isEmpty else { return 0 }
        return try execute(
            what,
            Self.notifying(
                """
                UPDATE trigger SET state = 'pending', updated_at = \(Date())
                WHERE state = \(state.rawValue) AND (app, task) IN (SELECT * FROM unnest(\(tasks.map(\.app)), \(tasks.map(\.task)))) RETURNING 1
                """))
    }
}
