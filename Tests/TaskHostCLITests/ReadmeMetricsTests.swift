import Foundation
import TaskHostCore
import TaskHostStore
import TaskHostTestSupport
import Testing

/// README.md's metrics table against ``HostMetrics/catalog``: every metric
/// the host serves is documented with its type and labels.
@Suite struct ReadmeMetricsTests {
    @Test func everyMetricIsDocumentedWithItsTypeAndLabels() throws {
        let readme = try String(contentsOfFile: TestSupport.repository + "/README.md", encoding: .utf8)
        let rows = readme.split(separator: "\n").filter { $0.hasPrefix("| `taskhost_") }
        for family in HostMetrics.catalog {
            let row = rows.first { $0.hasPrefix("| `\(family.name)` |") }
            #expect(row != nil, "README.md's metrics table (## Operating it, ### Metrics) lacks \(family.name)")
            guard let row else { continue }
            let cells = row.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            #expect(cells.count >= 4 && cells[1] == family.kind.rawValue, "\(family.name): \(row)")
            let labels = family.labels.isEmpty ? "none" : family.labels.map { "`\($0)`" }.joined(separator: ", ")
            #expect(cells.count >= 4 && cells[2] == labels, "\(family.name): \(row)")
        }
        let documented = Set(rows.compactMap { $0.split(separator: "`").dropFirst().first.map(String.init) })
        let unknown = documented.subtracting(HostMetrics.catalog.map(\.name))
        #expect(unknown.isEmpty, "README.md documents metrics the host does not serve: \(unknown.sorted())")
    }
}
