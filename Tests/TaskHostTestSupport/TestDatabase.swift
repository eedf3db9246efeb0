import Foundation
package import Logging
import PostgresNIO
import TaskHostCore
package import TaskHostStore
package import TaskHostStorePostgres

/// The stores' logger in tests: their connection attempts are not news here.
package let quiet: Logger = {
    var logger = Logger(label: "taskhost.tests.postgres")
    logger.logLevel = .critical
    return logger
}()

/// A database of its own for one test, on the tests' PostgreSQL
/// (``PostgresServer``): created with a random name, dropped by ``drop()``.
package struct TestDatabase: Sendable {
    /// Where the database is.
    package let location: PostgresStoreLocation

    /// Creates the database.
    package init() async throws {
        try await self.init(server: try await PostgresServer.url())
    }

    /// Creates the database on the server of URL `server` (a cluster of the test's own).
    package init(server url: String) async throws {
        let server = try PostgresStoreLocation(url: url)
        let name = "taskhost_test_" + RandomToken.hex(bytes: 8)
        try await Self.admin(server) { connection, logger in
            try await connection.query("CREATE DATABASE \(unescaped: name)", logger: logger)
        }
        location = server.with(database: name)
    }

    /// A store on the database (several may share it: hosts of one cluster).
    package func store(hostId: String = "host-" + RandomToken.hex(bytes: 4), leaseDuration: Duration = .seconds(30)) throws(StoreError)
        -> PostgresTaskStore
    {
        try PostgresTaskStore(location: location, hostId: hostId, leaseDuration: leaseDuration, logger: quiet)
    }

    /// The database's URL, as `taskhost --store` takes it.
    package var url: String {
        let credentials = location.user + (location.password.map { ":" + $0 } ?? "")
        if let socket = location.socketDirectory {
            return "postgres://\(credentials)@localhost:\(location.port)/\(location.database)?host=\(socket)"
        }
        return "postgres://\(credentials)@\(location.host ?? "localhost"):\(location.port)/\(location.database)"
    }

    /// Drops the database, closing what is still connected to it.
    package func drop() async throws {
        let name = location.database
        try await Self.admin(location.with(database: "postgres")) { connection, logger in
            try await connection.query("DROP DATABASE IF EXISTS \(unescaped: name) WITH (FORCE)", logger: logger)
        }
    }

    /// Runs `statements` in order, each its own transaction, on a connection of
    /// their own (what a test sets up behind the store's back).
    package func execute(_ statements: [String]) async throws {
        try await Self.admin(location) { connection, logger in
            for statement in statements {
                try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
            }
        }
    }

    /// The first column of the rows `query` returns, as text (`NULL` as `nil`).
    package func strings(_ query: String) async throws -> [String?] {
        var values: [String?] = []
        try await Self.admin(location) { connection, logger in
            for try await value in try await connection.query(PostgresQuery(unsafeSQL: query), logger: logger).decode(String?.self) {
                values.append(value)
            }
        }
        return values
    }

    /// Runs `body` on a connection to `location`'s server.
    private static func admin(
        _ location: PostgresStoreLocation, _ body: (PostgresConnection, Logger) async throws -> Void
    ) async throws {
        let logger = Logger(label: "taskhost.tests.postgres")
        let configuration = location.connectionConfiguration(tls: try location.tlsContext())
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
