import Synchronization

/// Holds back the services that touch the queue (dispatcher, timers, plugin
/// scanner) until the HTTP server is bound: a host that cannot listen must
/// leave the queue as it found it.
final class StartGate: Sendable {
    private enum State {
        case waiting([UInt64: CheckedContinuation<Bool, Never>])
        case opened
        case closed
    }

    private let state = Mutex<(State, UInt64)>((.waiting([:]), 0))

    /// Lets the waiters go on (`true`).
    func open() { finish(.opened) }

    /// Tells the waiters to give up (`false`): the host stops before it was bound.
    func close() { finish(.closed) }

    private func finish(_ end: State) {
        let waiters = state.withLock { current -> [CheckedContinuation<Bool, Never>] in
            guard case .waiting(let waiters) = current.0 else { return [] }
            current.0 = end
            return Array(waiters.values)
        }
        let opened = if case .opened = end { true } else { false }
        for waiter in waiters { waiter.resume(returning: opened) }
    }

    /// Waits until ``open()`` (`true`), or ``close()`` or cancellation (`false`).
    func wait() async -> Bool {
        let id = state.withLock { current in
            current.1 += 1
            return current.1
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let immediate: Bool? = state.withLock { current in
                    switch current.0 {
                    case .opened: return true
                    case .closed: return false
                    case .waiting(var waiters):
                        if Task.isCancelled { return false }
                        waiters[id] = continuation
                        current.0 = .waiting(waiters)
                        return nil
                    }
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let waiter = state.withLock { current -> CheckedContinuation<Bool, Never>? in
                guard case .waiting(var waiters) = current.0 else { return nil }
                let waiter = waiters.removeValue(forKey: id)
                current.0 = .waiting(waiters)
                return waiter
            }
            waiter?.resume(returning: false)
        }
    }
}
