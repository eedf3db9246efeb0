import Foundation

/// Makes concurrent enqueues share transactions: each caller waits until the
/// batch holding its trigger is committed (fsync'd), while the next batch
/// gathers. Durability then costs one commit per batch, not per push.
public final class GroupCommitter: @unchecked Sendable {
    private typealias Waiter = CheckedContinuation<Result<Void, StoreError>, Never>
    private let store: any TriggerQueueStore
    private let maxBatch: Int
    private let onCommit: @Sendable () -> Void
    private let metrics: HostMetrics
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var queue: [(NewTrigger, Waiter)] = []
    private var closed = false
    private var started = false

    /// A committer over `store`; `onCommit` runs after each committed batch,
    /// whose size goes to `metrics`.
    public init(
        store: any TriggerQueueStore, maxBatch: Int = 512, metrics: HostMetrics = .disabled, onCommit: @escaping @Sendable () -> Void = {}
    ) {
        self.store = store
        self.metrics = metrics
        self.maxBatch = maxBatch
        self.onCommit = onCommit
    }

    /// Adds `trigger` to the queue; returns once it is durably stored.
    public func enqueue(_ trigger: NewTrigger) async throws(StoreError) {
        let result = await withCheckedContinuation { (waiter: Waiter) in
            condition.lock()
            if closed {
                condition.unlock()
                waiter.resume(returning: .failure(StoreError("the host is shutting down; the push was not stored")))
                return
            }
            queue.append((trigger, waiter))
            if !started {
                started = true
                let thread = Thread { [self] in writerLoop() }
                thread.name = "taskhost-group-commit"
                thread.start()
            }
            condition.signal()
            condition.unlock()
        }
        try result.get()
    }

    /// Commits what is queued, then refuses further enqueues.
    public func close() {
        condition.lock()
        closed = true
        condition.signal()
        condition.unlock()
    }

    private func writerLoop() {
        while true {
            condition.lock()
            while queue.isEmpty && !closed { condition.wait() }
            if queue.isEmpty && closed {
                condition.unlock()
                return
            }
            let batch = Array(queue.prefix(maxBatch))
            queue.removeFirst(batch.count)
            condition.unlock()

            let result: Result<Void, StoreError>
            do {
                try store.enqueue(batch.map(\.0))
                result = .success(())
                metrics.ingestGroup(size: batch.count)
            } catch {
                result = .failure(error)
            }
            for (_, waiter) in batch { waiter.resume(returning: result) }
            onCommit()
        }
    }
}
