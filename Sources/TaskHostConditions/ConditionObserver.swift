import Synchronization
package import TaskHostManifest

/// What an observer last read of a fact: its value, or `nil` when this host
/// cannot observe it, and a line a person can act on (what was read, or why not).
package struct FactReading: Sendable, Equatable {
    /// The fact's value; `nil`: not observable on this host (a condition on it does not hold).
    package var value: Bool?
    /// What was read (`default route via eth0`), or why nothing could be (`/run/systemd/sessions does not exist`).
    package var detail: String

    /// Creates a reading.
    package init(value: Bool?, detail: String) {
        self.value = value
        self.detail = detail
    }
}

/// One fact about the host that conditions read (``ConditionFact``): its
/// current value, cheap to ask from any thread (never blocks), and a change
/// stream. An observer that reads the system does its blocking reads on a
/// thread of its own, never on Swift's cooperative pool; a test double
/// (``DrivenCondition``) is set by the test.
package protocol ConditionObserver: AnyObject, Sendable {
    /// The fact it observes.
    var fact: ConditionFact { get }
    /// Where the value comes from on Linux (for `taskhost doctor` and the logs).
    var source: String { get }
    /// The last reading.
    var current: FactReading { get }
    /// Calls `observer` after each change of ``current``'s value (on the
    /// observer's thread; it must not block).
    func onChange(_ observer: @escaping @Sendable (FactReading) -> Void)
}

extension ConditionObserver {
    /// Each change of the fact's value, from now on, as an async sequence.
    package func changes() -> AsyncStream<FactReading> {
        let (stream, continuation) = AsyncStream.makeStream(of: FactReading.self, bufferingPolicy: .bufferingNewest(16))
        onChange { continuation.yield($0) }
        return stream
    }
}

/// The bookkeeping every observer shares: the current reading and who to
/// tell when its value changes.
package final class FactState: Sendable {
    private let state: Mutex<(reading: FactReading, observers: [@Sendable (FactReading) -> Void])>

    /// Starts with `reading`.
    package init(_ reading: FactReading) {
        state = Mutex((reading, []))
    }

    /// The last reading.
    package var current: FactReading { state.withLock { $0.reading } }

    /// Adds an observer of changes.
    package func onChange(_ observer: @escaping @Sendable (FactReading) -> Void) {
        state.withLock { $0.observers.append(observer) }
    }

    /// Records `reading`; tells the observers when its value differs from the last one's.
    package func publish(_ reading: FactReading) {
        let observers = state.withLock { state -> [@Sendable (FactReading) -> Void] in
            let changed = state.reading.value != reading.value
            state.reading = reading
            return changed ? state.observers : []
        }
        for observer in observers { observer(reading) }
    }
}
