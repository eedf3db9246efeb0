import Foundation
import GRDB

/// Waiting triggers: those whose task's conditions (`"Conditions"`) did not
/// hold when the claim read them. They wait in the `waiting` state, out of
/// the claim's index, with their last error naming the conditions, until the
/// dispatcher sees them hold and resumes them; only their own time to live
/// ends them otherwise.
extension SQLiteTaskStore {
    /// A trigger the claim read but does not take: its task's conditions do not hold.
    static let waitClaimSQL = "UPDATE trigger SET state = 'waiting', owner = NULL, last_error = ?, updated_at = ? WHERE id = ?"
    /// Served by the index `trigger_by_state` (state, app, task).
    static let resumeTaskSQL = "UPDATE trigger SET state = 'pending', updated_at = ? WHERE state = 'waiting' AND app = ? AND task = ?"

    package func resumeWaiting(tasks: [(app: String, task: String)]) throws(StoreError) -> Int {
        // Not fsync'd on its own: lost with the power, the triggers stay
        // waiting until the next start, whose dispatcher resumes them again.
        try updatePerTask("resume the waiting triggers of tasks whose conditions hold", Self.resumeTaskSQL, tasks)
    }
}
