import Foundation

/// The threads instances are supervised on: a supervisor blocks in `poll(2)`
/// for as long as its instance runs, so it needs a thread of its own, and
/// starting a thread per instance costs more than the rest of the way from
/// trigger to `run`. Threads that finish wait for the next instance, and
/// exit after ``idleTimeout`` without one.
///
/// A spawned worker's parent-death signal is tied to the thread that spawned
/// it; a supervisor thread only exits after its instance's worker is reaped.
final class SupervisorThreads: @unchecked Sendable {
    /// The pool the runners of this process share.
    static let shared = SupervisorThreads()

    /// How long an idle thread waits for work before it exits.
    static let idleTimeout: TimeInterval = 10

    private let condition = NSCondition()
    private var jobs: [() -> Void] = []
    private var idle = 0

    /// Runs `job` on a supervisor thread: an idle one, or a new one.
    func run(_ job: @escaping () -> Void) {
        condition.lock()
        jobs.append(job)
        if idle > jobs.count - 1 {
            condition.signal()
            condition.unlock()
            return
        }
        condition.unlock()
        let thread = Thread { [self] in serve() }
        thread.name = "taskhost-supervisor"
        thread.start()
    }

    private func serve() {
        condition.lock()
        while true {
            if !jobs.isEmpty {
                let job = jobs.removeFirst()
                condition.unlock()
                job()
                condition.lock()
                continue
            }
            idle += 1
            let signaled = condition.wait(until: Date(timeIntervalSinceNow: Self.idleTimeout))
            idle -= 1
            if !signaled, jobs.isEmpty { break }
        }
        condition.unlock()
    }
}
