import Foundation
import GRDB

/// Plugin records in SQLite (table `plugin`).
extension SQLiteTaskStore: PluginStateStore {
    private static func plugin(from row: Row) -> PluginRecord {
        let tasks: String = row["tasks"]
        return PluginRecord(
            name: row["name"], identity: row["identity"], version: row["version"],
            state: PluginState(rawValue: row["state"]) ?? .pending, reason: row["reason"], fingerprint: row["fingerprint"],
            stagedPath: row["staged_path"], tasks: tasks.split(separator: "\n").map(String.init),
            updatedAt: Date(timeIntervalSince1970: row["updated_at"]))
    }

    package func plugins() throws(StoreError) -> [PluginRecord] {
        try read("list plugins") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM plugin ORDER BY name").map(Self.plugin(from:))
        }
    }

    package func savePlugin(_ record: PluginRecord) throws(StoreError) {
        try write("record plugin \(record.name)") { db in
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO plugin (name, identity, version, state, reason, fingerprint, staged_path, tasks, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    record.name, record.identity, record.version, record.state.rawValue, record.reason, record.fingerprint,
                    record.stagedPath, record.tasks.joined(separator: "\n"), record.updatedAt.timeIntervalSince1970,
                ])
        }
    }

    package func deletePlugin(name: String) throws(StoreError) {
        try write("forget plugin \(name)") { db in
            try db.execute(sql: "DELETE FROM plugin WHERE name = ?", arguments: [name])
            try db.execute(sql: "DELETE FROM disabled_task WHERE plugin = ?", arguments: [name])
        }
    }

    package func enablePlugin(name: String) throws(StoreError) -> PluginRecord? {
        try write("enable plugin \(name)") { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM plugin WHERE name = ? OR identity = ?", arguments: [name, name])
            else { return nil }
            let record = Self.plugin(from: row)
            try db.execute(sql: "DELETE FROM disabled_task WHERE plugin = ?", arguments: [record.name])
            if record.state != .active {
                try db.execute(
                    sql: "UPDATE plugin SET state = 'pending', reason = NULL, updated_at = ? WHERE name = ?",
                    arguments: [Date().timeIntervalSince1970, record.name])
            }
            return record
        }
    }
}
