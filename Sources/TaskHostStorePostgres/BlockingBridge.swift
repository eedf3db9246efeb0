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

    /// Runs `body` to its end and returns its result, blocking the calling thread
    /// (a ``BlockingExecutor`` thread in the host) meanwhile.
    func wait<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
        precondition(
            MultiThreadedEventLoopGroup.currentEventLoop == nil,
            "a PostgreSQL store call blocked a NIO event loop: call the store from a BlockingExecutor thread")
        let outcome = Outcome<T>()
        Task(executorPreference: self) {
            do {
                outcome.finish(.success(try await body()))
            } catch {
                outcome.finish(.failure(error))
            }
        }
        return try outcome.wait().get()
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

    func wait() -> Result<T, any Error> {
        done.wait()
        return result.withLock { $0! }
    }
}

/// A value handed to a bridged task that the caller's thread does not touch
/// while it waits: the non-escaping, non-`Sendable` closures of the store
/// protocols (a claim's `decide`), called on a bridge thread while the caller
/// blocks in ``BlockingBridge/wait(_:)``, never after it returns.
struct WaitingCallerValue<Value>: @unchecked Sendable {
    let value: Value
}
