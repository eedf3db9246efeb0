/// A task's `"Conditions"`: known names (with a suggestion for a typo), each
/// once, and no pair that can never hold together.
extension ManifestValidator {
    /// The conditions of `node`, an array of names, after reporting what is wrong with it.
    mutating func parseConditions(_ node: JSONNode, task: String?) -> [TaskCondition] {
        guard case .array(let entries) = node.value else {
            report(
                "Conditions must be an array of condition names, e.g. [\"InternetAvailable\"], found \(node.value.typeName)",
                at: node.position, task: task)
            return []
        }
        let known = TaskCondition.allCases.map(\.rawValue)
        var conditions: [TaskCondition] = []
        var seen: [TaskCondition: SourcePosition] = [:]
        for entry in entries {
            guard let name = string(entry, field: "a condition", task: task) else { continue }
            guard let condition = TaskCondition(rawValue: name) else {
                let hint = Self.closest(to: name, in: known).map { " (did you mean \"\($0)\"?)" } ?? ""
                report(
                    "unknown condition \"\(name)\"\(hint); known conditions: \(known.joined(separator: ", "))",
                    at: entry.position, task: task)
                continue
            }
            if let first = seen[condition] {
                report(
                    "duplicate condition \"\(name)\" (first listed at line \(first.line), column \(first.column)); list each condition once",
                    at: entry.position, task: task)
                continue
            }
            if let opposite = condition.contradiction, let other = seen[opposite] {
                report(
                    "conditions \"\(opposite.rawValue)\" (line \(other.line), column \(other.column)) and \"\(name)\" can never hold together, "
                        + "so the task would never run; keep one",
                    at: entry.position, task: task)
                continue
            }
            seen[condition] = entry.position
            conditions.append(condition)
        }
        return conditions
    }
}
