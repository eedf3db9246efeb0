import Crypto
import Foundation
import TaskHostCore
import TaskHostServer
import TaskHostStore
import TaskHostTestSupport
import TaskHostWebPush
import Testing

/// What `POST /webpush/v1/{subscription}` answers (RFC 8030, 8291, 8292), the
/// route driven in-process (``RouterServer``): 404 and 410 subscriptions,
/// VAPID (401, 403), bad headers and bodies (400, 413, 415), the rate limit
/// (429 with Retry-After) and the public URL. Pushes that run their task are
/// in ``WebPushEndpointTests``, on a running host.
@Suite struct WebPushRouteTests {
    let key = P256.Signing.PrivateKey()

    @Test func unknownRevokedAndExpiredSubscriptionsAre404And410() async throws {
        let server = try RouterServer([WebPushEndpointTests.sample])
        var unknown = try server.subscription(task: "SampleBackgroundTask")
        unknown.id = PushChannel.newId()
        #expect(try await server.webPush(unknown, "x", key: key).status == 404)
        let revoked = try server.subscription(task: "SampleBackgroundTask")
        #expect(try server.store.revokeSubscription(id: revoked.id, at: Date()))
        #expect(try await server.webPush(revoked, "x", key: key).status == 410)
        let expired = try server.subscription(task: "SampleBackgroundTask", expiresAt: Date().addingTimeInterval(-1))
        #expect(try await server.webPush(expired, "x", key: key).status == 410)
    }

    @Test func vapidIsRequiredAndChecked() async throws {
        let server = try RouterServer([WebPushEndpointTests.sample])
        let restricted = try server.subscription(task: "SampleBackgroundTask", serverKey: key.publicKey)
        let missing = try await server.webPush(restricted, "x", key: key, headers: ["Authorization": nil])
        #expect(missing.status == 401)
        #expect(missing.header("WWW-Authenticate") == "vapid", "RFC 8292 section 3: a 401 asks for the vapid scheme")
        #expect(
            try await server.webPush(restricted, "x", key: P256.Signing.PrivateKey()).header("WWW-Authenticate") == nil,
            "403 asks for nothing")
        #expect(try await server.webPush(restricted, "x", key: P256.Signing.PrivateKey()).status == 403, "another key")
        #expect(try await server.webPush(restricted, "x", key: key, audience: "https://push.example.com").status == 403)
        #expect(try await server.webPush(restricted, "x", key: key, headers: ["Authorization": "vapid t=a.b.c, k=x"]).status == 403)
        #expect(try server.store.queueCounts().values.reduce(0, +) == 0, "nothing refused was stored")
    }

    @Test func badHeadersAndBodiesAreRefusedAtOnce() async throws {
        let server = try RouterServer([WebPushEndpointTests.sample])
        let subscription = try server.subscription(task: "SampleBackgroundTask")
        let other = try server.subscription(task: "SampleBackgroundTask")
        #expect(try await server.webPush(subscription, "x", key: key, headers: ["TTL": nil]).status == 400)
        #expect(try await server.webPush(subscription, "x", key: key, headers: ["TTL": "soon"]).status == 400)
        #expect(try await server.webPush(subscription, "x", key: key, headers: ["Urgency": "urgent"]).status == 400)
        #expect(try await server.webPush(subscription, "x", key: key, headers: ["Topic": "not a topic!"]).status == 400)
        #expect(try await server.webPush(subscription, "x", key: key, headers: ["Content-Encoding": "aesgcm"]).status == 415)
        // Encrypted to another subscription's keys: 400 with a reason, not a failure in the task later.
        let misdirected = try WebPushMessage.encrypt(Array("x".utf8), receiverKey: other.publicKey, authSecret: other.authSecret)
        let answer = try await server.webPush(subscription, "x", key: key, body: misdirected)
        #expect(answer.status == 400)
        #expect(answer.body.contains("does not decrypt"))
        #expect(
            try await server.webPush(subscription, nil, key: key, headers: ["Content-Encoding": "aes128gcm"], body: [1, 2, 3]).status == 400
        )
        let big = try WebPushMessage.encrypt(
            [UInt8](repeating: 98, count: 4096), receiverKey: subscription.publicKey, authSecret: subscription.authSecret, recordSize: 8192)
        #expect(try await server.webPush(subscription, "x", key: key, body: big).status == 413)
        #expect(try server.store.queueCounts().values.reduce(0, +) == 0)
    }

    @Test func overTheRateLimitIs429WithRetryAfter() async throws {
        let server = try RouterServer([WebPushEndpointTests.sample]) {
            $0.channelRate = 0.01
            $0.channelBurst = 2
        }
        let subscription = try server.subscription(task: "SampleBackgroundTask")
        #expect(try await server.webPush(subscription, "1", key: key).status == 201)
        #expect(try await server.webPush(subscription, "2", key: key).status == 201)
        let answer = try await server.webPush(subscription, "3", key: key)
        #expect(answer.status == 429)
        #expect(Int(answer.header("Retry-After") ?? "") ?? 0 >= 1)
    }

    @Test func thePublicURLIsTheAudienceAndTheBaseOfLocation() async throws {
        let server = try RouterServer([WebPushEndpointTests.sample]) {
            $0.publicURL = "https://push.example.com:8443/"
        }
        let subscription = try server.subscription(task: "SampleBackgroundTask")
        #expect(try await server.webPush(subscription, "x", key: key).status == 403, "aud is the bound address, not the public URL")
        let answer = try await server.webPush(subscription, "x", key: key, audience: "https://push.example.com:8443")
        #expect(answer.status == 201)
        #expect(answer.header("Location")?.hasPrefix("https://push.example.com:8443/webpush/v1/\(subscription.id)/messages/") == true)
    }
}
