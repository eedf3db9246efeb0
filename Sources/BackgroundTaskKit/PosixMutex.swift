#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A value behind a default `pthread_mutex_t`: the SDK's lock, in place of
/// Synchronization's `Mutex`.
///
/// A plugin's instances may run in workers forked from a zygote, whose main
/// thread is a copy of the zygote's and keeps the thread id the Swift
/// runtime cached for it there. On Linux, `Mutex` is a priority-inheritance
/// futex that records its owner's thread id, so once that main thread (a
/// blocking task's `run`) and another thread (the task's own, the worker's
/// reader delivering a cancellation) contend for one, the unlock fails and
/// `Mutex` traps (measured: `ProgressStormTask` crashed a forked worker with
/// SIGILL). A default pthread mutex records no owner the kernel checks. The
/// worker has the same type for its own locks (it does not link the SDK);
/// see "Forked workers and locks" in the README.
final class PosixMutex<Value>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with the value, the lock held.
    func withLock<Result, Failure: Error>(_ body: (inout Value) throws(Failure) -> Result) throws(Failure) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
