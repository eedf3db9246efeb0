import Foundation
import TaskHostConcurrency

/// A PostgreSQL server with TLS for the tests of TLS to PostgreSQL: a
/// ``PostgresCluster`` of its own with `ssl = on` and the certificates of
/// ``TestCertificates``, started once per test process by the first test that
/// asks, stopped and deleted when the process ends.
///
/// Outside CI, tests skip with the reason when `openssl` or PostgreSQL is
/// missing (``testsRun()``); under CI they run and fail.
package enum PostgresTLSServer {
    /// The server and its certificates, or why there are none. Starting blocks
    /// for seconds: only ``current()`` reads it, on a thread of its own.
    private static let server: Result<Server, PostgresServer.Unavailable> = {
        TestCertificates.make().flatMap { certificates in
            // The certificates' directory goes when the test process ends, as the cluster's does.
            PostgresServer.watch(directory: certificates.directory, data: certificates.directory, stop: ["/bin/true"])
            return PostgresCluster.start(tls: certificates).map { Server(cluster: $0, certificates: certificates) }
        }
    }()

    /// The one thread that starts the server.
    private static let starter = BlockingExecutor(name: "pgsql-tls-cluster", maxThreads: 1)

    /// A running server with TLS.
    package struct Server: Sendable {
        /// The cluster (its ``PostgresCluster/url`` has no TLS parameters).
        package let cluster: PostgresCluster
        /// The CA that signed the server's certificate, and the rest.
        package let certificates: TestCertificates

        /// `postgres://postgres@HOST:PORT/DATABASE?PARAMETERS`: `host` is
        /// `localhost` (the name the server's certificate has) unless given.
        package func url(database: String, host: String = "localhost", _ parameters: String) -> String {
            "postgres://postgres@\(host):\(cluster.serverPort)/\(database)" + (parameters.isEmpty ? "" : "?" + parameters)
        }
    }

    /// The server, or why there is none (the first call starts it).
    package static func current() async -> Result<Server, PostgresServer.Unavailable> {
        await starter.run { server }
    }

    /// The server; a missing one is an error naming what to install.
    package static func get() async throws -> Server { try await current().get() }

    /// Runs `body` with a fresh database on the TLS server, dropped afterwards.
    package static func withDatabase(_ body: (Server, TestDatabase) async throws -> Void) async throws {
        let server = try await get()
        let database = try await TestDatabase(server: server.cluster.url)
        do {
            try await body(server, database)
        } catch {
            try? await database.drop()
            throw error
        }
        try await database.drop()
    }

    /// Whether the TLS tests run: the server is there, or we are under CI, where
    /// its absence must fail them. Outside CI a missing one prints why they skip.
    package static func testsRun() async -> Bool {
        guard case .failure(let reason) = await current() else { return true }
        if ExternalTools.underCI { return true }
        print("skipped: the tests of TLS to PostgreSQL: \(reason.message)")
        return false
    }
}
