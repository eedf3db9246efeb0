import Foundation
package import Logging
import Synchronization
package import TaskHostConcurrency

/// An error that retrying the same write cannot fix: a settlement refused
/// because another host's claim holds the trigger now (fencing), or a
/// constraint the write breaks. ``SettlementRetry`` logs it and drops the write.
package protocol PermanentFailure: Error {
    /// Whether the same write can never succeed.
    var isPermanent: Bool { get }
}

/// Retries the store writes that settle work: marking a trigger done,
/// releasing it, scheduling its retry, dead-lettering it, and recording how
/// an instance ended. A write that fails (the disk is full, the database is
/// locked) is tried again after 50 ms, then after twice as long each time up
/// to 5 s, until it succeeds or the host stops; what is still unsettled when
/// the host stops stays `running` in the queue (and without an outcome in
/// the history), which the next start recovers as it recovers a crash.
///
/// Failures are logged once per streak (when settlements start failing and
/// when they succeed again), not once per attempt. One instance serves a
/// dispatcher and the instances it runs.
package final class SettlementRetry: Sendable {
    /// The wait after the first failed attempt.
    package let firstDelay: Duration
    /// The longest wait between two attempts.
    package let maxDelay: Duration
    private let logger: Logger
    private let state = Mutex(State())

    private struct State {
        /// Attempts after this moment give up (the host is stopping).
        var giveUpAt: ContinuousClock.Instant?
        /// Settlements failing now (each counted once until it succeeds or gives up).
        var failing = 0
        /// Attempts that failed since the streak began.
        var failedAttempts = 0
    }

    /// Creates a retrier that logs to `logger`.
    package init(firstDelay: Duration = .milliseconds(50), maxDelay: Duration = .seconds(5), logger: Logger) {
        self.firstDelay = firstDelay
        self.maxDelay = max(firstDelay, maxDelay)
        self.logger = logger
    }

    /// The host stops: settlements still failing `patience` from now give up
    /// (each still makes the attempt it is due). Earlier calls win if sooner.
    package func stop(after patience: Duration) {
        state.withLock { state in
            let at = ContinuousClock.now + patience
            state.giveUpAt = min(state.giveUpAt ?? at, at)
        }
    }

    /// Runs `write` until it succeeds, waiting with backoff between attempts;
    /// returns `false` if it gave up (the host stops or the task was cancelled).
    /// `what` names the write in the log ("mark trigger X done"). Each attempt
    /// runs on `executor`, never on the cooperative pool.
    @discardableResult
    package func perform(
        _ what: String, metadata: Logger.Metadata = [:], on executor: BlockingExecutor,
        _ write: @escaping @Sendable () throws -> Void
    ) async -> Bool {
        var attempts = 0
        while true {
            attempts += 1
            let attempt = attempts
            guard
                let wait = await executor.run({ [self] in
                    self.attempt(what, attempts: attempt, metadata: metadata, write)
                })
            else { return true }
            guard let wait else { return false }
            try? await Task.sleep(for: wait)
            if Task.isCancelled {
                gaveUp(what, attempts: attempts, metadata: metadata)
                return false
            }
        }
    }

    /// ``perform(_:metadata:_:)`` on the calling thread, which sleeps between
    /// attempts (a supervisor's own thread, never one of the cooperative pool).
    @discardableResult
    package func performBlocking(_ what: String, metadata: Logger.Metadata = [:], _ write: () throws -> Void) -> Bool {
        var attempts = 0
        while true {
            attempts += 1
            guard let wait = attempt(what, attempts: attempts, metadata: metadata, write) else { return true }
            guard let wait else { return false }
            let (seconds, attoseconds) = wait.components
            Thread.sleep(forTimeInterval: Double(seconds) + Double(attoseconds) / 1e18)
        }
    }

    /// One attempt: `nil` when `write` succeeded, `.some(nil)` to give up,
    /// `.some(wait)` to try again after `wait`.
    private func attempt(
        _ what: String, attempts: Int, metadata: Logger.Metadata, _ write: () throws -> Void
    ) -> Duration?? {
        do {
            try write()
            succeeded(attempts: attempts)
            return nil
        } catch let error as any PermanentFailure where error.isPermanent {
            // Another host's claim holds the trigger now: the write is dropped, not retried.
            logger.warning("cannot \(what), and retrying cannot help", metadata: metadata.merging(["error": "\(error)"]) { $1 })
            succeeded(attempts: attempts)
            return nil
        } catch {
            return .some(failed(what, error: error, attempts: attempts, metadata: metadata))
        }
    }

    /// The wait before the next attempt, or `nil` to give up now.
    private func failed(_ what: String, error: any Error, attempts: Int, metadata: Logger.Metadata) -> Duration? {
        let (firstOfStreak, giveUpAt) = state.withLock { state -> (Bool, ContinuousClock.Instant?) in
            state.failedAttempts += 1
            if attempts == 1 { state.failing += 1 }
            return (attempts == 1 && state.failing == 1, state.giveUpAt)
        }
        if firstOfStreak {
            logger.error(
                "cannot \(what): the store refused the write; retrying it (and any other that fails meanwhile) with backoff until it succeeds or the host stops (is the disk full or the database locked?)",
                metadata: metadata.merging(["error": "\(error)"]) { $1 })
        }
        var wait = backoff(afterAttempts: attempts)
        if let giveUpAt {
            let now = ContinuousClock.now
            guard now < giveUpAt else {
                gaveUp(what, attempts: attempts, metadata: metadata.merging(["error": "\(error)"]) { $1 })
                return nil
            }
            wait = min(wait, giveUpAt - now)
        }
        return wait
    }

    private func succeeded(attempts: Int) {
        guard attempts > 1 else { return }
        let recovered = state.withLock { state -> Int? in
            state.failing -= 1
            guard state.failing == 0 else { return nil }
            defer { state.failedAttempts = 0 }
            return state.failedAttempts
        }
        if let recovered {
            logger.notice("store writes succeed again; every settlement that failed is done", metadata: ["failedAttempts": "\(recovered)"])
        }
    }

    private func gaveUp(_ what: String, attempts: Int, metadata: Logger.Metadata) {
        state.withLock { state in
            state.failing -= 1
            if state.failing == 0 { state.failedAttempts = 0 }
        }
        logger.warning(
            "gave up trying to \(what) as the host stops; the next start recovers it as after a crash (the trigger runs again)",
            metadata: metadata.merging(["attempts": "\(attempts)"]) { $1 })
    }

    /// The wait after `attempts` failed attempts: ``firstDelay`` doubling up to ``maxDelay``.
    func backoff(afterAttempts attempts: Int) -> Duration {
        var wait = firstDelay
        for _ in 1..<max(1, min(attempts, 64)) {
            wait = wait * 2
            if wait >= maxDelay { return maxDelay }
        }
        return min(wait, maxDelay)
    }
}
