import Foundation
import TaskHostCore
import TaskHostManifest
import TaskHostServer
import TaskHostStore
import TaskHostTestSupport
import Testing

/// `GET /metrics` as the routers answer it, in-process (``RouterServer``):
/// only the operator listener's router serves it, in the Prometheus text
/// format, and the push router counts its answers by protocol and status.
/// The counters a running host moves are in ``MetricsEndpointTests``.
@Suite(
    .enabled(if: PrometheusText.unavailable == nil || ExternalTools.underCI, "needs prometheus-client: \(PrometheusText.unavailable ?? "")")
)
struct MetricsRouteTests {
    @Test func metricsAreOnlyOnTheOperatorListener() async throws {
        let server = try RouterServer { $0.dispatches = false }
        #expect(try await server.get("/metrics").status == 404)
        let answer = try await server.get("/metrics", onOperator: true)
        #expect(answer.status == 200)
        #expect(answer.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8")
        #expect(answer.header("Cache-Control") == "no-store")
        let metrics = try await PrometheusText.parse(answer.body)
        // The counters without labels are there at 0 before their first event.
        #expect(metrics.samples.contains { $0.name == "taskhost_triggers_claimed_total" && $0.value == 0 })
        // The queue gauge has every state, triggers waiting for their conditions too.
        #expect(metrics.value("taskhost_triggers", ["state": "waiting"]) == 0)
        #expect(try await server.get("/metrics", onOperator: true, method: "POST").status == 405)
    }

    /// Every answer under `/push/` is counted, whatever gave it: the route, a
    /// rejection, the 405 middleware.
    @Test func pushAnswersAreCountedByStatus() async throws {
        let server = try RouterServer([TestSupport.task("Recorder", "FaultyTasks.RecordingTask", triggers: [.pushNotification])]) {
            $0.dispatches = false
        }
        let channel = try server.channel(task: "Recorder")
        #expect(try await server.post(channel.id, token: try server.token(), body: Array("four".utf8)).status == 200)
        #expect(try await server.post(channel.id, token: nil).status == 401)
        #expect(try await server.post(channel.id, token: nil, method: "GET").status == 405)
        let metrics = try await PrometheusText.parse(try await server.get("/metrics", onOperator: true).body)
        for status in ["200", "401", "405"] {
            #expect(metrics.value("taskhost_pushes_received_total", ["protocol": "wns", "status": status]) == 1, "\(status)")
        }
        #expect(metrics.value("taskhost_push_received_bytes_total", ["protocol": "wns"]) == 4)
        #expect(metrics.value("taskhost_triggers", ["state": "pending"]) == 1)
    }
}
