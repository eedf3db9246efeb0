#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes diagnostic lines (Windows' `System.Diagnostics.Debug`).
///
/// Inside the host each line goes to the instance's log, which
/// `taskhost logs INSTANCE` prints. Outside the host (unit tests) lines go to
/// standard error, or to a sink a test installed with ``setSink(_:)``.
public enum Debug {
    /// Where lines go.
    public typealias Sink = @Sendable (String) -> Void

    private static let sink = PosixMutex<Sink?>(nil)

    /// A sink bound to the current task (and the tasks it creates), which takes
    /// precedence over the process-wide one; see ``withSink(_:operation:)``.
    @TaskLocal static var taskSink: Sink?

    /// Appends `message` to the instance's log.
    public static func writeLine(_ message: String) {
        if let sink = taskSink ?? sink.withLock({ $0 }) {
            sink(message)
        } else {
            let line = Array((message + "\n").utf8)
            _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        }
    }

    /// Runs `operation` with lines of the current task, and of the Swift tasks it
    /// creates, going to `sink` (a task-local binding, as for settings).
    public static func withSink<R>(_ sink: @escaping Sink, operation: () throws -> R) rethrows -> R {
        try $taskSink.withValue(sink, operation: operation)
    }

    /// The `async` form of ``withSink(_:operation:)``.
    public static func withSink<R>(
        _ sink: @escaping Sink, operation: () async throws -> R, isolation: isolated (any Actor)? = #isolation
    ) async rethrows -> R {
        try await $taskSink.withValue(sink, operation: operation)
    }

    /// Sends lines to `sink` (`nil` restores standard error). Returns the previous sink.
    @discardableResult
    public static func setSink(_ newSink: Sink?) -> Sink? {
        sink.withLock { current in
            let previous = current
            current = newSink
            return previous
        }
    }
}
