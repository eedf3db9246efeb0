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

extension ReplayStore {
    /// Replays the instance `idPrefix` names now.
    package func replay(instance idPrefix: String) throws(ReplayError) -> QueuedTrigger {
        try replay(instance: idPrefix, now: Date())
    }
}
