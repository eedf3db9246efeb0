import Foundation
import PostgresNIO
import TaskHostCore
import TaskHostStore
import TaskHostTestSupport
import Testing

@testable import TaskHostStorePostgres

/// Several hosts on one queue: claims that skip each other's rows, leases that
/// run out and are claimed again, and fences that keep a host whose lease was
/// taken over from settling the trigger.
@Suite(
    .enabled("needs PostgreSQL (skipped when absent outside CI; the line above the results says why)") { await PostgresServer.testsRun() })
struct PostgresLeaseTests {
    @Test func hostsClaimingAtOnceNeverClaimTheSameTrigger() async throws {
        let database = try await TestDatabase()
        // Leases far longer than the test, however slow a loaded machine makes it: no claim lapses here.
        let hosts = try await offThePool { try (0..<4).map { _ in try database.store(leaseDuration: .seconds(3600)) } }
        try await offThePool { try hosts[0].enqueue((0..<400).map { queued(payload: "\($0)") }) }
        let claims = try await withThrowingTaskGroup(of: [String].self) { group in
            for host in hosts {
                group.addTask {
                    try await offThePool {
                        var mine: [String] = []
                        while true {
                            let batch = try host.claim(limit: 7, owner: host.hostId, now: Date()) { _, _ in true }
                            if batch.isEmpty { break }
                            mine += batch.map(\.id)
                        }
                        return mine
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let all = claims.flatMap { $0 }
        #expect(all.count == 400, "every trigger claimed")
        #expect(Set(all).count == 400, "none claimed twice")
        #expect(try await offThePool { try hosts[0].queueCounts() } == [.running: 400])
        for host in hosts { host.close() }
        try await database.drop()
    }

    @Test func aClaimTakesALeaseAndAFenceAndSettlingChecksIt() async throws {
        try await withStore(leaseDuration: .seconds(30)) { store, database in
            try store.enqueue([queued(id: "t1")])
            let now = Date()
            let claimed = try store.claim(limit: 1, owner: store.hostId, now: now) { _, _ in true }
            let fence = try #require(store.fence(of: "t1"))
            let rows = try store.rows("read", "SELECT claimed_by, fence, lease_expires_at FROM trigger WHERE id = 't1'")
            let (holder, stored, lease) = try rows[0].decode((String, Int64, Date).self)
            #expect(claimed.map(\.id) == ["t1"] && holder == store.hostId && stored == fence)
            #expect(abs(lease.timeIntervalSince(now) - 30) < 0.01, "lease until now + 30 s")
            // Another host does not see it as claimable while the lease holds.
            let other = try database.store()
            defer { other.close() }
            #expect(try other.claim(limit: 5, owner: other.hostId, now: now.addingTimeInterval(29)) { _, _ in true }.isEmpty)
            try store.markDone(id: "t1", instanceId: "i1")
            #expect(store.fence(of: "t1") == nil)
            #expect(try store.queuedTrigger(idPrefix: "t1")?.state == .done)
        }
    }

    /// The fencing scenario: host A claims, freezes past its lease; host B claims
    /// the trigger again (a second attempt) and completes it; A, resumed, tries to
    /// settle: nothing changes, and A is told who holds it.
    @Test func aHostWhoseLeaseWasTakenOverCannotSettle() async throws {
        try await withStore(leaseDuration: .seconds(10)) { hostA, database in
            let hostB = try database.store(leaseDuration: .seconds(10))
            defer { hostB.close() }
            try hostA.enqueue([queued(id: "t1"), queued(id: "t2"), queued(id: "t3")])
            let start = Date()
            #expect(try hostA.claim(limit: 3, owner: hostA.hostId, now: start) { _, _ in true }.count == 3)
            let takenOver = try hostB.claim(limit: 3, owner: hostB.hostId, now: start.addingTimeInterval(11)) { _, _ in true }
            #expect(takenOver.map(\.id).sorted() == ["t1", "t2", "t3"])
            #expect(takenOver.allSatisfy { $0.attempts == 2 && $0.event.attempt == 2 }, "a re-claim counts as an attempt")
            #expect(takenOver.allSatisfy { $0.lastError?.contains("lease of host \(hostA.hostId)") == true })
            try hostB.markDone(id: "t1", instanceId: "b-run")

            let settlements: [@Sendable () throws -> Void] = [
                { try hostA.markDone(id: "t1", instanceId: "a-run") },
                { try hostA.markRetrying(id: "t2", instanceId: "a-run", error: "x", availableAt: Date()) },
                { try hostA.markDead(id: "t3", instanceId: "a-run", error: "x") },
            ]
            for settle in settlements {
                let error = #expect(throws: StoreError.self) { try settle() }
                #expect(error?.code == .constraint, "\(String(describing: error))")
                #expect(error?.message.contains("taken over") == true, "\(String(describing: error))")
            }
            let t1 = try #require(try hostB.queuedTrigger(idPrefix: "t1"))
            #expect(t1.state == .done && t1.lastInstanceId == "b-run", "B's outcome stands")
            #expect(try hostB.queuedTrigger(idPrefix: "t2")?.state == .running, "B still runs t2")
            #expect(try hostB.queuedTrigger(idPrefix: "t3")?.state == .running)
            // The explicit form says so without throwing.
            let stale = try hostA.markDone(id: "t2", instanceId: "a-run", fence: 1)
            guard case .stale(let detail) = stale else {
                Issue.record("expected a stale write, got \(stale)")
                return
            }
            #expect(detail.holder == hostB.hostId && detail.state == "running")
            try hostB.markRetrying(id: "t2", instanceId: "b-run", error: "later", availableAt: Date())
            try hostB.release(id: "t3", instanceId: nil, note: "shutdown")
            #expect(try hostB.queueCounts() == [.done: 1, .retrying: 1, .pending: 1])
        }
    }

    @Test func extendingLeasesKeepsTriggersAndReportsTheOnesLost() async throws {
        try await withStore(leaseDuration: .seconds(10)) { hostA, database in
            let hostB = try database.store(leaseDuration: .seconds(10))
            defer { hostB.close() }
            try hostA.enqueue([queued(id: "kept"), queued(id: "lost")])
            let start = Date()
            _ = try hostA.claim(limit: 1, owner: hostA.hostId, now: start) { _, _ in true }
            _ = try hostA.claim(limit: 1, owner: hostA.hostId, now: start) { _, _ in true }
            // A extends "kept" in time; "lost" is claimed by B after its lease ran out.
            try hostA.execute("let one lease run out", "UPDATE trigger SET lease_expires_at = \(start) WHERE id = 'lost'")
            #expect(try hostB.claim(limit: 5, owner: hostB.hostId, now: start.addingTimeInterval(1)) { _, _ in true }.map(\.id) == ["lost"])
            #expect(try hostA.extendLeases(now: start.addingTimeInterval(5)) == ["lost"])
            #expect(hostA.fence(of: "lost") != nil && hostA.fence(of: "kept") != nil, "a lost fence is kept: settling with it is refused")
            #expect(try hostA.extendLeases(now: start.addingTimeInterval(6)).isEmpty, "a loss is reported once")
            try hostB.markDone(id: "lost", instanceId: "b")
            #expect(throws: StoreError.self, "A's late outcome does not overwrite B's") { try hostA.markDone(id: "lost", instanceId: "a") }
            #expect(try hostB.queuedTrigger(idPrefix: "lost")?.lastInstanceId == "b")
            #expect(
                try hostB.claim(limit: 5, owner: hostB.hostId, now: start.addingTimeInterval(14)) { _, _ in true }.isEmpty,
                "extended to 15 s")
            #expect(try hostA.extendLeases(now: start.addingTimeInterval(14)).isEmpty)
            try hostA.markDone(id: "kept", instanceId: "a")
            #expect(try hostA.extendLeases().isEmpty, "nothing held")
        }
    }

    @Test func aTriggerParkedAfterItsLeaseRanOutCannotBeSettledByItsOldHost() async throws {
        try await withStore(leaseDuration: .seconds(10)) { hostA, database in
            let hostB = try database.store(leaseDuration: .seconds(10))
            defer { hostB.close() }
            try hostA.enqueue([queued("Gone", id: "t1")])
            let start = Date()
            _ = try hostA.claim(limit: 1, owner: hostA.hostId, now: start) { _, _ in true }
            // Host B does not have the task: its claim parks the trigger whose lease ran out.
            #expect(
                try hostB.claim(limit: 1, owner: hostB.hostId, now: start.addingTimeInterval(11)) { _, _ in .park(reason: "not here") }
                    .isEmpty)
            #expect(throws: StoreError.self) { try hostA.markDone(id: "t1", instanceId: "a-run") }
            let parked = try #require(try hostB.queuedTrigger(idPrefix: "t1"))
            #expect(parked.state == .parked && parked.lastError == "not here")
        }
    }

    @Test func recoveringAbandonedTriggersTakesOnlyExpiredLeases() async throws {
        try await withStore(leaseDuration: .seconds(10)) { store, database in
            let live = try database.store(leaseDuration: .seconds(10))
            defer { live.close() }
            try store.enqueue([queued(id: "dead-host"), queued(id: "live-host")])
            let start = Date()
            _ = try store.claim(limit: 1, owner: "gone", now: start) { _, _ in true }
            _ = try live.claim(limit: 1, owner: live.hostId, now: start.addingTimeInterval(8)) { _, _ in true }
            #expect(try store.recoverAbandoned(owner: "new", now: start.addingTimeInterval(11)) == 1)
            #expect(try store.queuedTrigger(idPrefix: "dead-host")?.state == .retrying)
            #expect(try store.queuedTrigger(idPrefix: "live-host")?.state == .running, "its lease holds until 18 s")
        }
    }

    /// An instance whose host lost its claim (died, or froze past its lease)
    /// is settled as abandoned when another host takes the trigger over, or
    /// when its own host restarts: history does not show it running for ever.
    @Test func theInstancesOfALostClaimAreSettledAsAbandoned() async throws {
        try await withStore(leaseDuration: .seconds(10)) { hostA, database in
            let hostB = try database.store(leaseDuration: .seconds(10))
            defer { hostB.close() }
            try hostA.heartbeat(name: "host-a", tasks: ["a/T"])
            try hostA.enqueue([queued(id: "taken-over"), queued(id: "recovered"), queued(id: "settled")])
            let start = Date()
            #expect(try hostA.claim(limit: 3, owner: hostA.hostId, now: start) { _, _ in true }.count == 3)
            for (instance, trigger) in [("i-taken", "taken-over"), ("i-recovered", "recovered"), ("i-done", "settled")] {
                try hostA.insertInstance(
                    InstanceRecord(
                        id: instance, app: "a", task: "T", triggerKind: .pushNotification, triggerId: trigger, attempt: 1, pid: 42,
                        hostPid: 10, startedAt: start))
            }
            try hostA.finishInstance(
                id: "i-done", endedAt: start, outcome: .completed, progress: 100, sandbox: "", appendingLog: [])
            try hostA.markDone(id: "settled", instanceId: "i-done")

            // Host B takes one over after the lease; the instance of A's claim is abandoned, naming A.
            hostB.restrictClaims(to: ["a/T"])
            let takenOver = try hostB.claim(limit: 1, owner: hostB.hostId, now: start.addingTimeInterval(11)) { _, _ in true }
            #expect(takenOver.map(\.id) == ["taken-over"] || takenOver.map(\.id) == ["recovered"])
            let lost = try #require(takenOver.first?.id)
            let lostInstance = lost == "taken-over" ? "i-taken" : "i-recovered"
            let abandoned = try #require(try hostB.instance(idPrefix: lostInstance))
            guard case .abandoned(let detail) = abandoned.outcome else {
                Issue.record("the instance of the lost claim has outcome \(String(describing: abandoned.outcome))")
                return
            }
            #expect(detail.contains("host-a"), "the detail names the host: \(detail)")
            let other = lostInstance == "i-taken" ? "i-recovered" : "i-taken"
            #expect(try hostB.instance(idPrefix: other)?.outcome == nil, "a claim still held is not touched")

            // Host A restarts (same id): what it still held is recovered, its instance abandoned.
            #expect(try hostA.recoverAbandoned(owner: hostA.hostId, now: start.addingTimeInterval(1)) == 1)
            if case .abandoned = try hostA.instance(idPrefix: other)?.outcome {
            } else {
                Issue.record("the restarted host's own instance is not settled as abandoned")
            }
            #expect(try hostA.instance(idPrefix: "i-done")?.outcome == .completed, "a finished instance keeps its outcome")
        }
    }
}
