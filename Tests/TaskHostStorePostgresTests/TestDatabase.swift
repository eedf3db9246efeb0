import Foundation
import Logging
import PostgresNIO
import TaskHostConcurrency
import TaskHostCore
import TaskHostStore
import TaskHostTestSupport
import Testing

@testable import TaskHostStorePostgres

/// The stores' logger in tests: their connection attempts are not news here.
let quiet: Logger = {
    var logger = Logger(label: "taskhost.tests.postgres")
    logger.logLevel = .critical
    return logger
}()

/// A database of its own for one test, on the tests' PostgreSQL
/// (``PostgresServer``): created with a random name, dropped by ``drop()``.
struct TestDatabase {
    let location: PostgresStoreLocation

    /// Creates the database.
    init() async throws {
        let server = try PostgresStoreLocation(url: try await PostgresServer.url())
        let name = "taskhost_test_" + RandomToken.hex(bytes: 8)
        try await Self.admin(server) { connection, logger in
            try await connection.query("CREATE DATABASE \(unescaped: name)", logger: logger)
        }
        location = server.with(database: name)
    }

    /// A store on the database (several may share it: hosts of one cluster).
    func store(hostId: String = "host-" + RandomToken.hex(bytes: 4), leaseDuration: Duration = .seconds(30)) throws(StoreError)
        -> PostgresTaskStore
    {
        try PostgresTaskStore(location: location, hostId: hostId, leaseDuration: leaseDuration, logger: quiet)
    }

    /// Drops the database, closing what is still connected to it.
    func drop() async throws {
        let name = location.database
        try await Self.admin(location.with(database: "postgres")) { connection, logger in
            try await connection.query("DROP DATABASE IF EXISTS \(unescaped: name) WITH (FORCE)", logger: logger)
        }
    }

    /// Runs `body` on a connection to `location`'s server.
    private static func admin(
        _ location: PostgresStoreLocation, _ body: (PostgresConnection, Logger) async throws -> Void
    ) async throws {
        let logger = Logger(label: "taskhost.tests.postgres")
        let configuration = location.connectionConfiguration
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
        do {
            try await body(connection, logger)
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
    }
}

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
