import Foundation
import GRDB
import Synchronization
import TaskHostCore
import TaskHostShared
import TaskHostStore
import TaskHostTestSupport
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A value shared by concurrent test clients.
final class Shared<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
}

/// `taskhost serve` as a user runs it: killed mid-burst, shut down gracefully,
/// driven by the CLI.
@Suite(.serialized) struct ServeProcessTests {
    static let session: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = 32
        configuration.timeoutIntervalForRequest = 15
        return URLSession(configuration: configuration)
    }()

    /// A store in `directory` with a channel for `task` and a credential's token.
    static func prepare(_ directory: String, task: String) throws -> (SQLiteTaskStore, PushChannel, String) {
        let store = try SQLiteTaskStore(stateDirectory: StateDirectory(path: directory))
        let channel = PushChannel(
            id: PushChannel.newId(), app: "com.example.tests", task: task, createdAt: Date(),
            expiresAt: Date().addingTimeInterval(3600))
        try store.insertChannel(channel)
        let (credential, token) = Credential.make(app: "com.example.tests", label: "test")
        try store.insertCredential(credential)
        return (store, channel, token)
    }

    /// Posts a raw push; returns the status, or nil when no answer came (server gone).
    static func push(port: Int, channel: String, token: String, content: String) async -> Int? {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/push/v1/\(channel)")!)
        request.httpMethod = "POST"
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        request.setValue("wns/raw", forHTTPHeaderField: "X-WNS-Type")
        request.setValue("application/octet-stream", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data(content.utf8)
        guard let (_, response) = try? await session.data(for: request) else { return nil }
        return (response as? HTTPURLResponse)?.statusCode
    }

    @Test func everyAcknowledgedPushRunsAfterTheServerIsKilledMidBurst() async throws {
        let directory = TestSupport.temporaryDirectory()
        let manifest = try ServeProcess.manifest(in: directory, [("Recorder", "FaultyTasks.RecordingTask", "")])
        let (store, channel, token) = try Self.prepare(directory, task: "Recorder")
        let arguments = [
            "--retry-delay", "0.05", "--channel-burst", "100000", "--channel-rate", "100000", "--client-burst", "100000", "--client-rate",
            "100000",
        ]

        let first = try ServeProcess(manifest: manifest, stateDirectory: directory, arguments: arguments)
        let total = 1_000
        let clients = 16
        let killAfter = 300
        let acknowledged = Shared<Set<String>>([])
        let unanswered = Shared<Set<String>>([])
        let next = Shared<Int>(0)
        let killer = Task {
            while acknowledged.withLock({ $0.count }) < killAfter { try? await Task.sleep(for: .milliseconds(2)) }
            first.kill9()
        }
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<clients {
                group.addTask {
                    while true {
                        let index = next.withLock { value in
                            defer { value += 1 }
                            return value
                        }
                        guard index < total else { return }
                        let content = "push-\(index)"
                        if await Self.push(port: first.port, channel: channel.id, token: token, content: content) == 200 {
                            acknowledged.withLock { _ = $0.insert(content) }
                        } else {
                            unanswered.withLock { _ = $0.insert(content) }
                        }
                    }
                }
            }
        }
        await killer.value
        let acked = acknowledged.withLock { $0 }
        let retried = unanswered.withLock { $0 }
        #expect(acked.count >= killAfter)
        #expect(acked.count + retried.count == total)
        #expect(!retried.isEmpty, "the kill landed mid-burst")

        // Restart; the app server sends again what got no answer.
        let second = try ServeProcess(manifest: manifest, stateDirectory: directory, arguments: arguments)
        for content in retried.sorted() {
            var status: Int?
            for _ in 0..<50 where status != 200 {
                status = await Self.push(port: second.port, channel: channel.id, token: token, content: content)
            }
            #expect(status == 200, "resending \(content)")
        }
        let drained = try await TestSupport.eventually(timeout: .seconds(240)) {
            let counts = try store.queueCounts()
            return counts[.pending, default: 0] + counts[.running, default: 0] + counts[.retrying, default: 0] == 0
        }
        let counts = try store.queueCounts()
        #expect(drained, "the queue drains: \(counts)")
        #expect(second.terminate() == 0)

        let seen = Dictionary(
            uniqueKeysWithValues: try store.settings(app: "com.example.tests")
                .filter { $0.key.hasPrefix("seen:") }.map { (String($0.key.dropFirst(5)), $0.value) })
        let missing = acked.filter { seen[$0] == nil }
        #expect(missing.isEmpty, "acknowledged pushes that never ran: \(missing.sorted().prefix(10))")
        let unexpected = Set(seen.keys).subtracting(acked).subtracting(retried)
        #expect(unexpected.isEmpty, "runs of pushes that were never sent: \(unexpected.sorted().prefix(10))")
        #expect(try store.queueCounts()[.dead, default: 0] == 0)
        let integrity = try await DatabaseQueue(path: store.path).read { try String.fetchOne($0, sql: "PRAGMA integrity_check") }
        #expect(integrity == "ok")
    }

    @Test func gracefulShutdownCancelsADeferralAndKeepsItsTrigger() async throws {
        let directory = TestSupport.temporaryDirectory()
        let manifest = try ServeProcess.manifest(
            in: directory, [("Hold", "FaultyTasks.DeferralUntilCanceledTask", ", \"CancellationGraceSeconds\": 3")])
        let (store, channel, token) = try Self.prepare(directory, task: "Hold")

        let server = try ServeProcess(manifest: manifest, stateDirectory: directory)
        #expect(await Self.push(port: server.port, channel: channel.id, token: token, content: "work") == 200)
        #expect(try await TestSupport.eventually { try store.queueCounts()[.running] == 1 })
        try await Task.sleep(for: .milliseconds(300))
        #expect(server.terminate() == 0, "serve exits cleanly on SIGTERM")
        let instance = try #require(try store.instances(task: "Hold", limit: 1).first)
        #expect(instance.outcome == .canceled(.terminating))
        #expect(try store.log(instanceId: instance.id).map(\.text).contains("canceled (Terminating); completing the deferral"))
        let trigger = try #require(try store.queuedTriggers(states: [.pending], limit: 5).first)
        #expect(trigger.attempts == 0)
        #expect(server.errors.contains("instance stopped by shutdown; the trigger stays queued"))

        // The next start runs it again.
        let again = try ServeProcess(manifest: manifest, stateDirectory: directory)
        #expect(try await TestSupport.eventually { try store.queuedTrigger(idPrefix: trigger.id)?.state == .running })
        #expect(again.terminate() == 0)
        #expect(try store.instances(task: "Hold", limit: 5).count == 2)
    }

    @Test func theCLIDrivesTheServerLikeCurlWould() async throws {
        let directory = TestSupport.temporaryDirectory()
        let manifest = try ServeProcess.manifest(
            in: directory, [("Recorder", "FaultyTasks.RecordingTask", ""), ("Echo", "FaultyTasks.AsyncEchoTask", "")])
        let server = try ServeProcess(manifest: manifest, stateDirectory: directory)
        defer { _ = server.terminate() }
        func taskhost(_ arguments: [String]) throws -> (Int32, String, String) {
            try ServeProcess.taskhost(arguments, stateDirectory: directory)
        }
        let created = try taskhost([
            "channels", "create", "Recorder", "--manifest", manifest, "--base-url", "http://127.0.0.1:\(server.port)",
        ])
        #expect(created.0 == 0, "\(created.2)")
        let uri = created.1.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(uri.hasPrefix("http://127.0.0.1:\(server.port)/push/v1/"))
        #expect(uri.count == "http://127.0.0.1:\(server.port)/push/v1/".count + 43, "256-bit channel ids")
        let credential = try taskhost(["credentials", "create", "--manifest", manifest])
        let token = credential.1.trimmingCharacters(in: .whitespacesAndNewlines)
        let pushed = try taskhost(["push", uri, "--content", "via cli", "--token", token])
        #expect(pushed.0 == 0, "\(pushed.2)")
        #expect(pushed.1.hasPrefix("200 received "))
        let refused = try taskhost(["push", uri, "--content", "x", "--token", "cr_0000.bad"])
        #expect(refused.0 == 1)
        #expect(refused.2.contains("401"))
        #expect(
            try await TestSupport.eventually { try taskhost(["settings", "get", "seen:via cli", "--app", "com.example.tests"]).1 == "1\n" })
        // The task writes the setting before its trigger is settled: wait for the settlement.
        var queue = ""
        let settled = try await TestSupport.eventually {
            queue = try taskhost(["queue"]).1
            return queue.hasPrefix("pending 0  running 0  retrying 0  done 1  dead 0  expired 0")
        }
        #expect(settled, "\(queue)")
        let channels = try taskhost(["channels", "list"])
        #expect(channels.1.contains("Recorder") && channels.1.contains("active"))
        let revoke = try taskhost(["channels", "revoke", String(uri.split(separator: "/").last!)])
        #expect(revoke.0 == 0)
        // Revocation takes effect within the lookup cache's lifetime (1 s).
        var gone = try taskhost(["push", uri, "--content", "x", "--token", token])
        let revokedAt = Date()
        while gone.0 == 0, Date().timeIntervalSince(revokedAt) < 5 {
            try await Task.sleep(for: .milliseconds(100))
            gone = try taskhost(["push", uri, "--content", "x", "--token", token])
        }
        #expect(gone.0 == 1)
        #expect(gone.2.contains("410 the channel was revoked"))

        // Application triggers from the CLI reach the running daemon.
        let triggered = try taskhost(["trigger", "Echo", "--arg", "message=from the cli", "--manifest", manifest])
        #expect(triggered.0 == 0, "\(triggered.2)")
        #expect(
            try await TestSupport.eventually {
                try taskhost(["settings", "get", "AsyncEchoTask", "--app", "com.example.tests"]).1 == "from the cli\n"
            })

        // A dead-lettered trigger is queued again by `retry`.
        let store = try SQLiteTaskStore(stateDirectory: StateDirectory(path: directory))
        let dead = TriggerEvent(kind: .application, triggerId: NewTrigger.newId(), arguments: ["message": "retried"])
        try store.enqueue([NewTrigger(app: "com.example.tests", task: "Echo", event: dead, availableAt: Date().addingTimeInterval(3600))])
        try store.markDead(id: dead.triggerId, instanceId: nil, error: "gave up")
        #expect(try taskhost(["queue"]).1.contains("gave up"))
        let notDead = try taskhost(["retry", triggered.1.trimmingCharacters(in: .whitespacesAndNewlines)])
        #expect(notDead.0 == 1)
        #expect(notDead.2.contains("only dead or expired triggers can be retried"))
        #expect(try taskhost(["retry", dead.triggerId]).0 == 0)
        #expect(
            try await TestSupport.eventually {
                try taskhost(["settings", "get", "AsyncEchoTask", "--app", "com.example.tests"]).1 == "retried\n"
            })
    }
}

