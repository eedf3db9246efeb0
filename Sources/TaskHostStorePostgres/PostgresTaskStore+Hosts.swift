package import Foundation
import PostgresNIO
import Synchronization
import TaskHostCore
package import TaskHostStore

/// One host of a cluster, as it last registered itself.
package struct HostRecord: Sendable, Equatable {
    /// Its id (``PostgresTaskStore/hostId``): `claimed_by` on the triggers it claims.
    package var id: String
    /// Its name, for people (`taskhost history` will show it).
    package var name: String
    /// When it last said it was alive.
    package var heartbeatAt: Date
    /// The tasks it has loaded and enabled, as `app/task`.
    package var tasks: [String]

    /// Creates a record.
    package init(id: String, name: String, heartbeatAt: Date, tasks: [String]) {
        self.id = id
        self.name = name
        self.heartbeatAt = heartbeatAt
        self.tasks = tasks
    }
}

/// The host registry (`hosts`): each host's identity, the tasks it runs and a
/// heartbeat; a host's claims take only triggers of the tasks it registered.
extension PostgresTaskStore: SharedQueueStore {
    /// Records this host as alive at `now`, with its name and the tasks
    /// (`app/task`) it runs; from then on this store object claims only
    /// triggers of those tasks.
    package func heartbeat(name: String, tasks: [String], now: Date = Date()) throws(StoreError) {
        restrictClaims(to: tasks)
        try execute(
            "record the heartbeat of host \(hostId)",
            """
            INSERT INTO hosts (id, name, heartbeat_at, tasks) VALUES (\(hostId), \(name), \(now), \(tasks.sorted()))
            ON CONFLICT (id) DO UPDATE SET name = excluded.name, heartbeat_at = excluded.heartbeat_at, tasks = excluded.tasks
            """)
    }

    /// From now on, this store object claims only triggers of `tasks` (`app/task`).
    package func restrictClaims(to tasks: [String]) {
        claimableTasks.withLock { $0 = tasks.sorted() }
    }

    /// Every registered host, by name then id.
    package func hosts() throws(StoreError) -> [HostRecord] {
        let rows = try rows("list hosts", "SELECT id, name, heartbeat_at, tasks FROM hosts ORDER BY name, id")
        return try decoding("list hosts") {
            try rows.map { row in
                let (id, name, heartbeat, tasks) = try row.decode((String, String, Date, [String]).self)
                return HostRecord(id: id, name: name, heartbeatAt: heartbeat, tasks: tasks)
            }
        }
    }
}
