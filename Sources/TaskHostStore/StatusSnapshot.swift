package import Foundation

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

/// The status page's reads of the store.
package protocol StatusSnapshotStore: Sendable {
    /// The status page's view of the store, with the `recent` newest instances, as of `now`.
    func statusSnapshot(recent: Int, now: Date) throws(StoreError) -> StatusSnapshot
}

extension StatusSnapshotStore {
    /// The status page's view of the store now, with the `recent` newest instances.
    package func statusSnapshot(recent: Int) throws(StoreError) -> StatusSnapshot {
        try statusSnapshot(recent: recent, now: Date())
    }
}
