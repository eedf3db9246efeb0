/// A background task: the Swift counterpart of Windows' `IBackgroundTask`.
///
/// Declare a `public final class` that conforms, and name it in the manifest's
/// `TaskEntryPoint` as `Module.Class`. The host creates one object per task
/// instance, in its own child process, and calls ``run(_:)``.
///
/// ```swift
/// public final class SampleBackgroundTask: BackgroundTask {
///     public init() {}
///     public func run(_ taskInstance: BackgroundTaskInstance) {
///         Debug.writeLine("Background \(taskInstance.task.name) starting...")
///     }
/// }
/// ```
///
/// The lifetime of the instance is bounded by ``run(_:)``: when it returns, the
/// instance is over, unless it took a deferral with
/// ``BackgroundTaskInstance/getDeferral()``, which keeps it alive until
/// ``BackgroundTaskDeferral/complete()``.
///
/// A `run` that throws ends the instance as *failed*, with the error's
/// description in the history; a non-throwing `run` satisfies the requirement.
public protocol BackgroundTask: AnyObject {
    /// Creates the task object. Called once per instance, in the child process.
    init()

    /// Does the task's work for one instance.
    func run(_ taskInstance: BackgroundTaskInstance) throws
}

/// A background task whose work is written with Swift concurrency.
///
/// The instance implicitly holds a deferral until ``run(_:)`` returns, so
/// `await` inside it does not end the instance. Cancellation from the host
/// (time limit, shutdown) also cancels the Swift `Task` running `run`, so
/// `Task.checkCancellation()` and cancellable awaits see it.
public protocol AsyncBackgroundTask: AnyObject {
    /// Creates the task object. Called once per instance, in the child process.
    init()

    /// Does the task's work for one instance.
    func run(_ taskInstance: BackgroundTaskInstance) async throws
}
