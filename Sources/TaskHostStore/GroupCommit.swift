import Dispatch
import Synchronization
import TaskHostConcurrency

/// The host's one group commit: writes of concurrent callers share a
/// transaction, and so one fsync, and each caller returns once the batch
/// holding its item is durable.
///
/// One queue, one drain loop: callers queue items; whoever finds no drain
/// under way starts one, which applies batches of at most ``maxBatch`` items,
/// in the order they were queued, until the queue is empty. Items that arrive
/// while a batch commits gather for the next one. How a batch is applied is
/// the use's ``Application``: as one (a multi-row insert, all stored or none:
/// push ingest, ``IngestCommitter``) or item by item (a savepoint each, so
/// that a failing write is rolled back alone: the store's durable writes,
/// `DurableWrites`).
///
/// Two entry points, one engine:
/// - ``commitAndWait(_:)`` for callers that are threads of their own (an
///   executor's, never the cooperative pool's): the first such caller to find
///   no drain under way drains inline, on its own thread, with no hop to
///   another; the others block until their batch is durable.
/// - ``commit(_:)`` for async callers: the caller suspends; a drain it starts
///   runs on the engine's ``BlockingExecutor`` (one thread, named after the
///   engine), so neither an fsync nor a wait for the write lock blocks the
///   cooperative pool.
///
/// After ``close()``, items are refused with the engine's closing error; what
/// was queued before is still committed.
package final class GroupCommit<Item, Output>: Sendable {
    /// How a batch is applied, and so whether its items share one result.
    package struct Application: Sendable {
        fileprivate let apply: @Sendable ([Item]) -> Outcome
    }

    /// What applying a batch gave its items.
    fileprivate enum Outcome {
        /// One result per item, in the batch's order.
        case each([Result<Output, StoreError>])
        /// One result for the whole batch.
        case all(Result<Output, StoreError>)
    }

    /// What a caller waits on.
    private enum Waiter {
        /// A thread blocked on the semaphore.
        case thread(DispatchSemaphore)
        /// A suspended task.
        case task(CheckedContinuation<Void, Never>)
    }

    /// One caller's item and, once its batch is applied, its result.
    ///
    /// `@unchecked Sendable`: `item` and `result` are written by the caller
    /// before the slot is queued (under the state's `Mutex`), then only by the
    /// one thread that drains the slot's batch, which takes `item` and sets
    /// `result` before it wakes the waiter; the caller reads `result` only
    /// once woken, and the semaphore or continuation orders the drain's writes
    /// before that read. `waiter` is set before the slot is queued and not
    /// changed after.
    private final class Slot: @unchecked Sendable {
        /// Released as soon as its batch is applied: an item may hold a
        /// caller's closure, which must not outlive the call.
        var item: Item?
        var result: Result<Output, StoreError>?
        var waiter: Waiter?

        init(_ item: Item) { self.item = item }

        func takeItem() -> Item {
            defer { item = nil }
            return item!
        }

        func wake() {
            switch waiter {
            case .thread(let done)?: done.signal()
            case .task(let continuation)?: continuation.resume()
            case nil: preconditionFailure("a queued slot has a waiter")
            }
        }
    }

    private struct State {
        var queue: [Slot] = []
        /// A drain is under way (inline in a caller, or on the executor).
        var draining = false
        var closed = false
    }

    /// What queueing an item led to.
    private enum Admission { case refused, lead, queued }

    /// The most items one batch holds.
    package let maxBatch: Int
    private let application: Application
    private let closedError: StoreError
    private let onBatch: @Sendable (GroupCommitBatch) -> Void
    private let state = Mutex(State())
    private let executor: BlockingExecutor

    /// An engine applying batches of at most `maxBatch` items (at least 1)
    /// with `application`.
    ///
    /// - Parameters:
    ///   - name: The name of the thread async callers' batches are committed
    ///     on (`ps -L`; the kernel keeps 15 bytes).
    ///   - closedError: What an item queued after ``close()`` gets: say what
    ///     was not stored and what to do.
    ///   - onBatch: Runs after each batch is applied, before its callers
    ///     resume, with its size and how many of its items failed.
    package init(
        name: String, maxBatch: Int = .max, application: Application, closedError: StoreError,
        onBatch: @escaping @Sendable (GroupCommitBatch) -> Void = { _ in }
    ) {
        self.maxBatch = max(1, maxBatch)
        self.application = application
        self.closedError = closedError
        self.onBatch = onBatch
        executor = BlockingExecutor(name: name, maxThreads: 1)
    }

    /// Items queued for a batch not yet under way (for tests).
    package var pendingCount: Int { state.withLock { $0.queue.count } }

    /// Queues `item` and blocks the calling thread until the batch holding
    /// it is applied; returns the item's result. The caller drains inline if
    /// no drain is under way. Never call it from the cooperative pool: use
    /// ``commit(_:)`` there.
    package func commitAndWait(_ item: Item) -> Result<Output, StoreError> {
        let done = DispatchSemaphore(value: 0)
        let slot = Slot(item)
        slot.waiter = .thread(done)
        switch admit(slot) {
        case .refused: return .failure(closedError)
        case .lead: drain()
        case .queued: break
        }
        done.wait()
        return slot.result!
    }

    /// Queues `item` and suspends the calling task until the batch holding
    /// it is applied; returns the item's result. The batch is applied on the
    /// engine's own thread, never on the cooperative pool. The wait is not
    /// cancelled with the task: a queued item is committed either way.
    package func commit(_ item: sending Item) async -> Result<Output, StoreError> {
        let slot = Slot(item)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            slot.waiter = .task(continuation)
            switch admit(slot) {
            case .refused:
                slot.result = .failure(closedError)
                continuation.resume()
            case .lead: executor.execute { [self] in drain() }
            case .queued: break
            }
        }
        return slot.result!
    }

    /// Refuses further items (they get the closing error); what is queued
    /// is still committed.
    package func close() {
        state.withLock { $0.closed = true }
    }

    private func admit(_ slot: Slot) -> Admission {
        state.withLock { state in
            if state.closed { return .refused }
            state.queue.append(slot)
            guard !state.draining else { return .queued }
            state.draining = true
            return .lead
        }
    }

    /// Applies batches, oldest items first, until the queue is empty. One
    /// drain runs at a time, so batches commit in the order they were formed.
    private func drain() {
        while true {
            let batch = state.withLock { state -> [Slot] in
                let batch = Array(state.queue.prefix(maxBatch))
                state.queue.removeFirst(batch.count)
                if batch.isEmpty { state.draining = false }
                return batch
            }
            if batch.isEmpty { return }
            var failures = 0
            switch apply(batch) {
            case .each(let results):
                precondition(results.count == batch.count, "an application returns one result per item")
                for (slot, result) in zip(batch, results) {
                    slot.result = result
                    if case .failure = result { failures += 1 }
                }
            case .all(let result):
                for slot in batch { slot.result = result }
                if case .failure = result { failures = batch.count }
            }
            onBatch(GroupCommitBatch(size: batch.count, failures: failures))
            for slot in batch { slot.wake() }
        }
    }

    /// Applies `batch`'s items; they are released when it returns, before
    /// any of their callers is woken.
    private func apply(_ batch: [Slot]) -> Outcome {
        application.apply(batch.map { $0.takeItem() })
    }
}

extension GroupCommit.Application {
    /// The batch applied item by item: `apply` returns one result per item,
    /// in the batch's order (a savepoint each: a failing item is rolled back
    /// alone, and only its caller gets the error).
    package static func eachItem(_ apply: @escaping @Sendable ([Item]) -> [Result<Output, StoreError>]) -> Self {
        Self { items in .each(apply(items)) }
    }
}

extension GroupCommit.Application where Output == Void {
    /// The batch applied as one (a multi-row insert): stored whole, or not at
    /// all, and then every caller of the batch gets the error.
    package static func wholeBatch(_ apply: @escaping @Sendable ([Item]) throws(StoreError) -> Void) -> Self {
        Self { items in
            do throws(StoreError) {
                try apply(items)
                return .all(.success(()))
            } catch {
                return .all(.failure(error))
            }
        }
    }
}

/// A batch a ``GroupCommit`` applied, as its `onBatch` hook hears of it.
package struct GroupCommitBatch: Sendable, Equatable {
    /// How many items the batch held.
    package var size: Int
    /// How many of them failed (all of them when the commit itself failed).
    package var failures: Int

    /// A batch of `size` items of which `failures` failed.
    package init(size: Int, failures: Int) {
        self.size = size
        self.failures = failures
    }
}
