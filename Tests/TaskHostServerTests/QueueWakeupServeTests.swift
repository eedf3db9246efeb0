import Foundation
import Logging
import TaskHostCore
import TaskHostServer
import TaskHostStore
import TaskHostStorePostgres
import TaskHostTestSupport
import Testing

/// Two hosts on one PostgreSQL database: host A runs the daemon, whose
/// dispatcher polls only once an hour; host B (a second store object) enqueues.
/// Each trigger runs because B's commit woke A (`LISTEN`/`NOTIFY`), not because A polled.
@Suite(
    .enabled("needs PostgreSQL (skipped when absent outside CI; the line above the results says why)") { await PostgresServer.testsRun() })
struct QueueWakeupServeTests {
    @Test func triggersEnqueuedByAnotherHostRunWithoutWaitingForAPoll() async throws {
        let database = try await TestDatabase()
        let (hostA, hostB) = try await Self.offThePool { (try database.store(hostId: "host-a"), try database.store(hostId: "host-b")) }
        let logs = LogLines()
        var configuration = DaemonConfiguration()
        configuration.port = 0
        configuration.handlesSignals = false
        configuration.pollInterval = .seconds(3600)
        let echo = TestSupport.task("Echo", "FaultyTasks.AsyncEchoTask")
        let daemon = Daemon(
            configuration: configuration, store: hostA, registry: TestSupport.registry([echo], app: TestServer.app),
            workerPath: TestSupport.workerPath, logger: logs.logger)
        let running = Task { try await daemon.run() }
        defer {
            running.cancel()
            hostA.close()
            hostB.close()
        }
        let listening = await TestSupport.eventually(timeout: .seconds(60)) {
            logs.lines.contains { $0.message.contains("listening for wake-ups from other hosts") }
        }
        #expect(listening, "host A listens for wake-ups: \(logs.lines.suffix(5))")
        // Several rounds, each after the last ran: the dispatcher is idle, waiting
        // for its hour-long poll, when host B enqueues.
        for round in 1...3 {
            let id = NewTrigger.newId()
            let trigger = NewTrigger(
                app: TestServer.app, task: "Echo", event: TriggerEvent(kind: .application, triggerId: id, payload: Array("\(round)".utf8)))
            try await Self.offThePool { try hostB.enqueue([trigger]) }
            let ran = try await Self.offThePool {
                let deadline = Date().addingTimeInterval(60)
                while Date() < deadline {
                    if try hostB.queuedTrigger(idPrefix: id)?.state == .done { return true }
                    Thread.sleep(forTimeInterval: 0.02)
                }
                return false
            }
            #expect(ran, "round \(round): host B's trigger ran on host A")
            if !ran { break }
        }
        running.cancel()
        _ = try? await running.value
        try await database.drop()
    }

    /// Runs `body` on a thread of its own: store calls block their thread.
    static func offThePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }
}
