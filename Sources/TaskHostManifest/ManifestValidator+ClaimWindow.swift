extension ManifestValidator {
    /// The longest claim window a task may ask for: one minute (a push waits
    /// that long before it runs whenever a claiming listener is connected).
    static let maxClaimWindowMs = 60_000

    /// A task's `ClaimWindowMs`: a whole number of milliseconds from 0 (listeners
    /// only observe) to ``maxClaimWindowMs``.
    mutating func parseClaimWindow(_ node: JSONNode, task: String?) -> Duration {
        guard case .number(let value) = node.value, value == value.rounded(), (0...Double(Self.maxClaimWindowMs)).contains(value)
        else {
            let found: String
            if case .number(let value) = node.value { found = Self.format(value) } else { found = node.value.typeName }
            report(
                "ClaimWindowMs is \(found); it must be a whole number of milliseconds from 0 (listeners only observe) to \(Self.maxClaimWindowMs)",
                at: node.position, task: task)
            return TaskDeclaration.defaultClaimWindow
        }
        return .milliseconds(Int64(value))
    }
}
