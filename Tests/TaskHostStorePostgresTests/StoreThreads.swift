import Foundation
import Logging
import PostgresNIO
import TaskHostConcurrency
import TaskHostCore
import TaskHostStore
import TaskHostTestSupport
import Testing

@testable import TaskHostStorePostgres

/// Where the tests call the stores: threads of their own, as the host calls its
/// store from `BlockingExecutor` threads. A store call blocks its thread until
/// PostgreSQL answers; on the cooperative pool (two threads on two cores) that
/// would stall every other test of the process meanwhile.
let storeThreads = BlockingExecutor(name: "pgsql-tests", maxThreads: 16)

/// Runs `body` on one of ``storeThreads``.
func offThePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await storeThreads.run { () throws(any Error) -> T in try body() }
}

/// Runs `body` with a store on a fresh database, dropped afterwards, on one of
/// ``storeThreads``.
func withStore(
    leaseDuration: Duration = .seconds(30), _ body: @escaping @Sendable (PostgresTaskStore, TestDatabase) throws -> Void
) async throws {
    let database = try await TestDatabase()
    do {
        try await offThePool {
            let store = try database.store(leaseDuration: leaseDuration)
            defer { store.close() }
            try body(store, database)
        }
    } catch {
        try? await database.drop()
        throw error
    }
    try await database.drop()
}
