import Foundation
import PostgresNIO
import TaskHostCore
package import TaskHostStore

/// Plugin states and disabled tasks.
extension PostgresTaskStore: PluginStateStore, DisabledTaskStore {
    private static let pluginColumns = "name, identity, version, state, reason, fingerprint, staged_path, tasks, updated_at"

    private static func plugin(from row: PostgresRow) throws -> PluginRecord {
        let (name, identity, version, state, reason, fingerprint, staged, tasks, updated) = try row.decode(
            (String, String, String?, String, String?, String, String, String, Date).self)
        return PluginRecord(
            name: name, identity: identity, version: version, state: PluginState(rawValue: state) ?? .pending, reason: reason,
            fingerprint: fingerprint, stagedPath: staged, tasks: tasks.split(separator: "\n").map(String.init), updatedAt: updated)
    }

    package func plugins() throws(StoreError) -> [PluginRecord] {
        let rows = try rows("list plugins", "SELECT \(unescaped: Self.pluginColumns) FROM plugin ORDER BY name")
        return try decoding("list plugins") { try rows.map(Self.plugin(from:)) }
    }

    package func savePlugin(_ record: PluginRecord) throws(StoreError) {
        try execute(
            "record plugin \(record.name)",
            """
            INSERT INTO plugin (\(unescaped: Self.pluginColumns))
            VALUES (\(record.name), \(record.identity), \(record.version), \(record.state.rawValue), \(record.reason),
                    \(record.fingerprint), \(record.stagedPath), \(record.tasks.joined(separator: "\n")), \(record.updatedAt))
            ON CONFLICT (name) DO UPDATE SET identity = excluded.identity, version = excluded.version, state = excluded.state,
                reason = excluded.reason, fingerprint = excluded.fingerprint, staged_path = excluded.staged_path,
                tasks = excluded.tasks, updated_at = excluded.updated_at
            """)
    }

    package func deletePlugin(name: String) throws(StoreError) {
        try transaction("forget plugin \(name)") { connection, logger in
            try await connection.query("DELETE FROM plugin WHERE name = \(name)", logger: logger)
            try await connection.query("DELETE FROM disabled_task WHERE plugin = \(name)", logger: logger)
        }
    }

    package func enablePlugin(name: String) throws(StoreError) -> PluginRecord? {
        let now = Date()
        return try transaction("enable plugin \(name)") { connection, logger -> PluginRecord? in
            let rows = try await connection.query(
                "SELECT \(unescaped: Self.pluginColumns) FROM plugin WHERE name = \(name) OR identity = \(name) LIMIT 1 FOR UPDATE",
                logger: logger
            ).collect()
            guard let row = rows.first else { return nil }
            let record = try Self.plugin(from: row)
            try await connection.query("DELETE FROM disabled_task WHERE plugin = \(record.name)", logger: logger)
            if record.state != .active {
                try await connection.query(
                    "UPDATE plugin SET state = 'pending', reason = NULL, updated_at = \(now) WHERE name = \(record.name)", logger: logger)
            }
            return record
        }
    }

    private static func disabledTask(from row: PostgresRow) throws -> DisabledTask {
        let (plugin, task, app, reason, at) = try row.decode((String, String, String, String, Date).self)
        return DisabledTask(plugin: plugin, task: task, app: app, reason: reason, disabledAt: at)
    }

    package func disabledTasks() throws(StoreError) -> [DisabledTask] {
        let rows = try rows(
            "list disabled tasks", "SELECT plugin, task, app, reason, disabled_at FROM disabled_task ORDER BY plugin, task")
        return try decoding("list disabled tasks") { try rows.map(Self.disabledTask(from:)) }
    }

    package func disableTask(_ task: DisabledTask) throws(StoreError) {
        try execute(
            "disable task \(task.qualifiedName)",
            """
            INSERT INTO disabled_task (plugin, task, app, reason, disabled_at)
            VALUES (\(task.plugin), \(task.task), \(task.app), \(task.reason), \(task.disabledAt))
            ON CONFLICT (plugin, task) DO UPDATE SET app = excluded.app, reason = excluded.reason, disabled_at = excluded.disabled_at
            """)
    }

    package func enableTask(plugin: String, task: String) throws(StoreError) -> DisabledTask? {
        let rows = try rows(
            "enable task \(plugin)/\(task)",
            """
            DELETE FROM disabled_task WHERE ctid = (
                SELECT ctid FROM disabled_task WHERE (plugin = \(plugin) OR app = \(plugin)) AND task = \(task) LIMIT 1 FOR UPDATE)
            RETURNING plugin, task, app, reason, disabled_at
            """)
        return try decoding("enable task \(plugin)/\(task)") { try rows.first.map(Self.disabledTask(from:)) }
    }

    /// Parks the task's waiting triggers unless another live host runs the
    /// task (as ``park(app:)``).
    package func park(app: String, task: String) throws(StoreError) -> Int {
        let reason =
            "task \"\(task)\" of \(app) is disabled on this host for crashing, and no other live host runs it "
            + "(taskhost plugins list says why); this trigger runs once `taskhost plugins enable` enables it"
        let now = Date()
        let liveSince = now.addingTimeInterval(-Self.seconds(leaseDuration))
        return try execute(
            "park the triggers of \(app)/\(task)",
            """
            UPDATE trigger SET state = 'parked', last_error = \(reason), updated_at = \(now)
            WHERE state IN ('pending', 'retrying') AND app = \(app) AND task = \(task)
                AND NOT EXISTS (SELECT 1 FROM hosts WHERE id <> \(hostId) AND heartbeat_at > \(liveSince)
                                AND \(app) || '/' || \(task) = ANY(hosts.tasks))
            RETURNING 1
            """)
    }
}
