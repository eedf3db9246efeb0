public import BackgroundTaskKit
import Foundation

/// ``RecordingTask`` after 300 ms of work: a host killed or frozen in the
/// middle of a burst is holding some of these runs (the cluster tests).
public final class SlowRecordingTask: BackgroundTask {
    public init() {}
    public func run(_ taskInstance: BackgroundTaskInstance) throws {
        usleep(300_000)
        try RecordingTask().run(taskInstance)
    }
}
