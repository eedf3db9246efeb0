package import Foundation
import PostgresNIO
import TaskHostCore
package import TaskHostStore

/// The status page's snapshot, read from PostgreSQL: each part one statement
/// (as in SQLite's store, a glance, not one transaction).
extension PostgresTaskStore: StatusSnapshotStore {
    /// The status page's view of the store, with the `recent` newest instances.
    package func statusSnapshot(recent: Int, now: Date) throws(StoreError) -> StatusSnapshot {
        let counts = try queueCounts()
        let what = "read the status counts"
        let countRows = try rows(
            what,
            """
            SELECT (SELECT COUNT(*) FILTER (WHERE revoked_at IS NULL AND expires_at > \(now)) FROM channel)::bigint,
                   (SELECT COUNT(*) FILTER (WHERE revoked_at IS NOT NULL) FROM channel)::bigint,
                   (SELECT COUNT(*) FILTER (WHERE revoked_at IS NULL AND expires_at <= \(now)) FROM channel)::bigint,
                   (SELECT COUNT(*) FILTER (WHERE revoked_at IS NULL) FROM credential)::bigint,
                   (SELECT COUNT(*) FILTER (WHERE revoked_at IS NOT NULL) FROM credential)::bigint
            """)
        let sandboxRows = try rows(
            "read the last sandbox summary",
            "SELECT id, sandbox FROM instance WHERE sandbox <> '' ORDER BY started_at DESC, seq DESC LIMIT 1")
        let (channels, credentials, lastSandbox) = try decoding(what) {
            let (active, revoked, expired, credentialsActive, credentialsRevoked) =
                try countRows.first?.decode((Int, Int, Int, Int, Int).self) ?? (0, 0, 0, 0, 0)
            let sandbox = try sandboxRows.first?.decode((String, String).self)
            return (
                StatusSnapshot.Counts(active: active, revoked: revoked, expired: expired),
                StatusSnapshot.Counts(active: credentialsActive, revoked: credentialsRevoked),
                sandbox.map { (summary: $0.1, instanceId: $0.0) }
            )
        }
        let instances = try instances(task: nil, limit: max(1, recent))
        let lastLines = try lastLogLines(of: instances.map(\.id))
        return StatusSnapshot(
            takenAt: now, queue: TriggerState.allCases.map { ($0, counts[$0, default: 0]) },
            instances: instances, plugins: try plugins(), disabledTasks: try disabledTasks(),
            channels: channels, credentials: credentials, lastSandbox: lastSandbox, lastLogLines: lastLines)
    }

    /// The last line that is not blank (a crash's empty stderr line) of each
    /// of the instances `ids`, in one statement: the log's primary key
    /// (instance_id, seq) read backwards for each.
    private func lastLogLines(of ids: [String]) throws(StoreError) -> [String: LogLine] {
        guard !ids.isEmpty else { return [:] }
        let what = "read the last log lines"
        let rows = try rows(
            what,
            """
            SELECT DISTINCT ON (instance_id) instance_id, stream, text, at FROM log_line
            WHERE instance_id = ANY(\(ids)) AND btrim(text) <> '' ORDER BY instance_id, seq DESC
            """)
        return try decoding(what) {
            var lines: [String: LogLine] = [:]
            for row in rows {
                let (id, stream, text, at) = try row.decode((String, String, String, Date).self)
                lines[id] = LogLine(stream: LogStream(rawValue: stream) ?? .host, text: text, at: at)
            }
            return lines
        }
    }
}
