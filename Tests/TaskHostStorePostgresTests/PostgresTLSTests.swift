import Foundation
import TaskHostCore
import TaskHostStore
import TaskHostTestSupport
import Testing

@testable import TaskHostStorePostgres

/// TLS to PostgreSQL against a real server with `ssl = on` (``PostgresTLSServer``:
/// a cluster of these tests' own, with a CA and certificates made by `openssl`;
/// the server's certificate names `localhost` only). What PostgreSQL itself
/// reports (`pg_stat_ssl`) is the proof that a connection is encrypted.
@Suite(
    .enabled("needs PostgreSQL and openssl (skipped when absent outside CI; the line above the results says why)") {
        await PostgresTLSServer.testsRun()
    })
struct PostgresTLSTests {
    @Test func verifyFullWithTheServersCAConnectsEncryptedAndATriggerRoundTrips() async throws {
        try await PostgresTLSServer.withDatabase { server, database in
            let url = server.url(database: database.location.database, "sslmode=verify-full&sslrootcert=\(server.certificates.authority)")
            let store = try await offThePool { try PostgresTaskStore(location: PostgresStoreLocation(url: url), logger: quiet) }
            defer { store.close() }
            let claimed = try await offThePool {
                try store.enqueue([queued(id: "over-tls", payload: "sealed")])
                return try store.claim(limit: 1, owner: store.hostId, now: Date().addingTimeInterval(1)) { _, _ in true }
            }
            #expect(claimed.map(\.id) == ["over-tls"])
            #expect(claimed.first?.event.payload == Array("sealed".utf8))
            try await offThePool { try store.markDone(id: "over-tls", instanceId: "i") }
            #expect(try await offThePool { try store.queueCounts() } == [.done: 1])
            #expect(try await Self.encryption(of: database) == ["true"], "the pool's connections are encrypted")
            let described = try await offThePool { try store.durabilityDescription() }
            #expect(
                described.contains("; TLS TLSv1.") && described.hasSuffix(", certificate and host name verified"),
                "taskhost doctor's line: \(described)")

            // The wake-up listener's connection, too: the same TLS settings as the pool.
            let log = WakeLog()
            let listening = log.listen(to: store)
            defer { listening.cancel() }
            #expect(await log.eventually { $0.listened == 1 }, "\(String(describing: log.ended))")
            #expect(try await Self.encryption(of: database, application: PostgresTaskStore.wakeupApplicationName) == ["true"])
        }
    }

    @Test func requireEncryptsWithoutCheckingTheCertificate() async throws {
        try await PostgresTLSServer.withDatabase { server, database in
            // 127.0.0.1 is not a name the certificate has, and no CA is given: require checks neither.
            let url = server.url(database: database.location.database, host: "127.0.0.1", "sslmode=require")
            let store = try await offThePool { try PostgresTaskStore(location: PostgresStoreLocation(url: url), logger: quiet) }
            defer { store.close() }
            try await offThePool { try store.enqueue([queued(id: "t")]) }
            #expect(try await Self.encryption(of: database) == ["true"])
        }
    }

    /// The default is `prefer` (libpq's): encrypted when the server offers TLS;
    /// `disable` is not: the check above can tell them apart.
    @Test(arguments: [("", "true"), ("sslmode=prefer", "true"), ("sslmode=disable", "false")])
    func theDefaultPrefersTLSAndDisableTurnsItOff(parameters: String, encrypted: String) async throws {
        try await PostgresTLSServer.withDatabase { server, database in
            let url = server.url(database: database.location.database, host: "127.0.0.1", parameters)
            let store = try await offThePool { try PostgresTaskStore(location: PostgresStoreLocation(url: url), logger: quiet) }
            defer { store.close() }
            try await offThePool { try store.enqueue([queued(id: "t")]) }
            #expect(try await Self.encryption(of: database) == [encrypted], "\(parameters)")
            let described = try await offThePool { try store.durabilityDescription() }
            let expected = encrypted == "true" ? ", certificate not verified (sslmode=prefer)" : "; no TLS"
            #expect(described.hasSuffix(expected), "\(described)")
        }
    }

    @Test func verifyCAChecksTheChainButNotTheHostName() async throws {
        try await PostgresTLSServer.withDatabase { server, database in
            let url = server.url(
                database: database.location.database, host: "127.0.0.1", "sslmode=verify-ca&sslrootcert=\(server.certificates.authority)")
            let store = try await offThePool { try PostgresTaskStore(location: PostgresStoreLocation(url: url), logger: quiet) }
            store.close()
            let other = server.url(
                database: database.location.database, "sslmode=verify-ca&sslrootcert=\(server.certificates.otherAuthority)")
            let error = try await Self.openingError(other)
            #expect(error.message.contains("not signed by a CA of sslrootcert"), "\(error.message)")
        }
    }

    /// Another CA's file, or the system's CAs (which never signed the test CA's certificates).
    @Test(arguments: [false, true]) func verifyFullWithAnotherCAFailsAtOnceSayingSo(systemRoots: Bool) async throws {
        try await PostgresTLSServer.withDatabase { server, database in
            let roots = systemRoots ? "system" : server.certificates.otherAuthority
            let url = server.url(database: database.location.database, "sslmode=verify-full&sslrootcert=\(roots)")
            let error = try await Self.openingError(url)
            #expect(error.message.contains("the server's certificate is not signed by a CA of sslrootcert"), "\(error.message)")
            #expect(error.message.contains("CERTIFICATE_VERIFY_FAILED"), "BoringSSL's reason, without its source paths: \(error.message)")
            #expect(error.message.contains(database.location.database), "it names the store")
            #expect(error.code != .unavailable, "permanent: serve does not wait for it to change")
        }
    }

    @Test func verifyFullByANameTheCertificateDoesNotHaveFailsSayingSo() async throws {
        try await PostgresTLSServer.withDatabase { server, database in
            let url = server.url(
                database: database.location.database, host: "127.0.0.1",
                "sslmode=verify-full&sslrootcert=\(server.certificates.authority)")
            let error = try await Self.openingError(url)
            #expect(error.message.contains("the server's certificate does not name the host of the URL"), "\(error.message)")
            #expect(error.code != .unavailable)
        }
    }

    @Test func aClientCertificateIsPresented() async throws {
        try await PostgresTLSServer.withDatabase { server, database in
            let certificates = server.certificates
            let url = server.url(
                database: database.location.database,
                "sslmode=verify-full&sslrootcert=\(certificates.authority)&sslcert=\(certificates.clientCertificate)"
                    + "&sslkey=\(certificates.clientKey)")
            let store = try await offThePool { try PostgresTaskStore(location: PostgresStoreLocation(url: url), logger: quiet) }
            defer { store.close() }
            try await offThePool { try store.enqueue([queued(id: "t")]) }
            let subjects = try await database.strings(Self.connections("DISTINCT client_dn"))
            #expect(subjects == [TestCertificates.clientSubject])
        }
    }

    @Test func requireAgainstAServerWithoutTLSFailsAtOnceSayingSo() async throws {
        let database = try await TestDatabase()
        do {
            if try await database.strings("SHOW ssl") == ["on"] {
                // TASKHOST_TEST_POSTGRES names a server with TLS: nothing to refuse here.
                print("skipped: requireAgainstAServerWithoutTLS: the tests' PostgreSQL has ssl on")
            } else {
                let location = database.location
                let url =
                    "postgres://\(location.user)@\(location.host ?? "localhost"):\(location.port)/\(location.database)?sslmode=require"
                let error = try await Self.openingError(url)
                #expect(error.message.contains("the server does not accept TLS connections"), "\(error.message)")
                #expect(error.code != .unavailable)
            }
        } catch {
            try? await database.drop()
            throw error
        }
        try await database.drop()
    }

    // MARK: Helpers

    /// The error of opening a store at `url` (a test failure when it opens).
    private static func openingError(_ url: String) async throws -> StoreError {
        let error = try await offThePool { () -> StoreError? in
            do throws(StoreError) {
                let store = try PostgresTaskStore(location: PostgresStoreLocation(url: url), logger: quiet)
                store.close()
                return nil
            } catch {
                return error
            }
        }
        return try #require(error, "\(url) opened")
    }

    /// `columns` of `pg_stat_ssl` for the connections to the database but the asking one (of `application`, if given).
    private static func connections(_ columns: String, application: String? = nil) -> String {
        "SELECT \(columns) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) "
            + "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            + (application.map { " AND application_name = '\($0)'" } ?? "")
    }

    /// Whether the connections to `database` (of `application`, if given) are
    /// encrypted: one `true` or `false` when all agree, both when they do not.
    private static func encryption(of database: TestDatabase, application: String? = nil) async throws -> [String?] {
        try await database.strings(connections("DISTINCT ssl::text", application: application) + " ORDER BY 1")
    }
}
