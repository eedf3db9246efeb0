import Foundation
import PostgresNIO
import TaskHostCore
import TaskHostShared
import TaskHostStore
import TaskHostTestSupport
import Testing

@testable import TaskHostStorePostgres

/// Several `taskhost serve` processes on one PostgreSQL database, as a user
/// runs them (`--store postgres://…`): pushes spread over the hosts, a host
/// killed mid-burst, a host frozen past its lease.
@Suite(
    .serialized,
    .enabled("needs PostgreSQL (skipped when absent outside CI; the line above the results says why)") { await PostgresServer.testsRun() })
struct ClusterServeTests {
    static let app = "com.example.tests"

    /// A database with one channel for `task` and a credential; returns a store
    /// on it (the tests' view of the cluster), the channel and the token.
    static func prepare(task: String) async throws -> (TestDatabase, PostgresTaskStore, PushChannel, String) {
        let database = try await TestDatabase()
        let (store, channel, token) = try await offThePool { () throws -> (PostgresTaskStore, PushChannel, String) in
            let store = try database.store()
            let channel = PushChannel(
                id: PushChannel.newId(), app: app, task: task, createdAt: Date(), expiresAt: Date().addingTimeInterval(3600))
            try store.insertChannel(channel)
            let (credential, token) = Credential.make(app: app, label: "test")
            try store.insertCredential(credential)
            return (store, channel, token)
        }
        return (database, store, channel, token)
    }

    /// `taskhost serve` on `database`, in a state directory of its own.
    static func host(_ name: String, manifest: String, database: TestDatabase, lease: Double = 30) throws -> ServeProcess {
        try host(name, manifest: manifest, url: database.url, lease: lease)
    }

    /// `taskhost serve` on the database at `url`, in a state directory of its own.
    static func host(_ name: String, manifest: String, url: String, lease: Double = 30) throws -> ServeProcess {
        try ServeProcess(
            manifest: manifest, stateDirectory: TestSupport.temporaryDirectory(),
            arguments: [
                "--store", url, "--host-name", name, "--lease", "\(lease)", "--retry-delay", "0.05", "--concurrency", "4",
                "--channel-burst", "100000", "--channel-rate", "100000", "--client-burst", "100000", "--client-rate", "100000",
                "--log-level", ProcessInfo.processInfo.environment["TEST_SERVE_LOG_LEVEL"] ?? "info",
            ])
    }

