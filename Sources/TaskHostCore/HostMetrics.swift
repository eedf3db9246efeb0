package import CoreMetrics
import Foundation
import Synchronization

/// The host's metrics, recorded with swift-metrics through the factory the
/// daemon gives (one per daemon: never the global `MetricsSystem`, so that
/// several daemons in one process keep their own), and served by the daemon
/// in the Prometheus text format.
///
/// Every metric is named in ``catalog`` (name, type, labels, help). Labels
/// take only values from a bounded set: a protocol, an HTTP status, a queue
/// state, an outcome code, a sandbox layer's name, and the app and task names
/// of the manifests installed on this host; never a channel, credential,
/// trigger or instance id.
package final class HostMetrics: Sendable {
    /// A metric's kind, as Prometheus names it.
    package enum Kind: String, Sendable {
        case counter, gauge, histogram
    }

    /// One metric family: what the README's table documents.
    package struct Family: Sendable {
        package var name: String
        package var kind: Kind
        package var labels: [String]
        package var help: String
        /// A histogram's bucket bounds (seconds for `_seconds` histograms).
        package var buckets: [Double]
    }

    /// Bucket bounds for latencies of a store commit (seconds).
    static let commitBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10]
    /// Bucket bounds for instance durations and start latencies (seconds).
    static let runBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800]
    /// Bucket bounds for counts of rows or pushes per commit.
    static let sizeBuckets = [1.0, 2, 4, 8, 16, 32, 64, 128, 256, 512]

    /// Every metric the host records or serves.
    package static let catalog: [Family] = [
        Family(
            name: "taskhost_pushes_received_total", kind: .counter, labels: ["protocol", "status"],
            help: "Push requests answered, by push protocol (wns) and HTTP status of the answer.", buckets: []),
        Family(
            name: "taskhost_push_received_bytes_total", kind: .counter, labels: ["protocol"],
            help: "Bytes of push payloads read.", buckets: []),
        Family(
            name: "taskhost_triggers", kind: .gauge, labels: ["state"],
            help:
                "Triggers in the queue, by state (pending, running, retrying, done, dead, expired, parked, waiting, claimed), "
                + "read when scraped.",
            buckets: []),
        Family(
            name: "taskhost_triggers_enqueued_total", kind: .counter, labels: ["kind"],
            help: "Triggers stored in the queue, by kind (push, timer, application).", buckets: []),
        Family(
            name: "taskhost_triggers_claimed_total", kind: .counter, labels: [],
            help: "Triggers claimed by the dispatcher to run.", buckets: []),
        Family(
            name: "taskhost_triggers_retried_total", kind: .counter, labels: [],
            help: "Triggers whose run did not complete and that wait for another attempt.", buckets: []),
        Family(
            name: "taskhost_triggers_dead_lettered_total", kind: .counter, labels: [],
            help: "Triggers moved to the dead-letter state (no attempt left, refused, plugin removed).", buckets: []),
        Family(
            name: "taskhost_triggers_expired_total", kind: .counter, labels: [],
            help: "Triggers whose time to live ran out before they could run.", buckets: []),
        Family(
            name: "taskhost_queue_pruned_total", kind: .counter, labels: [],
            help: "Settled triggers (done, dead, expired, claimed) pruned from the queue after --keep-done.", buckets: []),
        Family(
            name: "taskhost_triggers_claimed_by_listeners_total", kind: .counter, labels: [],
            help: "Pushes claimed by a foreground listener (GET /listen/v1/APP) within their claim window: no instance ran.",
            buckets: []),
        Family(
            name: "taskhost_listeners_dropped_total", kind: .counter, labels: [],
            help: "Foreground listeners closed because they did not read their pushes (their outbound buffer was full).",
            buckets: []),
        Family(
            name: "taskhost_instances_started_total", kind: .counter, labels: ["app", "task"],
            help: "Instances started.", buckets: []),
        Family(
            name: "taskhost_instances_ended_total", kind: .counter, labels: ["app", "task", "outcome"],
            help:
                "Instances ended, by outcome code (completed, failed, canceled, timed-out, killed, crashed, exited, protocol-error, refused).",
            buckets: []),
        Family(
            name: "taskhost_instances_running", kind: .gauge, labels: [],
            help: "Instances running now, read when scraped.", buckets: []),
        Family(
            name: "taskhost_instance_duration_seconds", kind: .histogram, labels: ["app", "task"],
            help: "How long instances ran, from start to outcome.", buckets: runBuckets),
        Family(
            name: "taskhost_trigger_start_latency_seconds", kind: .histogram, labels: ["app", "task"],
            help: "From the moment a trigger could run (stored, or its retry due) to its instance's start.", buckets: runBuckets),
        Family(
            name: "taskhost_zygotes_started_total", kind: .counter, labels: [],
            help: "Pre-forked workers (zygotes) started.", buckets: []),
        Family(
            name: "taskhost_zygotes_died_total", kind: .counter, labels: [],
            help: "Zygotes found dead or retired because they could not fork.", buckets: []),
        Family(
            name: "taskhost_zygote_fallbacks_total", kind: .counter, labels: [],
            help: "Instances that got a freshly spawned worker in prefork mode because no zygote could fork one.", buckets: []),
        Family(
            name: "taskhost_sandbox_layers_missing_total", kind: .counter, labels: ["layer"],
            help: "Instances run without a sandbox layer in force (not waived by the manifest), by layer.", buckets: []),
        Family(
            name: "taskhost_plugins", kind: .gauge, labels: ["state"],
            help: "Drop-in plugins by state (active, quarantined, disabled), read when scraped.", buckets: []),
        Family(
            name: "taskhost_store_commit_duration_seconds", kind: .histogram, labels: ["operation"],
            help: "Latency of the queue's store writes, by operation (enqueue, claim, settle).", buckets: commitBuckets),
        Family(
            name: "taskhost_store_commit_batch_size", kind: .histogram, labels: ["operation"],
            help: "Triggers written per store commit: enqueued together (enqueue) or claimed together by a claim that took any (claim).",
            buckets: sizeBuckets),
        Family(
            name: "taskhost_ingest_group_size", kind: .histogram, labels: [],
            help: "Pushes committed together by one group commit.", buckets: sizeBuckets),
    ]

    /// The family named `name` (nil: not one of the host's).
    package static func family(_ name: String) -> Family? { catalogByName[name] }
    private static let catalogByName = Dictionary(uniqueKeysWithValues: catalog.map { ($0.name, $0) })

    /// Where the metrics go.
    package let factory: any MetricsFactory
    /// Whether they go anywhere (false: ``disabled``).
    package let isEnabled: Bool

    private struct Key: Hashable {
        var name: String
        var labels: [String]
    }

    private let counters = Mutex<[Key: CoreMetrics.Counter]>([:])
    private let timers = Mutex<[Key: CoreMetrics.Timer]>([:])
    private let recorders = Mutex<[Key: Recorder]>([:])
    /// The push counters, by protocol then status: the per-push path looks
    /// them up without building a key.
    private let pushCounters = Mutex<[String: [Int: CoreMetrics.Counter]]>([:])
    private let pushBytes = Mutex<[String: CoreMetrics.Counter]>([:])

    /// Metrics that go to `factory`.
    package init(factory: any MetricsFactory) {
        self.factory = factory
        self.isEnabled = true
    }

    private init() {
        self.factory = NOOPMetricsHandler.instance
        self.isEnabled = false
    }

    /// Metrics that go nowhere (`--metrics-bind off`, tools, tests).
    package static let disabled = HostMetrics()

    // MARK: Handles, made once per name and label values

    private func dimensions(_ name: String, _ values: [String]) -> [(String, String)] {
        let labels = Self.catalogByName[name]?.labels ?? []
        precondition(labels.count == values.count, "metric \(name) takes the labels \(labels)")
        return Array(zip(labels, values))
    }

    /// The counter `name` with `values` for its labels.
    package func counter(_ name: String, _ values: [String] = []) -> CoreMetrics.Counter {
        let key = Key(name: name, labels: values)
        if let counter = counters.withLock({ $0[key] }) { return counter }
        let counter = CoreMetrics.Counter(label: name, dimensions: dimensions(name, values), factory: factory)
        return counters.withLock { $0[key, default: counter] }
    }

    /// The histogram of durations `name` with `values` for its labels.
    package func timer(_ name: String, _ values: [String] = []) -> CoreMetrics.Timer {
        let key = Key(name: name, labels: values)
        if let timer = timers.withLock({ $0[key] }) { return timer }
        let timer = CoreMetrics.Timer(label: name, dimensions: dimensions(name, values), factory: factory)
        return timers.withLock { $0[key, default: timer] }
    }

    /// The histogram of values (`aggregate`) or the gauge `name` with `values` for its labels.
    package func recorder(_ name: String, _ values: [String] = []) -> Recorder {
        let key = Key(name: name, labels: values)
        if let recorder = recorders.withLock({ $0[key] }) { return recorder }
        let aggregate = Self.catalogByName[name]?.kind == .histogram
        let recorder = Recorder(label: name, dimensions: dimensions(name, values), aggregate: aggregate, factory: factory)
        return recorders.withLock { $0[key, default: recorder] }
    }

    // MARK: Events

    /// A push was answered with `status`.
    package func pushAnswered(protocol name: String, status: Int) {
        guard isEnabled else { return }
        if let counter = pushCounters.withLock({ $0[name]?[status] }) {
            counter.increment()
            return
        }
        let made = counter("taskhost_pushes_received_total", [name, String(status)])
        pushCounters.withLock { $0[name, default: [:]][status] = made }
        made.increment()
    }

    /// `bytes` of a push's payload were read.
    package func pushBytesRead(protocol name: String, _ bytes: Int) {
        guard isEnabled, bytes > 0 else { return }
        if let counter = pushBytes.withLock({ $0[name] }) {
            counter.increment(by: bytes)
            return
        }
        let made = counter("taskhost_push_received_bytes_total", [name])
        pushBytes.withLock { $0[name] = made }
        made.increment(by: bytes)
    }

    /// An instance of `task` of `app` started (its row is written).
    package func instanceStarted(app: String, task: String) {
        guard isEnabled else { return }
        counter("taskhost_instances_started_total", [app, task]).increment()
    }

    /// An instance of `task` of `app` that the dispatcher ran ended with
    /// `outcome` after `duration`; it had started `startLatency` after its trigger could run.
    package func instanceEnded(app: String, task: String, outcome: InstanceOutcome, startLatency: Duration?, duration: Duration?) {
        guard isEnabled else { return }
        counter("taskhost_instances_ended_total", [app, task, outcome.code]).increment()
        if let startLatency { timer("taskhost_trigger_start_latency_seconds", [app, task]).recordNanoseconds(startLatency.nanoseconds) }
        if let duration { timer("taskhost_instance_duration_seconds", [app, task]).recordNanoseconds(duration.nanoseconds) }
    }

    /// A zygote started.
    package func zygoteStarted() { if isEnabled { counter("taskhost_zygotes_started_total").increment() } }
    /// A zygote died, or was retired because it could not fork.
    package func zygoteDied() { if isEnabled { counter("taskhost_zygotes_died_total").increment() } }
    /// A prefork instance got a spawned worker.
    package func zygoteFallback() { if isEnabled { counter("taskhost_zygote_fallbacks_total").increment() } }

    /// An instance ran without the sandbox layer `layer` in force.
    package func sandboxLayerMissing(_ layer: String) {
        guard isEnabled else { return }
        counter("taskhost_sandbox_layers_missing_total", [layer]).increment()
    }

    /// Pruning removed `count` settled triggers from the queue.
    package func triggersPruned(_ count: Int) {
        guard isEnabled, count > 0 else { return }
        counter("taskhost_queue_pruned_total").increment(by: count)
    }

    /// A group commit stored `size` pushes together.
    package func ingestGroup(size: Int) {
        guard isEnabled else { return }
        recorder("taskhost_ingest_group_size").record(size)
    }
}

extension Duration {
    /// The duration in whole nanoseconds (0 for a negative one).
    package var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0, attoseconds >= 0 else { return 0 }
        return seconds.multipliedReportingOverflow(by: 1_000_000_000).partialValue + attoseconds / 1_000_000_000
    }
}
