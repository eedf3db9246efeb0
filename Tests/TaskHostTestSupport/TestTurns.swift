import Foundation

/// Turns for tests that must not overlap although their suites run in
/// parallel: one test holds the turn at a time, the others wait for it
/// without holding a thread.
package final class TestTurns: @unchecked Sendable {
    private let lock = NSLock()
    private var taken = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    package init() {}

    /// Waits for the turn and takes it; give it back with ``release()``.
    package func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            lock.lock()
            if taken {
                waiting.append(continuation)
                lock.unlock()
            } else {
                taken = true
                lock.unlock()
                continuation.resume()
            }
        }
    }

    /// Gives the turn to the next waiting test, if any.
    package func release() {
        lock.lock()
        guard !waiting.isEmpty else {
            taken = false
            lock.unlock()
            return
        }
        let next = waiting.removeFirst()
        lock.unlock()
        next.resume()
    }
}
