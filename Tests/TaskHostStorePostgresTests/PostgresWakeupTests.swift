import Foundation
import PostgresNIO
import Synchronization
import TaskHostCore
import TaskHostStore
import TaskHostTestSupport
import Testing

@testable import TaskHostStorePostgres

/// Wake-ups across hosts (`LISTEN`/`NOTIFY`): two store objects on one database
/// are two hosts; one listens, the other writes. Deadlines only guard against
/// hangs (60 s for a notification), nothing is timed.
@Suite(
    .enabled("needs PostgreSQL (skipped when absent outside CI; the line above the results says why)") { await PostgresServer.testsRun() })
struct PostgresWakeupTests {
    @Test func anotherHostsEnqueueWakesAListeningHost() async throws {
        try await withTwoHosts { listener, writer, _ in
            let log = WakeLog()
            let listening = log.listen(to: listener)
            #expect(await log.eventually { $0.listened == 1 }, "the listen is in place")
            #expect(log.wakes == 0, "nothing was written yet")
            try await offThePool { try writer.enqueue([queued(id: "t1"), queued(id: "t2")]) }
            #expect(await log.eventually { $0.wakes >= 1 }, "the other host's enqueue woke the listener")

            listening.cancel()
            #expect(await log.eventually { $0.ended != nil }, "a cancelled listen returns")
            #expect(log.ended == .returned, "cancelled, it returns without an error")
            let connections = try await offThePool { try Self.listeningConnections(writer) }
            #expect(connections == 0, "the listening connection is closed")
        }
    }

    /// Each write that makes a trigger runnable again notifies: replay, unpark,
    /// requeue, release and the recovery of abandoned triggers, as enqueue does.
    @Test func everyWriteThatMakesATriggerRunnableWakesTheOtherHosts() async throws {
        try await withTwoHosts { listener, writer, _ in
            let now = Date()
            let claimed = try await offThePool {
                try writer.enqueue([queued(id: "parked"), queued(id: "dead"), queued(id: "released"), queued(id: "abandoned")])
                _ = try writer.park(app: "a")
                _ = try writer.unpark(app: "a")
                _ = try writer.park(app: "a")
                for id in ["dead", "released", "abandoned"] {
                    try writer.execute("unpark \(id)", "UPDATE trigger SET state = 'pending' WHERE id = \(id) RETURNING 1")
                }
                let claimed = try writer.claim(limit: 3, owner: writer.hostId, now: Date().addingTimeInterval(1)) { _, _ in .take }
                try writer.markDead(id: "dead", instanceId: nil, error: "failed")
                return claimed.map(\.id).sorted()
            }
            #expect(claimed == ["abandoned", "dead", "released"])
            let log = WakeLog()
            let listening = log.listen(to: listener)
            defer { listening.cancel() }
            #expect(await log.eventually { $0.listened == 1 })
            // Each write returns whether it did what it should (checked here, on the test's task).
            let writes: [(String, @Sendable () throws -> Bool)] = [
                ("unpark", { try writer.unpark(tasks: [(app: "a", task: "T")]) == 1 }),
                ("requeue", { try writer.requeue(id: "dead") }),
                (
                    "release",
                    {
                        try writer.release(id: "released", instanceId: nil, note: "host stopping")
                        return try writer.queuedTrigger(idPrefix: "released")?.state == .pending
                    }
                ),
                (
                    "recover abandoned",
                    {
                        // Another host's claim whose lease ran out.
                        try writer.execute(
                            "abandon",
                            "UPDATE trigger SET claimed_by = 'gone', lease_expires_at = \(now) WHERE id = 'abandoned' RETURNING 1")
                        return try listener.recoverAbandoned(owner: listener.hostId, now: now.addingTimeInterval(1)) == 1
                    }
                ),
                (
                    "replay",
                    {
                        try writer.insertInstance(Self.instance(id: "instance-1", trigger: "parked"))
                        return try writer.replay(instance: "instance-1", now: now).event.replayOf == "instance-1"
                    }
                ),
            ]
            for (what, write) in writes {
                let before = log.wakes
                #expect(try await offThePool(write), "\(what) changed the trigger")
                #expect(await log.eventually { $0.wakes > before }, "\(what) woke the listener")
            }
        }
    }

