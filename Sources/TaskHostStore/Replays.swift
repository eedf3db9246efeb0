package import Foundation

/// Why a past instance's trigger cannot be queued again (`taskhost replay`).
package struct ReplayError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is, for code to act on (the message is for people).
    package enum Code: String, Sendable, CaseIterable {
        /// No instance has that id (or id prefix).
        case unknownInstance
        /// The instance is known, but the trigger that started it is not in
        /// the queue, so its payload was not kept (an instance of `taskhost run`).
        case payloadNotKept
        /// The store failed (``underlying`` is the ``StoreError``).
        case store
    }

    /// What kind of failure this is.
    package var code: Code
    /// What went wrong and what to do.
    package var message: String
    /// The ``StoreError`` when the store failed.
    package var underlying: StoreError?

    /// Creates an error.
    package init(_ code: Code, _ message: String, underlying: StoreError? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    package var description: String { message }
}

/// Replays: a past instance's trigger queued again (`taskhost replay`).
package protocol ReplayStore: Sendable {
    /// Queues the trigger that started the instance `idPrefix` names (its
    /// id, or its first characters, 4 at least) again, as a new pending
    /// trigger marked as a replay of that instance; returns the new trigger.
    ///
    /// Only triggers that went through the queue (pushes, `taskhost
    /// trigger`, timers) can be replayed: the queue keeps every trigger's
    /// payload, `taskhost run` keeps none. The new trigger has no time to
    /// live (the original's has usually run out) and starts at attempt 1.
    func replay(instance idPrefix: String, now: Date) throws(ReplayError) -> QueuedTrigger
}

extension ReplayStore where Self: TaskStore {
    /// The instance a replay of `idPrefix` repeats: every backend's first
    /// step, with the same errors (``ReplayError/Code/unknownInstance``,
    /// ``ReplayError/Code/store``).
    package func instanceToReplay(_ idPrefix: String) throws(ReplayError) -> InstanceRecord {
        let instance: InstanceRecord?
        do {
            instance = try self.instance(idPrefix: idPrefix)
        } catch {
            throw ReplayError(.store, error.description, underlying: error)
        }
        guard let instance else {
            throw ReplayError(.unknownInstance, "no instance \"\(idPrefix)\" (see taskhost history for the ids of past instances)")
        }
        return instance
    }
}

extension ReplayError {
    /// The error of a replay whose original trigger is not in the queue
    /// (an instance of `taskhost run`, or a trigger pruned since).
    package static func payloadNotKept(_ instance: InstanceRecord) -> ReplayError {
        ReplayError(
            .payloadNotKept,
            """
            instance \(instance.id) of \(instance.task) was not started from the queue: its trigger \(instance.triggerId) \
            is not in it, so its payload was not kept (taskhost keeps the payload of queued triggers only: pushes, \
            taskhost trigger, timers; not of taskhost run; and only until serve's --keep-done prunes them). \
            Run the task again with the same input instead: \
            taskhost run \(instance.task) --raw-content TEXT (or --raw-file, or --arg)
            """)
    }
}

extension ReplayStore {
    /// Replays the instance `idPrefix` names now.
    package func replay(instance idPrefix: String) throws(ReplayError) -> QueuedTrigger {
        try replay(instance: idPrefix, now: Date())
    }
}
