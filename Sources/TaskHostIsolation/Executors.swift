import TaskHostConcurrency

extension BlockingExecutor {
    /// Instance supervisors: a supervisor blocks in `poll(2)` for as long as
    /// its instance runs, so each running instance has a thread of its own
    /// (starting one per instance costs more than the rest of the way from
    /// trigger to `run`, so threads are reused, and retired after 10 s idle).
    /// A spawned worker's parent-death signal is tied to the thread that
    /// spawned it; a supervisor's job ends only after its worker is reaped.
    static let supervisors = BlockingExecutor(name: "taskhost-supervisor", idleTimeout: .seconds(10))

    /// Zygotes are spawned on this one thread, which never exits: a child's
    /// parent-death signal fires when the *thread* that spawned it exits.
    static let zygoteLauncher = BlockingExecutor(name: "taskhost-zygote-launcher", maxThreads: 1, idleTimeout: nil)
}
