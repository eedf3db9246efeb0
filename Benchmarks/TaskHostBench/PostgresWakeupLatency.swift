import Foundation
import Synchronization
import TaskHostCore
import TaskHostStore
import TaskHostStorePostgres

extension Bench {
    /// Cross-host wake-up latency on PostgreSQL (`LISTEN`/`NOTIFY`): two store
    /// objects (two hosts) on a fresh database; host A listens, host B enqueues one
    /// push at a time; each sample is the time from the start of B's enqueue
    /// transaction to A's wake-up, the commit included.
    func postgresWakeupLatency() async throws {
        guard let server = postgres else { throw BenchError("the postgres section needs --postgres URL") }
        guard let psql = Self.which("psql") else {
            throw BenchError("the postgres section needs psql (apt-get install postgresql-client-15)")
        }
        let database = "taskhost_bench_" + RandomToken.hex(bytes: 6)
        try Self.runTool(psql, [server, "-v", "ON_ERROR_STOP=1", "-qc", "CREATE DATABASE \(database)"])
        defer { _ = try? Self.runTool(psql, [server, "-qc", "DROP DATABASE IF EXISTS \(database) WITH (FORCE)"]) }
        let target = try PostgresStoreLocation(url: server).with(database: database)
        let count = quick ? 100 : 400
        let (wakes, enqueues, afterReturn, missed) = try await Self.onThreadOfItsOwn { () throws -> (Samples, Samples, Samples, Int) in
            let listener = try PostgresTaskStore(location: target, hostId: "bench-a", logger: .silent)
            let writer = try PostgresTaskStore(location: target, hostId: "bench-b", logger: .silent)
            defer {
                listener.close()
                writer.close()
            }
            let woken = WakeClock()
            let listening = Task {
                try? await listener.listenForWakeups(listening: { woken.listening.signal() }, wake: { woken.record() })
            }
            defer { listening.cancel() }
            guard woken.listening.wait(timeout: .now() + 10) == .success else { throw BenchError("the listen did not start") }
            var wakes = Samples()
            var enqueues = Samples()
            var afterReturn = Samples()
            var missed = 0
            for index in 0..<(count + 20) {
                let start = Clock.monotonic()
                try writer.enqueue([Self.benchTrigger()])
                let committed = Clock.monotonic()
                guard let woke = woken.next(timeout: 5) else {
                    missed += 1
                    continue
                }
                // The first 20 warm the connections up.
                if index >= 20 {
                    wakes.add(woke - start)
                    enqueues.add(committed - start)
                    afterReturn.add(max(0, woke - committed))
                }
            }
            return (wakes, enqueues, afterReturn, missed)
        }
        var table = Table(
            "PostgreSQL: cross-host wake-up latency (LISTEN/NOTIFY), host B's enqueue → host A's wake-up",
            ["what", "p50", "p99", "samples"])
        table.row(
            "B's enqueue transaction (one push, committed)", Format.ms(enqueues.p50), Format.ms(enqueues.p99), "\(enqueues.values.count)")
        table.row("B's enqueue starts → A is woken", Format.ms(wakes.p50), Format.ms(wakes.p99), "\(wakes.values.count)")
        table.row(
            "B's enqueue returns → A is woken (0: woken before it returned)", Format.ms(afterReturn.p50), Format.ms(afterReturn.p99),
            "\(afterReturn.values.count)")
        table.note(
            "Two PostgresTaskStore objects on one fresh database; one push at a time, the next once A was woken; "
                + "\(missed) wake-up(s) missed (none expected: a missed one waits 5 s, then counts here).")
        table.print()
    }

    /// Runs `body` on a thread of its own (store calls block their thread: never the cooperative pool's).
    static func onThreadOfItsOwn<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }
}

/// The times of wake-ups, handed to the thread that waits for each.
private final class WakeClock: Sendable {
    let listening = DispatchSemaphore(value: 0)
    private let woken = DispatchSemaphore(value: 0)
    private let times = Mutex<[Int64]>([])

    func record() {
        let now = Clock.monotonic()
        times.withLock { $0.append(now) }
        woken.signal()
    }

    /// The time of the next wake-up, or `nil` after `timeout` seconds.
    func next(timeout: Double) -> Int64? {
        guard woken.wait(timeout: .now() + timeout) == .success else { return nil }
        return times.withLock { $0.removeFirst() }
    }
}
