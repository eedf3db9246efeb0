import Dispatch
import NIOPosix
import Synchronization
import TaskHostConcurrency

/// The bridge from the store's synchronous protocols to postgres-nio's async API.
///
/// The store protocols (`TaskStore`, `TriggerQueueStore`, …) are synchronous and
/// `throws(StoreError)`; the host calls them from ``BlockingExecutor`` threads,
/// never from Swift's cooperative pool or a NIO event loop. ``wait(_:)`` starts the
/// async postgres-nio work as a task and blocks the calling thread on a semaphore
/// until it completes.
///
/// The task runs with this bridge as its *task executor preference*: its jobs run
/// on two threads of the bridge's own (a ``BlockingExecutor``), and the network I/O
/// on postgres-nio's event loops. So no thread of the cooperative pool is needed
/// to finish the work: a caller that blocks a pool thread anyway (a synchronous
/// test function, say) cannot starve the very task it waits for, however many do
/// it at once on a two-core machine. Blocking an event loop would deadlock (the
/// reply arrives on it): ``wait(_:)`` refuses to, with a precondition.
final class BlockingBridge: TaskExecutor, Sendable {
    /// The bridge every store uses.
    static let shared = BlockingBridge()

    /// The threads the bridged tasks' jobs run on; jobs are short (decode rows, build
    /// the next query), never blocking.
    private let threads = BlockingExecutor(name: "taskhost-pgsql", maxThreads: 2, idleTimeout: .seconds(30))

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        threads.execute { job.runSynchronously(on: executor) }
    }

    /// How long a bridged call may take before its caller gets ``Timeout``.
    static let defaultTimeout: Duration = .seconds(30)

    /// Runs `body` to its end and returns its result, blocking the calling thread
    /// (a ``BlockingExecutor`` thread in the host) meanwhile, for at most
    /// `timeout`: then the task is cancelled and the caller gets ``Timeout``.
    ///
    /// The deadline is a backstop, not a query timeout: it ends the wait of a
    /// call whose answer never comes. Seen here: after the server restarted
    /// under load, a request for a pooled connection of postgres-nio 1.33.2 was
    /// never served although the pool had idle connections; its caller (the
    /// dispatcher's claim) waited forever, and dispatch with it. A call that
    /// times out may still have committed (its answer was what was lost):
    /// callers treat it as any failed write whose outcome is unknown (an
    /// unacknowledged push, a claim whose lease runs out).
    func wait<T: Sendable>(timeout: Duration = defaultTimeout, _ body: @escaping @Sendable () async throws -> T) throws -> T {
        precondition(
            MultiThreadedEventLoopGroup.currentEventLoop == nil,
            "a PostgreSQL store call blocked a NIO event loop: call the store from a BlockingExecutor thread")
        let outcome = Outcome<T>()
        let task = Task(executorPreference: self) {
            do {
                outcome.finish(.success(try await body()))
            } catch {
                outcome.finish(.failure(error))
            }
        }
        if let result = outcome.wait(timeout: timeout) { return try result.get() }
        task.cancel()
        throw Timeout(limit: timeout)
    }

    /// A bridged call that did not end within its time limit.
    struct Timeout: Error, CustomStringConvertible {
        let limit: Duration
        var description: String { "PostgreSQL did not answer within \(limit)" }
    }

    /// Starts `body` on the bridge without waiting for it (the client's `run()`).
    func start(_ body: @escaping @Sendable () async -> Void) -> Task<Void, Never> {
        Task(executorPreference: self) { await body() }
    }
}

/// One bridged call's result, handed from the task to the waiting thread.
private final class Outcome<T: Sendable>: Sendable {
    private let result = Mutex<Result<T, any Error>?>(nil)
    private let done = DispatchSemaphore(value: 0)

    func finish(_ value: Result<T, any Error>) {
        result.withLock { $0 = value }
        done.signal()
    }

    /// The result, or `nil` when none came within `timeout` (a late one is dropped).
    func wait(timeout: Duration) -> Result<T, any Error>? {
        let (seconds, attoseconds) = timeout.components
        guard done.wait(timeout: .now() + Double(seconds) + Double(attoseconds) / 1e18) == .success else { return nil }
        return result.withLock { $0 }
    }
}

/// A value handed to a bridged task that the caller's thread does not touch
/// while it waits: the non-escaping, non-`Sendable` closures of the store
/// protocols (a claim's `decide`), called on a bridge thread while the caller
/// blocks in ``BlockingBridge/wait(_:)``, never after it returns.
struct WaitingCallerValue<Value>: @unchecked Sendable {
    let value: Value
}
