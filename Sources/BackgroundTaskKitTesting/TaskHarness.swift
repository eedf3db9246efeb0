public import BackgroundTaskKit
import Foundation
import Synchronization

/// Runs a task in-process, the way the host would but without a worker
/// process: for plugin authors' unit tests. Settings live in memory, log
/// lines are collected, deferrals are waited for, and cancellation can be
/// requested. Settings and log are bound to the run's Swift task and the
/// tasks it creates, so tests may run in parallel; work a task hands to a
/// thread or dispatch queue of its own sees the process-wide defaults instead.
///
/// ```swift
/// let result = try TaskHarness.run(MyTask.self, trigger: RawNotification(content: "hello"))
/// #expect(result.settings["MyTask"] == "hello")
/// ```
///
/// Any trigger detail the host hands a task can be given, e.g. a Web Push:
/// `trigger: WebPushNotification(content: "hello", topic: "inbox", urgency: "high")`.
public enum TaskHarness {
    /// What one run left behind.
    public struct Result: Sendable {
        /// Every setting after the run.
        public var settings: [String: SettingValue]
        /// The `Debug.writeLine` lines, in order.
        public var log: [String]
        /// The last progress reported.
        public var progress: UInt32
        /// Whether the instance ended (run returned, every deferral completed) within the timeout.
        public var finished: Bool
        /// The cancellation reason, when one was requested.
        public var cancellationReason: BackgroundTaskCancellationReason?
    }

    /// Runs `type` once with `trigger`, starting from `settings`.
    ///
    /// - Parameters:
    ///   - name: the task's name (`taskInstance.task.name`); the type's name by default.
    ///   - cancelAfter: request cancellation (with `reason`) this long after `run` starts.
    ///   - timeout: how long to wait for deferrals before giving up.
    public static func run<Task: BackgroundTask>(
        _ type: Task.Type, trigger: (any TriggerDetails)? = nil, name: String? = nil,
        settings: [String: SettingValue] = [:], cancelAfter: Duration? = nil,
        reason: BackgroundTaskCancellationReason = .abort, timeout: Duration = .seconds(10)
    ) throws -> Result {
        let run = Session(name: name ?? String(describing: type), trigger: trigger, settings: settings)
        defer { run.instance.lifetime.markRunReturned() }
        try ApplicationData.withStorage(run.storage) {
            try Debug.withSink(run.recorder.append) {
                run.cancel(after: cancelAfter, reason: reason)
                try type.init().run(run.instance)
            }
        }
        run.instance.lifetime.markRunReturned()
        return run.result(finished: run.instance.lifetime.waitUntilFinished(timeout: timeout))
    }

    /// Runs an ``AsyncBackgroundTask`` once; see ``run(_:trigger:name:settings:cancelAfter:reason:timeout:)``.
    public static func run<Task: AsyncBackgroundTask>(
        _ type: Task.Type, trigger: (any TriggerDetails)? = nil, name: String? = nil,
        settings: [String: SettingValue] = [:], cancelAfter: Duration? = nil,
        reason: BackgroundTaskCancellationReason = .abort, timeout: Duration = .seconds(10)
    ) async throws -> Result {
        let run = Session(name: name ?? String(describing: type), trigger: trigger, settings: settings)
        defer { run.instance.lifetime.markRunReturned() }
        let task = type.init()
        try await ApplicationData.withStorage(run.storage) {
            try await Debug.withSink(run.recorder.append) {
                run.cancel(after: cancelAfter, reason: reason)
                try await task.run(run.instance)
            }
        }
        run.instance.lifetime.markRunReturned()
        let deadline = ContinuousClock.now + timeout
        while !run.instance.lifetime.isFinished, ContinuousClock.now < deadline {
            try await _Concurrency.Task.sleep(for: .milliseconds(5))
        }
        return run.result(finished: run.instance.lifetime.isFinished)
    }

    /// What a run writes besides settings.
    private final class Recorder: Sendable {
        let lines = Mutex<[String]>([])
        let progress = Atomic<UInt32>(0)
        @Sendable func append(_ line: String) { lines.withLock { $0.append(line) } }
    }

    /// One run's instance, in-memory settings and recorder. They are bound to
    /// the run's task (task-local), so concurrent tests do not mix.
    private final class Session: Sendable {
        let storage: InMemorySettingsStorage
        let recorder = Recorder()
        let instance: BackgroundTaskInstance

        init(name: String, trigger: (any TriggerDetails)?, settings: [String: SettingValue]) {
            let recorder = recorder
            storage = InMemorySettingsStorage(settings)
            instance = BackgroundTaskInstance(
                task: BackgroundTaskRegistration(name: name, taskId: UUID()), triggerDetails: trigger,
                progressReporter: { recorder.progress.store($0, ordering: .relaxed) })
        }

        /// Requests cancellation after `delay` from a thread of its own (as the
        /// host's request arrives), with the run's settings and log bound, so
        /// the `canceled` handler sees them.
        func cancel(after delay: Duration?, reason: BackgroundTaskCancellationReason) {
            guard let delay else { return }
            let instance = instance
            let storage = storage
            let recorder = recorder
            Thread.detachNewThread {
                Thread.sleep(forTimeInterval: Double(delay.components.seconds) + Double(delay.components.attoseconds) / 1e18)
                ApplicationData.withStorage(storage) {
                    Debug.withSink(recorder.append) { instance.requestCancellation(reason) }
                }
            }
        }

        func result(finished: Bool) -> Result {
            Result(
                settings: storage.snapshot, log: recorder.lines.withLock { $0 },
                progress: recorder.progress.load(ordering: .relaxed), finished: finished,
                cancellationReason: instance.cancellationReason)
        }
    }
}
