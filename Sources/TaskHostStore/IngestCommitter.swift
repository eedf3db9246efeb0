package import TaskHostCore

/// Push ingest's group commit: concurrent pushes share one multi-row
/// enqueue, and so one transaction and one fsync; each push is acknowledged
/// only once the batch holding it is stored.
///
/// A ``GroupCommit`` used as a whole batch (a multi-row insert costs less per
/// push than a savepoint each): a batch that fails fails every push in it,
/// and none of them is acknowledged. Batches are committed on the engine's
/// one `taskhost-group-commit` thread, never on the cooperative pool the
/// push handlers run on.
package typealias IngestCommitter = GroupCommit<NewTrigger, Void>

extension GroupCommit where Item == NewTrigger, Output == Void {
    /// A committer enqueueing into `store` batches of at most `maxBatch`
    /// pushes; the size of each stored batch goes to `metrics`, and
    /// `onCommit` runs after each batch (stored or not).
    package convenience init(
        store: any TriggerQueueStore, maxBatch: Int = 512, metrics: HostMetrics = .disabled,
        onCommit: @escaping @Sendable () -> Void = {}
    ) {
        self.init(
            name: "taskhost-group-commit", maxBatch: maxBatch,
            application: .wholeBatch { triggers throws(StoreError) in try store.enqueue(triggers) },
            closedError: StoreError("the host is shutting down; the push was not stored", code: .unavailable),
            onBatch: { batch in
                if batch.failures == 0 { metrics.ingestGroup(size: batch.size) }
                onCommit()
            })
    }

    /// Adds `trigger` to the queue; returns once it is durably stored.
    package func enqueue(_ trigger: NewTrigger) async throws(StoreError) {
        try await commit(trigger).get()
    }
}
