import TaskHostConcurrency

/// Where the push routes read the store when their caches miss (a channel,
/// a credential, a subscription, the backlog of a `TTL: 0` push) and where a
/// Web Push message is deleted: never on the cooperative pool, whose few
/// threads (two on a two-core machine) Hummingbird's handlers share. A store
/// read blocks its thread: SQLite up to its busy timeout when another process
/// holds the write lock, PostgreSQL for a network round trip, or until the
/// server is back. Blocking the pool's threads there would stall every
/// handler, and the PostgreSQL client's own work with them.
///
/// Each service that reads has its own (the push endpoint, the Web Push
/// endpoint, the operator listener): reads that wait for one of them never
/// queue behind another's.
final class StoreReads: Sendable {
    /// The threads of those reads (four: a few pushes whose records are not
    /// cached yet, from different clients, are read at once).
    let executor = BlockingExecutor(name: "taskhost-lookup", maxThreads: 4)

    /// Runs `body`, which may read the store, on ``executor``.
    func run<Value: Sendable, Failure: Error>(_ body: @escaping @Sendable () throws(Failure) -> Value) async throws(Failure)
        -> Value
    {
        try await executor.run(body)
    }
}
