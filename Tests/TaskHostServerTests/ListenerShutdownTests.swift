import Foundation
import TaskHostClient
import TaskHostServer
import TaskHostTestSupport
import Testing

/// A listener is never an open request for the shutdown to wait for.
// A deadline against hangs (a push that never comes), not a timing assertion.
@Suite(.timeLimit(.minutes(5))) struct ListenerShutdownTests {
    @Test func shuttingDownClosesTheListenersAtOnce() async throws {
        // A drain that waited for the listener would take the whole grace period: 10 minutes.
        let server = try await TestServer.start([ListenerTests.recorder()]) { $0.shutdownGrace = .seconds(600) }
        let connected = Shared(false)
        let listening = Task {
            try await ListenerTests.listener(server, token: try ListenerTests.listenToken(server), claims: true).run { pushes in
                connected.withLock { $0 = true }
                for try await _ in pushes {}
            }
        }
        #expect(await TestSupport.eventually { connected.withLock { $0 } })
        let stopped = try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                await server.stop()
                _ = try? await listening.value
                return true
            }
            group.addTask {
                try await Task.sleep(for: .seconds(120))  // a deadline against a hang, not a timing assertion
                return false
            }
            defer { group.cancelAll() }
            return try await group.next() ?? false
        }
        #expect(stopped, "the host stopped and the listener's connection ended before the grace period")
    }
}
