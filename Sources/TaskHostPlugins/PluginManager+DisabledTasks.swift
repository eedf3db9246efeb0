import Foundation
import Logging
import Synchronization
import TaskHostConcurrency
package import TaskHostCore
import TaskHostManifest
import TaskHostStore

/// When a plugin's task that keeps crashing is disabled.
package struct CrashPolicy: Sendable, Equatable {
    /// Crashes of one task that disable it…
    package var limit: Int
    /// …when they happen within this window.
    package var window: Duration

    /// The default: 3 crashes in 5 minutes.
    package init(limit: Int = 3, window: Duration = .seconds(300)) {
        self.limit = max(1, limit)
        self.window = window
    }
}

extension PluginManager {
    /// Counts a crash of an instance of a plugin's task, and disables that
    /// task alone when it crashed too often (the dispatcher calls this with
    /// every outcome): its triggers are parked, the plugin's other tasks run on.
    package func recordOutcome(of task: RegisteredTask, _ outcome: InstanceOutcome, now: ContinuousClock.Instant = .now) {
        guard let plugin = task.plugin, case .crashed = outcome else { return }
        let policy = configuration.crashPolicy
        let key = CrashingTask(plugin: plugin, task: task.task.name)
        let count = state.withLock { state in
            var recent = state.crashes[key, default: []].filter { now - $0 < policy.window }
            recent.append(now)
            state.crashes[key] = recent
            return recent.count
        }
        guard count >= policy.limit else { return }
        // Not on the caller's thread: a scan in progress may hold the lock for a while.
        executor.execute { [self] in disable(task, plugin: plugin, outcome: outcome, count: count) }
    }

    private func disable(_ task: RegisteredTask, plugin: String, outcome: InstanceOutcome, count: Int) {
        let policy = configuration.crashPolicy
        let name = task.task.name
        let identity = task.app.identity.name
        scanLock.withLock { _ in
            // Only while this version of the plugin is the one registered.
            guard registry.lookup(app: identity, task: name)?.plugin == plugin else { return }
            let disabled = DisabledTask(
                plugin: plugin, task: name, app: identity,
                reason: "its instances crashed \(count) times within \(policy.window) (last: \(outcome)); "
                    + "fix it, then run `taskhost plugins enable \(plugin)/\(name)`",
                disabledAt: Date())
            do {
                try store.disableTask(disabled)
            } catch {
                logger.error("cannot record a disabled task", metadata: ["plugin": "\(plugin)", "task": "\(name)", "error": "\(error)"])
            }
            let all = state.withLock { state in
                state.crashes.removeValue(forKey: CrashingTask(plugin: plugin, task: name))
                state.disabledWhenRegistered[plugin, default: []].insert(name)
                return state.disabledWhenRegistered[plugin]!
            }
            registry.replace(plugin: plugin, with: registry.all.filter { $0.plugin == plugin && $0.task.name != name })
            park(all, of: identity)
            logger.error(
                "task disabled; its triggers wait in the queue, the plugin's other tasks run on",
                metadata: [
                    "plugin": "\(plugin)", "task": "\(name)", "reason": "\(disabled.reason)",
                ])
        }
    }

    /// Registers `tasks` as plugin `plugin`'s, except its `disabled` ones,
    /// whose triggers are parked; the app's other triggers are unparked
    /// (those of tasks enabled again among them).
    func register(_ tasks: [RegisteredTask], plugin: String, identity: String, disabled: Set<String>) {
        registry.replace(plugin: plugin, with: tasks.filter { !disabled.contains($0.task.name) })
        setParked(identity, false)
        park(disabled, of: identity)
        state.withLock { $0.disabledWhenRegistered[plugin] = disabled }
    }

    /// Parks the triggers of the tasks `names` of app `identity`: in the
    /// registry (those claimed later) and in the queue (those waiting).
    private func park(_ names: Set<String>, of identity: String) {
        registry.setParkedTasks(identity, names)
        for name in names.sorted() {
            do {
                try store.park(app: identity, task: name)
            } catch {
                logger.error("cannot park triggers", metadata: ["app": "\(identity)", "task": "\(name)", "error": "\(error)"])
            }
        }
    }

    /// The disabled tasks in the store, by plugin.
    func disabledTaskNames() -> [String: Set<String>] {
        do {
            return Dictionary(grouping: try store.disabledTasks(), by: \.plugin).mapValues { Set($0.map(\.task)) }
        } catch {
            logger.error("cannot read disabled tasks", metadata: ["error": "\(error)"])
            return [:]
        }
    }
}
