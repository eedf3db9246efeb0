package import Foundation
import GRDB

/// What the status page shows of the store at one moment: the queue by state,
/// the most recent instances, the plugins and disabled tasks, how many
/// channels and credentials there are (never a secret, a hash or a token), and
/// the sandbox layers the most recent instance reported.
///
/// Each part is one read of the store's read pool (WAL readers never wait for
/// the writer, so a page load does not slow ingest); the parts are not one
/// transaction: a glance, not an audit.
package struct StatusSnapshot: Sendable {
    /// How many channels or credentials are in each state.
    package struct Counts: Sendable, Equatable {
        /// Usable: not revoked (and, for channels, not expired).
        package var active: Int
        /// Revoked.
        package var revoked: Int
        /// Expired and not revoked (channels only; always 0 for credentials).
        package var expired: Int

        /// Creates counts.
        package init(active: Int, revoked: Int, expired: Int = 0) {
            self.active = active
            self.revoked = revoked
            self.expired = expired
        }
    }

    /// When it was read.
    package var takenAt: Date
    /// Triggers by queue state (every state, 0 when none).
    package var queue: [(state: TriggerState, count: Int)]
    /// The most recent instances, newest first.
    package var instances: [InstanceRecord]
    /// The last line of each of ``instances``' logs, by instance id (none: no line yet).
    package var lastLogLines: [String: LogLine]
    /// The plugins of the drop-in directory, by name.
    package var plugins: [PluginRecord]
    /// The tasks disabled after too many crashes, by plugin then task.
    package var disabledTasks: [DisabledTask]
    /// Push channels.
    package var channels: Counts
    /// Credentials of app servers.
    package var credentials: Counts
    /// The sandbox summary (``InstanceRecord/sandbox``) of the most recent
    /// instance that reported one, and that instance's id; `nil` before any.
    package var lastSandbox: (summary: String, instanceId: String)?

    /// Creates a snapshot (tests build them by hand).
    package init(
        takenAt: Date, queue: [(state: TriggerState, count: Int)], instances: [InstanceRecord], plugins: [PluginRecord],
        disabledTasks: [DisabledTask], channels: Counts, credentials: Counts, lastSandbox: (summary: String, instanceId: String)?,
        lastLogLines: [String: LogLine] = [:]
    ) {
        self.takenAt = takenAt
        self.queue = queue
        self.instances = instances
        self.lastLogLines = lastLogLines
        self.plugins = plugins
        self.disabledTasks = disabledTasks
        self.channels = channels
        self.credentials = credentials
        self.lastSandbox = lastSandbox
    }
}

extension SQLiteTaskStore {
    /// The status page's view of the store, with the `recent` newest instances.
    package func statusSnapshot(recent: Int, now: Date = Date()) throws(StoreError) -> StatusSnapshot {
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
