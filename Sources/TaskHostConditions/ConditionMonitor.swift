import Synchronization
package import TaskHostManifest

/// A condition of a task that does not hold now, and why.
package struct UnmetCondition: Sendable, Equatable, CustomStringConvertible {
    /// The condition.
    package var condition: TaskCondition
    /// What its fact reads (or why it cannot be read).
    package var detail: String

    /// Creates one.
    package init(condition: TaskCondition, detail: String) {
        self.condition = condition
        self.detail = detail
    }

    /// `InternetAvailable (no default route in /proc/net/route or /proc/net/ipv6_route)`.
    package var description: String { "\(condition.rawValue) (\(detail))" }
}

/// The conditions of this host, as the dispatcher asks about them: which of
/// a task's conditions do not hold now (cheap, never blocks: it reads the
/// observers' last readings), and a call after each change.
package final class ConditionMonitor: Sendable {
    /// The observers, one per fact; a fact without one is not observable here.
    package let observers: [ConditionFact: any ConditionObserver]
    private let changes = Changes()
    private let lifecycle: Mutex<(start: @Sendable () -> Void, stop: @Sendable () -> Void)>

    /// A monitor over `observers` (the first of each fact counts). `start` and
    /// `stop` begin and end the system observers' thread (``SystemConditions``).
    package init(
        observers: [any ConditionObserver], start: @escaping @Sendable () -> Void = {}, stop: @escaping @Sendable () -> Void = {}
    ) {
        var byFact: [ConditionFact: any ConditionObserver] = [:]
        for observer in observers where byFact[observer.fact] == nil { byFact[observer.fact] = observer }
        self.observers = byFact
        self.lifecycle = Mutex((start, stop))
        for observer in byFact.values {
            observer.onChange { [changes] _ in changes.changed() }
        }
    }

    /// Starts observing (the system observers' thread); once.
    package func start() {
        let start = lifecycle.withLock { lifecycle in
            defer { lifecycle.start = {} }
            return lifecycle.start
        }
        start()
    }

    /// Stops observing.
    package func stop() {
        let stop = lifecycle.withLock { lifecycle in
            defer { lifecycle.stop = {} }
            return lifecycle.stop
        }
        stop()
    }

    /// The reading of `fact` now.
    package func reading(_ fact: ConditionFact) -> FactReading {
        observers[fact]?.current ?? FactReading(value: nil, detail: "not observed by this host")
    }

    /// The conditions among `conditions` that do not hold now, in their order.
    package func unmet(_ conditions: [TaskCondition]) -> [UnmetCondition] {
        conditions.compactMap { condition in
            let reading = reading(condition.fact)
            guard let value = reading.value else {
                return UnmetCondition(condition: condition, detail: "cannot be observed on this host: \(reading.detail)")
            }
            return value == condition.wantsFact ? nil : UnmetCondition(condition: condition, detail: reading.detail)
        }
    }

    /// Whether every one of `conditions` holds now.
    package func hold(_ conditions: [TaskCondition]) -> Bool { unmet(conditions).isEmpty }

    /// A number bumped by each change of a fact's value.
    package var generation: Int { changes.state.withLock { $0.generation } }

    /// Calls `observer` after each change of a fact's value (on the thread that
    /// saw it; it must not block).
    package func observeChanges(_ observer: @escaping @Sendable () -> Void) {
        changes.state.withLock { $0.observers.append(observer) }
    }
}

/// A generation bumped by each change, and who to tell.
private final class Changes: Sendable {
    let state = Mutex<(generation: Int, observers: [@Sendable () -> Void])>((0, []))

    func changed() {
        let observers = state.withLock { state in
            state.generation += 1
            return state.observers
        }
        for observer in observers { observer() }
    }
}
