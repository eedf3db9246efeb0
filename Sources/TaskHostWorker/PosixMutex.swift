import Glibc

/// A value behind glibc's `pthread_mutex_t` (a default, non-robust, non-PI mutex).
///
/// The worker does not use Synchronization's `Mutex`: in a worker forked
/// from a zygote, the main thread is the zygote's main thread copied, and
/// it keeps the thread id the Swift runtime cached for it in the zygote
/// (the zygote ran Swift code that locked before it forked). `Mutex` on
/// Linux is a priority-inheritance futex that records its owner's thread
/// id, so once the main thread and another thread (the reader, which also
/// sends progress) contend for one, the kernel sees an owner that is not
/// in the process, and the lock deadlocks or traps. A default glibc mutex
/// keeps no owner the kernel checks (and glibc's own idea of the thread id
/// is put right by the fork: see `th_fork_sibling`). See "Forked workers
/// and locks" in the README.
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
