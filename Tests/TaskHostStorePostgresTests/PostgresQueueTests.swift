import Foundation
import TaskHostCore
import TaskHostStore
import TaskHostTestSupport
import Testing

@testable import TaskHostStorePostgres

/// A push trigger for `task` of app `a`.
func queued(
    _ task: String = "T", id: String = NewTrigger.newId(), payload: String = "p", expiresAt: Date? = nil, availableAt: Date = Date(),
    channel: String = "c", topic: String? = nil
) -> NewTrigger {
    NewTrigger(
        app: "a", task: task,
        event: TriggerEvent(
            kind: topic == nil ? .pushNotification : .webPush, triggerId: id, payload: Array(payload.utf8), channelId: channel,
            headers: ["x-wns-type": "wns/raw"]),
        expiresAt: expiresAt, availableAt: availableAt, topic: topic)
}

/// The queue on PostgreSQL, beyond what the conformance tests (TaskHostStoreTests) hold every backend to: large batches, claim order, parking.
@Suite(
    .enabled("needs PostgreSQL (skipped when absent outside CI; the line above the results says why)") { await PostgresServer.testsRun() })
struct PostgresQueueTests {
    @Test func aBatchOfManyTriggersIsOneTransaction() async throws {
        try await withStore { store, _ in
            let batch = (0..<4500).map { queued(payload: "push \($0)") }
            try store.enqueue(batch)
            #expect(try store.queueCounts() == [.pending: 4500])
            // A batch with one trigger PostgreSQL refuses (text cannot hold NUL) is refused whole.
            var refused = (0..<3000).map { queued(payload: "later \($0)") }
            refused[2999].task = "bad\u{0}name"
            #expect(throws: StoreError.self) { try store.enqueue(refused) }
            #expect(try store.queueCounts() == [.pending: 4500], "nothing of the refused batch was kept")
        }
    }

    @Test func claimRespectsAvailabilityOrderAndTheDecision() async throws {
        try await withStore { store, _ in
            let now = Date()
            try store.enqueue([
                queued("A", id: "a1", availableAt: now.addingTimeInterval(-3)),
                queued("A", id: "a2", availableAt: now.addingTimeInterval(-2)),
                queued("B", id: "b1", availableAt: now.addingTimeInterval(-1)),
                queued("C", id: "c1", availableAt: now.addingTimeInterval(60)),
            ])
            var perTask: [String: Int] = [:]
            let claimed = try store.claim(limit: 10, owner: "h", now: now) { _, task in
                perTask[task, default: 0] += 1
                return perTask[task]! <= 1
            }
            #expect(claimed.map(\.id) == ["a1", "b1"], "oldest first, one of A")
            #expect(try store.queueCounts() == [.pending: 2, .running: 2])
            #expect(try store.claim(limit: 1, owner: "h", now: now) { _, _ in true }.map(\.id) == ["a2"], "limit")
            for id in ["a1", "b1", "a2"] { try store.markDone(id: id, instanceId: "i") }
            #expect(try store.claim(limit: 5, owner: "h", now: now.addingTimeInterval(61)) { _, _ in true }.map(\.id) == ["c1"])
        }
    }

    @Test func aClaimParksWhatItCannotRunAndUnparkingBringsItBack() async throws {
        try await withStore { store, _ in
            try store.enqueue([
                queued("Gone", id: "gone-1"), queued("Gone", id: "gone-ttl", expiresAt: Date().addingTimeInterval(3600)),
                queued("Here", id: "here"),
            ])
            let claimed = try store.claim(limit: 10, owner: "h", now: Date()) { _, task in
                task == "Gone" ? .park(reason: "task Gone not loaded on this host") : .take
            }
            #expect(claimed.map(\.id) == ["here"])
            #expect(try store.queueCounts() == [.parked: 2, .running: 1])
            let parked = try #require(try store.queuedTrigger(idPrefix: "gone-1"))
            #expect(parked.state == .parked && parked.attempts == 0 && parked.lastError == "task Gone not loaded on this host")
            var read = 0
            #expect(
                try store.claim(limit: 10, owner: "h", now: Date()) { _, _ in
                    read += 1
                    return .take
                }.isEmpty)
            #expect(read == 0, "parked triggers are out of the claim's way")
            try store.markDone(id: "here", instanceId: "i")
            #expect(try store.claim(limit: 10, owner: "h", now: Date().addingTimeInterval(7200)) { _, _ in .take }.isEmpty)
            #expect(try store.queuedTrigger(idPrefix: "gone-ttl")?.state == .expired, "a parked trigger still expires")
            #expect(try store.unpark(tasks: [(app: "a", task: "Other"), (app: "b", task: "Gone")]) == 0)
            #expect(try store.unpark(tasks: [(app: "a", task: "Gone")]) == 1)
            let again = try store.claim(limit: 10, owner: "h", now: Date()) { _, _ in .take }
            #expect(again.map(\.id) == ["gone-1"] && again.first?.attempts == 1)
        }
    }

    @Test func parkingAnAppOrATaskAndUnparkingIt() async throws {
        try await withStore { store, _ in
            try store.enqueue([queued("A"), queued("A"), queued("B")])
            #expect(try store.park(app: "a", task: "A") == 2)
            #expect(try store.queuedTriggers(states: [.parked], limit: 5).allSatisfy { $0.lastError?.contains("disabled") == true })
            #expect(try store.park(app: "a") == 1)
            #expect(try store.unpark(app: "a") == 3)
            #expect(try store.queueCounts() == [.pending: 3])
            let claimed = try store.claim(limit: 1, owner: "h", now: Date()) { _, _ in true }
            try store.park(id: claimed[0].id, note: "its task went away")
            let parked = try #require(try store.queuedTrigger(idPrefix: claimed[0].id))
            #expect(parked.state == .parked && parked.attempts == 0 && parked.lastError == "its task went away")
        }
    }
}
