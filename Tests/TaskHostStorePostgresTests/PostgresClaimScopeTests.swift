import Foundation
import TaskHostCore
import TaskHostStore
import TaskHostTestSupport
import Testing

@testable import TaskHostStorePostgres

/// Which triggers a host of a cluster claims: only those of the tasks it
/// registered (so it never parks what another host runs), and, when it
/// starts again, at once what it held before it stopped.
@Suite(
    .enabled("needs PostgreSQL (skipped when absent outside CI; the line above the results says why)") { await PostgresServer.testsRun() })
struct PostgresClaimScopeTests {
    @Test func aHostClaimsOnlyTheTasksItRegistered() async throws {
        try await withStore(leaseDuration: .seconds(10)) { hostA, database in
            let hostB = try database.store(leaseDuration: .seconds(10))
            defer { hostB.close() }
            try hostA.enqueue([queued("OnlyB", id: "b1"), queued("Both", id: "x1"), queued("OnlyB", id: "b2"), queued("Nobody", id: "n1")])
            try hostA.heartbeat(name: "a", tasks: ["a/Both"], now: Date())
            hostB.restrictClaims(to: ["a/OnlyB", "a/Both"])
            var seenByA: [String] = []
            let claimedByA = try hostA.claim(limit: 10, owner: hostA.hostId, now: Date()) { _, task in
                seenByA.append(task)
                return .park(reason: "not here")
            }
            #expect(claimedByA.isEmpty && seenByA == ["Both"], "A never sees, so never parks, B's tasks")
            #expect(try hostA.queuedTrigger(idPrefix: "x1")?.state == .parked)
            let claimedByB = try hostB.claim(limit: 10, owner: hostB.hostId, now: Date()) { _, _ in .take }
            #expect(claimedByB.map(\.id).sorted() == ["b1", "b2"])
            #expect(try hostA.queuedTrigger(idPrefix: "n1")?.state == .pending, "a task no host runs waits")
            // A lease that ran out goes only to a host that runs its task.
            let later = Date().addingTimeInterval(11)
            #expect(try hostA.claim(limit: 10, owner: hostA.hostId, now: later) { _, _ in .take }.isEmpty)
            #expect(try hostB.claim(limit: 10, owner: hostB.hostId, now: later) { _, _ in .take }.map(\.id).sorted() == ["b1", "b2"])
        }
    }

    @Test func aStoreWithoutAHeartbeatClaimsAnyTask() async throws {
        try await withStore { store, _ in
            try store.enqueue([queued("One", id: "1"), queued("Two", id: "2")])
            #expect(try store.claim(limit: 5, owner: store.hostId, now: Date()) { _, _ in .take }.count == 2)
        }
    }

    @Test func aRestartedHostTakesBackWhatItHeldAtOnce() async throws {
        try await withStore(leaseDuration: .seconds(30)) { store, database in
            let other = try database.store(leaseDuration: .seconds(30))
            defer { other.close() }
            try store.enqueue([queued(id: "mine"), queued(id: "theirs")])
            let now = Date()
            _ = try store.claim(limit: 1, owner: store.hostId, now: now) { _, _ in .take }
            _ = try other.claim(limit: 1, owner: other.hostId, now: now) { _, _ in .take }
            // The same host id (its state directory's) starts again: its claim died with it; the other's lease holds.
            let restarted = try database.store(hostId: store.hostId, leaseDuration: .seconds(30))
            defer { restarted.close() }
            #expect(try restarted.recoverAbandoned(owner: restarted.hostId, now: now.addingTimeInterval(1)) == 1)
            #expect(try restarted.queuedTrigger(idPrefix: "mine")?.state == .retrying)
            #expect(try restarted.queuedTrigger(idPrefix: "theirs")?.state == .running)
        }
    }

    /// A plugin quarantined (or a task disabled) on one host parks only the
    /// triggers no other live host runs: the rest stay for the hosts that run them.
    @Test func parkingLeavesAloneWhatAnotherLiveHostRuns() async throws {
        try await withStore(leaseDuration: .seconds(30)) { hostA, database in
            let hostB = try database.store(leaseDuration: .seconds(30))
            let gone = try database.store(leaseDuration: .seconds(30))
            defer {
                hostB.close()
                gone.close()
            }
            try hostA.heartbeat(name: "a", tasks: [])
            try hostB.heartbeat(name: "b", tasks: ["a/RunByB"])
            try gone.heartbeat(name: "gone", tasks: ["a/RunByNobody"], now: Date().addingTimeInterval(-60))
            try hostA.enqueue([queued("RunByB", id: "b1"), queued("RunByNobody", id: "n1"), queued("Disabled", id: "d1")])
            #expect(try hostA.park(app: "a") == 2, "only the triggers no live host runs are parked")
            #expect(try hostA.queuedTrigger(idPrefix: "b1")?.state == .pending)
            let parked = try #require(try hostA.queuedTrigger(idPrefix: "n1"))
            #expect(parked.state == .parked && parked.lastError?.contains("no other live host") == true)
            #expect(try hostA.unpark(app: "a") == 2)
            try hostB.heartbeat(name: "b", tasks: ["a/RunByB", "a/Disabled"])
            #expect(try hostA.park(app: "a", task: "Disabled") == 0, "host B runs it")
            #expect(try hostA.park(app: "a", task: "RunByNobody") == 1)
            #expect(try hostB.claim(limit: 5, owner: hostB.hostId, now: Date()) { _, _ in .take }.map(\.id).sorted() == ["b1", "d1"])
        }
    }
}
