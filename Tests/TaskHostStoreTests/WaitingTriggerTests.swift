import Foundation
import TaskHostTestSupport
import Testing

@testable import TaskHostCore
@testable import TaskHostStore

/// Triggers waiting for their task's conditions: out of the claim's way
/// without an attempt counted, back when resumed, and still bound by their
/// time to live (on every backend).
@Suite struct WaitingTriggerTests {
    func trigger(_ id: String, task: String = "t", expiresAt: Date? = nil) -> NewTrigger {
        NewTrigger(app: "a", task: task, event: TriggerEvent(kind: .application, triggerId: id), expiresAt: expiresAt)
    }

    @Test(arguments: await StoreBackend.available()) func waitingTriggersLeaveTheClaimsWayUntilResumed(backend: StoreBackend)
        async throws
    {
        try await backend.withStore { store, _ in
            try store.enqueue([trigger("w1", task: "online"), trigger("w2", task: "online"), trigger("r1", task: "plain")])
            let reason = "waiting for InternetAvailable"
            let claimed = try store.claim(limit: 10, owner: "h", now: Date()) { _, task in
                task == "online" ? .wait(reason: reason) : .take
            }
            #expect(claimed.map(\.id) == ["r1"])
            #expect(try store.queueCounts() == [.waiting: 2, .running: 1])
            let waiting = try store.queuedTriggers(states: [.waiting], limit: 10)
            #expect(Set(waiting.map(\.id)) == ["w1", "w2"])
            #expect(waiting.allSatisfy { $0.attempts == 0 && $0.lastError == reason }, "no attempt counted; the reason is its last error")
            // Not read again: a claim that would take anything finds nothing.
            #expect(try store.claim(limit: 10, owner: "h", now: Date()) { _, _ in .take }.isEmpty)
            // Resuming another task changes nothing; resuming theirs makes them pending.
            #expect(try store.resumeWaiting(tasks: [(app: "a", task: "plain"), (app: "b", task: "online")]) == 0)
            #expect(try store.resumeWaiting(tasks: [(app: "a", task: "online")]) == 2)
            #expect(try store.queueCounts() == [.pending: 2, .running: 1])
            let again = try store.claim(limit: 10, owner: "h", now: Date()) { _, _ in .take }
            #expect(Set(again.map(\.id)) == ["w1", "w2"])
            #expect(again.allSatisfy { $0.attempts == 1 }, "the waits counted no attempt")
            #expect(try store.resumeWaiting(tasks: []) == 0)
        }
    }

    @Test(arguments: await StoreBackend.available()) func aWaitingTriggerPastItsTimeToLiveExpires(backend: StoreBackend) async throws {
        try await backend.withStore { store, _ in
            try store.enqueue([trigger("short", expiresAt: Date().addingTimeInterval(60)), trigger("forever")])
            let now = Date().addingTimeInterval(1)
            _ = try store.claim(limit: 10, owner: "h", now: now) { _, _ in .wait(reason: "waiting for FreeStorage") }
            #expect(try store.queueCounts() == [.waiting: 2])
            // A later claim, after the time to live: the waiting one that has one expires, the other waits on.
            _ = try store.claim(limit: 10, owner: "h", now: now.addingTimeInterval(120)) { _, _ in .take }
            #expect(try store.queueCounts() == [.waiting: 1, .expired: 1])
            let expired = try #require(try store.queuedTriggers(states: [.expired], limit: 5).first)
            #expect(expired.id == "short")
            #expect(expired.lastError == "time to live ran out before it could run")
            // Resuming does not bring an expired trigger back.
            #expect(try store.resumeWaiting(tasks: [(app: "a", task: "t")]) == 1)
            #expect(try store.queueCounts() == [.pending: 1, .expired: 1])
        }
    }

    @Test(arguments: await StoreBackend.available()) func aWebPushTopicReplacesAWaitingMessage(backend: StoreBackend) async throws {
        try await backend.withStore { store, _ in
            func message(_ id: String) -> NewTrigger {
                NewTrigger(
                    app: "a", task: "t", event: TriggerEvent(kind: .webPush, triggerId: id, channelId: "subscription"), topic: "score")
            }
            try store.enqueue([message("first")])
            _ = try store.claim(limit: 10, owner: "h", now: Date().addingTimeInterval(1)) { _, _ in .wait(reason: "waiting") }
            #expect(try store.queueCounts() == [.waiting: 1])
            try store.enqueue([message("second")])
            #expect(try store.queuedTrigger(idPrefix: "first") == nil, "a message that has not run yet is replaced, waiting too")
            #expect(try store.queueCounts() == [.pending: 1])
        }
    }

    @Test func resumingReadsTheStateIndex() throws {
        let store = try TestSupport.store()
        let plan = try store.queryPlan(SQLiteTaskStore.resumeTaskSQL, arguments: [0, "a", "t"])
        #expect(plan.contains("trigger_by_state"), "\(plan)")
    }
}
