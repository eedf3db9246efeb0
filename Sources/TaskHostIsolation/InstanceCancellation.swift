import Foundation
import Synchronization
package import TaskHostShared
import _TaskHostCShims

/// Cancels a running instance from any thread or task: the instance's
/// `canceled` handler runs with the reason, and if it has not finished when
/// its grace period is over, it is killed.
package final class InstanceCancellation: Sendable {
    private let requested = Mutex<BackgroundTaskCancellationReason?>(nil)
    private let immediate = Mutex(false)
    /// A self-pipe: the supervisor polls the read end next to the worker's descriptors.
    let readDescriptor: Int32
    private let writeDescriptor: Int32

    /// Creates a cancellation source, not yet triggered.
    package init() {
        var fds: [Int32] = [-1, -1]
        if th_pipe_cloexec(&fds) == 0 {
            _ = th_set_nonblocking(fds[0], 1)
            _ = th_set_nonblocking(fds[1], 1)
        }
        readDescriptor = fds[0]
        writeDescriptor = fds[1]
    }

    deinit {
        if readDescriptor >= 0 { close(readDescriptor) }
        if writeDescriptor >= 0 { close(writeDescriptor) }
    }

    /// Requests cancellation. Only the first reason counts.
    package func cancel(_ reason: BackgroundTaskCancellationReason) {
        let first = requested.withLock { current -> Bool in
            guard current == nil else { return false }
            current = reason
            return true
        }
        if first, writeDescriptor >= 0 {
            var byte: UInt8 = 1
            _ = write(writeDescriptor, &byte, 1)
        }
    }

    /// Requests cancellation without a grace period: the instance is killed
    /// at once (its outcome is `killed` with the first reason given), whether
    /// or not ``cancel(_:)`` was called before.
    package func cancelNow(_ reason: BackgroundTaskCancellationReason) {
        cancel(reason)
        let first = immediate.withLock { current -> Bool in
            defer { current = true }
            return !current
        }
        if first, writeDescriptor >= 0 {
            var byte: UInt8 = 2
            _ = write(writeDescriptor, &byte, 1)
        }
    }

    /// Whether ``cancelNow(_:)`` was called: no grace period.
    package var isImmediate: Bool { immediate.withLock { $0 } }

    /// Empties the self-pipe (the supervisor, after it woke up for it).
    func consumeSignal() {
        guard readDescriptor >= 0 else { return }
        var buffer = [UInt8](repeating: 0, count: 16)
        while read(readDescriptor, &buffer, buffer.count) > 0 {}
    }

    /// The reason given, once cancellation was requested.
    package var reason: BackgroundTaskCancellationReason? { requested.withLock { $0 } }
}