    /// A listen whose connection the server closes throws (code `unavailable`);
    /// the caller listens again and is woken again.
    @Test func aLostConnectionThrowsAndListeningAgainIsWokenAgain() async throws {
        try await withTwoHosts { listener, writer, _ in
            let first = WakeLog()
            _ = first.listen(to: listener)
            #expect(await first.eventually { $0.listened == 1 })
            let terminated = try await offThePool { try Self.terminateListeningConnections(writer) }
            #expect(terminated == 1, "one listening connection")
            #expect(await first.eventually { $0.ended != nil }, "the listen ended")
            guard case .threw(let code, let message) = first.ended else {
                Issue.record("the listen returned without an error after its connection was lost: \(String(describing: first.ended))")
                return
            }
            #expect(code == .unavailable, "\(message)")
            #expect(message.contains("listen for wake-ups"), "\(message)")

            let second = WakeLog()
            let listening = second.listen(to: listener)
            defer { listening.cancel() }
            #expect(await second.eventually { $0.listened == 1 })
            try await offThePool { try writer.enqueue([queued(id: "after")]) }
            #expect(await second.eventually { $0.wakes >= 1 }, "woken again after listening again")
        }
    }

    // MARK: Helpers

    /// Runs `body` with two store objects (two hosts) on a fresh database, dropped afterwards.
    private func withTwoHosts(
        _ body: @escaping @Sendable (PostgresTaskStore, PostgresTaskStore, TestDatabase) async throws -> Void
    ) async throws {
        let database = try await TestDatabase()
        do {
            let (a, b) = try await offThePool { (try database.store(hostId: "host-a"), try database.store(hostId: "host-b")) }
            defer {
                a.close()
                b.close()
            }
            try await body(a, b, database)
        } catch {
            try? await database.drop()
            throw error
        }
        try await database.drop()
    }

    /// How many connections of this database listen for wake-ups.
    static func listeningConnections(_ store: PostgresTaskStore) throws -> Int {
        try store.rows(
            "count listeners",
            """
            SELECT count(*)::bigint FROM pg_stat_activity
            WHERE application_name = \(PostgresTaskStore.wakeupApplicationName) AND datname = current_database()
            """
        ).first?.decode(Int.self) ?? -1
    }

    /// Ends the connections of this database that listen for wake-ups, as an
    /// administrator (or a failover) would; returns how many.
    static func terminateListeningConnections(_ store: PostgresTaskStore) throws -> Int {
        try store.execute(
            "terminate listeners",
            """
            SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE application_name = \(PostgresTaskStore.wakeupApplicationName) AND datname = current_database()
            """)
    }

    static func instance(id: String, trigger: String) -> InstanceRecord {
        InstanceRecord(
            id: id, app: "a", task: "T", triggerKind: .pushNotification, triggerId: trigger, attempt: 1, hostPid: 1, startedAt: Date())
    }
}

/// What one listen saw: when it was in place, how many wake-ups, how it ended.
final class WakeLog: Sendable {
    /// How a listen ended.
    enum End: Sendable, Equatable {
        case returned
        case threw(StoreError.Code, String)
    }

    struct State: Sendable {
        var listened = 0
        var wakes = 0
        var ended: End?
    }

    private let state = Mutex(State())

    var wakes: Int { state.withLock { $0.wakes } }
    var ended: End? { state.withLock { $0.ended } }

    /// Starts `store`'s listen in a task of its own, recorded here.
    func listen(to store: PostgresTaskStore) -> Task<Void, Never> {
        Task {
            do {
                try await store.listenForWakeups(
                    listening: { self.state.withLock { $0.listened += 1 } }, wake: { self.state.withLock { $0.wakes += 1 } })
                state.withLock { $0.ended = .returned }
            } catch let error as StoreError {
                state.withLock { $0.ended = .threw(error.code, error.message) }
            } catch {
                state.withLock { $0.ended = .threw(.other, "not a StoreError: \(error)") }
            }
        }
    }

    /// Whether `condition` holds within 60 s (a notification takes milliseconds;
    /// the rest is room for a machine loaded by the whole suite).
    func eventually(_ condition: @escaping (State) -> Bool) async -> Bool {
        await TestSupport.eventually(timeout: .seconds(60)) { state.withLock { condition($0) } }
    }
}
