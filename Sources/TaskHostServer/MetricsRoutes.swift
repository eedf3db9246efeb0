import CoreMetrics
package import Hummingbird
import NIOCore
package import Prometheus
package import TaskHostCore
import TaskHostStore

/// One daemon's metrics: a Prometheus registry of its own (never the global
/// `MetricsSystem`, so that daemons sharing a process keep theirs apart), the
/// ``HostMetrics`` that the components record into, and what is read only
/// when scraped (the queue and the plugins by state, the instances running).
package final class DaemonMetrics: Sendable {
    /// The registry `/metrics` renders.
    package let registry: PrometheusCollectorRegistry
    /// What the components record into.
    package let host: HostMetrics

    /// Fresh metrics; the counters without labels start at 0, so that they
    /// are there before their first event.
    package init() {
        registry = PrometheusCollectorRegistry()
        host = HostMetrics(factory: PrometheusFactory(registry: registry))
        for family in HostMetrics.catalog where family.kind == .counter && family.labels.isEmpty {
            host.counter(family.name).increment(by: 0)
        }
    }

    /// The text format (version 0.0.4), after reading the gauges of `store`
    /// (`plugins`: whether a plugins directory is watched) and `running`.
    func render(store: any HostStore, plugins: Bool, running: Int) -> ByteBuffer {
        if let counts = try? store.queueCounts() {
            for state in TriggerState.allCases { host.recorder("taskhost_triggers", [state.rawValue]).record(counts[state] ?? 0) }
        }
        if plugins, let records = try? store.plugins() {
            for state in [PluginState.active, .quarantined, .disabled] {
                host.recorder("taskhost_plugins", [state.rawValue]).record(records.count { $0.state == state })
            }
        }
        host.recorder("taskhost_instances_running").record(running)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(16 * 1024)
        registry.emit(into: &bytes)
        return ByteBuffer(bytes: bytes)
    }
}

/// `GET /metrics` on the operator listener: the daemon's ``DaemonMetrics``
/// in the Prometheus text format.
package enum MetricsRoutes {
    /// The paths these routes serve.
    package static let paths: Set<String> = ["/metrics"]

    /// Adds `/metrics` to `router`.
    package static func add(to router: Router<OperatorRequestContext>, environment: OperatorEnvironment) {
        router.get("/metrics") { _, _ -> Response in
            // The gauges read the store: off the cooperative pool.
            let body = await environment.storeReads.run {
                environment.metrics.render(
                    store: environment.store, plugins: environment.plugins != nil, running: environment.runningInstances())
            }
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
                body: ResponseBody(byteBuffer: body))
        }
    }
}
