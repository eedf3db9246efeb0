import Foundation
import TaskHostClient
import TaskHostCore
import TaskHostManifest
import TaskHostServer
import TaskHostStore
import TaskHostTestSupport
import Testing

/// Foreground listeners (issue 18) on a real server over loopback, through
/// the Swift client (`TaskHostClient`): they see each stored push, and a claim
/// within the claim window keeps the task from running.
// A deadline against hangs (a push that never comes), not a timing assertion.
@Suite(.timeLimit(.minutes(5))) struct ListenerTests {
    /// The recording task, with a claim window long enough that no claim in these tests can miss it.
    static func recorder(claimWindow: Duration = .seconds(30)) -> TaskDeclaration {
        var task = TestSupport.task("Recorder", "FaultyTasks.RecordingTask", triggers: [.pushNotification])
        task.claimWindow = claimWindow
        return task
    }

    static func listenToken(_ server: TestServer, app: String = TestServer.app) throws -> String {
        let (credential, token) = Credential.make(app: app, label: "listener", scope: .listen)
        try server.store.insertCredential(credential)
        return token
    }

    static func listener(_ server: TestServer, token: String, claims: Bool) -> TaskHostListener {
        TaskHostListener(url: "http://127.0.0.1:\(server.port)", app: TestServer.app, token: token, claims: claims)
    }

    @Test func aListenerSeesAPushAndClaimsItSoNoInstanceRuns() async throws {
        let server = try await TestServer.start([Self.recorder()])
        defer { Task { await server.stop() } }
        let channel = try server.channel(task: "Recorder")
        let token = try server.token()
        let seen = Shared<(ListenedPush?, Bool?)>((nil, nil))
        try await Self.listener(server, token: try Self.listenToken(server), claims: true).run { pushes in
            let answer = try await server.post(channel.id, token: token, body: Array("mine".utf8))
            #expect(answer.status == 200)
            for try await push in pushes {
                let won = try await pushes.claim(push)
                seen.withLock { $0 = (push, won) }
                #expect(push.triggerId == answer.header("X-WNS-Msg-ID"))
                break
            }
        }
        let (push, won) = seen.withLock { $0 }
        let received = try #require(push)
        #expect(won == true)
        #expect(received.payload == Array("mine".utf8) && received.channelId == channel.id && received.task == "Recorder")
        #expect(received.headers["x-wns-type"] == "wns/raw" && received.headers["authorization"] == nil)
        #expect(received.claimWindow == .seconds(30))
        #expect(try server.store.queuedTrigger(idPrefix: received.triggerId)?.state == .claimed)
        #expect(try server.store.instances(task: "Recorder", limit: 10).isEmpty)
    }

    @Test func twoListenersRaceToClaimAndExactlyOneWins() async throws {
        let server = try await TestServer.start([Self.recorder()])
        defer { Task { await server.stop() } }
        let channel = try server.channel(task: "Recorder")
        let token = try server.token()
        let listenToken = try Self.listenToken(server)
        let outcomes = Shared<[Bool]>([])
        let ready = Shared(0)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<2 {
                group.addTask {
                    try await Self.listener(server, token: listenToken, claims: true).run { pushes in
                        ready.withLock { $0 += 1 }
                        for try await push in pushes {
                            let won = try await pushes.claim(push)
                            outcomes.withLock { $0.append(won) }
                            break
                        }
                    }
                }
            }
            #expect(await TestSupport.eventually { ready.withLock { $0 } == 2 })
            #expect(try await server.post(channel.id, token: token).status == 200)
            try await group.waitForAll()
        }
        #expect(outcomes.withLock { $0 }.sorted { !$0 && $1 } == [false, true])
        #expect(try server.store.queueCounts()[.claimed] == 1)
        #expect(try server.store.instances(task: "Recorder", limit: 10).isEmpty)
    }

    @Test func withNoListenerThePushRunsAtOnce() async throws {
        let server = try await TestServer.start([Self.recorder()])
        defer { Task { await server.stop() } }
        let channel = try server.channel(task: "Recorder")
        let answer = try await server.post(channel.id, token: try server.token())
        let id = try #require(answer.header("X-WNS-Msg-ID"))
        // No claiming listener: no claim window, even one of 30 s.
        #expect(try await TestSupport.eventually { try server.store.queuedTrigger(idPrefix: id)?.state == .done })
        #expect(try server.store.instances(task: "Recorder", limit: 10).count == 1)
    }

    @Test func anObservingListenerSeesThePushAndTheTaskRunsWithoutWaiting() async throws {
        let server = try await TestServer.start([Self.recorder()])
        defer { Task { await server.stop() } }
        let channel = try server.channel(task: "Recorder")
        let token = try server.token()
        let refusal = Shared<String?>(nil)
        try await Self.listener(server, token: try Self.listenToken(server), claims: false).run { pushes in
            #expect(try await server.post(channel.id, token: token).status == 200)
            for try await push in pushes {
                #expect(push.claimWindow == .zero)
                #expect(try await !pushes.claim(push), "an observer cannot claim")
                refusal.withLock { $0 = pushes.refusal(of: push.triggerId) }
                break
            }
        }
        #expect(refusal.withLock { $0 }?.contains("?claim=true") == true)
        #expect(try await TestSupport.eventually { try server.store.queueCounts()[.done] == 1 })
    }

    @Test func aPushNotClaimedWithinItsWindowRunsWhenTheWindowEnds() async throws {
        let server = try await TestServer.start([Self.recorder(claimWindow: .milliseconds(200))])
        defer { Task { await server.stop() } }
        let channel = try server.channel(task: "Recorder")
        let token = try server.token()
        try await Self.listener(server, token: try Self.listenToken(server), claims: true).run { pushes in
            let answer = try await server.post(channel.id, token: token)
            let id = try #require(answer.header("X-WNS-Msg-ID"))
            for try await push in pushes {
                #expect(push.triggerId == id && push.claimWindow == .milliseconds(200))
                break
            }
            // Not claimed: dispatched once the window ended (the hub wakes the dispatcher).
            #expect(try await TestSupport.eventually { try server.store.queuedTrigger(idPrefix: id)?.state == .done })
            #expect(try await !pushes.claim(triggerId: id), "too late: it ran")
        }
    }
}
