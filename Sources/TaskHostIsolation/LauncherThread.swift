import Foundation
import Synchronization

/// A thread that lives as long as the process and runs what it is given.
/// Zygotes are spawned on it: a child's parent-death signal fires when the
/// *thread* that spawned it exits.
final class LauncherThread: @unchecked Sendable {
    /// The process's launcher.
    static let shared = LauncherThread()

    private let condition = NSCondition()
    private var jobs: [() -> Void] = []

    private init() {
        let thread = Thread { [condition] in
            while true {
                condition.lock()
                while self.jobs.isEmpty { condition.wait() }
                let job = self.jobs.removeFirst()
                condition.unlock()
                job()
            }
        }
        thread.name = "taskhost-zygote-launcher"
        thread.start()
    }

    /// Runs `body` on the launcher thread and returns its result.
    func run<T>(_ body: @escaping () -> T) -> T {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: T?
        condition.lock()
        jobs.append {
            result = body()
            done.signal()
        }
        condition.signal()
        condition.unlock()
        done.wait()
        return result!
    }
}
