import Foundation
import Synchronization
import TaskHostShared
import TaskHostTestSupport
import Testing

@testable import TaskHostCore
@testable import TaskHostStore

/// The durable queue's states, at-least-once recovery, and retry policy.
@Suite struct TriggerQueueTests {
    func trigger(_ task: String = "T", payload: String = "p", expiresAt: Date? = nil, availableAt: Date = Date()) -> NewTrigger {
        NewTrigger(
            app: "a", task: task,
            event: TriggerEvent(
                kind: .pushNotification, triggerId: NewTrigger.newId(), payload: Array(payload.utf8),
                channelId: "c", headers: ["x-wns-type": "wns/raw"]),
            expiresAt: expiresAt, availableAt: availableAt)
    }

    @Test(arguments: await StoreBackend.available()) func enqueueIsIdempotentAndClaimCountsAttempts(backend: StoreBackend) async throws {
        try await backend.withStore { store, _ in
            let first = trigger()
            try store.enqueue([first, trigger()])
            try store.enqueue([first])  // same id again: ignored
            #expect(try store.queueCounts() == [.pending: 2])
            let claimed = try store.claim(limit: 10, owner: "host-1", now: Date()) { _, _ in true }
            #expect(claimed.count == 2)
            #expect(claimed.allSatisfy { $0.state == .running && $0.attempts == 1 && $0.event.attempt == 1 })
            #expect(
                claimed.first { $0.id == first.id }?.event
                    == TriggerEvent(
                        kind: .pushNotification, triggerId: first.id, attempt: 1, payload: Array("p".utf8), channelId: "c",
                        headers: ["x-wns-type": "wns/raw"]))
            #expect(try store.claim(limit: 10, owner: "host-1", now: Date()) { _, _ in true }.isEmpty)
        }
    }

    @Test func oneIndexOverTheStateServesCountsBacklogsAndParking() throws {
        // Each index of `trigger` is one more page written per commit on the
        // ingest path, so counts, backlogs and parking share one.
        let store = try TestSupport.store()
        let plans = [
            ("counts", try store.queryPlan(SQLiteTaskStore.countsSQL, arguments: [])),
            ("backlog", try store.queryPlan(SQLiteTaskStore.backlogSQL, arguments: ["a", "T"])),
            ("park", try store.queryPlan(SQLiteTaskStore.parkSQL, arguments: ["why", 0, "a"])),
            ("unpark", try store.queryPlan(SQLiteTaskStore.unparkSQL, arguments: [0, "a"])),
        ]
        for (query, plan) in plans {
            #expect(plan.contains("trigger_by_state"), "\(query): \(plan)")
        }
    }

    @Test(arguments: await StoreBackend.available()) func everyFieldOfATriggerComesBackAsEnqueued(backend: StoreBackend) async throws {
        try await backend.withStore { store, _ in
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

    @Test(arguments: await StoreBackend.available()) func claimRespectsAvailabilityAndTheAcceptFilter(backend: StoreBackend) async throws {
        try await backend.withStore { store, _ in
            try store.enqueue([trigger("A"), trigger("A"), trigger("B"), trigger("C", availableAt: Date().addingTimeInterval(60))])
            var perTask: [String: Int] = [:]
            let claimed = try store.claim(limit: 10, owner: "h", now: Date()) { _, task in
                perTask[task, default: 0] += 1
                return perTask[task]! <= 1
            }
            #expect(claimed.map(\.task).sorted() == ["A", "B"])
            #expect(try store.queueCounts() == [.pending: 2, .running: 2])
        }
    }

    @Test(arguments: await StoreBackend.available()) func outcomesMoveTriggersBetweenStates(backend: StoreBackend) async throws {
        try await backend.withStore { store, _ in
            try store.enqueue([trigger(), trigger(), trigger(), trigger()])
            let claimed = try store.claim(limit: 4, owner: "h", now: Date()) { _, _ in true }
            try store.markDone(id: claimed[0].id, instanceId: "i0")
            try store.markRetrying(id: claimed[1].id, instanceId: "i1", error: "crashed", availableAt: Date().addingTimeInterval(3600))
            try store.markDead(id: claimed[2].id, instanceId: "i2", error: "refused")
            try store.release(id: claimed[3].id, instanceId: "i3", note: "shutdown")
            #expect(try store.queueCounts() == [.done: 1, .retrying: 1, .dead: 1, .pending: 1])
            let released = try #require(try store.queuedTrigger(idPrefix: claimed[3].id))
            #expect(released.attempts == 0, "a run stopped by shutdown is not counted")
            let dead = try #require(try store.queuedTrigger(idPrefix: claimed[2].id))
            #expect(dead.lastError == "refused")
            #expect(dead.lastInstanceId == "i2")
            #expect(try store.requeue(id: dead.id))
            #expect(try !store.requeue(id: claimed[0].id), "only dead or expired triggers are requeued")
            #expect(try store.queuedTrigger(idPrefix: dead.id)?.state == .pending)
            #expect(try store.queuedTrigger(idPrefix: dead.id)?.attempts == 0)
        }
    }

    @Test(arguments: await StoreBackend.available()) func triggersOfAHostThatDiedAreRunAgain(backend: StoreBackend) async throws {
        try await backend.withStore { store, _ in
            try store.enqueue([trigger()])
            let claimed = try store.claim(limit: 1, owner: "dead-host", now: Date()) { _, _ in true }
            // An hour on: past the dead host's lease, on a backend that has leases (PostgreSQL).
            let later = Date().addingTimeInterval(3600)
            #expect(try store.recoverAbandoned(owner: "new-host", now: later) == 1)
            let again = try store.claim(limit: 1, owner: "new-host", now: later) { _, _ in true }
            #expect(again.map(\.id) == claimed.map(\.id))
            #expect(again.first?.attempts == 2)
        }
    }

    /// A host that restarts (the same id: its state directory's) takes back at
    /// once what it held: its runs died with its previous process.
    @Test(arguments: await StoreBackend.available()) func aRestartedHostRecoversItsOwnRunsAtOnce(backend: StoreBackend) async throws {
        try await backend.withStore { store, _ in
            try store.enqueue([trigger()])
            let now = Date()
            _ = try store.claim(limit: 1, owner: "host-a", now: now) { _, _ in true }
            #expect(try store.recoverAbandoned(owner: "host-a", now: now) == 1)
            #expect(try store.queueCounts() == [.retrying: 1])
        }
    }

    @Test(arguments: await StoreBackend.available()) func triggersPastTheirTimeToLiveExpireInsteadOfRunning(backend: StoreBackend)
        async throws
    {
        try await backend.withStore { store, _ in
            try store.enqueue([trigger(expiresAt: Date().addingTimeInterval(-1)), trigger(expiresAt: Date().addingTimeInterval(60))])
            let claimed = try store.claim(limit: 10, owner: "h", now: Date()) { _, _ in true }
            #expect(claimed.count == 1)
            #expect(try store.queueCounts() == [.expired: 1, .running: 1])
            let expired = try store.queuedTriggers(states: [.expired], limit: 5)
            #expect(expired.first?.lastError == "time to live ran out before it could run")
        }
    }

    @Test(arguments: await StoreBackend.available()) func backlogCountsUnfinishedTriggersOfATask(backend: StoreBackend) async throws {
        try await backend.withStore { store, _ in
            try store.enqueue([trigger("A"), trigger("A"), trigger("B")])
            #expect(try store.backlog(app: "a", task: "A") == 2)
            #expect(try store.backlog(app: "a", task: "Z") == 0)
        }
    }

    @Test func retryDelaysGrowExponentiallyWithJitterUpToTheCap() {
        let policy = RetryPolicy(maxAttempts: 5, baseDelay: .seconds(2), maxDelay: .seconds(10))
        var generator = SeededGenerator(seed: 42)
        for (attempts, nominal) in [(1, 2.0), (2, 4.0), (3, 8.0), (4, 10.0), (9, 10.0)] {
            let delay = policy.delay(afterAttempts: attempts, using: &generator)
            let seconds = Double(delay.components.seconds) + Double(delay.components.attoseconds) / 1e18
            #expect(seconds >= nominal * 0.75 - 0.001 && seconds <= nominal * 1.25 + 0.001, "attempt \(attempts): \(seconds)")
        }
        let delays = (0..<20).map { _ in policy.delay(afterAttempts: 1, using: &generator) }
        #expect(Set(delays).count > 1, "jitter spreads retries")
    }

    @Test func claimingReadsTheQueueInIndexOrderWithoutSorting() throws {
        let store = try TestSupport.store()
        let claim = try store.queryPlan(SQLiteTaskStore.claimSQL, arguments: [Date().timeIntervalSince1970, 64])
        #expect(claim.contains("USING INDEX trigger_ready"), "\(claim)")
        #expect(!claim.contains("TEMP B-TREE"), "a sort would read every pending trigger: \(claim)")
        let expire = try store.queryPlan(SQLiteTaskStore.expireSQL, arguments: [0, 0])
        #expect(expire.contains("USING INDEX trigger_expiry"), "\(expire)")
    }

    @Test(arguments: await StoreBackend.available()) func parkedTriggersWaitOutOfTheClaimsWayAndComeBack(backend: StoreBackend) async throws
    {
        try await backend.withStore { store, _ in
            try store.enqueue([
                NewTrigger(app: "disabled", task: "t", event: TriggerEvent(kind: .application, triggerId: "p1")),
                NewTrigger(app: "disabled", task: "t", event: TriggerEvent(kind: .application, triggerId: "p2")),
                NewTrigger(app: "other", task: "t", event: TriggerEvent(kind: .application, triggerId: "o1")),
            ])
            #expect(try store.park(app: "disabled") == 2)
            #expect(try store.queueCounts()[.parked] == 2)
            let claimed = try store.claim(limit: 10, owner: "h", now: Date()) { _, _ in true }
            #expect(claimed.map(\.id) == ["o1"], "parked triggers are not claimed")
            // A trigger claimed just before its app was parked goes back without losing an attempt.
            try store.enqueue([NewTrigger(app: "disabled", task: "t", event: TriggerEvent(kind: .application, triggerId: "p3"))])
            let late = try #require(try store.claim(limit: 1, owner: "h", now: Date()) { _, _ in true }.first)
            try store.park(id: late.id)
            #expect(try store.queueCounts()[.parked] == 3)
            #expect(try store.unpark(app: "disabled") == 3)
            let again = try store.claim(limit: 10, owner: "h", now: Date()) { _, _ in true }
            #expect(Set(again.map(\.id)) == ["p1", "p2", "p3"])
            #expect(again.first { $0.id == "p3" }?.attempts == 1, "the parked claim did not count")
        }
    }
}
