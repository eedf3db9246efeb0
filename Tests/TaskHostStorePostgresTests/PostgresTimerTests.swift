import Dispatch
import Foundation
import TaskHostCore
import TaskHostManifest
import TaskHostPlugins
import TaskHostStore
import TaskHostTestSupport
import Testing

@testable import TaskHostScheduling
@testable import TaskHostStorePostgres

/// Timers on a database that several hosts share: each host runs its own
/// `TimerScheduler` over its own registry, and a period fires once in all.
@Suite(
    .enabled("needs PostgreSQL (skipped when absent outside CI; the line above the results says why)") { await PostgresServer.testsRun() })
struct PostgresTimerTests {
    static let app = "com.example.tests"
    static let start = Date(timeIntervalSince1970: 1_800_000_000)

    /// A host's registry: its own object, with the same periodic (1 minute) and one-shot tasks as every host's.
    static func registry() -> TaskRegistry {
        TestSupport.registry([
            TestSupport.task("Tick", "FaultyTasks.AsyncEchoTask", triggers: [.time(intervalMinutes: 1, oneShot: false)]),
            TestSupport.task("Once", "FaultyTasks.AsyncEchoTask", triggers: [.time(intervalMinutes: 1, oneShot: true)]),
        ])
    }

    /// The ids of periods 1 through `periods` of Tick, and Once's.
    static func expectedIds(periods: Int) -> Set<String> {
        Set((1...periods).map { TimerScheduler.triggerId(app: app, task: "Tick", minutes: 1, period: String($0)) })
            .union([TimerScheduler.triggerId(app: app, task: "Once", minutes: 1, period: "once")])
    }

    /// Every trigger in the queue, whatever its state.
    static func queuedIds(_ store: PostgresTaskStore) throws -> [String] {
        try store.queuedTriggers(states: [.pending, .running, .retrying, .done, .dead, .expired, .parked], limit: 1000).map(\.id)
    }

    /// Two hosts tick over the same ten minutes, one's clock 3 s ahead of the
    /// other's, each twice a period: one trigger per period, one for the one-shot.
    @Test(arguments: [3.0, -3.0]) func twoHostsFireEachPeriodOnce(secondHostAhead offset: Double) async throws {
        try await withStore { first, database in
            let second = try database.store(hostId: "host-b")
            defer { second.close() }
            let schedulers = [
                TimerScheduler(store: first, registry: Self.registry()), TimerScheduler(store: second, registry: Self.registry()),
            ]
            #expect(try schedulers[0].tick(now: Self.start).isEmpty, "the first tick takes the anchor; nothing is due yet")
            #expect(try schedulers[1].tick(now: Self.start.addingTimeInterval(offset)).isEmpty)
            for tick in stride(from: 30.0, through: 630, by: 30) {
                _ = try schedulers[0].tick(now: Self.start.addingTimeInterval(tick))
                _ = try schedulers[1].tick(now: Self.start.addingTimeInterval(tick + offset))
            }
            let ids = try Self.queuedIds(first)
            #expect(ids.count == 11, "10 periods and the one-shot, each once")
            #expect(Set(ids) == Self.expectedIds(periods: 10))
            for store in [first, second] {
                #expect(try store.timerAnchor(app: Self.app, task: "Tick", default: Date()) == Self.start, "the first host's anchor, kept")
            }
        }
    }

    /// The hosts' first ticks race (two threads released together, their
    /// clocks 3 s apart), round after round on fresh timers: both keep the
    /// anchor of whichever inserted it, and each period fires once.
    @Test func firstTicksThatRaceTakeOneAnchorAndFireEachPeriodOnce() async throws {
        let database = try await TestDatabase()
        do {
            let (first, second) = try await offThePool { (try database.store(hostId: "host-a"), try database.store(hostId: "host-b")) }
            defer {
                first.close()
                second.close()
            }
            for round in 0..<20 {
                let start = Self.start.addingTimeInterval(Double(round) * 86_400)
                let app = "com.example.race\(round)"
                let task = TestSupport.task("Tick", "FaultyTasks.AsyncEchoTask", triggers: [.time(intervalMinutes: 1, oneShot: false)])
                let hosts = [
                    (TimerScheduler(store: first, registry: TestSupport.registry([task], app: app)), 0.0),
                    (TimerScheduler(store: second, registry: TestSupport.registry([task], app: app)), 3.0),
                ]
                let anchors = try await Self.race(
                    hosts.map { scheduler, offset in
                        {
                            _ = try scheduler.tick(now: start.addingTimeInterval(offset))
                            return try scheduler.store.timerAnchor(app: app, task: "Tick", default: Date())
                        }
                    })
                #expect(Set(anchors).count == 1, "round \(round): one anchor for both hosts, \(anchors)")
                #expect(anchors.allSatisfy { [start, start.addingTimeInterval(3)].contains($0) }, "round \(round): \(anchors)")
                // Ticks whose period does not depend on whose anchor won (30 s into each of 5 periods).
                try await offThePool {
                    for period in 1...5 {
                        for (scheduler, offset) in hosts {
                            _ = try scheduler.tick(now: start.addingTimeInterval(Double(period) * 60 + 30 + offset))
                        }
                    }
                }
                let ids = try await offThePool { try Self.queuedIds(first).filter { $0.hasPrefix("t") } }
                let expected = Set((1...5).map { TimerScheduler.triggerId(app: app, task: "Tick", minutes: 1, period: String($0)) })
                #expect(Set(ids).intersection(expected) == expected, "round \(round): each period fired")
                let queued = try await offThePool { try first.backlog(app: app, task: "Tick") }
                #expect(queued == 5, "round \(round): each period once")
            }
        } catch {
            try? await database.drop()
            throw error
        }
        try await database.drop()
    }

