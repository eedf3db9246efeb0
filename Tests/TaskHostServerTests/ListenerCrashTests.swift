import Foundation
import TaskHostClient
import TaskHostStore
import TaskHostTestSupport
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `taskhost serve` killed with SIGKILL while pushes wait in their claim
/// window: every acknowledged push either ran or was claimed, never neither.
// A deadline against hangs (a push that never comes), not a timing assertion.
@Suite(.timeLimit(.minutes(5))) struct ListenerCrashTests {
    @Test func killedWithClaimsPendingEveryAcknowledgedPushRunsOrStaysClaimed() async throws {
        let directory = TestSupport.temporaryDirectory()
        let manifest = try ServeProcess.manifest(in: directory, [("Recorder", "FaultyTasks.RecordingTask", #", "ClaimWindowMs": 30000"#)])
        let (store, channel, token) = try ServeProcessTests.prepare(directory, task: "Recorder")
        let (listen, listenToken) = Credential.make(app: "com.example.tests", label: "listener", scope: .listen)
        try store.insertCredential(listen)
        let first = try ServeProcess(manifest: manifest, stateDirectory: directory)
        let total = 20
        let acknowledged = Shared<[String]>([])
        let claimed = Shared<[String]>([])
        let listener = TaskHostListener(url: "http://127.0.0.1:\(first.port)", app: "com.example.tests", token: listenToken, claims: true)
        // The listener claims every other push and leaves the rest waiting in their window; then the host is killed.
        // The window (30 s) outlasts the pushes and claims however loaded the machine (10 s did not, under a full suite).
        try? await listener.run { pushes in
            for index in 0..<total {
                var request = URLRequest(url: URL(string: "http://127.0.0.1:\(first.port)/push/v1/\(channel.id)")!)
                request.httpMethod = "POST"
                request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
                request.setValue("wns/raw", forHTTPHeaderField: "X-WNS-Type")
                request.setValue("application/octet-stream", forHTTPHeaderField: "Content-Type")
                request.httpBody = Data("push \(index)".utf8)
                let (_, response) = try await URLSession.shared.data(for: request)
                let http = try #require(response as? HTTPURLResponse)
                #expect(http.statusCode == 200)
                acknowledged.withLock { $0.append(http.value(forHTTPHeaderField: "X-WNS-Msg-ID") ?? "") }
            }
            var seen = 0
            for try await push in pushes {
                seen += 1
                if seen % 2 == 0, try await pushes.claim(push) { claimed.withLock { $0.append(push.triggerId) } }
                if seen == total { break }
            }
            first.kill9()
        }
        let ids = acknowledged.withLock { $0 }
        let won = Set(claimed.withLock { $0 })
        #expect(ids.count == total && !won.isEmpty)
        // What the killed host left: every push durable, claimed or pending in its window (or, on a machine
        // so loaded that a window ended before its claim, dispatched: it then counts as unclaimed).
        let states = try ids.map { try store.queuedTrigger(idPrefix: $0)?.state }
        #expect(states.allSatisfy { [.pending, .claimed, .running, .done].contains($0) }, "\(states)")
        #expect(states.contains(.pending), "some pushes were still in their window when the host was killed: \(states)")
        for id in won { #expect(try store.queuedTrigger(idPrefix: id)?.state == .claimed, "a won claim is durable") }
        let second = try ServeProcess(manifest: manifest, stateDirectory: directory)
        defer { _ = second.terminate() }
        #expect(
            try await TestSupport.eventually(timeout: .seconds(180)) {
                try ids.allSatisfy { try store.queuedTrigger(idPrefix: $0)?.state == (won.contains($0) ? .claimed : .done) }
            })
        let ran = Set(try store.instances(task: "Recorder", limit: 1000).map(\.triggerId))
        #expect(ran == Set(ids).subtracting(won), "the unclaimed ran, the claimed did not")
    }
}
