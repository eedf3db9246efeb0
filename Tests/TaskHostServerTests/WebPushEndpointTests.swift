import Crypto
import Foundation
import TaskHostCore
import TaskHostManifest
import TaskHostServer
import TaskHostTestSupport
import TaskHostWebPush
import Testing

/// The Web Push resource's answers (RFC 8030, 8291, 8292), against a daemon in the test process.
@Suite struct WebPushEndpointTests {
    static let sample = TestSupport.task(
        "SampleBackgroundTask", "BackgroundTasks.SampleBackgroundTask", library: TestSupport.sampleTasks, triggers: [.webPush])
    let key = P256.Signing.PrivateKey()

    @Test func aPushIsStoredAnsweredCreatedAndRunsTheTaskWithThePlaintext() async throws {
        let server = try await TestServer.start([Self.sample])
        defer { Task { await server.stop() } }
        let subscription = try server.subscription(task: "SampleBackgroundTask", serverKey: key.publicKey)
        let answer = try await server.webPush(subscription, "hello from Web Push", key: key, headers: ["Topic": "inbox", "Urgency": "high"])
        #expect(answer.status == 201, "\(answer.body)")
        #expect(answer.header("TTL") == "60")
        let location = try #require(answer.header("Location"))
        #expect(location.hasPrefix(server.origin + "/webpush/v1/\(subscription.id)/messages/"))
        #expect(try await TestSupport.eventually { try server.setting("SampleBackgroundTask")?.text == "hello from Web Push" })
        let instance = try #require(try server.store.instances(task: nil, limit: 10).first)
        #expect(instance.triggerKind == .webPush)
        #expect(location.hasSuffix(instance.triggerId))
    }

    @Test func theTaskSeesTheSubscriptionTopicAndUrgency() async throws {
        let recorder = TestSupport.task("Recorder", "FaultyTasks.WebPushRecordingTask", triggers: [.webPush])
        let server = try await TestServer.start([recorder])
        defer { Task { await server.stop() } }
        let subscription = try server.subscription(task: "Recorder")
        #expect(try await server.webPush(subscription, "π ≈ 3.14", key: key, headers: ["Topic": "maths", "Urgency": "low"]).status == 201)
        #expect(try await TestSupport.eventually { try server.setting("webpush")?.text == "\(subscription.id)|maths|low|π ≈ 3.14" })
    }

    @Test func aTickleWithoutABodyRunsTheTaskWithEmptyContent() async throws {
        let server = try await TestServer.start([Self.sample])
        defer { Task { await server.stop() } }
        let subscription = try server.subscription(task: "SampleBackgroundTask")
        #expect(try await server.webPush(subscription, nil, key: key).status == 201)
        #expect(try await TestSupport.eventually { try server.setting("SampleBackgroundTask")?.text == "" })
    }

    @Test func unknownRevokedAndExpiredSubscriptionsAre404And410() async throws {
        let server = try await TestServer.start([Self.sample]) { $0.dispatches = false }
        defer { Task { await server.stop() } }
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
        let server = try await TestServer.start([Self.sample]) { $0.dispatches = false }
        defer { Task { await server.stop() } }
        let restricted = try server.subscription(task: "SampleBackgroundTask", serverKey: key.publicKey)
        #expect(try await server.webPush(restricted, "x", key: key, headers: ["Authorization": nil]).status == 401)
        #expect(try await server.webPush(restricted, "x", key: P256.Signing.PrivateKey()).status == 403, "another key")
        #expect(try await server.webPush(restricted, "x", key: key, audience: "https://push.example.com").status == 403)
        #expect(try await server.webPush(restricted, "x", key: key, headers: ["Authorization": "vapid t=a.b.c, k=x"]).status == 403)
        #expect(try server.store.queueCounts().values.reduce(0, +) == 0, "nothing refused was stored")
    }

    @Test func badHeadersAndBodiesAreRefusedAtOnce() async throws {
        let server = try await TestServer.start([Self.sample]) { $0.dispatches = false }
        defer { Task { await server.stop() } }
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
        #expect(try await server.webPush(subscription, nil, key: key, headers: ["Content-Encoding": "aes128gcm"], body: [1, 2, 3]).status == 400)
        let big = try WebPushMessage.encrypt(
            [UInt8](repeating: 98, count: 4096), receiverKey: subscription.publicKey, authSecret: subscription.authSecret, recordSize: 8192)
        #expect(try await server.webPush(subscription, "x", key: key, body: big).status == 413)
        #expect(try server.store.queueCounts().values.reduce(0, +) == 0)
    }

    @Test func overTheRateLimitIs429WithRetryAfter() async throws {
        let server = try await TestServer.start([Self.sample]) {
            $0.dispatches = false
            $0.channelRate = 0.01
            $0.channelBurst = 2
        }
        defer { Task { await server.stop() } }
        let subscription = try server.subscription(task: "SampleBackgroundTask")
        #expect(try await server.webPush(subscription, "1", key: key).status == 201)
        #expect(try await server.webPush(subscription, "2", key: key).status == 201)
        let answer = try await server.webPush(subscription, "3", key: key)
        #expect(answer.status == 429)
        #expect(Int(answer.header("Retry-After") ?? "") ?? 0 >= 1)
    }

    @Test func thePublicURLIsTheAudienceAndTheBaseOfLocation() async throws {
        let server = try await TestServer.start([Self.sample]) {
            $0.dispatches = false
            $0.publicURL = "https://push.example.com:8443/"
        }
        defer { Task { await server.stop() } }
        let subscription = try server.subscription(task: "SampleBackgroundTask")
        #expect(try await server.webPush(subscription, "x", key: key).status == 403, "aud is the bound address, not the public URL")
        let answer = try await server.webPush(subscription, "x", key: key, audience: "https://push.example.com:8443")
        #expect(answer.status == 201)
        #expect(answer.header("Location")?.hasPrefix("https://push.example.com:8443/webpush/v1/\(subscription.id)/messages/") == true)
    }
}
