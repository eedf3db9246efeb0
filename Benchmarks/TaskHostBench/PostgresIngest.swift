import Foundation
import TaskHostConcurrency
import TaskHostCore
import TaskHostServer
import TaskHostStore
import TaskHostStoreBackends
import TaskHostStorePostgres

extension Bench {
    /// The postgres section's threads for everything that blocks (tools, store
    /// calls, wrk): never the cooperative pool, which the in-process daemons' handlers need.
    static let blocking = BlockingExecutor(name: "taskhost-bench-blocking")

    /// Durable ingest through the HTTP endpoint into PostgreSQL (issue 16), at 1,
    /// 16 and 64 clients, each client count measured back to back with: `pgbench`
    /// committing one such INSERT per transaction (the baseline), the same
    /// endpoint storing nothing (the HTTP ceiling) and storing into SQLite (group
    /// commit). Every endpoint is an in-process ``InProcessDaemon``, so the three
    /// differ only in their store. Returns pgbench's rate by client count.
    func postgresIngest(_ server: PostgresBenchServer, products: Products, state: String) async throws -> [Int: Double] {
        guard let wrk = Self.which("wrk") else {
            throw BenchError("the postgres section's ingest needs wrk (Debian/Ubuntu: apt-get install wrk)")
        }
        let script = state + "/push.lua"
        try pushScript.write(toFile: script, atomically: true, encoding: .utf8)
        let pgbenchScript = "\(state)/pgbench-insert.sql"
        try Self.pgbenchScript.write(toFile: pgbenchScript, atomically: true, encoding: .utf8)
        let (pgbenchDatabase, endpointDatabase) = try await Self.blocking.run { () throws -> (String, PostgresStoreLocation) in
            (try server.freshDatabase().url, try server.freshDatabase().location)
        }
        let postgresStore = try await Self.blocking.run { () throws -> PostgresTaskStore in
            try PostgresTaskStore(location: endpointDatabase, logger: .silent)
        }
        defer { postgresStore.close() }
        let (sqliteStore, discardStore) = try await Self.blocking.run { () throws -> (any HostStore, any HostStore) in
            (
                try StoreLocation.stateDirectory(StateDirectory(path: "\(state)/pg-ingest-sqlite")).open(),
                try StoreLocation.stateDirectory(StateDirectory(path: "\(state)/pg-ingest-discard")).open()
            )
        }
        let discard = try await InProcessDaemon.start(store: discardStore, products: products, mode: .discard)
        let sqlite = try await InProcessDaemon.start(store: sqliteStore, products: products, mode: .group)
        let postgres = try await InProcessDaemon.start(store: postgresStore, products: products, mode: .group)
        let endpoints: [(name: String, daemon: InProcessDaemon, database: Bool)] = [
            ("endpoint, `discard` (stores nothing: the HTTP ceiling)", discard, false),
            ("endpoint, `group`, SQLite", sqlite, false),
            ("endpoint, `group`, PostgreSQL", postgres, true),
        ]
        var table = Table(
            "PostgreSQL: durable push ingest through the HTTP endpoint vs pgbench (wrk, keep-alive, loopback, 64-byte payloads, "
                + "\(Format.count(seconds)) s per cell)",
            [
                "clients", "what", "acknowledged pushes/s", "p50", "p99", "taskhost CPU per push", "PostgreSQL CPU per push",
                "machine CPU per push", "pushes per commit", "vs pgbench", "vs ceiling",
            ])
        var pgbenchRates: [Int: Double] = [:]
        var ceilingMachineCPU: [Int: Double] = [:]
        var databaseCPUPerPush: [Int: Double] = [:]
        var summary: [String] = []
        let seconds = seconds
        for clients in [1, 16, 64] {
            let (pgbenchRate, pgbenchCPU) = try await Self.blocking.run { () throws -> (Double, Double?) in
                let before = PostgresBenchServer.cpuSeconds()
                let rate = try Self.pgbench(server, database: pgbenchDatabase, script: pgbenchScript, clients: clients, seconds: seconds)
                Thread.sleep(forTimeInterval: 0.2)  // the postmaster reaps pgbench's backends
                return (rate, before.flatMap { before in PostgresBenchServer.cpuSeconds().map { $0 - before } })
            }
            pgbenchRates[clients] = pgbenchRate
            table.row(
                "\(clients)", "pgbench, one INSERT per transaction", Format.count(pgbenchRate), "–", "–", "–",
                Self.microseconds(pgbenchCPU, per: pgbenchRate * Double(Int(seconds.rounded(.up)))), "–", "1", "1.00×", "–")
            var ceiling = Double.nan
            for endpoint in endpoints {
                let daemon = endpoint.daemon
                let commitsBefore = await daemon.groupCommits()
                let (result, databaseCPU, machineCPU) = try await Self.blocking.run { () throws -> (WrkResult, Double?, Double?) in
                    let before = PostgresBenchServer.cpuSeconds()
                    let machineBefore = PostgresBenchServer.machineCPUSeconds()
                    let result = try Self.wrk(
                        wrk, clients: clients, seconds: seconds, script: script, port: daemon.port, token: daemon.token,
                        channel: daemon.channel, serverCPU: InProcessDaemon.processCPUSeconds)
                    let machine = machineBefore.flatMap { before in PostgresBenchServer.machineCPUSeconds().map { $0 - before } }
                    return (result, before.flatMap { before in PostgresBenchServer.cpuSeconds().map { $0 - before } }, machine)
                }
                let commitsAfter = await daemon.groupCommits()
                var perCommit = "–"
                if let before = commitsBefore, let after = commitsAfter, after.commits > before.commits {
                    perCommit = String(format: "%.1f", (after.pushes - before.pushes) / (after.commits - before.commits))
                }
                let pushes = result.rate * max(1, seconds.rounded())
                if endpoint.name.contains("discard") {
                    ceiling = result.rate
                    ceilingMachineCPU[clients] = machineCPU.map { $0 / pushes }
                }
                if endpoint.database { databaseCPUPerPush[clients] = databaseCPU.map { $0 / pushes } }
                table.row(
                    "\(clients)", endpoint.name, Format.count(result.rate), Format.ms(result.p50), Format.ms(result.p99),
                    String(format: "%.0f µs", result.cpuPerRequest), endpoint.database ? Self.microseconds(databaseCPU, per: pushes) : "–",
                    Self.microseconds(machineCPU, per: pushes), perCommit, Format.ratio(result.rate, over: pgbenchRate),
                    Format.ratio(result.rate, over: ceiling))
                if result.failures > 0 {
                    table.note("⚠ \(clients) clients, \(endpoint.name): \(result.failures) non-200 answers or socket errors")
                }
                if endpoint.database {
                    summary.append(
                        "\(clients) client\(clients == 1 ? "" : "s"): PostgreSQL endpoint / pgbench "
                            + Format.ratio(result.rate, over: pgbenchRate) + ", ceiling / pgbench "
                            + Format.ratio(ceiling, over: pgbenchRate))
                }
            }
        }
        for endpoint in endpoints { await endpoint.daemon.stop() }
        let stored = try await Self.blocking.run { () throws -> Int in try postgresStore.queueCounts().values.reduce(0, +) }
        let durability = try await Self.blocking.run { () throws -> String in try postgresStore.durabilityDescription() }
        table.note(
            "PostgreSQL (\(durability)) on this machine, a fresh database each for pgbench and for the endpoint, with the store's schema and "
                + "indexes. The endpoints run in the bench's process (the same `Daemon` as `taskhost serve`, metrics on, no dispatcher), "
                + "one per store, all up for the whole table; wrk and the database share the same cores. pgbench: `-M prepared`, the INSERT "
                + "the store makes for a push, one per transaction (what committing each push alone costs the database). taskhost CPU: the "
                + "bench process's; PostgreSQL CPU: every `postgres` process's (backends, WAL writer, checkpointer), per acknowledged push "
                + "or pgbench transaction. Pushes per commit: the mean group-commit size (`taskhost_ingest_group_size`).")
        table.note(
            "PostgreSQL endpoint: \(Format.count(Double(stored))) triggers in its queue at the end (every acknowledged push). "
                + summary.joined(separator: "; ") + ". Target: PostgreSQL endpoint ≥ 1.5× pgbench at 64 clients; no store can answer "
                + "faster than the ceiling, so the ratio cannot exceed ceiling / pgbench.")
        if let http = ceilingMachineCPU[64], let database = databaseCPUPerPush[64], let pgbench = pgbenchRates[64] {
            let cores = Double(ProcessInfo.processInfo.activeProcessorCount)
            let floor = cores / (http + database)
            table.note(
                "The CPU floor at 64 clients: the ceiling row's machine CPU per push (wrk's, the HTTP work's: every check a stored push "
                    + "also passes) is \(String(format: "%.0f µs", http * 1e6)), PostgreSQL's per push in the PostgreSQL row \(String(format: "%.0f µs", database * 1e6)). Even if "
                    + "storing cost taskhost no CPU beyond the ceiling's, \(Format.count(cores)) cores could carry at most "
                    + "\(Format.count(floor)) pushes/s = \(Format.ratio(floor, over: pgbench)) pgbench. Machine CPU: every process's "
                    + "(/proc/stat), so run on a quiet machine.")
        }
        table.print()
        return pgbenchRates
    }

    /// pgbench's rate (transactions per second) running `script` from `clients` clients for `seconds`.
    static func pgbench(_ server: PostgresBenchServer, database: String, script: String, clients: Int, seconds: Double) throws -> Double {
        let output = try runTool(
            server.pgbench,
            [
                "-n", "-M", "prepared", "-f", script, "-c", "\(clients)", "-j", "\(min(clients, 2))", "-T", "\(Int(seconds.rounded(.up)))",
                database,
            ])
        guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("tps = ") }),
            let tps = Double(line.dropFirst("tps = ".count).prefix { $0 != " " })
        else { throw BenchError("cannot read pgbench's rate: \(output.suffix(2000))") }
        return tps
    }

    /// `seconds` of CPU per one of `count` things, in µs ("–" when unknown).
    static func microseconds(_ seconds: Double?, per count: Double) -> String {
        guard let seconds, count > 0 else { return "–" }
        return String(format: "%.0f µs", seconds / count * 1e6)
    }
}