    /// Eight hosts ask for a new timer's anchor at once, each with a default of
    /// its own, round after round: every one gets the anchor that was stored
    /// (one that lost the insert reads the winner's, even when its statement
    /// began before the winner committed).
    @Test func hostsAskingForANewAnchorAtOnceAllGetTheStoredOne() async throws {
        let database = try await TestDatabase()
        do {
            let stores = try await offThePool { try (0..<8).map { try database.store(hostId: "host-\($0)") } }
            defer { for store in stores { store.close() } }
            for round in 0..<30 {
                let app = "com.example.anchor\(round)"
                let anchors = try await Self.race(
                    stores.enumerated().map { index, store in
                        { try store.timerAnchor(app: app, task: "Tick", default: Self.start.addingTimeInterval(Double(index))) }
                    })
                #expect(Set(anchors).count == 1, "round \(round): \(anchors)")
            }
        } catch {
            try? await database.drop()
            throw error
        }
        try await database.drop()
    }

    /// Runs `bodies` at once, each on a thread of its own (``storeThreads``),
    /// released together once all are ready; returns their results in order.
    static func race<T: Sendable>(_ bodies: [@Sendable () throws -> T]) async throws -> [T] {
        let arrived = DispatchSemaphore(value: 0)
        let go = DispatchSemaphore(value: 0)
        return try await withThrowingTaskGroup(of: (Int, T).self) { group in
            for (index, body) in bodies.enumerated() {
                group.addTask {
                    try await offThePool {
                        arrived.signal()
                        guard go.wait(timeout: .now() + 60) == .success else { throw CancellationError() }
                        return (index, try body())
                    }
                }
            }
            try await offThePool {
                for _ in bodies { guard arrived.wait(timeout: .now() + 60) == .success else { throw CancellationError() } }
                for _ in bodies { go.signal() }
            }
            var results: [(Int, T)] = []
            for try await result in group { results.append(result) }
            return results.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }

    /// A period that ran and was pruned (`--keep-done 0`) stays fired: its
    /// trigger's row is kept, so neither host enqueues the period again.
    @Test func aPrunedPeriodDoesNotFireAgainOnEitherHost() async throws {
        try await withStore { first, database in
            let second = try database.store(hostId: "host-b")
            defer { second.close() }
            let schedulers = [
                TimerScheduler(store: first, registry: Self.registry()), TimerScheduler(store: second, registry: Self.registry()),
            ]
            _ = try schedulers[0].tick(now: Self.start)
            let due = try schedulers[1].tick(now: Self.start.addingTimeInterval(61))
            #expect(due.count == 2, "period 1 and the one-shot")
            let claimed = try first.claim(limit: 10, owner: first.hostId, now: Date()) { _, _ in true }
            #expect(claimed.count == 2)
            for trigger in claimed {
                let instance = RandomToken.uuid()
                try first.insertInstance(
                    InstanceRecord(
                        id: instance, app: Self.app, task: trigger.task, triggerKind: .time, triggerId: trigger.id, attempt: 1, hostPid: 1,
                        startedAt: Date().addingTimeInterval(-2), endedAt: Date().addingTimeInterval(-1), outcome: .completed))
                try first.markDone(id: trigger.id, instanceId: instance)
            }
            let pruned = try second.pruneSettled(before: Date().addingTimeInterval(60), batchSize: 100)
            #expect(pruned == PruneResult(triggers: 0, instances: 2), "the instances go, the timers' triggers stay")
            for tick in [62.0, 90, 119] {
                for scheduler in schedulers { _ = try scheduler.tick(now: Self.start.addingTimeInterval(tick)) }
            }
            #expect(try first.queueCounts() == [.done: 2], "period 1 and the one-shot did not fire again")
            #expect(try first.claim(limit: 10, owner: first.hostId, now: Date()) { _, _ in true }.isEmpty)
        }
    }
}
