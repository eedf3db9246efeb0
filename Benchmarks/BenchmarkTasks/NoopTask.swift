public import BackgroundTaskKit

#if canImport(Glibc)
import Glibc
#endif

/// Does nothing but say when `run` was entered: one log line,
/// `entered <CLOCK_REALTIME in nanoseconds>`, a clock every process of the
/// machine shares, so the benchmark can subtract the moment it fired the trigger.
public final class NoopTask: BackgroundTask {
    public init() {}
    public func run(_ taskInstance: BackgroundTaskInstance) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        Debug.writeLine("entered \(Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec))")
    }
}
