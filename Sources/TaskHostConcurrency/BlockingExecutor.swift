import Dispatch
import Foundation
import Synchronization

/// The one way the host runs blocking work off Swift's cooperative pool.
///
/// The pool has one thread per core (two on a small server), and Hummingbird's
/// request handlers run on it. Work that blocks its thread (a supervisor's
/// `poll(2)` for an instance's whole life, a store write's fsync or its wait of
/// up to 10 s for the write lock, a plugin scan that runs scanner processes,
/// spawning a zygote) runs on an executor instead: threads of its own, started
/// on demand up to ``maxThreads``, reused, and retired after ``idleTimeout``
/// without work (never, when it is `nil`: a thread whose children's
/// parent-death signal is tied to it must not exit).
///
/// Jobs start in the order they were submitted. ``run(_:)`` bridges to async
/// code: the caller's task suspends, no pool thread waits. The work itself is
/// not cancelled with the caller's task: it is blocking work that finishes.
///
/// Lock: one `Mutex` guards the queue; an idle thread sleeps on a semaphore of
/// its own, which ``execute(_:)`` signals when it hands it work.
///
/// Not for the worker side: a worker forked from a zygote must not use Swift's
/// `Mutex` from two threads (see the README's "Where things run").
package final class BlockingExecutor: Sendable {
    /// A unit of work.
    package typealias Job = @Sendable () -> Void

    /// The name its threads carry (`ps -L`, `top -H`, debuggers), cut to 15 bytes.
    package let name: String
    /// The most threads it runs at once; further jobs wait for one.
    package let maxThreads: Int
    /// How long a thread without work waits before it exits; `nil`: never.
    package let idleTimeout: Duration?

    private struct State {
        var jobs: [Job] = []
        var next = 0
        var idle: [DispatchSemaphore] = []
        var threads = 0

        mutating func take() -> Job? {
            guard next < jobs.count else { return nil }
            let job = jobs[next]
            next += 1
            if next == jobs.count {
                jobs.removeAll(keepingCapacity: true)
                next = 0
            }
            return job
        }
    }

    private let state = Mutex(State())

    /// An executor named `name` (its threads' name) running at most
    /// `maxThreads` jobs at once, whose threads exit after `idleTimeout`
    /// without work (`nil`: they never exit).
    package init(name: String, maxThreads: Int = .max, idleTimeout: Duration? = .seconds(10)) {
        self.name = name
        self.maxThreads = max(1, maxThreads)
        self.idleTimeout = idleTimeout
    }

    /// Threads running now (busy or idle).
    package var threadCount: Int { state.withLock { $0.threads } }

    /// Starts `job` on one of the executor's threads: an idle one, a new one,
    /// or, at ``maxThreads``, the first to finish its job.
    package func execute(_ job: @escaping Job) {
        enum Wake {
            case signal(DispatchSemaphore)
            case start, none
        }
        let wake = state.withLock { state -> Wake in
            state.jobs.append(job)
            if let idle = state.idle.popLast() { return .signal(idle) }
            guard state.threads < maxThreads else { return .none }
            state.threads += 1
            return .start
        }
        switch wake {
        case .signal(let idle): idle.signal()
        case .start: startThread()
        case .none: break
        }
    }

    /// Runs `body` on one of the executor's threads and returns what it
    /// returns, suspending the calling task meanwhile.
    package func run<Value: Sendable, Failure: Error>(
        _ body: @escaping @Sendable () throws(Failure) -> Value
    ) async throws(Failure) -> Value {
        let result: Result<Value, Failure> = await withCheckedContinuation { continuation in
            execute { continuation.resume(returning: Result { () throws(Failure) -> Value in try body() }) }
        }
        return try result.get()
    }

    /// Runs `body` on one of the executor's threads and blocks the calling
    /// thread until it returns (for callers that are not async and must not
    /// run `body` themselves; never call it from the cooperative pool). The
    /// value is handed over, not shared, so it need not be `Sendable`.
    package func runAndWait<Value>(_ body: @escaping @Sendable () -> Value) -> Value {
        let handOver = HandOver<Value>()
        execute {
            handOver.value = body()
            handOver.done.signal()
        }
        handOver.done.wait()
        return handOver.value!
    }

    private func startThread() {
        let thread = Thread { [self] in
            Self.nameCurrentThread(name)
            serve()
        }
        thread.start()
    }

    /// Names the calling thread as `ps -L` and `top -H` show it: the kernel
    /// keeps 15 bytes. (Glibc's `pthread_setname_np` is not visible to Swift,
    /// and Foundation's `Thread.name` fails for longer names.)
    private static func nameCurrentThread(_ name: String) {
        let descriptor = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        let bytes = Array(name.utf8.prefix(15))
        _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
    }

    /// A thread's life: jobs while there are some, then idle until handed
    /// one or retired by the idle timeout.
    private func serve() {
        let wakeup = DispatchSemaphore(value: 0)
        while true {
            let job = state.withLock { state -> Job? in
                if let job = state.take() { return job }
                state.idle.append(wakeup)
                return nil
            }
            if let job {
                job()
                continue
            }
            guard let idleTimeout else {
                wakeup.wait()
                continue
            }
            let (seconds, attoseconds) = idleTimeout.components
            let deadline = DispatchTime.now() + Double(seconds) + Double(attoseconds) / 1e18
            if wakeup.wait(timeout: deadline) == .success { continue }
            let retired = state.withLock { state -> Bool in
                // Still idle: nobody handed it work; it exits.
                guard let index = state.idle.firstIndex(where: { $0 === wakeup }) else { return false }
                state.idle.remove(at: index)
                state.threads -= 1
                return true
            }
            if retired { return }
            // Handed work as the timeout struck: take the signal that comes with it.
            wakeup.wait()
        }
    }
}

/// A value passed from the job that makes it to the thread that waits for it.
///
/// `@unchecked Sendable`: `value` is written once, by the job, before
/// `done.signal()`, and read only after `done.wait()` returned; the semaphore
/// orders the write before the read, and nothing else touches it.
private final class HandOver<Value>: @unchecked Sendable {
    var value: Value?
    let done = DispatchSemaphore(value: 0)
}
