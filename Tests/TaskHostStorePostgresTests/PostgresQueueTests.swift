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

/// The queue on PostgreSQL: enqueueing, claiming, outcomes, expiry, parking (as SQLite's store does them).
@Suite(
    .enabled("needs PostgreSQL (skipped when absent outside CI; the line above the results says why)") { await PostgresServer.testsRun() })
struct PostgresQueueTests {
    @Test func enqueueIsIdempotentAndClaimCountsAttempts() async throws {
        try await withStore { store, _ in
            let first = queued()
            try store.enqueue([first, queued()])
            try store.enqueue([first])  // same id again: ignored
            #expect(try store.queueCounts() == [.pending: 2])
            let claimed = try store.claim(limit: 10, owner: "host-1", now: Date()) { _, _ in true }
            #expect(claimed.count == 2)
            #expect(claimed.allSatisfy { $0.state == .running && $0.attempts == 1 && $0.event.attempt == 1 })
            #expect(try store.claim(limit: 10, owner: "host-1", now: Date()) { _, _ in true }.isEmpty)
        }
    }

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

    @Test func everyFieldOfATriggerComesBackAsEnqueued() async throws {
        try await withStore { store, _ in
            let binary: [UInt8] = [0, 255, 0, 10, 13, 0]
            let expiry = Date().addingTimeInterval(3600)
            let triggers = [
                NewTrigger(
                    app: "a", task: "T",
                    event: TriggerEvent(
                        kind: .pushNotification, triggerId: NewTrigger.newId(), payload: binary, channelId: "c",
                        headers: ["x-wns-type": "wns/raw", "x-note": "héllo ✓", "x-empty": ""]),
                    expiresAt: expiry),
                NewTrigger(
                    app: "a", task: "T",
                    event: TriggerEvent(
                        kind: .application, triggerId: NewTrigger.newId(), payload: [], channelId: "",
                        arguments: ["mode": "full", "": "empty name"])),
            ]
            try store.enqueue(triggers)
            let claimed = try store.claim(limit: 10, owner: "host-1", now: Date()) { _, _ in true }
            #expect(claimed.count == 2)
            for trigger in triggers {
                let back = try #require(claimed.first { $0.id == trigger.id })
                var expected = trigger.event
                expected.attempt = 1
                #expect(back.event == expected)
                #expect(back.expiresAt.map { abs($0.timeIntervalSince(expiry)) < 0.001 } ?? (trigger.expiresAt == nil))
            }
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

    @Test func outcomesMoveTriggersBetweenStates() async throws {
        try await withStore { store, _ in
            try store.enqueue([queued(), queued(), queued(), queued()])
            let claimed = try store.claim(limit: 4, owner: "h", now: Date()) { _, _ in true }
            try store.markDone(id: claimed[0].id, instanceId: "i0")
            try store.markRetrying(id: claimed[1].id, instanceId: "i1", error: "crashed", availableAt: Date().addingTimeInterval(3600))
            try store.markDead(id: claimed[2].id, instanceId: "i2", error: "refused")
            try store.release(id: claimed[3].id, instanceId: "i3", note: "shutdown")
            #expect(try store.queueCounts() == [.done: 1, .retrying: 1, .dead: 1, .pending: 1])
            let released = try #require(try store.queuedTrigger(idPrefix: claimed[3].id))
            #expect(released.attempts == 0, "a run stopped by shutdown is not counted")
            let retrying = try #require(try store.queuedTrigger(idPrefix: claimed[1].id))
            #expect(retrying.lastError == "crashed" && retrying.lastInstanceId == "i1")
            let dead = try #require(try store.queuedTrigger(idPrefix: claimed[2].id))
            #expect(dead.lastError == "refused" && dead.lastInstanceId == "i2")
            #expect(try store.requeue(id: dead.id))
            #expect(try !store.requeue(id: claimed[0].id), "only dead or expired triggers are requeued")
            #expect(try store.queuedTrigger(idPrefix: dead.id)?.state == .pending)
            #expect(try store.queuedTrigger(idPrefix: dead.id)?.attempts == 0)
            #expect(try store.queuedTriggers(states: [.done, .dead], limit: 10).map(\.id) == [claimed[0].id])
        }
    }

    @Test func triggersPastTheirTimeToLiveExpireInsteadOfRunning() async throws {
        try await withStore { store, _ in
            try store.enqueue([queued(expiresAt: Date().addingTimeInterval(-1)), queued(expiresAt: Date().addingTimeInterval(60))])
            let claimed = try store.claim(limit: 10, owner: "h", now: Date()) { _, _ in true }
            #expect(claimed.count == 1)
            #expect(try store.queueCounts() == [.expired: 1, .running: 1])
            #expect(store.expiredCount == 1)
            let expired = try store.queuedTriggers(states: [.expired], limit: 5)
            #expect(expired.first?.lastError == "time to live ran out before it could run")
        }
    }

    @Test func backlogCountsUnfinishedTriggersOfATask() async throws {
        try await withStore { store, _ in
            try store.enqueue([queued("A"), queued("A"), queued("B")])
            _ = try store.claim(limit: 1, owner: "h", now: Date()) { _, task in task == "A" }
            #expect(try store.backlog(app: "a", task: "A") == 2)
            #expect(try store.backlog(app: "a", task: "Z") == 0)
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
