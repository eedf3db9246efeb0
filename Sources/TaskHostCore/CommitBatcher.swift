import Foundation
import GRDB
import Synchronization

/// Commits the durable writes of concurrent callers together (inside the
/// store; ``GroupCommitter`` batches push ingest into multi-row enqueues).
///
/// A caller queues its write; if no commit is under way it becomes the
/// leader and commits everything queued, each write in a savepoint of its
/// own (a write that throws is rolled back alone and its caller gets the
/// error), in one transaction and so one fsync. Writes queued meanwhile wait
/// for the leader's next round. Every caller returns once its write is
/// durable, as with a plain transaction.
final class CommitBatcher: Sendable {
    /// `@unchecked Sendable`: `write` and `result` are touched by the leader
    /// only, between the caller queueing the slot (under the queue's `Mutex`)
    /// and `done.signal()`; the caller reads `result` only after `done.wait()`,
    /// and the semaphore orders the leader's writes before that read.
    private final class Slot: @unchecked Sendable {
        /// Released as soon as it ran: the caller's closure must not outlive its call.
        var write: ((Database) throws -> Any)?
        let done = DispatchSemaphore(value: 0)
        var result: Result<Any, any Error>?

        init(_ write: @escaping (Database) throws -> Any) { self.write = write }
    }

    private struct Queue {
        var pending: [Slot] = []
        var committing = false
    }

    private let pool: DatabasePool
    private let queue = Mutex(Queue())

    init(pool: DatabasePool) { self.pool = pool }

    /// Writes waiting for the next round (for tests).
    var pendingCount: Int { queue.withLock { $0.pending.count } }

    /// Runs `write` in a durable transaction, possibly shared with others.
    func commit(_ write: (Database) throws -> Any) -> Result<Any, any Error> {
        withoutActuallyEscaping(write) { write in
            let slot = Slot(write)
            enqueue(slot)
            slot.done.wait()
            return slot.result!
        }
    }

    private func enqueue(_ slot: Slot) {
        let leads = queue.withLock { queue -> Bool in
            queue.pending.append(slot)
            guard !queue.committing else { return false }
            queue.committing = true
            return true
        }
        if leads { lead() }
    }

    /// Commits rounds of queued writes until none is left.
    private func lead() {
        while true {
            let round = queue.withLock { queue -> [Slot] in
                defer { queue.pending = [] }
                if queue.pending.isEmpty { queue.committing = false }
                return queue.pending
            }
            if round.isEmpty { return }
            do {
                try pool.write { db in
                    if round.count == 1, let slot = round.first {
                        // Alone in its transaction: no savepoint needed (nor its two statements).
                        defer { slot.write = nil }
                        slot.result = .success(try slot.write!(db))
                        return
                    }
                    for slot in round {
                        do {
                            try db.inSavepoint {
                                slot.result = .success(try slot.write!(db))
                                return .commit
                            }
                        } catch {
                            slot.result = .failure(error)
                        }
                        slot.write = nil
                    }
                }
            } catch {
                // The commit itself failed: nothing of this round is stored.
                for slot in round {
                    slot.write = nil
                    slot.result = .failure(error)
                }
            }
            for slot in round { slot.done.signal() }
        }
    }
}
