/// Thins out a stream of progress values so that at most one goes out per
/// ``interval``, and the last one always does.
///
/// A task may set `progress` in a tight loop; each value sent is a frame on
/// the worker's IPC socket, and each value recorded is a write to the store. The
/// coalescer lets a value through at once when the previous one went out at
/// least ``interval`` ago, and otherwise holds it (a newer value replaces the
/// held one) until ``deadline``, when ``due(at:)`` lets it through, or until
/// the end, when ``flush(at:)`` does. A value equal to the last one let
/// through is not let through again.
///
/// A plain value with no clock or lock of its own: the caller passes the time
/// and serializes calls (the worker under a lock, the host on the instance's
/// supervisor thread), which keeps it testable without waiting.
package struct ProgressCoalescer: Sendable {
    /// The least time between two values let through.
    package let interval: Duration
    private var lastSent: UInt32?
    private var lastSentAt: ContinuousClock.Instant?
    private var held: UInt32?

    /// Creates a coalescer that lets at most one value through per `interval`.
    package init(interval: Duration) {
        self.interval = interval
    }

    /// The value held back, if any (the next one ``due(at:)`` or ``flush(at:)`` lets through).
    package var heldValue: UInt32? { held }

    /// When the held value is due, or `nil` when none is held.
    package var deadline: ContinuousClock.Instant? {
        guard held != nil, let lastSentAt else { return nil }
        return lastSentAt + interval
    }

    /// A new value at `now`: returns it when it goes out now, or `nil` when it
    /// is held (until ``deadline``) or is the value that went out last.
    package mutating func offer(_ value: UInt32, at now: ContinuousClock.Instant) -> UInt32? {
        if let lastSentAt, now < lastSentAt + interval {
            held = value
            return nil
        }
        held = nil
        return emit(value, at: now)
    }

    /// The held value once its deadline has come (`nil` before, or when none is held).
    package mutating func due(at now: ContinuousClock.Instant) -> UInt32? {
        guard let held, let deadline, now >= deadline else { return nil }
        self.held = nil
        return emit(held, at: now)
    }

    /// The held value whatever the time (the instance is ending), or `nil`.
    package mutating func flush(at now: ContinuousClock.Instant) -> UInt32? {
        guard let held else { return nil }
        self.held = nil
        return emit(held, at: now)
    }

    private mutating func emit(_ value: UInt32, at now: ContinuousClock.Instant) -> UInt32? {
        guard value != lastSent else { return nil }
        lastSent = value
        lastSentAt = now
        return value
    }
}
