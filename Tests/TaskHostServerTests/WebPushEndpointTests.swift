import Crypto
import Foundation
import TaskHostCore
import TaskHostManifest
import TaskHostServer
import TaskHostStore
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
        let answer = try await server.webPush(
            subscription, "hello from Web Push", key: key, headers: ["Topic": "inbox", "Urgency": "high"])
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

}
