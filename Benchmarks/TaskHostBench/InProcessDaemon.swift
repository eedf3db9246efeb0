import Foundation
import Logging
import TaskHostConcurrency
import TaskHostCore
import TaskHostPlugins
import TaskHostServer
import TaskHostStore

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A `Daemon` (push endpoint, group commit) running inside the bench on a free
/// loopback port, over any store: how the postgres section serves pushes into
/// a `PostgresTaskStore` (the CLI cannot point `serve` at PostgreSQL yet), and
/// SQLite through the very same code in the same process, for the comparison.
/// No dispatcher, no plugins, no rate limits, metrics on (the default).
final class InProcessDaemon: Sendable {
    let port: Int
    let operatorPort: Int
    let token: String
    let channel: String
    private let running: Task<Void, any Error>

    /// Starts a daemon storing pushes into `store` as `mode` says, with one
    /// credential and one channel made in `store`.
    static func start(store: any HostStore, products: Products, mode: IngestMode) async throws -> InProcessDaemon {
        let (credential, token) = Credential.make(app: "com.example.bench", label: "bench")
        let now = Date()
        let channel = PushChannel(
            id: PushChannel.newId(), app: "com.example.bench", task: "Noop", createdAt: now, expiresAt: now.addingTimeInterval(86400))
        try await Bench.blocking.run { () throws in
            try store.insertCredential(credential)
            try store.insertChannel(channel)
        }
        var configuration = DaemonConfiguration()
        configuration.port = 0
        configuration.handlesSignals = false
        configuration.dispatches = false
        configuration.ingest = mode
        configuration.channelRate = 1e9
        configuration.channelBurst = 1_000_000_000
        configuration.clientRate = 1e9
        configuration.clientBurst = 1_000_000_000
        let daemon = Daemon(
            configuration: configuration, store: store, registry: TaskRegistry(), workerPath: products.worker, logger: .silent)
        let (ports, continuation) = AsyncStream<(push: Int, operator: Int)>.makeStream()
        let operatorPort = Box(0)
        let running = Task {
            defer { continuation.finish() }
            try await daemon.run(
                onListening: { port in continuation.yield((port, operatorPort.withLock { $0 })) },
                onOperatorListening: { port in operatorPort.withLock { $0 = port } })
        }
        var iterator = ports.makeAsyncIterator()
        guard let bound = await iterator.next() else {
            _ = try await running.value
            throw BenchError("the in-process daemon stopped before it listened")
        }
        return InProcessDaemon(port: bound.push, operatorPort: bound.operator, token: token, channel: channel.id, running: running)
    }

    private init(port: Int, operatorPort: Int, token: String, channel: String, running: Task<Void, any Error>) {
        self.port = port
        self.operatorPort = operatorPort
        self.token = token
        self.channel = channel
        self.running = running
    }

    /// Stops it as a graceful shutdown does, and waits.
    func stop() async {
        running.cancel()
        _ = try? await running.value
    }

    /// Group commits so far and the pushes they stored (the
    /// `taskhost_ingest_group_size` histogram's count and sum, from `/metrics`;
    /// `nil` when `/metrics` does not answer).
    func groupCommits() async -> (commits: Double, pushes: Double)? {
        guard let url = URL(string: "http://127.0.0.1:\(operatorPort)/metrics"),
            let answer = try? await URLSession.shared.data(from: url)
        else { return nil }
        let data = answer.0
        var commits: Double?
        var pushes: Double?
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: " ")
            guard parts.count == 2, let value = Double(parts[1]) else { continue }
            if parts[0] == "taskhost_ingest_group_size_count" { commits = value }
            if parts[0] == "taskhost_ingest_group_size_sum" { pushes = value }
        }
        // Before its first sample the histogram has no lines: nothing committed yet.
        return (commits ?? 0, pushes ?? 0)
    }

    /// CPU seconds (user + system) of this whole process so far: the daemon's,
    /// the bench being idle while wrk runs.
    static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }
}
