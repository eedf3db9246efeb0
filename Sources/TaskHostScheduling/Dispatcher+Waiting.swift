import Foundation
import Logging
import Synchronization
import TaskHostConditions
import TaskHostManifest
import TaskHostPlugins
import TaskHostStore

/// Triggers out of the claim's way: parked ones (their task is not loaded
/// here) and waiting ones (their task's conditions do not hold), and how the
/// dispatcher brings them back.
extension Dispatcher {
    /// Where the waiting triggers were last resumed: the registry's and the conditions' generations.
    struct ResumeMark: Equatable {
        var registry: Int
        var conditions: Int
    }

    /// Makes the parked triggers of the registered tasks pending again, once
    /// per change of the registry (and at start: tasks loaded since the last run).
    func unparkRegisteredTasks() {
        let generation = registry.generation
        let mark = state.withLock { UnparkMark(generation: generation, parkedByRuns: $0.parkedByRuns) }
        guard state.withLock({ $0.unparked }) != mark else { return }
        let tasks = registry.all.map { (app: $0.app.identity.name, task: $0.task.name) }
        do {
            let count = try store.unpark(tasks: tasks)
            if count > 0 { logger.notice("parked triggers whose task is loaded now are queued again", metadata: ["count": "\(count)"]) }
            state.withLock { $0.unparked = mark }
        } catch {
            logger.error("cannot unpark triggers", metadata: ["error": "\(error)"])
        }
    }

    /// Makes the waiting triggers of the registered tasks whose conditions
    /// all hold pending again, once per change of a condition or of the
    /// registry (and at start: triggers left waiting by the last run), and
    /// every ``resumeInterval`` with a shared store (another host may have made
    /// them wait). The generations are read before the conditions, so a change
    /// that comes after is seen at the next claim.
    func resumeTasksWhoseConditionsHold() {
        let mark = ResumeMark(registry: registry.generation, conditions: conditions?.generation ?? 0)
        let now = ContinuousClock.now
        let (last, lastAt) = state.withLock { ($0.resumed, $0.resumedAt) }
        let due = resumeInterval.map { interval in lastAt.map { now - $0 >= interval } ?? true } ?? false
        guard last != mark || due else { return }
        let tasks = registry.all.filter { waitReason($0.task.conditions) == nil }.map { (app: $0.app.identity.name, task: $0.task.name) }
        do {
            let count = try store.resumeWaiting(tasks: tasks)
            if count > 0 { logger.notice("waiting triggers whose conditions hold now are queued again", metadata: ["count": "\(count)"]) }
            state.withLock { state in
                state.resumed = mark
                state.resumedAt = now
            }
        } catch {
            logger.error("cannot resume waiting triggers", metadata: ["error": "\(error)"])
        }
    }

    /// Why a trigger of a task requiring `required` waits (its last error);
    /// `nil` when they all hold (or this dispatcher checks no conditions).
    func waitReason(_ required: [TaskCondition]) -> String? {
        guard let conditions, !required.isEmpty else { return nil }
        let unmet = conditions.unmet(required)
        guard !unmet.isEmpty else { return nil }
        return "waiting for its task's conditions: " + unmet.map(\.description).joined(separator: "; ")
            + "; it runs once they hold, or expires by its time to live"
    }

    /// Logs each change of a fact the conditions read (`notice`: it starts or stops triggers).
    func logConditionChanges() {
        guard let conditions else { return }
        for (fact, observer) in conditions.observers {
            observer.onChange { [logger] reading in
                let conditions = TaskCondition.allCases.filter { $0.fact == fact }
                let holding = conditions.filter { reading.value == $0.wantsFact }.map(\.rawValue)
                let notHolding = conditions.filter { reading.value != $0.wantsFact }.map(\.rawValue)
                logger.notice(
                    "condition changed",
                    metadata: [
                        "holds": "\(holding.isEmpty ? "-" : holding.joined(separator: ","))",
                        "doesNotHold": "\(notHolding.isEmpty ? "-" : notHolding.joined(separator: ","))",
                        "detail": "\(reading.detail)",
                    ])
            }
        }
    }

    /// Why a trigger of `task` of `app` waits parked: its last error.
    static func notRunnableHere(app: String, task: String, registry: TaskRegistry) -> String {
        if registry.isParked(app: app, task: task) {
            return "task \"\(task)\" of \(app) is disabled or its plugin quarantined on this host (taskhost plugins list says why); "
                + "this trigger runs once it is active again"
        }
        return "task \"\(task)\" of \(app) not loaded on this host (its plugin was removed or is being replaced); "
            + "this trigger runs as soon as a plugin declaring it is in the plugins directory, or expires by its time to live"
    }
}
