import Foundation
import PostgresNIO
import TaskHostCore
package import TaskHostStore

/// Parked triggers: those whose task cannot run now (not loaded, disabled, or
/// its plugin quarantined), out of the claim's way until their task is
/// registered again (as in SQLite's store). Unparking notifies the hosts
/// listening for wake-ups when it made a trigger runnable.
extension PostgresTaskStore {
    package func park(app: String) throws(StoreError) -> Int {
        let reason =
            "the plugin of \(app) is quarantined or disabled on this host (taskhost plugins list says why); "
            + "this trigger runs once the plugin is active again"
        return try execute(
            "park the triggers of \(app)",
            """
            UPDATE trigger SET state = 'parked', last_error = \(reason), updated_at = \(Date())
            WHERE state IN ('pending', 'retrying') AND app = \(app) RETURNING 1
            """)
    }

    package func unpark(app: String) throws(StoreError) -> Int {
        try execute(
            "unpark triggers",
            Self.notifying(
                "UPDATE trigger SET state = 'pending', updated_at = \(Date()) WHERE state = 'parked' AND app = \(app) RETURNING 1"))
    }

    /// One statement for all of `tasks` (their apps and names as two arrays).
    package func unpark(tasks: [(app: String, task: String)]) throws(StoreError) -> Int {
        guard !tasks.isEmpty else { return 0 }
        return try execute(
            "unpark the triggers of registered tasks",
            Self.notifying(
                """
                UPDATE trigger SET state = 'pending', updated_at = \(Date())
                WHERE state = 'parked' AND (app, task) IN (SELECT * FROM unnest(\(tasks.map(\.app)), \(tasks.map(\.task)))) RETURNING 1
                """))
    }
}
