/// A readiness check of the store, for `/readyz`: returns if the store
/// answers and could take a write now, throws what keeps it from it
/// otherwise (``StoreError/code`` says which kind). Blocks its thread.
package typealias StoreReadinessCheck = @Sendable () throws(StoreError) -> Void

/// Everything the host keeps durably, as one store: history and settings
/// (``TaskStore``), the trigger queue (``TriggerQueueStore``), push channels
/// and credentials (``ChannelStore``), Web Push subscriptions
/// (``WebPushStore``), the plugins' and disabled tasks' states
/// (``PluginStateStore``, ``DisabledTaskStore``), replays
/// (``ReplayStore``), the status page's reads (``StatusSnapshotStore``) and
/// foreground listeners' claims (``ListenerClaimStore``).
/// Code outside the store holds an `any HostStore` (or the narrower
/// protocols it needs), opened from a `StoreLocation` (TaskHostStoreBackends,
/// the one module that names both backends).
///
/// Every method is synchronous and may block its thread: SQLite waits for
/// an fsync, or for another process's write lock up to its busy timeout.
/// Async code never calls the store from Swift's cooperative pool: the
/// dispatcher, the group committer and the operator routes run store calls
/// on a `BlockingExecutor` (see the README's "Where things run").
package protocol HostStore: TaskStore, TriggerQueueStore, ChannelStore, WebPushStore, PluginStateStore, DisabledTaskStore,
    ReplayStore, StatusSnapshotStore, QueuePruningStore, ListenerClaimStore
{
    /// Where the store is, as a person reads it (SQLite: the database
    /// file's path), for the host's log and `taskhost doctor`.
    var location: String { get }

    /// How many triggers this store object has moved to `expired` so far
    /// (claims expire them), for metrics.
    var expiredCount: Int { get }

    /// How durable a commit is, as a person reads it (SQLite: `journal wal,
    /// synchronous FULL`), for `taskhost doctor`; a database server adds how the
    /// connection to it is protected (PostgreSQL: `; TLS TLSv1.3, certificate and host name verified`).
    func durabilityDescription() throws(StoreError) -> String

    /// A readiness check of this store (``StoreReadinessCheck``) that waits at
    /// most `timeout` for the store to take a write.
    func readinessCheck(timeout: Duration) -> StoreReadinessCheck
}

extension HostStore {
    /// A readiness check that waits at most one second.
    package func readinessCheck() -> StoreReadinessCheck { readinessCheck(timeout: .seconds(1)) }
}
