import Foundation
import TaskHostCore
import TaskHostManifest
import TaskHostScheduling
import TaskHostServer
import TaskHostStore
import TaskHostTestSupport
import Testing

/// The WNS-style raw push endpoint on a real server over loopback.
@Suite struct PushEndpointTests {
    let recorder = TestSupport.task("Recorder", "FaultyTasks.RecordingTask", triggers: [.pushNotification])

    @Test func aPushIsStoredThenRunsTheBoundTask() async throws {
        let server = try await TestServer.start([recorder])
        defer { Task { await server.stop() } }
        let channel = try server.channel(task: "Recorder")
        let token = try server.token()
        var headers = TestServer.rawHeaders
        headers["X-Custom"] = "yes"
        let answer = try await server.post(channel.id, token: token, headers: headers, body: Array("hello".utf8))
        #expect(answer.status == 200)
        #expect(answer.header("X-WNS-Status") == "received")
        let messageId = try #require(answer.header("X-WNS-Msg-ID"))
        #expect(messageId.count == 32)
        // Acknowledged means stored: the trigger is in the queue under the message id.
        #expect(try server.store.queuedTrigger(idPrefix: messageId)?.event.payload == Array("hello".utf8))
        #expect(try await TestSupport.eventually { try server.store.queuedTrigger(idPrefix: messageId)?.state == .done })
        #expect(try server.setting("seen:hello")?.text == "1")
        #expect(try server.setting("channel")?.text == channel.id)
        let forwarded = try #require(try server.setting("headers")?.text).split(separator: ",")
        #expect(forwarded.contains("x-wns-type") && forwarded.contains("x-custom"))
        #expect(!forwarded.contains("authorization"), "the app server's secret never reaches the plugin")
        let instance = try #require(try server.store.instances(task: "Recorder", limit: 1).first)
        #expect(instance.triggerId == messageId)
        #expect(instance.triggerKind == .pushNotification)
    }

    @Test func aPushPastItsTimeToLiveIsDroppedAndRecorded() async throws {
        let hold = TestSupport.task("Hold", "FaultyTasks.DeferralUntilCanceledTask", triggers: [.pushNotification])
        let server = try await TestServer.start([hold]) { $0.limits = ConcurrencyLimits(global: 2, perTask: 1) }
        defer { Task { await server.stop() } }
        let channel = try server.channel(task: "Hold")
        let token = try server.token()
        #expect(try await server.post(channel.id, token: token).status == 200)
        #expect(try await TestSupport.eventually { try server.store.queueCounts()[.running] == 1 })
        let answer = try await server.post(channel.id, token: token, headers: TestServer.rawHeaders.merging(["X-WNS-TTL": "1"]) { $1 })
        #expect(answer.status == 200)
        let id = try #require(answer.header("X-WNS-Msg-ID"))
        #expect(try server.store.queuedTrigger(idPrefix: id)?.expiresAt != nil)
        #expect(try await TestSupport.eventually { try server.store.queuedTrigger(idPrefix: id)?.state == .expired })
    }

    @Test func aNoCachePushIsDroppedWhenTheTaskCannotStartNow() async throws {
        let hold = TestSupport.task("Hold", "FaultyTasks.DeferralUntilCanceledTask", triggers: [.pushNotification])
        let server = try await TestServer.start([hold]) { $0.limits = ConcurrencyLimits(global: 2, perTask: 1) }
        defer { Task { await server.stop() } }
        let channel = try server.channel(task: "Hold")
        let token = try server.token()
        let noCache = TestServer.rawHeaders.merging(["X-WNS-Cache-Policy": "no-cache"]) { $1 }
        let first = try await server.post(channel.id, token: token, headers: noCache)
        #expect(first.header("X-WNS-Status") == "received")
        #expect(try await TestSupport.eventually { try server.store.queueCounts()[.running] == 1 })
        let second = try await server.post(channel.id, token: token, headers: noCache)
        #expect(second.status == 200)
        #expect(second.header("X-WNS-Status") == "dropped")
        #expect(try server.store.queuedTrigger(idPrefix: try #require(second.header("X-WNS-Msg-ID"))) == nil)
    }

    @Test func applicationTriggersQueuedByTheCLIRun() async throws {
        let echo = TestSupport.task("Async", "FaultyTasks.AsyncEchoTask")
        let server = try await TestServer.start([echo])
        defer { Task { await server.stop() } }
        let event = TriggerEvent(kind: .application, triggerId: NewTrigger.newId(), arguments: ["message": "queued"])
        try server.store.enqueue([NewTrigger(app: TestServer.app, task: "Async", event: event)])
        #expect(try await TestSupport.eventually { try server.setting("AsyncEchoTask")?.text == "queued" })
    }
    /// The benchmarking modes of `serve --ingest` take the production path up
    /// to storage: per-push stores (and so runs) each push, discard stores
    /// nothing, and both authenticate, check and rate-limit as group commit does.
    @Test(arguments: [IngestMode.perPush, .discard])
    func benchmarkingIngestModesStillCheckEveryPush(mode: IngestMode) async throws {
        let server = try await TestServer.start([recorder]) {
            $0.ingest = mode
            $0.channelBurst = 2
            $0.channelRate = 0.01
        }
        defer { Task { await server.stop() } }
        let channel = try server.channel(task: "Recorder")
        let token = try server.token()
        #expect(try await server.post(channel.id, token: nil).status == 401)
        #expect(try await server.post(channel.id, token: try server.token(app: "com.example.other")).status == 404)
        #expect(try await server.post("no-such-channel", token: token).status == 404)
        #expect(try await server.post(channel.id, token: token, headers: ["X-WNS-Type": "wns/raw"]).status == 400)
        let accepted = try await server.post(channel.id, token: token, body: Array("hello".utf8))
        #expect(accepted.status == 200)
        #expect(accepted.header("X-WNS-Status") == "received")
        let messageId = try #require(accepted.header("X-WNS-Msg-ID"))
        #expect(try await server.post(channel.id, token: token, body: Array("again".utf8)).status == 200)
        #expect(
            try await server.post(channel.id, token: token, body: Array("again".utf8)).status == 406,
            "the channel's rate limit still applies")
        switch mode {
        case .perPush:
            #expect(try server.store.queuedTrigger(idPrefix: messageId)?.event.payload == Array("hello".utf8))
            #expect(try await TestSupport.eventually { try server.setting("seen:hello")?.text == "1" })
        default:
            #expect(try server.store.queuedTrigger(idPrefix: messageId) == nil)
            #expect(try server.store.queueCounts().values.reduce(0, +) == 0)
        }
    }
}
