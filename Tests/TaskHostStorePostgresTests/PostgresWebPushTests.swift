import Foundation
import TaskHostCore
import TaskHostStore
import TaskHostTestSupport
import Testing

@testable import TaskHostStorePostgres

/// Web Push subscriptions, topic replacement and message removal on PostgreSQL.
@Suite(
    .enabled("needs PostgreSQL (skipped when absent outside CI; the line above the results says why)") { await PostgresServer.testsRun() })
struct PostgresWebPushTests {
    func subscription(_ id: String, app: String = "a", expiresAt: Date? = nil) -> WebPushSubscription {
        WebPushSubscription(
            id: id, app: app, task: "T", privateKey: [1, 2, 3], publicKey: [4, 5], authSecret: [6],
            applicationServerKey: id == "s1" ? [7, 0] : nil,
            createdAt: Date(timeIntervalSince1970: 1000 + Double(id.count)), expiresAt: expiresAt)
    }

    @Test func subscriptionsAreStoredListedAndRevoked() async throws {
        try await withStore { store, _ in
            let first = subscription("s1", expiresAt: Date(timeIntervalSince1970: 5000))
            let second = subscription("s22", app: "b")
            try store.insertSubscription(first)
            try store.insertSubscription(second)
            #expect(try store.subscription(id: "s1") == first)
            #expect(try store.subscriptions(app: nil).map(\.id) == ["s1", "s22"])
            #expect(try store.subscriptions(app: "b") == [second])
            #expect(try store.revokeSubscription(id: "s1", at: Date(timeIntervalSince1970: 2000)))
            #expect(try !store.revokeSubscription(id: "s1", at: Date(timeIntervalSince1970: 2001)))
            #expect(try store.subscription(id: "s1")?.revokedAt == Date(timeIntervalSince1970: 2000))
            #expect(try store.subscription(id: "none") == nil)
        }
    }

    @Test func aTopicReplacesTheMessageNotYetRunEvenInOneBatch() async throws {
        try await withStore { store, _ in
            try store.enqueue([queued(id: "m1", channel: "s1", topic: "news"), queued(id: "m2", channel: "s1", topic: "other")])
            try store.enqueue([
                queued(id: "m3", channel: "s1", topic: "news"), queued(id: "m4", channel: "s2", topic: "news"),
                queued(id: "m5", channel: "s1", topic: "news"),
            ])
            let ids = try store.queuedTriggers(states: [.pending], limit: 10).map(\.id).sorted()
            #expect(ids == ["m2", "m4", "m5"], "the last message of a topic stays, per subscription")
        }
    }

    @Test func aPendingMessageCanBeDeletedButNotARunningOne() async throws {
        try await withStore { store, _ in
            try store.enqueue([queued(id: "m1", channel: "s1", topic: "t1"), queued(id: "m2", channel: "s1", topic: "t2")])
            _ = try store.claim(limit: 1, owner: "h", now: Date()) { _, _ in true }
            let running = try #require(try store.queuedTriggers(states: [.running], limit: 1).first)
            let pending = running.id == "m1" ? "m2" : "m1"
            #expect(try !store.deletePendingMessage(id: pending, subscriptionId: "other"))
            #expect(try store.deletePendingMessage(id: pending, subscriptionId: "s1"))
            #expect(try !store.deletePendingMessage(id: running.id, subscriptionId: "s1"))
            #expect(try store.queueCounts() == [.running: 1])
        }
    }
}
