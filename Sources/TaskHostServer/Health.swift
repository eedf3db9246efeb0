import Foundation
import Synchronization
import TaskHostConcurrency
package import TaskHostStore

/// What `/healthz` and `/readyz` answer: the process is alive (always, while
/// it answers), and whether it is ready to take pushes and run triggers.
///
/// Ready means, all three: the store answers and could take a write now
/// (``HostStore/readinessCheck(timeout:)``), the dispatcher runs (it recovered the queue and claims;
/// a host started with `--no-dispatch` needs none), and the plugins directory
/// has been looked at once (when one is watched). The daemon marks the last
/// two as they happen; the store is asked at most once per ``probeInterval``,
/// whatever the number of requests, on a thread of its own.
package final class Health: Sendable {
    /// Where readiness probes run: the probe takes the store's write lock.
    private static let prober = BlockingExecutor(name: "taskhost-readyz", maxThreads: 1)
    /// Whether the host is ready, and if not, why (one line).
    package enum Readiness: Sendable, Equatable {
        case ready
        case notReady(String)
    }

    private struct State {
        var listening = false
        var started = false
        var dispatcherRunning: Bool
        var stopping = false
        var pluginsScanned: Bool
        var lastProbe: (at: ContinuousClock.Instant, failure: String?)?
        var probing: [CheckedContinuation<String?, Never>]?
    }

    private let state: Mutex<State>
    private let probe: @Sendable () throws(StoreError) -> Void
    private let onStarted: @Sendable () -> Void
    /// The longest time a store check's answer is reused.
    package let probeInterval: Duration

    /// Health for a host that dispatches (or not: `dispatches` false needs no
    /// dispatcher) and watches a plugins directory (or not), whose store
    /// `probe` checks. `onStarted` is called once, when the host is first
    /// listening with its dispatcher running and its plugins scanned.
    package init(
        dispatches: Bool, watchesPlugins: Bool, probeInterval: Duration = .seconds(1),
        onStarted: @escaping @Sendable () -> Void = {}, probe: @escaping StoreReadinessCheck
    ) {
        self.state = Mutex(State(dispatcherRunning: !dispatches, pluginsScanned: !watchesPlugins))
        self.probe = probe
        self.onStarted = onStarted
        self.probeInterval = probeInterval
    }

    /// Every listener is bound.
    package func listening() { mark { $0.listening = true } }

    /// The dispatcher recovered the queue and claims triggers.
    package func dispatcherStarted() { mark { $0.dispatcherRunning = true } }

    private func mark(_ change: (inout State) -> Void) {
        let started = state.withLock { state -> Bool in
            change(&state)
            guard !state.started, state.listening, state.dispatcherRunning, state.pluginsScanned, !state.stopping else { return false }
            state.started = true
            return true
        }
        if started { onStarted() }
    }

    /// The host is shutting down: it is no longer ready.
    package func stopping() { state.withLock { $0.stopping = true } }

    /// The plugins directory was looked at once.
    package func pluginsScanned() { mark { $0.pluginsScanned = true } }

    /// Whether the host is ready now.
    package func readiness() async -> Readiness {
        let (dispatcher, stopped, plugins) = state.withLock { ($0.dispatcherRunning, $0.stopping, $0.pluginsScanned) }
        if stopped { return .notReady("the host is shutting down") }
        if let failure = await storeFailure() { return .notReady("the store does not answer: \(failure)") }
        if !dispatcher { return .notReady("the dispatcher has not started yet (it waits for the listeners and the plugins directory)") }
        if !plugins { return .notReady("the plugins directory has not been scanned yet") }
        return .ready
    }

    /// Why the store failed its last check (nil: it answered), checking again
    /// if the last answer is older than ``probeInterval``. Concurrent callers share one check.
    private func storeFailure() async -> String? {
        enum Step {
            case answer(String?)
            case wait, check
        }
        let now = ContinuousClock.now
        let interval = probeInterval
        let step = state.withLock { state -> Step in
            if let last = state.lastProbe, now - last.at < interval { return .answer(last.failure) }
            if state.probing != nil { return .wait }
            state.probing = []
            return .check
        }
        switch step {
        case .answer(let failure):
            return failure
        case .wait:
            return await withCheckedContinuation { continuation in
                let answered = state.withLock { state -> Step in
                    if state.probing == nil { return .answer(state.lastProbe?.failure) }
                    state.probing?.append(continuation)
                    return .wait
                }
                if case .answer(let failure) = answered { continuation.resume(returning: failure) }
            }
        case .check:
            let probe = self.probe
            // The probe takes the store's write lock (waiting up to a second):
            // off the cooperative pool.
            let failure: String? = await Self.prober.run {
                do throws(StoreError) {
                    try probe()
                    return nil
                } catch {
                    return "\(error.code): \(error.message)"
                }
            }
            let waiters = state.withLock { state -> [CheckedContinuation<String?, Never>] in
                state.lastProbe = (ContinuousClock.now, failure)
                defer { state.probing = nil }
                return state.probing ?? []
            }
            for waiter in waiters { waiter.resume(returning: failure) }
            return failure
        }
    }
}