    static func hostId(of host: ServeProcess) throws -> String {
        try String(contentsOfFile: host.stateDirectory + "/host-id", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// How many times each push ran (RecordingTask counts them in the app's settings).
    static func runs(_ store: PostgresTaskStore) throws -> [String: Int] {
        var runs: [String: Int] = [:]
        for setting in try store.settings(app: app) where setting.key.hasPrefix("seen:") {
            if case .int(let count) = setting.value { runs[String(setting.key.dropFirst(5))] = Int(count) }
        }
        return runs
    }

    static func drained(_ store: PostgresTaskStore) throws -> Bool {
        let counts = try store.queueCounts()
        return counts[.pending, default: 0] + counts[.running, default: 0] + counts[.retrying, default: 0] == 0
    }

    /// Instances per host id.
    static func instancesByHost(_ store: PostgresTaskStore) throws -> [String: Int] {
        let rows = try store.rows("count instances", "SELECT host_id, COUNT(*)::bigint FROM instance GROUP BY host_id")
        return Dictionary(uniqueKeysWithValues: try rows.map { try $0.decode((String, Int).self) })
    }

    /// Sends `total` pushes from `clients` clients, each to the port `port`
    /// gives for its index at the time of sending; returns what was acknowledged.
    static func burst(total: Int, clients: Int, channel: PushChannel, token: String, port: @escaping @Sendable (Int) -> Int) async
        -> Set<String>
    {
        let acknowledged = Shared<Set<String>>([])
        let next = Shared(0)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<clients {
                group.addTask {
                    while true {
                        let index = next.withLock { value in
                            defer { value += 1 }
                            return value
                        }
                        guard index < total else { return }
                        let content = "push-\(index)"
                        // An unanswered or refused push (a host gone, a 503 while the database is away) is sent again, as an app server does.
                        for _ in 0..<300 {
                            if await ServeProcessTests.push(port: port(index), channel: channel.id, token: token, content: content) == 200 {
                                acknowledged.withLock { _ = $0.insert(content) }
                                break
                            }
                            try? await Task.sleep(for: .milliseconds(50))
                        }
                    }
                }
            }
        }
        return acknowledged.withLock { $0 }
    }

    @Test func twoHostsShareOneQueueAndRunEveryAcknowledgedPushOnce() async throws {
        let (database, store, channel, token) = try await Self.prepare(task: "Recorder")
        let directory = TestSupport.temporaryDirectory()
        let manifest = try ServeProcess.manifest(in: directory, [("Recorder", "FaultyTasks.RecordingTask", "")])
        let hosts = [
            try Self.host("alpha", manifest: manifest, database: database), try Self.host("beta", manifest: manifest, database: database),
        ]
        let ports = hosts.map(\.port)
        let acknowledged = await Self.burst(total: 400, clients: 8, channel: channel, token: token) { ports[$0 % 2] }
        #expect(acknowledged.count == 400, "every push was accepted by one host or the other")
        let drained = try await TestSupport.eventually(timeout: .seconds(120)) { try Self.drained(store) }
        #expect(drained, "the queue drains")
        let runs = try Self.runs(store)
        #expect(Set(runs.keys) == acknowledged, "every acknowledged push ran, on one host or the other")
        let duplicates = runs.filter { $0.value > 1 }
        #expect(duplicates.isEmpty, "runs of one push on two hosts (none without faults): \(duplicates.count)")
        let byHost = try Self.instancesByHost(store)
        let ids = try hosts.map(Self.hostId(of:))
        #expect(Set(byHost.keys) == Set(ids), "both hosts ran instances: \(byHost)")
        let names = try store.hosts().map(\.name).sorted()
        #expect(names == ["alpha", "beta"], "each host registered itself: \(names)")
        for host in hosts { #expect(host.terminate() == 0, "\(host.errors)") }
        store.close()
        try await database.drop()
    }

    @Test func theTriggersOfAHostKilledMidBurstRunOnTheOtherAfterTheirLease() async throws {
        let (database, store, channel, token) = try await Self.prepare(task: "Slow")
        let directory = TestSupport.temporaryDirectory()
        let manifest = try ServeProcess.manifest(in: directory, [("Slow", "FaultyTasks.SlowRecordingTask", "")])
        let doomed = try Self.host("doomed", manifest: manifest, database: database, lease: 2)
        let survivor = try Self.host("survivor", manifest: manifest, database: database, lease: 2)
        let doomedId = try Self.hostId(of: doomed)
        let killed = Shared(false)
        let killer = Task {
            // Kill the host once it runs instances of its own, in the middle of the burst.
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline {
                let held = try await offThePool {
                    try store.rows("held", "SELECT 1 FROM instance WHERE outcome IS NULL AND host_id = \(doomedId)").count
                }
                if held >= 2 { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            doomed.kill9()
            killed.withLock { $0 = true }
        }
        let ports = [doomed.port, survivor.port]
        let acknowledged = await Self.burst(total: 200, clients: 8, channel: channel, token: token) { index in
            killed.withLock { $0 } ? ports[1] : ports[index % 2]
        }
        try await killer.value
        #expect(acknowledged.count == 200)
        let drained = try await TestSupport.eventually(timeout: .seconds(180)) { try Self.drained(store) }
        #expect(drained, "the survivor drains the queue")
        let runs = try Self.runs(store)
        let missing = acknowledged.subtracting(runs.keys)
        #expect(missing.isEmpty, "acknowledged pushes that never ran: \(missing.sorted().prefix(10))")
        let takenOver = try store.rows(
            "taken over", "SELECT COUNT(*)::bigint FROM trigger WHERE attempts >= 2")
        #expect(try takenOver[0].decode(Int.self) >= 1, "the survivor claimed again what the dead host held, after its lease")
        #expect(try store.queueCounts()[.dead, default: 0] == 0)
        // History shows no instance running for ever: the dead host's are abandoned, naming it.
        let unfinished = try store.rows("unfinished", "SELECT COUNT(*)::bigint FROM instance WHERE outcome IS NULL")
        #expect(try unfinished[0].decode(Int.self) == 0, "every instance has an outcome")
        let abandoned = try store.rows(
            "abandoned", "SELECT outcome_detail FROM instance WHERE outcome = 'abandoned' AND host_id = \(doomedId)")
        #expect(!abandoned.isEmpty, "the dead host's instances are settled as abandoned")
        #expect(try abandoned.allSatisfy { try $0.decode(String.self).contains("doomed") })
        #expect(survivor.terminate() == 0, "\(survivor.errors)")
        store.close()
        try await database.drop()
    }

    /// Fencing: a host frozen (SIGSTOP) past its lease loses the trigger to
    /// another host, which runs it; resumed, the first host cannot settle it,
    /// and says so in its log.
    @Test func aHostFrozenPastItsLeaseCannotSettleWhatAnotherHostRan() async throws {
        let (database, store, channel, token) = try await Self.prepare(task: "Slow")
        let directory = TestSupport.temporaryDirectory()
        let manifest = try ServeProcess.manifest(in: directory, [("Slow", "FaultyTasks.SlowTask", "")])
        let frozen = try Self.host("frozen", manifest: manifest, database: database, lease: 2)
        let frozenId = try Self.hostId(of: frozen)
        #expect(await ServeProcessTests.push(port: frozen.port, channel: channel.id, token: token, content: "once") == 200)
        #expect(
            try await TestSupport.eventually(timeout: .seconds(30)) {
                try store.rows("claimed", "SELECT 1 FROM trigger WHERE state = 'running' AND claimed_by = \(frozenId)").count == 1
            })
        #expect(frozen.process.signal(SIGSTOP))
        let other = try Self.host("other", manifest: manifest, database: database, lease: 2)
        let otherId = try Self.hostId(of: other)
        #expect(try await TestSupport.eventually(timeout: .seconds(60)) { try store.queueCounts() == [.done: 1] }, "the other host ran it")
        #expect(frozen.process.signal(SIGCONT))
        let told = await TestSupport.eventually(timeout: .seconds(30)) { frozen.errors.contains("taken over") }
        #expect(told, "the resumed host says its claim was taken over: \(frozen.errors)")
        let trigger = try #require(try store.queuedTriggers(states: [.done], limit: 1).first)
        #expect(trigger.attempts == 2, "the takeover counted as an attempt")
        let settledBy = try store.rows("settled by", "SELECT host_id FROM instance WHERE id = \(trigger.lastInstanceId ?? "")")
        #expect(try settledBy.first?.decode(String.self) == otherId, "the other host's outcome stands")
        #expect(try store.queueCounts() == [.done: 1], "the resumed host changed nothing")
        #expect(frozen.terminate() == 0, "\(frozen.errors)")
        #expect(other.terminate() == 0, "\(other.errors)")
        store.close()
        try await database.drop()
    }
}
