import Foundation
import TaskHostCore
import TaskHostIsolation
import TaskHostManifest
import TaskHostServer
import TaskHostStore
import TaskHostTestSupport
import Testing

/// `GET /metrics` on the operator listener, read by a real Prometheus parser.
@Suite(
    .enabled(if: PrometheusText.unavailable == nil || ExternalTools.underCI, "needs prometheus-client: \(PrometheusText.unavailable ?? "")")
)
struct MetricsEndpointTests {
    static let app = TestServer.app

    /// Pushes that complete, crash and time out, and one refused: every
    /// counter moves by what happened, and the text parses.
    @Test func countersMoveAfterPushesACrashAndATimeout() async throws {
        let tasks = [
            TestSupport.task("Recorder", "FaultyTasks.RecordingTask", triggers: [.pushNotification]),
            TestSupport.task("Crasher", "FaultyTasks.CrashingTask", triggers: [.pushNotification]),
            TestSupport.task(
                "Hanger", "FaultyTasks.HangingTask", triggers: [.pushNotification], timeLimit: .seconds(1), grace: .seconds(1)),
        ]
        let server = try await TestServer.start(tasks) { $0.retryPolicy = RetryPolicy(maxAttempts: 2, baseDelay: .milliseconds(10)) }
        defer { Task { await server.stop() } }
        let token = try server.token()
        var channels: [String: String] = [:]
        for task in ["Recorder", "Crasher", "Hanger"] { channels[task] = try server.channel(task: task).id }
        var bytes = 0
        for body in ["one", "two", "three"] {
            #expect(try await server.post(channels["Recorder"]!, token: token, body: Array(body.utf8)).status == 200)
            bytes += body.utf8.count
        }
        #expect(try await server.post(channels["Crasher"]!, token: token, body: Array("boom".utf8)).status == 200)
        #expect(try await server.post(channels["Hanger"]!, token: token, body: Array("wait".utf8)).status == 200)
        bytes += 8
        #expect(try await server.post(channels["Recorder"]!, token: "cr_nobody.wrong").status == 401)

        // Three done; the crash and the timeout each ran twice, then were dead-lettered.
        let settled = try await TestSupport.eventually(timeout: .seconds(60)) {
            let counts = try server.store.queueCounts()
            return counts[.done] == 3 && counts[.dead] == 2
        }
        #expect(settled, "\((try? server.store.queueCounts()) ?? [:])")

        let answer = try await server.get("/metrics", onOperator: true)
        #expect(answer.status == 200)
        #expect(answer.header("Content-Type")?.hasPrefix("text/plain; version=0.0.4") == true)
        let metrics = try await PrometheusText.parse(answer.body)
        let recorder = ["app": Self.app, "task": "Recorder"]
        let crasher = ["app": Self.app, "task": "Crasher"]
        let hanger = ["app": Self.app, "task": "Hanger"]

        #expect(metrics.value("taskhost_pushes_received_total", ["protocol": "wns", "status": "200"]) == 5)
        #expect(metrics.value("taskhost_pushes_received_total", ["protocol": "wns", "status": "401"]) == 1)
        #expect(metrics.value("taskhost_push_received_bytes_total", ["protocol": "wns"]) == Double(bytes))
        #expect(metrics.value("taskhost_triggers_enqueued_total", ["kind": "push"]) == 5)
        #expect(metrics.value("taskhost_triggers_claimed_total") == 7)
        #expect(metrics.value("taskhost_triggers_retried_total") == 2)
        #expect(metrics.value("taskhost_triggers_dead_lettered_total") == 2)
        #expect(metrics.value("taskhost_triggers", ["state": "done"]) == 3)
        #expect(metrics.value("taskhost_triggers", ["state": "dead"]) == 2)
        #expect(metrics.value("taskhost_triggers", ["state": "pending"]) == 0)
        #expect(metrics.value("taskhost_instances_started_total", recorder) == 3)
        #expect(metrics.value("taskhost_instances_ended_total", recorder.merging(["outcome": "completed"]) { $1 }) == 3)
        #expect(metrics.value("taskhost_instances_started_total", crasher) == 2)
        #expect(metrics.value("taskhost_instances_ended_total", crasher.merging(["outcome": "crashed"]) { $1 }) == 2)
        #expect(metrics.value("taskhost_instances_ended_total", hanger.merging(["outcome": "timed-out"]) { $1 }) == 2)
        #expect(metrics.value("taskhost_instance_duration_seconds_count", recorder) == 3)
        #expect(metrics.value("taskhost_instance_duration_seconds_sum", hanger) >= 2, "each timed-out run lasted its time limit")
        #expect(metrics.value("taskhost_trigger_start_latency_seconds_count") == 7)
        #expect(metrics.value("taskhost_ingest_group_size_sum") == 5)
        #expect(metrics.value("taskhost_store_commit_duration_seconds_count", ["operation": "enqueue"]) >= 1)
        #expect(metrics.value("taskhost_store_commit_batch_size_sum", ["operation": "enqueue"]) == 5)
        #expect(metrics.value("taskhost_instances_running") == 0)
        if IsolationMode.fromEnvironment() == .prefork {
            #expect(metrics.value("taskhost_zygotes_started_total") >= 1)
        }

        // Every family is one of the catalog's, with its type and help; no
        // label value is a channel, credential or instance id.
        for family in metrics.families {
            let entry = try #require(
                HostMetrics.catalog.first { $0.name == family.name || $0.name == family.name + "_total" }, "\(family.name)")
            #expect(entry.kind.rawValue == family.type, "\(family.name)")
            #expect(family.help == entry.help, "\(family.name)")
        }
        let instanceIds = Set(try server.store.instances(task: nil, limit: 100).map(\.id))
        for sample in metrics.samples {
            for value in sample.labels.values {
                #expect(
                    !channels.values.contains(value) && !instanceIds.contains(value) && !value.hasPrefix("cr_"), "\(sample.name): \(value)")
            }
        }
    }
}
