import Crypto
import Foundation
import TaskHostCore
import TaskHostServer
import TaskHostStore
import TaskHostTestSupport
import TaskHostWebPush
import Testing

/// What Web Push headers do to the queue: Topic replacement, DELETE of a
/// waiting message, TTL expiry, TTL 0, and Urgency's dispatch order.
@Suite struct WebPushQueueTests {
    let key = P256.Signing.PrivateKey()

    /// The routes in-process (``RouterServer``): what is asserted is the queue.
    func server() throws -> RouterServer {
        try RouterServer([WebPushEndpointTests.sample])
    }

    func pendingPayloads(_ server: RouterServer) throws -> [String] {
        try server.store.queuedTriggers(states: [.pending], limit: 100).map { String(decoding: $0.event.payload, as: UTF8.self) }
    }

    @Test func aTopicReplacesTheWaitingMessageOfItsSubscriptionOnly() async throws {
        let server = try server()
        let subscription = try server.subscription(task: "SampleBackgroundTask")
        let other = try server.subscription(task: "SampleBackgroundTask")
        #expect(try await server.webPush(subscription, "first", key: key, headers: ["Topic": "score"]).status == 201)
        #expect(try await server.webPush(other, "elsewhere", key: key, headers: ["Topic": "score"]).status == 201)
        #expect(try await server.webPush(subscription, "untopical", key: key).status == 201)
        #expect(try await server.webPush(subscription, "second", key: key, headers: ["Topic": "score"]).status == 201)
        #expect(try pendingPayloads(server).sorted() == ["elsewhere", "second", "untopical"])
        let replacing = try #require(
            try server.store.queuedTriggers(states: [.pending], limit: 100).first {
                $0.event.payload == Array("second".utf8)
            })
        #expect(replacing.event.kind == .webPush)
        #expect(replacing.event.headers == ["topic": "score", "urgency": "normal"])
        #expect(replacing.event.channelId == subscription.id)
    }

    @Test func deleteRemovesAWaitingMessage() async throws {
        let server = try server()
        let subscription = try server.subscription(task: "SampleBackgroundTask", serverKey: key.publicKey)
        let keep = try await server.webPush(subscription, "keep", key: key)
        let answer = try await server.webPush(subscription, "drop", key: key)
        let location = try #require(answer.header("Location"))
        #expect(try await server.deleteMessage(location, key: P256.Signing.PrivateKey()).status == 403, "only the subscription's sender")
        #expect(try await server.deleteMessage(location, key: key).status == 204)
        #expect(try await server.deleteMessage(location, key: key).status == 404, "already gone")
        #expect(try pendingPayloads(server) == ["keep"])
        #expect(keep.status == 201)
        let unsigned = try await server.request("DELETE", String(location.dropFirst(server.origin.count)), headers: [:])
        #expect(unsigned.status == 401)
    }

    @Test func aMessageWhoseTTLRanOutExpiresInsteadOfRunning() async throws {
        let server = try server()
        let subscription = try server.subscription(task: "SampleBackgroundTask")
        #expect(try await server.webPush(subscription, "short-lived", key: key, headers: ["TTL": "1"]).status == 201)
        #expect(try await server.webPush(subscription, "long-lived", key: key, headers: ["TTL": "3600"]).status == 201)
        let claimed = try server.store.claim(limit: 10, owner: "test", now: Date().addingTimeInterval(5)) { _, _ in true }
        #expect(claimed.map { String(decoding: $0.event.payload, as: UTF8.self) } == ["long-lived"])
        #expect(try server.store.queueCounts()[.expired] == 1)
    }

    @Test func ttlZeroIsDroppedWhenTheTaskCannotStartNow() async throws {
        let server = try server()
        let subscription = try server.subscription(task: "SampleBackgroundTask")
        #expect(try await server.webPush(subscription, "now", key: key, headers: ["TTL": "0"]).status == 201)
        let queued = try server.store.queuedTriggers(states: [.pending], limit: 10)
        #expect(queued.count == 1 && queued.first?.expiresAt == nil, "stored while nothing waits")
        let answer = try await server.webPush(subscription, "later", key: key, headers: ["TTL": "0"])
        #expect(answer.status == 201)
        #expect(answer.header("TTL") == "0")
        #expect(try pendingPayloads(server) == ["now"], "dropped: a message is already waiting")
    }

    @Test func urgencyOrdersDispatchWhenTheQueueIsBusy() async throws {
        // The service itself, with the moment of each push given: one second apart, least urgent first.
        let store = try TestSupport.store()
        let committer = IngestCommitter(store: store)
        defer { committer.close() }
        let service = WebPushService(
            store: store, committer: committer, limiter: RateLimiter(ratePerSecond: 1000, burst: 1000),
            publicOrigin: PublicOrigin("http://127.0.0.1:1"))
        let record = WebPushSubscription.make(app: "a", task: "T", applicationServerKey: nil, expiresAt: nil)
        try store.insertSubscription(record)
        let subscription = try service.subscription(id: record.id)
        let start = Date()
        for (offset, (content, urgency)) in [("very-low", "very-low"), ("high", "high"), ("default", nil), ("low", "low")].enumerated() {
            let headers = try service.validate(
                headers: ["ttl": "60"].merging(urgency.map { ["urgency": $0] } ?? [:]) { $1 }, contentLength: nil)
            let body = try WebPushMessage.encrypt(Array(content.utf8), receiverKey: record.publicKey, authSecret: record.authSecret)
            _ = try await service.accept(
                subscription, headers: headers, body: body, contentEncoding: "aes128gcm", now: start.addingTimeInterval(Double(offset)))
        }
        let claimed = try store.claim(limit: 10, owner: "test", now: start.addingTimeInterval(10)) { _, _ in true }
        #expect(claimed.map { String(decoding: $0.event.payload, as: UTF8.self) } == ["high", "default", "low", "very-low"])
    }
}
