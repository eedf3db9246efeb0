import Foundation
import TaskHostCore
import TaskHostShared
import TaskHostStore
import TaskHostTestSupport
import Testing

/// `taskhost serve` on SIGTERM: nothing new is claimed, open requests get a
/// bounded drain, and a second signal stops at once without losing a trigger.
@Suite(.serialized) struct ShutdownTests {
    /// Opens a connection that sends a push's head with `Content-Length: 1000`
    /// and 10 bytes of its body, then nothing: a request the server is reading.
    static func unfinishedRequest(port: Int, channel: String, token: String) async throws -> Int32 {
        let fd = try #require(ConnectionFloodTests.idleConnection(port: port))
        let writable = await TestSupport.eventually {
            var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            return poll(&poller, 1, 0) > 0
        }
        #expect(writable)
        ConnectionTimeoutTests.send(fd, ConnectionTimeoutTests.head(channel: channel, token: token, length: 1000) + "0123456789")
        // Time for the server to read the head and start on the body (not an assertion).
        try await Task.sleep(for: .milliseconds(500))
        return fd
    }

    /// Waits (without blocking a thread) until `server` exits; its status, or
    /// nil if it still runs after `timeout` (then it is killed).
    static func exitStatus(of server: ServeProcess, within timeout: Duration) async -> Int32? {
        let exited = await TestSupport.eventually(timeout: timeout) { !server.process.isRunning }
        guard exited else {
            kill(server.process.processIdentifier, SIGKILL)
            server.process.waitUntilExit()
            return nil
        }
        server.process.waitUntilExit()
        return server.process.terminationStatus
    }

    /// Waits until the server logged that its shutdown began.
    static func shutdownBegan(_ server: ServeProcess) async -> Bool {
        await TestSupport.eventually { server.errors.contains("shutting down: no new triggers are claimed") }
    }

    @Test func anUnfinishedRequestBodyDoesNotKeepTheProcessAliveAfterSIGTERM() async throws {
        let directory = TestSupport.temporaryDirectory()
        let manifest = try ServeProcess.manifest(in: directory, [("Echo", "FaultyTasks.AsyncEchoTask", "")])
        let (_, channel, token) = try ServeProcessTests.prepare(directory, task: "Echo")
        // The body timeout is far away: only the shutdown grace can end the request.
        let server = try ServeProcess(
            manifest: manifest, stateDirectory: directory, arguments: ["--shutdown-grace", "1", "--body-timeout", "600"])
        let fd = try await Self.unfinishedRequest(port: server.port, channel: channel.id, token: token)
        defer { close(fd) }

        kill(server.process.processIdentifier, SIGTERM)
        // The grace (1 s) and a generous margin, far below the body timeout.
        let status = await Self.exitStatus(of: server, within: .seconds(20))
        #expect(status == 0, "serve did not exit after SIGTERM and its grace: \(server.errors.suffix(2000))")
        #expect(ConnectionFloodTests.closedByServer(fd), "the unfinished request's connection is closed")
        #expect(server.errors.contains("closed the connections still open at the end of the shutdown grace"))
    }

    @Test func aTriggerQueuedAfterSIGTERMIsNotClaimedDuringTheDrain() async throws {
        let directory = TestSupport.temporaryDirectory()
        let manifest = try ServeProcess.manifest(in: directory, [("Slow", "FaultyTasks.SlowTask", "")])
        let (store, channel, token) = try ServeProcessTests.prepare(directory, task: "Slow")
        let server = try ServeProcess(
            manifest: manifest, stateDirectory: directory, arguments: ["--shutdown-grace", "300", "--body-timeout", "600"])
        var fd: Int32? = try await Self.unfinishedRequest(port: server.port, channel: channel.id, token: token)
        defer { if let fd { close(fd) } }

        kill(server.process.processIdentifier, SIGTERM)
        #expect(await Self.shutdownBegan(server), "\(server.errors.suffix(2000))")
        let queued = try ServeProcess.taskhost(["trigger", "Slow", "--arg", "ms=1", "--manifest", manifest], stateDirectory: directory)
        #expect(queued.status == 0, "\(queued.err)")
        let id = queued.out.trimmingCharacters(in: .whitespacesAndNewlines)
        // Many poll intervals (250 ms) of a dispatcher that would still claim.
        try await Task.sleep(for: .seconds(3))
        #expect(server.process.isRunning, "still draining: the check ran during the drain")
        #expect(try store.queuedTrigger(idPrefix: id)?.state == .pending)
        #expect(try store.instances(task: "Slow", limit: 10).isEmpty, "no instance ran after SIGTERM")

        if let open = fd { close(open) }  // the drain ends when its last request is gone
        fd = nil
        let status = await Self.exitStatus(of: server, within: .seconds(30))
        #expect(status == 0, "\(server.errors.suffix(2000))")
        #expect(try store.queuedTrigger(idPrefix: id)?.state == .pending, "it stays queued for the next start")
        let listed = try ServeProcess.taskhost(["queue"], stateDirectory: directory)
        #expect(listed.out.contains(String(id.prefix(8))), "\(listed.out)")
    }

    @Test func aSecondSIGTERMStopsAtOnceAndTheCutInstanceIsNotDone() async throws {
        let directory = TestSupport.temporaryDirectory()
        // Ignores cancellation and has the longest grace period a manifest may give.
        let manifest = try ServeProcess.manifest(
            in: directory, [("Hang", "FaultyTasks.HangingTask", #", "CancellationGraceSeconds": 300, "TimeLimitSeconds": 3600"#)])
        let (store, channel, token) = try ServeProcessTests.prepare(directory, task: "Hang")
        let server = try ServeProcess(
            manifest: manifest, stateDirectory: directory, arguments: ["--shutdown-grace", "300", "--body-timeout", "600"])
        let queued = try ServeProcess.taskhost(["trigger", "Hang", "--manifest", manifest], stateDirectory: directory)
        #expect(queued.status == 0, "\(queued.err)")
        let id = queued.out.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try await TestSupport.eventually { try store.queuedTrigger(idPrefix: id)?.state == .running })
        let fd = try await Self.unfinishedRequest(port: server.port, channel: channel.id, token: token)
        defer { close(fd) }

        kill(server.process.processIdentifier, SIGTERM)
        #expect(await Self.shutdownBegan(server), "\(server.errors.suffix(2000))")
        #expect(server.process.isRunning, "held by the request and the instance's grace period")
        kill(server.process.processIdentifier, SIGTERM)
        let status = await Self.exitStatus(of: server, within: .seconds(20))
        #expect(status == 0, "serve did not stop at the second SIGTERM: \(server.errors.suffix(2000))")

        let trigger = try #require(try store.queuedTrigger(idPrefix: id))
        #expect(trigger.state == .pending, "the cut instance's trigger is back in the queue, not done: \(trigger.state)")
        #expect(trigger.attempts == 0, "a shutdown costs no attempt")
        #expect(try store.instances(task: "Hang", limit: 10).map(\.outcome) == [.killed(.terminating)])
    }
}
