package import TaskHostManifest

/// A fact that a test sets (the test double of the system observers): tests
/// drive conditions with it, true, false or not observable, and see triggers
/// wait and resume.
package final class DrivenCondition: ConditionObserver {
    package let fact: ConditionFact
    package let source = "set by a test"
    private let state: FactState

    /// A fact that starts as `value` (`nil`: not observable).
    package init(_ fact: ConditionFact, value: Bool?) {
        self.fact = fact
        state = FactState(FactReading(value: value, detail: "driven: \(value.map(String.init) ?? "not observable")"))
    }

    package var current: FactReading { state.current }

    package func onChange(_ observer: @escaping @Sendable (FactReading) -> Void) { state.onChange(observer) }

    /// Sets the fact's value; observers hear of it when it changed.
    package func set(_ value: Bool?) {
        state.publish(FactReading(value: value, detail: "driven: \(value.map(String.init) ?? "not observable")"))
    }
}
