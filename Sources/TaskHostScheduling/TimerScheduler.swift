package import Foundation
package import Logging
import TaskHostConcurrency
import TaskHostCore
import TaskHostManifest
package import TaskHostPlugins
package import TaskHostStore

/// Fires time triggers: a task with `{"Type": "Time", "IntervalMinutes": N}`
/// runs once per period of N minutes, counted from the moment a host first
/// saw the task (stored, so restarts do not move it; hosts sharing a
/// PostgreSQL store share it: the first to tick takes it, the others keep
/// it). Each period's trigger has an id derived from the period, and
/// enqueueing is idempotent, so neither a restart nor a second host ever
/// fires one period twice. Missed periods are not caught up:
/// only the current one fires, as on Windows.
package struct TimerScheduler: Sendable {
    /// What the scheduler needs of the store: the queue and the timers' anchors.
    package typealias Store = any TriggerQueueStore & ChannelStore

    /// Where period triggers are enqueued and anchors kept.
    package let store: Store
    /// The tasks whose time triggers are scheduled.
    package let registry: TaskRegistry
    private let logger: Logger
    /// The thread ``run(interval:onEnqueue:)`` ticks on.
    private let ticks = BlockingExecutor(name: "taskhost-timers", maxThreads: 1)

    /// Creates a scheduler.
    package init(store: Store, registry: TaskRegistry, logger: Logger = Logger(label: "taskhost.timers")) {
        self.store = store
        self.registry = registry
        self.logger = logger
    }

    /// Enqueues the triggers due at `now`; returns them (already-queued periods included).
    @discardableResult
    package func tick(now: Date = Date()) throws(StoreError) -> [NewTrigger] {
        var due: [NewTrigger] = []
        for registered in registry.all {
            for case .time(let minutes, let oneShot) in registered.task.triggers {
                let app = registered.app.identity.name
                let task = registered.task.name
                let anchor = try store.timerAnchor(app: app, task: task, default: now)
                let period = Int((now.timeIntervalSince(anchor) / (Double(minutes) * 60)).rounded(.down))
                guard period >= 1 else { continue }
                let name = oneShot ? "once" : String(period)
                let event = TriggerEvent(kind: .time, triggerId: Self.triggerId(app: app, task: task, minutes: minutes, period: name))
                due.append(NewTrigger(app: app, task: task, event: event))
            }
        }
        try store.enqueue(due)
        return due
    }

    /// Ticks every `interval` until the calling task is cancelled. Each tick
    /// runs on a thread of ``ticks``: its store calls block their thread (on
    /// PostgreSQL a round trip, up to the connect timeout when the server is
    /// unreachable), which must not be one of the cooperative pool's.
    package func run(interval: Duration = .seconds(1), onEnqueue: @Sendable () -> Void = {}) async {
        let scheduler = self
        while !Task.isCancelled {
            do {
                let due = try await ticks.run { () throws(StoreError) -> [NewTrigger] in try scheduler.tick() }
                if !due.isEmpty { onEnqueue() }
            } catch {
                logger.error("cannot enqueue timer triggers", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: interval)
        }
    }

    /// A stable id for one period of one timer.
    static func triggerId(app: String, task: String, minutes: Int, period: String) -> String {
        "t" + StableID.hex(for: "timer\u{0}\(app)\u{0}\(task)\u{0}\(minutes)\u{0}\(period)")
    }
}
