package import TaskHostCore

/// Push ingest's group commit: concurrent pushes share one multi-row
/// enqueue, and so one transaction and one fsync; each push is acknowledged
/// only once the batch holding it is stored.
///
/// Two ``GroupCommit`` engines, each used as a whole batch (a multi-row
/// insert costs less per push than a savepoint each): a batch that fails
/// fails every push in it, and none of them is acknowledged.
/// - Pushes without a topic go to an engine with the store's
///   ``TriggerQueueStore/ingestLanes`` lanes: one on SQLite (one writer at a
///   time), several on PostgreSQL, whose group commit then has more than one
///   transaction in flight and keeps the server busy while a batch's commit
///   travels back.
/// - Pushes with a Web Push `Topic` go to an engine of one lane: enqueueing
///   one replaces the queued messages of its topic, which two concurrent
///   transactions would not see of each other.
///
/// Batches are committed on the engines' `taskhost-group-commit` threads,
/// never on the cooperative pool the push handlers run on.
package final class IngestCommitter: Sendable {
    private let untopical: GroupCommit<NewTrigger, Void>
    private let topical: GroupCommit<NewTrigger, Void>

    /// A committer enqueueing into `store` batches of at most `maxBatch`
    /// pushes; the size of each stored batch goes to `metrics`, and
    /// `onCommit` runs after each batch (stored or not).
    package init(
        store: any TriggerQueueStore, maxBatch: Int = 512, metrics: HostMetrics = .disabled,
        onCommit: @escaping @Sendable () -> Void = {}
    ) {
        func engine(lanes: Int) -> GroupCommit<NewTrigger, Void> {
            GroupCommit(
                name: "taskhost-group-commit", maxBatch: maxBatch, lanes: lanes,
                application: .wholeBatch { triggers throws(StoreError) in try store.enqueue(triggers) },
                closedError: StoreError("the host is shutting down; the push was not stored", code: .unavailable),
                onBatch: { batch in
                    if batch.failures == 0 { metrics.ingestGroup(size: batch.size) }
                    onCommit()
                })
        }
        untopical = engine(lanes: store.ingestLanes)
        topical = engine(lanes: 1)
    }

    /// How many batches of pushes without a topic may commit at once.
    package var lanes: Int { untopical.lanes }

    /// Adds `trigger` to the queue; returns once it is durably stored.
    package func enqueue(_ trigger: NewTrigger) async throws(StoreError) {
        let engine = trigger.topic == nil ? untopical : topical
        try await engine.commit(trigger).get()
    }

    /// Refuses further pushes (they get an `unavailable` error); what is
    /// queued is still committed.
    package func close() {
        untopical.close()
        topical.close()
    }
}
