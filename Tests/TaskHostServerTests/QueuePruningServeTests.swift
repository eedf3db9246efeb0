import Foundation
import TaskHostCore
import TaskHostStore
import TaskHostTestSupport
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

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
        // And counted: the operator listener's /metrics.
        let operatorLine = try #require(
            server.output.split(separator: "\n").first { $0.hasPrefix("taskhost: operator listener on http://") })
        let metricsURL = try #require(URL(string: String(operatorLine.dropFirst("taskhost: operator listener on ".count)) + "/metrics"))
        let (body, _) = try await URLSession.shared.data(from: metricsURL)
        #expect(
            String(decoding: body, as: UTF8.self).contains("\ntaskhost_queue_pruned_total 1"), "\(String(decoding: body, as: UTF8.self))")
    }
}
