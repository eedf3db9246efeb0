package import Foundation
import GRDB

/// The status page's snapshot, read from SQLite: each part one read of the pool.
extension SQLiteTaskStore: StatusSnapshotStore {
    /// The status page's view of the store, with the `recent` newest instances.
    package func statusSnapshot(recent: Int, now: Date) throws(StoreError) -> StatusSnapshot {
        let counts = try queueCounts()
        let (channels, credentials, lastSandbox) = try read("read the status counts") { db in
            let channel = try Row.fetchOne(
                db,
                sql: """
                    SELECT COALESCE(SUM(revoked_at IS NULL AND expires_at > ?), 0) AS active,
                           COALESCE(SUM(revoked_at IS NOT NULL), 0) AS revoked,
                           COALESCE(SUM(revoked_at IS NULL AND expires_at <= ?), 0) AS expired
                    FROM channel
                    """,
                arguments: [now.timeIntervalSince1970, now.timeIntervalSince1970])
            let credential = try Row.fetchOne(
                db,
                sql: """
                    SELECT COALESCE(SUM(revoked_at IS NULL), 0) AS active, COALESCE(SUM(revoked_at IS NOT NULL), 0) AS revoked
                    FROM credential
                    """)
            let sandbox = try Row.fetchOne(
                db,
                sql: "SELECT id, sandbox FROM instance WHERE sandbox != '' ORDER BY started_at DESC, rowid DESC LIMIT 1")
            return (
                StatusSnapshot.Counts(
                    active: channel?["active"] ?? 0, revoked: channel?["revoked"] ?? 0, expired: channel?["expired"] ?? 0),
                StatusSnapshot.Counts(active: credential?["active"] ?? 0, revoked: credential?["revoked"] ?? 0),
                sandbox.map { (summary: $0["sandbox"] as String, instanceId: $0["id"] as String) }
            )
        }
        let instances = try instances(task: nil, limit: max(1, recent))
        let lastLines = try read("read the last log lines") { db in
            // The log's primary key is (instance_id, seq): read backwards from one
            // index probe per instance, past blank lines (a crash's empty stderr line).
            let statement = try db.cachedStatement(
                sql: "SELECT stream, text, at FROM log_line WHERE instance_id = ? AND trim(text) != '' ORDER BY seq DESC LIMIT 1")
            var lines: [String: LogLine] = [:]
            for instance in instances {
                guard let row = try Row.fetchOne(statement, arguments: [instance.id]) else { continue }
                lines[instance.id] = LogLine(
                    stream: LogStream(rawValue: row["stream"]) ?? .host, text: row["text"], at: Date(timeIntervalSince1970: row["at"]))
            }
            return lines
        }
        return StatusSnapshot(
            takenAt: now, queue: TriggerState.allCases.map { ($0, counts[$0, default: 0]) },
            instances: instances, plugins: try plugins(), disabledTasks: try disabledTasks(),
            channels: channels, credentials: credentials, lastSandbox: lastSandbox, lastLogLines: lastLines)
    }
}
