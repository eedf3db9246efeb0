import BackgroundTaskKit
import Foundation
import Synchronization
import _TaskHostCShims

/// Cancels a running instance from any thread or task: the instance's
/// `canceled` handler runs with the reason, and if it has not finished when
/// its grace period is over, it is killed.
public final class InstanceCancellation: Sendable {
    private let requested = Mutex<BackgroundTaskCancellationReason?>(nil)
    /// A self-pipe: the supervisor polls the read end next to the worker's descriptors.
    let readDescriptor: Int32
    private let writeDescriptor: Int32

    /// Creates a cancellation source, not yet triggered.
    public init() {
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
    public func cancel(_ reason: BackgroundTaskCancellationReason) {
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

    /// The reason given, once cancellation was requested.
    public var reason: BackgroundTaskCancellationReason? { requested.withLock { $0 } }
}
