import Foundation
import PostgresNIO
package import TaskHostStore

/// Waiting triggers: those whose task's conditions did not hold when a claim
/// read them, out of the claim's way until a host sees the conditions hold
/// (as in SQLite's store). Resuming notifies the hosts listening for
/// wake-ups when it made a trigger runnable.
extension PostgresTaskStore {
    /// The claim's update of a trigger it makes wait (inside its transaction).
    static func waitClaim(id: String, reason: String, now: Date) -> PostgresQuery {
        """
        UPDATE trigger SET state = 'waiting', claimed_by = NULL, lease_expires_at = NULL, fence = NULL, last_error = \(reason),
            updated_at = \(now) WHERE id = \(id)
        """
    }

    package func resumeWaiting(tasks: [(app: String, task: String)]) throws(StoreError) -> Int {
        try makePending("resume the waiting triggers of tasks whose conditions hold", from: .waiting, tasks)
    }
}
