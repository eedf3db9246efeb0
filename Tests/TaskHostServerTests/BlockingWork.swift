import Dispatch

/// Runs `body`, which blocks (a `poll`, a child's output, a semaphore), on a
/// Dispatch thread rather than on one of Swift concurrency's few cooperative
/// threads, which every other test of the process needs.
func offThePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
    }
}
