import Foundation
import GRDB

/// Disabled tasks in SQLite (table `disabled_task`); parking a task's triggers.
extension SQLiteTaskStore: DisabledTaskStore {
    private static func disabledTask(from row: Row) -> DisabledTask {
        DisabledTask(
            plugin: row["plugin"], task: row["task"], app: row["app"], reason: row["reason"],
            disabledAt: Date(timeIntervalSince1970: row["disabled_at"]))
    }

    package func disabledTasks() throws(StoreError) -> [DisabledTask] {
        try read("list disabled tasks") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM disabled_task ORDER BY plugin, task").map(Self.disabledTask(from:))
        }
    }

    package func disableTask(_ task: DisabledTask) throws(StoreError) {
        try write("disable task \(task.qualifiedName)") { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO disabled_task (plugin, task, app, reason, disabled_at) VALUES (?, ?, ?, ?, ?)",
                arguments: [task.plugin, task.task, task.app, task.reason, task.disabledAt.timeIntervalSince1970])
        }
    }

    package func enableTask(plugin: String, task: String) throws(StoreError) -> DisabledTask? {
        try write("enable task \(plugin)/\(task)") { db in
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT * FROM disabled_task WHERE (plugin = ? OR app = ?) AND task = ?", arguments: [plugin, plugin, task])
            else { return nil }
            let record = Self.disabledTask(from: row)
            try db.execute(sql: "DELETE FROM disabled_task WHERE plugin = ? AND task = ?", arguments: [record.plugin, record.task])
            return record
        }
    }

    /// Served by the index `trigger_by_state` (state, app, task).
    static let parkTaskSQL = """
        UPDATE trigger SET state = 'parked', last_error = ?, updated_at = ? WHERE state IN ('pending', 'retrying') AND app = ? AND task = ?
        """

    package func park(app: String, task: String) throws(StoreError) -> Int {
        try write("park the triggers of \(app)/\(task)") { db in
            let reason =
                "task \"\(task)\" of \(app) is disabled on this host for crashing (taskhost plugins list says why); "
                + "this trigger runs once `taskhost plugins enable` enables it"
            try db.execute(sql: Self.parkTaskSQL, arguments: [reason, Date().timeIntervalSince1970, app, task])
            return db.changesCount
        }
    }
}
