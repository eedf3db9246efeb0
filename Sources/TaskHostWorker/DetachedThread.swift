import Glibc
import TaskHostIPC

/// Starts `body` on a new detached POSIX thread, which ends when `body`
/// returns. (Foundation's `Thread` would load Foundation, and with it ICU,
/// into every worker: see "A worker without Foundation" in the README.)
/// Exits the worker (``WorkerExitCode/noThread``, which the host reports as
/// a failure that says why) if the thread cannot be started: without its
/// reader thread a worker would never see the host's replies, and would
/// wait for them until its time limit.
func detachThread(_ body: @escaping @Sendable () -> Void) {
    final class Start {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    let start = Unmanaged.passRetained(Start(body)).toOpaque()
    var thread = pthread_t()
    let created = pthread_create(
        &thread, nil,
        { argument in
            let start = Unmanaged<Start>.fromOpaque(argument!).takeRetainedValue()
            start.body()
            return nil
        }, start)
    guard created == 0 else {
        Unmanaged<Start>.fromOpaque(start).release()
        let reason =
            "taskhost-worker: cannot start a thread (\(String(cString: strerror(created)))); the instance's process limit may be too low\n"
        FileDescriptorIO.writeAll(toFile: STDERR_FILENO, Array(reason.utf8))
        _exit(WorkerExitCode.noThread)
    }
    pthread_detach(thread)
}
