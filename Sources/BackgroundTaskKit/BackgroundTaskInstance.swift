import Dispatch
import Synchronization

#if canImport(FoundationEssentials)
public import FoundationEssentials  // not Foundation: see "A worker without Foundation" in the README
import Glibc
#else
public import Foundation
#endif

/// The registration of a task (Windows' `IBackgroundTaskRegistration`).
public struct BackgroundTaskRegistration: Sendable, Equatable {
    /// The task's `Name` in the manifest.
    public let name: String
    /// A stable id for the registered task.
    public let taskId: UUID

    /// Creates a registration (the host does this; tests may too).
    public init(name: String, taskId: UUID) {
        self.name = name
        self.taskId = taskId
    }
}

/// Called when the host asks the instance to stop: the instance and the reason.
public typealias BackgroundTaskCanceledEventHandler =
    @Sendable (BackgroundTaskInstance, BackgroundTaskCancellationReason) -> Void

/// One run of a task (Windows' `IBackgroundTaskInstance`).
///
/// Handed to ``BackgroundTask/run(_:)``. Safe to use from any thread or task.
public final class BackgroundTaskInstance: Sendable {
    /// The id of this instance; `taskhost logs` takes it.
    public let instanceId: UUID
    /// The task this instance runs.
    public let task: BackgroundTaskRegistration
    /// What the trigger handed over: a ``RawNotification`` for push triggers,
    /// ``ApplicationTriggerDetails`` for application triggers.
    public let triggerDetails: (any TriggerDetails)?
    /// The trigger's stable id. Delivery is at-least-once: after a crash the
    /// same trigger may run again, with the same id, so a task that must not
    /// act twice records the ids it has handled.
    public let triggerId: String
    /// 1 for the first run of a trigger, 2 for its first retry, and so on.
    public let attempt: Int
    /// How many times the system suspended this instance. taskhost never
    /// suspends instances, so this is always 0; it is here for ported code.
    public let suspendedCount: UInt32 = 0

    package let lifetime: InstanceLifetime

    /// Creates an instance. The plugin runtime does this; tests may too, with
    /// `progressReporter` observing ``progress``.
    public init(
        instanceId: UUID = UUID(),
        task: BackgroundTaskRegistration,
        triggerDetails: (any TriggerDetails)?,
        triggerId: String = UUID().uuidString,
        attempt: Int = 1,
        progressReporter: (@Sendable (UInt32) -> Void)? = nil
    ) {
        self.instanceId = instanceId
        self.task = task
        self.triggerDetails = triggerDetails
        self.triggerId = triggerId
        self.attempt = attempt
        self.lifetime = InstanceLifetime(progressReporter: progressReporter)
    }

    /// The task's progress, reported to the host as it is set (0 to 100 by
    /// convention, as on Windows).
    public var progress: UInt32 {
        get { lifetime.progress }
        set { lifetime.setProgress(newValue) }
    }

    /// Called once when the host asks the instance to stop (time limit,
    /// shutdown, uninstall…). The instance then has a short grace period to
    /// finish: return from `run` and complete its deferrals. Set after the
    /// request arrived, it is called at once.
    public var canceled: BackgroundTaskCanceledEventHandler? {
        get { lifetime.canceledHandler }
        set {
            if let reason = lifetime.setCanceledHandler(newValue), let newValue {
                newValue(self, reason)
            }
        }
    }

    /// The reason the host asked the instance to stop, or `nil` while it has not.
    public var cancellationReason: BackgroundTaskCancellationReason? { lifetime.cancellationReason }

    /// Whether the host asked the instance to stop.
    public var isCanceled: Bool { cancellationReason != nil }

    /// Keeps the instance alive after `run` returns, until the deferral's
    /// ``BackgroundTaskDeferral/complete()`` is called. Take it before starting
    /// asynchronous work from `run`.
    public func getDeferral() -> BackgroundTaskDeferral {
        lifetime.openDeferral()
        return BackgroundTaskDeferral(lifetime: lifetime)
    }

    /// Asks the instance to stop: records the reason and calls ``canceled``.
    /// Only the first request counts. The plugin runtime calls this when the
    /// host asks; tests call it to exercise a task's cancellation path.
    public func requestCancellation(_ reason: BackgroundTaskCancellationReason) {
        if let handler = lifetime.cancel(reason) {
            handler(self, reason)
        }
    }
}

