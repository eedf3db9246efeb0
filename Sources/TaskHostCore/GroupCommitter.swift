import Foundation
import Synchronization
import TaskHostConcurrency

/// Makes concurrent enqueues share transactions: each caller waits until the
/// batch holding its trigger is committed (fsync'd), while the next batch
/// gathers. Durability then costs one commit per batch, not per push.
///
/// Batches are written as one multi-row enqueue on a thread of the
/// committer's own executor (one thread: batches commit in order), so that no
/// fsync and no wait for the write lock blocks Swift's cooperative pool. The
/// store's own ``CommitBatcher`` groups other writes (settlements, settings),
/// each in a savepoint, for callers that are already on an executor thread.
package final class GroupCommitter: Sendable {
    private typealias Waiter = CheckedContinuation<Result<Void, StoreError>, Never>

    private struct State {
        var queue: [(NewTrigger, Waiter)] = []
        /// A drain job is scheduled or running on the executor.
        var draining = false
        var closed = false
    }

    private let store: any TriggerQueueStore
    private let maxBatch: Int
    private let onCommit: @Sendable () -> Void
    private let metrics: HostMetrics
    private let state = Mutex(State())
    private let writer = BlockingExecutor(name: "taskhost-group-commit", maxThreads: 1)

    /// A committer over `store`; `onCommit` runs after each committed batch,
    /// whose size goes to `metrics`.
    package init(
        store: any TriggerQueueStore, maxBatch: Int = 512, metrics: HostMetrics = .disabled, onCommit: @escaping @Sendable () -> Void = {}
    ) {
        self.store = store
        self.metrics = metrics
        self.maxBatch = max(1, maxBatch)
        self.onCommit = onCommit
    }

    /// Adds `trigger` to the queue; returns once it is durably stored.
    package func enqueue(_ trigger: NewTrigger) async throws(StoreError) {
        let result = await withCheckedContinuation { (waiter: Waiter) in
            let startDrain = state.withLock { state -> Bool? in
                if state.closed { return nil }
                state.queue.append((trigger, waiter))
                guard !state.draining else { return false }
                state.draining = true
                return true
            }
            switch startDrain {
            case nil: waiter.resume(returning: .failure(StoreError("the host is shutting down; the push was not stored")))
            case true?: writer.execute { [self] in drain() }
            case false?: break
            }
        }
        try result.get()
    }

    /// Commits what is queued, then refuses further enqueues.
    package func close() {
        state.withLock { $0.closed = true }
    }

    /// Commits batches until the queue is empty.
    private func drain() {
        while true {
            let batch = state.withLock { state -> [(NewTrigger, Waiter)] in
                let batch = Array(state.queue.prefix(maxBatch))
                state.queue.removeFirst(batch.count)
                if batch.isEmpty { state.draining = false }
                return batch
            }
            if batch.isEmpty { return }
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
