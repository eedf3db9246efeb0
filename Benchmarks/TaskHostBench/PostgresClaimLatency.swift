import Foundation
import TaskHostConcurrency
import TaskHostCore
import TaskHostStore
import TaskHostStorePostgres

/// The queues the claim latency is measured on.
enum ClaimQueue: CaseIterable {
    /// Nothing queued: the claim finds nothing (what an idle host's poll costs).
    case emptyIdle
    /// Nothing queued but the one trigger added before each claim.
    case empty
    /// A backlog of runnable triggers: each claim takes the oldest.
    case backlog
    /// Triggers due in a day (retries, delayed triggers) and the one trigger added before each claim.
    case future
    /// The backlog, while another session holds the xmin horizon back (an open transaction with an id).
    case backlogHorizonHeld

    func title(_ queued: String) -> String {
        switch self {
        case .emptyIdle: "empty, nothing to claim (an idle host's poll)"
        case .empty: "empty + the one runnable trigger added before each claim"
        case .backlog: "\(queued) runnable triggers (a backlog): each claim takes the oldest"
        case .future: "\(queued) triggers due in a day + the one runnable trigger added before each claim"
        case .backlogHorizonHeld: "\(queued) runnable triggers, while another session holds an open transaction (xmin horizon held)"
        }
    }
}

extension Bench {
    /// Claim latency on PostgreSQL: one `claim(limit: 1)` call, as the dispatcher
    /// makes it, on an empty queue and with ``queued`` triggers queued, each queue
    /// on a fresh database. Target (issue 16): with 100,000 queued, p50 ≤ 2× empty.
    func postgresClaimLatency(_ server: PostgresBenchServer) async throws {
        let claims = quick ? 200 : 1_000
        let queued = queued
        var table = Table(
            "PostgreSQL: claim latency, one `claim(limit: 1)` call (\(Format.count(Double(claims))) claims per row)",
            ["queue", "p50", "p99", "p50 vs empty", "p99 vs empty"])
        var empty = Samples()
        var results: [(ClaimQueue, Samples)] = []
        for queue in ClaimQueue.allCases {
            let samples = try await Self.blocking.run { () throws -> Samples in
                try Self.claimLatency(server, queue: queue, queued: queued, claims: claims)
            }
            if queue == .empty { empty = samples }
            results.append((queue, samples))
        }
        for (queue, samples) in results {
            table.row(
                queue.title(Format.count(Double(queued))), Format.ms(samples.p50), Format.ms(samples.p99),
                Format.ratio(samples.p50, over: empty.p50), Format.ratio(samples.p99, over: empty.p99))
        }
        let backlog = results.first { $0.0 == .backlog }?.1 ?? Samples()
        let future = results.first { $0.0 == .future }?.1 ?? Samples()
        let worst = max(backlog.p50, future.p50) / empty.p50
        table.note(
            "Each row: a fresh database with the store's schema, the triggers enqueued in batches of 2,000 (application triggers of one "
                + "task), then \(Format.count(Double(claims))) claims from one thread, each timed alone (wall clock, one transaction: expire "
                + "what outlived its time to live, look for lapsed leases, then `SELECT … FOR UPDATE SKIP LOCKED` in queue order and mark "
                + "the claimed trigger running). Claimed triggers stay running (not settled). Ratios against the second row, where each "
                + "claim takes one trigger as in the backlog rows. "
                + "Target: with \(Format.count(Double(queued))) queued, p50 ≤ 2× empty: " + String(format: "%.2f×", worst)
                + " at worst (\(worst <= 2 ? "met" : "not met"))."
                + " The horizon row: `psql` holds `BEGIN; SELECT txid_current(); SELECT pg_sleep(…)` open on the same database meanwhile, so "
                + "VACUUM and index-entry killing cannot drop the row versions the claims leave behind (issue 16's bloat).")
        table.print()
    }

    /// Times `claims` claims on a fresh database holding `queue`.
    static func claimLatency(_ server: PostgresBenchServer, queue: ClaimQueue, queued: Int, claims: Int) throws -> Samples {
        let database = try server.freshDatabase()
        let store = try PostgresTaskStore(location: database.location, logger: .silent)
        defer { store.close() }
        func trigger(availableAt: Date = Date()) -> NewTrigger {
            NewTrigger(app: "com.example.bench", task: "Noop", event: .application(), availableAt: availableAt)
        }
        if queue == .backlog || queue == .backlogHorizonHeld || queue == .future {
            let later = Date().addingTimeInterval(86400)
            var remaining = queued
            while remaining > 0 {
                let count = min(2_000, remaining)
                try store.enqueue((0..<count).map { _ in trigger(availableAt: queue == .future ? later : Date()) })
                remaining -= count
            }
            try server.sql(database.url, "VACUUM ANALYZE trigger")
        }
        var horizon: Process?
        if queue == .backlogHorizonHeld { horizon = try holdHorizon(server, database: database.url) }
        defer {
            if let horizon {
                _ = try? server.sql(
                    database.url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'taskhost-bench-horizon'"
                )
                horizon.waitUntilExit()
            }
        }
        let adds = queue == .empty || queue == .future
        var samples = Samples()
        for round in 0..<(claims + 20) {
            if adds { try store.enqueue([trigger()]) }
            let start = Clock.monotonic()
            let taken = try store.claim(limit: 1, owner: store.hostId, now: Date()) { _, _ in .take }
            let elapsed = Clock.monotonic() - start
            guard taken.count == (queue == .emptyIdle ? 0 : 1) else {
                throw BenchError("claim took \(taken.count) trigger(s) from \(queue)")
            }
            if round >= 20 { samples.add(elapsed) }  // the first 20 warm the connections and the caches
        }
        return samples
    }

    /// Starts `psql` holding a transaction with an id open on `database`
    /// (application name `taskhost-bench-horizon`), and waits until it holds it.
    static func holdHorizon(_ server: PostgresBenchServer, database: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: server.psql)
        process.arguments = [database, "-qc", "BEGIN; SELECT txid_current(); SELECT pg_sleep(3600);"]
        var environment = ProcessInfo.processInfo.environment
        environment["PGAPPNAME"] = "taskhost-bench-horizon"
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        for _ in 0..<100 {
            let held = try server.sql(
                database,
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'taskhost-bench-horizon' AND backend_xid IS NOT NULL")
            if held == "1" { return process }
            Thread.sleep(forTimeInterval: 0.05)
        }
        process.terminate()
        throw BenchError("psql did not hold a transaction open within 5 s")
    }
}