/// Keeps an instance alive until ``complete()`` (Windows' `BackgroundTaskDeferral`).
public final class BackgroundTaskDeferral: Sendable {
    private let lifetime: InstanceLifetime
    private let completed = Atomic<Bool>(false)

    init(lifetime: InstanceLifetime) {
        self.lifetime = lifetime
    }

    /// Tells the host the deferred work is done. Calling it again does nothing.
    public func complete() {
        guard completed.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
            Debug.writeLine("BackgroundTaskDeferral.complete() called more than once; ignored")
            return
        }
        lifetime.closeDeferral()
    }
}

/// The lifetime rule of an instance: it ends once `run` has returned and
/// every deferral is complete.
package final class InstanceLifetime: Sendable {
    private struct State {
        var runReturned = false
        var openDeferrals = 0
        var finished = false
        var progress: UInt32 = 0
        var cancellationReason: BackgroundTaskCancellationReason?
        var canceledHandler: BackgroundTaskCanceledEventHandler?
        var cancelHooks: [@Sendable (BackgroundTaskCancellationReason) -> Void] = []
    }

    private let state = PosixMutex(State())
    private let done = DispatchSemaphore(value: 0)
    private let progressReporter: (@Sendable (UInt32) -> Void)?

    init(progressReporter: (@Sendable (UInt32) -> Void)?) {
        self.progressReporter = progressReporter
    }

    var progress: UInt32 { state.withLock { $0.progress } }
    var cancellationReason: BackgroundTaskCancellationReason? { state.withLock { $0.cancellationReason } }
    var canceledHandler: BackgroundTaskCanceledEventHandler? { state.withLock { $0.canceledHandler } }
    package var isFinished: Bool { state.withLock { $0.finished } }

    func setProgress(_ value: UInt32) {
        state.withLock { $0.progress = value }
        progressReporter?(value)
    }

    /// Stores the handler; returns the reason when cancellation already happened.
    func setCanceledHandler(_ handler: BackgroundTaskCanceledEventHandler?) -> BackgroundTaskCancellationReason? {
        state.withLock { state in
            state.canceledHandler = handler
            return state.cancellationReason
        }
    }

    /// Registers a runtime hook run on cancellation (e.g. cancel the Swift Task).
    func onCancel(_ hook: @escaping @Sendable (BackgroundTaskCancellationReason) -> Void) {
        let reason: BackgroundTaskCancellationReason? = state.withLock { state in
            if state.cancellationReason == nil { state.cancelHooks.append(hook) }
            return state.cancellationReason
        }
        if let reason { hook(reason) }
    }

    /// Records the first cancellation; returns the handler to call, if any.
    func cancel(_ reason: BackgroundTaskCancellationReason) -> BackgroundTaskCanceledEventHandler? {
        let (handler, hooks) = state.withLock {
            state -> (BackgroundTaskCanceledEventHandler?, [@Sendable (BackgroundTaskCancellationReason) -> Void]) in
            guard state.cancellationReason == nil else { return (nil, []) }
            state.cancellationReason = reason
            defer { state.cancelHooks = [] }
            return (state.canceledHandler, state.cancelHooks)
        }
        for hook in hooks { hook(reason) }
        return handler
    }

    func openDeferral() {
        state.withLock { $0.openDeferrals += 1 }
    }

    func closeDeferral() {
        update { $0.openDeferrals -= 1 }
    }

    func runReturned() {
        update { $0.runReturned = true }
    }

    /// Blocks until the instance is over.
    func waitUntilFinished() {
        done.wait()
        done.signal()  // later waiters pass too
    }

    /// Blocks until the instance is over or `timeout` passes; returns whether it is over.
    package func waitUntilFinished(timeout: Duration) -> Bool {
        let nanoseconds = timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000
        guard done.wait(timeout: .now() + .nanoseconds(Int(nanoseconds))) == .success else { return false }
        done.signal()
        return true
    }

    /// Marks `run` as returned (the testing harness calls `run` itself).
    package func markRunReturned() { runReturned() }

    private func update(_ change: (inout State) -> Void) {
        let finishedNow = state.withLock { state -> Bool in
            change(&state)
            guard !state.finished, state.runReturned, state.openDeferrals <= 0 else { return false }
            state.finished = true
            return true
        }
        if finishedNow { done.signal() }
    }
}
