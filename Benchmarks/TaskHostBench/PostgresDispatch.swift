import Foundation
import Synchronization
import TaskHostConcurrency
import TaskHostCore
import TaskHostIsolation
import TaskHostManifest
import TaskHostPlugins
import TaskHostScheduling
import TaskHostStore
import TaskHostStoreBackends
import TaskHostStorePostgres

/// One dispatch measurement: its rate and who ran what.
struct DispatchRun {
    /// Triggers done per second, from the dispatchers' start to the last outcome.
    var rate: Double
    /// No-op runs completed by each host.
    var perHost: [Int]
    /// Triggers in state `done` at the end (every one queued, once).
    var done: Int
}

extension Bench {
    /// Dispatch throughput (queue → claim → no-op run → settle) on PostgreSQL with
    /// one host and with two hosts sharing one database, next to SQLite's, in one run.
    func postgresDispatch(_ server: PostgresBenchServer, products: Products, state: String) async throws {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let isolation = isolationModes.contains(.prefork) ? IsolationMode.prefork : isolationModes[0]
        var table = Table(
            "PostgreSQL: dispatch throughput (queue → claim → no-op run → settle), one host and two hosts on one database",
            ["store", "hosts", "runs/s", "vs SQLite, one host", "runs per host"])
        let sqlite = try await Self.blocking.run { () throws -> any HostStore in
            try StoreLocation.stateDirectory(StateDirectory(path: "\(state)/pg-dispatch-sqlite")).open()
        }
        let alone = try await dispatchRun(stores: [sqlite], products: products, isolation: isolation, concurrency: 2 * cores)
        table.row("SQLite", "1", Format.count(alone.rate), "1.00×", "\(alone.perHost[0])")
        for hosts in [1, 2] {
            let database = try await Self.blocking.run { () throws in try server.freshDatabase().location }
            let stores = try await Self.blocking.run { () throws -> [PostgresTaskStore] in
                try (0..<hosts).map { _ in try PostgresTaskStore(location: database, logger: .silent) }
            }
            defer { for store in stores { store.close() } }
            let run = try await dispatchRun(stores: stores, products: products, isolation: isolation, concurrency: 2 * cores)
            table.row(
                "PostgreSQL", "\(hosts)", Format.count(run.rate), Format.ratio(run.rate, over: alone.rate),
                run.perHost.map(String.init).joined(separator: " + "))
            if run.done != dispatcherTriggers {
                table.note("⚠ PostgreSQL, \(hosts) hosts: \(run.done) of \(dispatcherTriggers) triggers done at the end")
            }
        }
        table.note(
            "\(dispatcherTriggers) application triggers of the no-op task queued, then one `Dispatcher` per host started (each with its "
                + "own `TaskRunner`, zygotes and store object, so its own host id, --concurrency \(2 * cores), isolation `\(isolation)`) "
                + "and timed until every trigger's instance completed; every trigger ended `done` once. The two hosts run in one process "
                + "on the same \(cores) cores as the database: the row shows what sharing one queue costs (claims that meet each other's "
                + "locks, two sets of zygotes), not what a second machine adds.")
        table.print()
    }

    /// Queues ``dispatcherTriggers`` no-op triggers into `stores[0]`, runs one
    /// dispatcher per store until every trigger's instance completed, and stops them.
    func dispatchRun(stores: [any HostStore], products: Products, isolation: IsolationMode, concurrency: Int) async throws
        -> DispatchRun
    {
        let hosts = stores.map { IsolatedNoop(store: $0, products: products, isolation: isolation) }
        let noop = hosts[0]
        let registry = TaskRegistry([RegisteredTask(app: noop.app, task: noop.task, libraryPath: noop.library)])
        let triggers = (0..<dispatcherTriggers).map { _ in
            NewTrigger(app: noop.app.identity.name, task: noop.task.name, event: .application())
        }
        let first = stores[0]
        try await Self.blocking.run { () throws in try first.enqueue(triggers) }
        let dispatchers = zip(stores, hosts).map { store, host in
            Dispatcher(
                store: store, runner: host.runner, registry: registry, limits: ConcurrencyLimits(global: concurrency), logger: .silent)
        }
        let (outcomes, continuation) = AsyncStream<(host: Int, completed: Bool)>.makeStream()
        for (index, dispatcher) in dispatchers.enumerated() {
            dispatcher.observeOutcomes { _, outcome in continuation.yield((index, outcome == .completed)) }
        }
        let start = Clock.monotonic()
        let running = dispatchers.map { dispatcher in Task { await dispatcher.run() } }
        var perHost = Array(repeating: 0, count: stores.count)
        var seen = 0
        for await (host, completed) in outcomes {
            seen += 1
            if completed { perHost[host] += 1 }
            if seen == triggers.count { break }
        }
        let elapsed = Double(Clock.monotonic() - start) / 1e9
        for dispatcher in dispatchers { dispatcher.shutdown() }
        for task in running { await task.value }
        let done = try await Self.blocking.run { () throws -> Int in try first.queueCounts()[.done] ?? 0 }
        let completed = perHost.reduce(0, +)
        guard completed == triggers.count else { throw BenchError("dispatch: \(triggers.count - completed) no-op runs did not complete") }
        return DispatchRun(rate: Double(completed) / elapsed, perHost: perHost, done: done)
    }
}
