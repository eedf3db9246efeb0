import Foundation
import TaskHostCore
import TaskHostTestSupport
import Testing

/// `taskhost serve --keep-done`: the daemon prunes what it settled.
@Suite struct QueuePruningServeTests {
    @Test func withKeepDoneZeroATriggerLeavesTheQueueOnceItRan() async throws {
        let directory = TestSupport.temporaryDirectory()
        let manifest = try ServeProcess.manifest(in: directory, [("Recorder", "FaultyTasks.RecordingTask", "")])
        let (store, channel, token) = try ServeProcessTests.prepare(directory, task: "Recorder")
        let server = try ServeProcess(manifest: manifest, stateDirectory: directory, arguments: ["--keep-done", "0"])
        defer { _ = server.terminate() }
        #expect(await ServeProcessTests.push(port: server.port, channel: channel.id, token: token, content: "once") == 200)

        // It ran (the task recorded it in its settings), then left the queue.
        let ran = try await TestSupport.eventually(timeout: .seconds(60)) {
            try store.setting(app: "com.example.tests", key: "seen:once") != nil
        }
        #expect(ran, "\(server.errors)")
        let pruned = try await TestSupport.eventually(timeout: .seconds(60)) { try store.queueCounts().isEmpty }
        #expect(pruned, "\((try? store.queueCounts()) ?? [:])")
        let queue = try ServeProcess.taskhost(["queue", "--all"], stateDirectory: directory)
        #expect(queue.status == 0 && queue.out.contains("pending 0") && queue.out.contains("done 0"), "\(queue.out)")
        #expect(server.errors.contains("pruned settled triggers"), "\(server.errors)")
    }
}
