import Foundation
import TaskHostCore
import TaskHostShared
import TaskHostStore
import TaskHostTestSupport
import Testing

@testable import TaskHostStorePostgres

/// PostgreSQL restarted under a host in the middle of a burst, on a cluster of
/// the test's own: pushes are refused (503) while it is away, never
/// acknowledged without a commit; the host reconnects by itself, and every
/// acknowledged push runs.
@Suite(
    .serialized,
    .enabled("needs PostgreSQL (skipped when absent outside CI; the line above the results says why)") { await PostgresServer.testsRun() })
struct DatabaseRestartTests {
    @Test func aDatabaseRestartedMidBurstLosesNoAcknowledgedPush() async throws {
        let cluster = try PostgresCluster.start().get()
        let (store, channel, token) = try await offThePool { () throws -> (PostgresTaskStore, PushChannel, String) in
            let store = try PostgresTaskStore(location: try PostgresStoreLocation(url: cluster.url), logger: quiet)
            let channel = PushChannel(
                id: PushChannel.newId(), app: ClusterServeTests.app, task: "Recorder", createdAt: Date(),
                expiresAt: Date().addingTimeInterval(3600))
            try store.insertChannel(channel)
            let (credential, token) = Credential.make(app: ClusterServeTests.app, label: "test")
            try store.insertCredential(credential)
            return (store, channel, token)
        }
        let manifest = try ServeProcess.manifest(in: TestSupport.temporaryDirectory(), [("Recorder", "FaultyTasks.RecordingTask", "")])
        let host = try ClusterServeTests.host("only", manifest: manifest, url: cluster.url)
        let port = host.port
        let burst = Task { await ClusterServeTests.burst(total: 400, clients: 8, channel: channel, token: token) { _ in port } }
        // Restart the server once a quarter of the burst is in.
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline, try await offThePool({ try store.queueCounts().values.reduce(0, +) }) < 100 {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(cluster.stopServer() == nil)
        try await Task.sleep(for: .seconds(1))
        #expect(cluster.startServer() == nil)
        let acknowledged = await burst.value
        #expect(acknowledged.count == 400, "every push was acknowledged once the database was back")
        let drained = try await TestSupport.eventually(timeout: .seconds(120)) { try ClusterServeTests.drained(store) }
        let stuck = try store.queuedTriggers(states: [.pending, .running, .retrying], limit: 10).map {
            "\($0.id) \($0.state) attempts=\($0.attempts) \($0.lastError ?? "")"
        }
        #expect(drained, "the host dispatches again by itself; still queued: \(stuck)")
        let runs = try ClusterServeTests.runs(store)
        let missing = acknowledged.subtracting(runs.keys)
        #expect(missing.isEmpty, "acknowledged pushes that never ran: \(missing.sorted().prefix(10))")
        #expect(host.process.isRunning, "the host rode out the restart")
        #expect(host.terminate() == 0, "\(host.errors)")
        store.close()
    }
}
