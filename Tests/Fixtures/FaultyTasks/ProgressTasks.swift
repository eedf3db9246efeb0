public import BackgroundTaskKit
import Foundation

// Tasks that report progress, for the live-progress tests.

/// Reports 25, then 60 at once (the worker holds 60 back and sends it when
/// due), then waits until the setting `release` exists (the test writes it
/// once it has seen 60 while the instance runs), then reports 100 and ends.
public final class ProgressTask: BackgroundTask {
    public init() {}
    public func run(_ taskInstance: BackgroundTaskInstance) throws {
        let values = ApplicationData.current.localSettings.values
        taskInstance.progress = 25
        taskInstance.progress = 60
        Debug.writeLine("at 60, waiting for the setting release")
        while values["release"] == nil, !taskInstance.isCanceled {
            usleep(20_000)
        }
        taskInstance.progress = 100
        Debug.writeLine("released")
    }
}

/// Sets progress from its `run` thread and from a second thread at once,
/// 300,000 times each, then 100: the worker's locks are contended by the
/// main thread (in a forked worker, the zygote's copied thread) and others.
public final class ProgressStormTask: BackgroundTask {
    public init() {}
    public func run(_ taskInstance: BackgroundTaskInstance) {
        let done = DispatchSemaphore(value: 0)
        let other = Thread {
            for value in 0..<300_000 { taskInstance.progress = UInt32(value % 100) }
            done.signal()
        }
        other.start()
        for value in 0..<300_000 {
            taskInstance.progress = UInt32(value % 100)
            if value % 50_000 == 0 { Debug.writeLine("main at \(value)") }
        }
        done.wait()
        taskInstance.progress = 100
    }
}
