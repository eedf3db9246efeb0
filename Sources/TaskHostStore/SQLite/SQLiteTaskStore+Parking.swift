import Foundation
import GRDB

/// Parked triggers: those whose task cannot run on this host now (not
/// loaded, disabled, or its plugin quarantined). They wait in the `parked`
/// state, out of the claim's index, with their last error saying why, until
/// their task is registered again; only their own time to live ends them.
extension SQLiteTaskStore {
    // All served by the index `trigger_by_state` (state, app, task).
    static let parkSQL = """
        UPDATE trigger SET state = 'parked', last_error = ?, updated_at = ? WHERE state IN ('pending', 'retrying') AND app = ?
        """
    static let unparkSQL = "UPDATE trigger SET state = 'pending', updated_at = ? WHERE state = 'parked' AND app = ?"
    static let unparkTaskSQL = "UPDATE trigger SET state = 'pending', updated_at = ? WHERE state = 'parked' AND app = ? AND task = ?"
    /// A trigger the claim read but does not take: its task is not runnable here.
    static let parkClaimSQL = "UPDATE trigger SET state = 'parked', owner = NULL, last_error = ?, updated_at = ? WHERE id = ?"

    package func park(app: String) throws(StoreError) -> Int {
        try transition(
            "park the triggers of \(app)", Self.parkSQL,
            [
                "the plugin of \(app) is quarantined or disabled on this host (taskhost plugins list says why); "
                    + "this trigger runs once the plugin is active again", Date().timeIntervalSince1970, app,
            ])
    }

    package func park(id: String, note: String?) throws(StoreError) {
        try transition(
            "park trigger \(id)",
            """
            UPDATE trigger SET state = 'parked', owner = NULL, attempts = MAX(attempts - 1, 0),
                last_error = COALESCE(?, last_error), updated_at = ? WHERE id = ?
            """,
            [note, Date().timeIntervalSince1970, id])
    }

    package func unpark(app: String) throws(StoreError) -> Int {
        try transition(
            "unpark triggers", Self.unparkSQL, [Date().timeIntervalSince1970, app])
    }

    package func unpark(tasks: [(app: String, task: String)]) throws(StoreError) -> Int {
        // Not fsync'd on its own: lost with the power, the triggers stay
        // parked until the next start, whose dispatcher unparks them again.
        try updatePerTask("unpark the triggers of registered tasks", Self.unparkTaskSQL, tasks)
    }

    /// Runs `sql` (arguments: now, app, task) once per task in one relaxed
    /// transaction (not fsync'd on its own); returns how many rows it changed.
    func updatePerTask(_ what: String, _ sql: String, _ tasks: [(app: String, task: String)]) throws(StoreError) -> Int {
        guard !tasks.isEmpty else { return 0 }
        return try writeRelaxed(what) { db in
            let statement = try db.cachedStatement(sql: sql)
            let now = Date().timeIntervalSince1970
            var count = 0
            for (app, task) in tasks {
                try statement.execute(arguments: [now, app, task])
                count += db.changesCount
            }
            return count
        }
    }
}
