import Foundation
import GRDB
import Synchronization
import TaskHostCore
import TaskHostManifest
import TaskHostStore
import TaskHostTestSupport
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Another writer (a CLI command, a backup) holding the store's write lock for
/// seconds: pushes wait for it off the cooperative pool, requests that need no
/// write are answered meanwhile, and once the lock is free every waiting push
/// is stored and answered, none refused.
@Suite(.timeLimit(.minutes(2))) struct StoreHeldServeTests {
    @Test func theEndpointKeepsAnsweringWhileAnotherWriterHoldsTheStore() async throws {
        let recorder = TestSupport.task("Recorder", "FaultyTasks.RecordingTask", triggers: [.pushNotification])
        let server = try await TestServer.start([recorder])
        defer { Task { await server.stop() } }
        let channel = try server.channel(task: "Recorder")
        let token = try server.token()

        var configuration = Configuration()
        configuration.allowsUnsafeTransactions = true  // the lock outlives one access: that is the point
        let holder = try DatabaseQueue(path: server.store.path, configuration: configuration)
        try holder.inDatabase { db in try db.execute(sql: "BEGIN IMMEDIATE") }
        let released = Mutex(false)
        // Pushes that need the lock: they wait for it.
        let pushes = Task {
            try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<8 {
                    group.addTask { try await server.post(channel.id, token: token, body: Array("held-\(index)".utf8)).status }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
        }
        // Requests that need no write, answered while the lock is still held
        // (on connections of their own: the pushes hold URLSession.shared's).
        let probes = URLSession(configuration: .ephemeral)
        // Held for two seconds, as a slow CLI command or a backup would.
        let holdUntil = ContinuousClock.now + .seconds(2)
        // Never near the store's 10 s busy timeout, however slow a loaded machine answers the probes.
        let releaseBy = ContinuousClock.now + .seconds(6)
        var probed = 0
        while (probed < 10 || ContinuousClock.now < holdUntil) && ContinuousClock.now < releaseBy {
            probed += 1
            let answer = try await server.post("unknown-channel", token: token, session: probes)
            #expect(answer.status == 404)
            #expect(!released.withLock { $0 }, "answered while another writer held the store")
        }
        #expect(probed >= 1)
        released.withLock { $0 = true }
        try holder.inDatabase { db in try db.execute(sql: "COMMIT") }
        let statuses = try await pushes.value
        #expect(statuses == [Int](repeating: 200, count: 8))
        let counts = try server.store.queueCounts()
        #expect(counts.values.reduce(0, +) == 8, "\(counts)")
    }
}
