package import Foundation
import GRDB

/// A task of a drop-in plugin that crashed too often (``CrashPolicy``): it
/// is not registered, and its triggers wait in the queue (parked) until
/// `taskhost plugins enable PLUGIN/TASK`. The plugin's other tasks run on.
package struct DisabledTask: Sendable, Equatable {
    /// The plugin folder's name.
    package var plugin: String
    /// The task's name.
    package var task: String
    /// The plugin's app identity (its triggers are queued under it).
    package var app: String
    /// Why it is disabled, and how to enable it again.
    package var reason: String
    /// When it was disabled.
    package var disabledAt: Date

    /// Creates a record.
    package init(plugin: String, task: String, app: String, reason: String, disabledAt: Date) {
        self.plugin = plugin
        self.task = task
        self.app = app
        self.reason = reason
        self.disabledAt = disabledAt
    }

    /// `PLUGIN/TASK`, the name `taskhost plugins enable` takes.
    package var qualifiedName: String { plugin + "/" + task }
}

/// The disabled tasks, persisted so that they stay disabled across a restart
/// and the CLI can list, refuse and enable them while the host runs.
package protocol DisabledTaskStore: Sendable {
    /// Every disabled task, by plugin then task.
    func disabledTasks() throws(StoreError) -> [DisabledTask]
    /// Records `task` as disabled (replacing an earlier record of it).
    func disableTask(_ task: DisabledTask) throws(StoreError)
    /// Enables task `task` of the plugin named (by folder or identity)
    /// `plugin`; returns the record removed, `nil` if it was not disabled.
    func enableTask(plugin: String, task: String) throws(StoreError) -> DisabledTask?
    /// Parks the pending and retrying triggers of one task; returns how many.
    @discardableResult
    func park(app: String, task: String) throws(StoreError) -> Int
}

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