/// Crash consistency: the host is killed with SIGKILL at random moments (in
/// the middle of bursts, and so of group commits), round after round.
@Suite(.serialized) struct CrashConsistencyTests {
    @Test func twentyRandomKillsLoseNoAcknowledgedPush() async throws {
        let directory = TestSupport.temporaryDirectory()
        let manifest = try ServeProcess.manifest(in: directory, [("Recorder", "FaultyTasks.RecordingTask", "")])
        let (store, channel, token) = try ServeProcessTests.prepare(directory, task: "Recorder")
        let arguments = [
            "--retry-delay", "0.05", "--channel-burst", "100000", "--channel-rate", "100000", "--client-burst", "100000", "--client-rate",
            "100000",
        ]
        var generator = SeededGenerator(seed: 0x5EED_2026)
        let acknowledged = Shared<Set<String>>([])
        let unanswered = Shared<Set<String>>([])

        for round in 0..<20 {
            let server = try ServeProcess(manifest: manifest, stateDirectory: directory, arguments: arguments)
            let killAfter = Duration.milliseconds(Int.random(in: 5...250, using: &generator))
            let killer = Task {
                try? await Task.sleep(for: killAfter)
                server.kill9()
            }
            await withTaskGroup(of: Void.self) { group in
                for client in 0..<8 {
                    group.addTask {
                        for index in 0..<10 {
                            let content = "r\(round)-c\(client)-\(index)"
                            if await ServeProcessTests.push(port: server.port, channel: channel.id, token: token, content: content) == 200 {
                                acknowledged.withLock { _ = $0.insert(content) }
                            } else {
                                unanswered.withLock { _ = $0.insert(content) }
                            }
                        }
                    }
                }
            }
            await killer.value
        }

        // A last start, in which the app server resends what got no answer.
        let server = try ServeProcess(manifest: manifest, stateDirectory: directory, arguments: arguments)
        let retried = unanswered.withLock { $0 }
        for content in retried.sorted() {
            var status: Int?
            for _ in 0..<50 where status != 200 {
                status = await ServeProcessTests.push(port: server.port, channel: channel.id, token: token, content: content)
            }
            #expect(status == 200)
        }
        let drained = try await TestSupport.eventually(timeout: .seconds(300)) {
            let counts = try store.queueCounts()
            return counts[.pending, default: 0] + counts[.running, default: 0] + counts[.retrying, default: 0] == 0
        }
        #expect(drained)
        #expect(server.terminate() == 0)

        let acked = acknowledged.withLock { $0 }
        #expect(acked.count > 0 && !retried.isEmpty, "kills landed mid-burst: \(acked.count) acknowledged, \(retried.count) not")
        let seen = Set(
            try store.settings(app: "com.example.tests").map(\.key).filter { $0.hasPrefix("seen:") }.map { String($0.dropFirst(5)) })
        let lost = acked.subtracting(seen)
        #expect(lost.isEmpty, "acknowledged but never run: \(lost.sorted().prefix(10))")
        #expect(seen.subtracting(acked).subtracting(retried).isEmpty)
        #expect(try store.queueCounts()[.dead, default: 0] == 0)
        // Every instance a killed host had started is settled: none stays running.
        let unsettled = try store.instances(task: "Recorder", limit: 1_000_000).filter { $0.outcome == nil }
        #expect(unsettled.isEmpty, "instances left without an outcome: \(unsettled.count)")
        let integrity = try await DatabaseQueue(path: store.path).read { try String.fetchOne($0, sql: "PRAGMA integrity_check") }
        #expect(integrity == "ok")
    }
}
