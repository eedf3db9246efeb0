import Foundation
import TaskHostConcurrency
import TaskHostCore
import TaskHostStore
import TaskHostStorePostgres
import TaskHostTestSupport
import Testing

/// `taskhost history` on a PostgreSQL store that several hosts share: a HOST
/// NAME column names the host each instance ran on (`taskhost logs` too).
@Suite(
    .enabled("needs PostgreSQL (skipped when absent outside CI; the line above the results says why)") { await PostgresServer.testsRun() })
struct HistoryHostNamesCLITests {
    /// Where the stores and the `taskhost` processes are waited for: never the cooperative pool.
    static let threads = BlockingExecutor(name: "history-cli-tests", maxThreads: 2)

    @Test func historyNamesTheHostOfEachInstance() async throws {
        let database = try await TestDatabase()
        do {
            let state = TestSupport.temporaryDirectory()
            let (history, logs) = try await Self.threads.run { () throws(any Error) in
                for (host, name, id, offset) in [("host-a", "alpha", "aaaa0001", 0.0), ("host-b", "beta", "bbbb0002", 1)] {
                    let store = try database.store(hostId: host)
                    defer { store.close() }
                    try store.heartbeat(name: name, tasks: ["com.example.app/T"])
                    try store.insertInstance(
                        InstanceRecord(
                            id: id, app: "com.example.app", task: "T", triggerKind: .application, triggerId: "trigger-\(id)", attempt: 1,
                            hostPid: 10, startedAt: Date(timeIntervalSince1970: 1_800_000_000 + offset)))
                }
                let history = try TaskHostCommand.run(["history", "--store", database.url], in: state, stateDirectory: state)
                let logs = try TaskHostCommand.run(["logs", "bbbb0002", "--store", database.url], in: state, stateDirectory: state)
                return (history, logs)
            }
            #expect(history.status == 0, "\(history.stderr)")
            let lines = history.stdout.split(separator: "\n").map(String.init)
            #expect(lines.count == 3, "\(history.stdout)")
            #expect(lines.first?.contains("  HOST  HOST NAME  STARTED") == true, "\(history.stdout)")
            #expect(lines.dropFirst().first?.hasPrefix("bbbb0002") == true && lines.dropFirst().first?.contains("  beta  ") == true)
            #expect(lines.last?.hasPrefix("aaaa0001") == true && lines.last?.contains("  alpha  ") == true, "\(history.stdout)")
            #expect(logs.status == 0 && logs.stdout.contains("\nhost: beta\n"), "\(logs.stdout)\(logs.stderr)")
        } catch {
            try? await database.drop()
            throw error
        }
        try await database.drop()
    }
}
