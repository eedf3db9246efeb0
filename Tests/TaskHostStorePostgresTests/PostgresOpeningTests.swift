import Foundation
import PostgresNIO
import TaskHostConcurrency
import TaskHostCore
import TaskHostStore
import TaskHostTestSupport
import Testing

@testable import TaskHostStorePostgres

/// Opening the store: the URL, the migrations, and what a failure says.
@Suite(
    .enabled("needs PostgreSQL (skipped when absent outside CI; the line above the results says why)") { await PostgresServer.testsRun() })
struct PostgresOpeningTests {
    @Test func migrationsAreAppliedOnceAndRecorded() async throws {
        try await withStore { store, database in
            #expect(try store.appliedMigrations() == StoreMigration.allCases.map(\.rawValue))
            // A second host opening the same database applies nothing again.
            let again = try database.store()
            defer { again.close() }
            #expect(try again.appliedMigrations() == StoreMigration.allCases.map(\.rawValue))
        }
    }

    /// A database migrated before the migrations were numbered in
    /// StoreMigration (this store's own versions 1, and 1 and 2) opens: its
    /// versions are recorded as the cases they stand for, what it lacks is
    /// applied (the settled index), nothing twice, and its rows stay.
    @Test(arguments: [1, 2]) func aDatabaseOfTheEarlierNumberingOpensAndKeepsItsRows(earlierVersions: Int) async throws {
        let database = try await TestDatabase()
        do {
            var statements = [
                """
                CREATE TABLE schema_migrations (
                    version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())
                """
            ]
            statements += PostgresSchema.tables + PostgresSchema.indexes
            statements.append(
                "INSERT INTO schema_migrations (version, name) VALUES (1, 'tables of the SQLite store, with leases, fences and hosts')")
            if earlierVersions == 2 {
                statements.append(
                    "CREATE INDEX trigger_settled ON trigger (updated_at) WHERE state IN ('done', 'dead', 'expired') AND kind != 'time'")
                statements.append("INSERT INTO schema_migrations (version, name) VALUES (2, 'the settled index, for pruning')")
            }
            statements.append(
                """
                INSERT INTO trigger (id, app, task, kind, payload, channel_id, headers, arguments, state, created_at, available_at,
                                     updated_at)
                VALUES ('old-trigger', 'com.example.old', 'T', 'application', '', '', '', '', 'pending', now(), now(), now())
                """)
            try await database.execute(statements)
            try await offThePool {
                let store = try database.store()
                defer { store.close() }
                #expect(try store.appliedMigrations() == StoreMigration.allCases.map(\.rawValue))
                #expect(try store.queuedTrigger(idPrefix: "old-trigger")?.state == .pending)
                let again = try database.store()
                defer { again.close() }
                #expect(try again.appliedMigrations() == StoreMigration.allCases.map(\.rawValue))
            }
            let names = try await database.strings("SELECT name FROM schema_migrations ORDER BY version")
            #expect(names == StoreMigration.allCases.map(\.name))
            let settled = try await database.strings(
                "SELECT indexname::text FROM pg_indexes WHERE tablename = 'trigger' AND indexname = 'trigger_settled'")
            #expect(settled == ["trigger_settled"])
        } catch {
            try? await database.drop()
            throw error
        }
        try await database.drop()
    }

    @Test func hostsOpeningANewDatabaseAtOnceMigrateItOnce() async throws {
        let database = try await TestDatabase()
        let results = await withTaskGroup(of: Result<[Int], StoreError>.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    await storeThreads.run {
                        do throws(StoreError) {
                            let store = try database.store()
                            defer { store.close() }
                            return .success(try store.appliedMigrations())
                        } catch {
                            return .failure(error)
                        }
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        try await database.drop()
        for result in results {
            #expect(try result.get() == StoreMigration.allCases.map(\.rawValue))
        }
    }

    @Test func anUnreachableServerIsUnavailableWithWhatToDo() async throws {
        let port = try #require(PostgresServer.freeLoopbackPort())
        let location = try PostgresStoreLocation(url: "postgres://postgres@127.0.0.1:\(port)/nothing")
        let opened = await storeThreads.run { Result { () throws(StoreError) in try PostgresTaskStore(location: location, logger: quiet) } }
        let error = #expect(throws: StoreError.self) { try opened.get() }
        #expect(error?.code == .unavailable, "\(String(describing: error))")
        #expect(error?.message.contains("127.0.0.1:\(port)") == true, "\(String(describing: error))")
        #expect(error?.message.contains("check that PostgreSQL runs") == true, "\(String(describing: error))")
    }

    @Test func aConstraintViolationHasTheConstraintCode() async throws {
        try await withStore { store, _ in
            let channel = PushChannel(id: "c1", app: "a", task: "T", createdAt: Date(), expiresAt: Date().addingTimeInterval(60))
            try store.insertChannel(channel)
            let error = #expect(throws: StoreError.self) { try store.insertChannel(channel) }
            #expect(error?.code == .constraint)
            #expect(error?.message.contains("23505") == true, "\(String(describing: error))")
        }
    }
}

/// The URL `--store` takes, and the SQLSTATEs the store acts on.
@Suite struct PostgresLocationTests {
    @Test func urlsNameServerUserAndDatabase() throws {
        let tcp = try PostgresStoreLocation(url: "postgres://app:secret@db.example:6432/taskhost")
        #expect(tcp.host == "db.example" && tcp.port == 6432 && tcp.user == "app" && tcp.password == "secret")
        #expect(tcp.database == "taskhost")
        #expect(tcp.description == "postgres://app@db.example:6432/taskhost", "no password in messages")
        let socket = try PostgresStoreLocation(url: "postgresql:///taskhost?host=/run/postgresql")
        #expect(socket.socketDirectory == "/run/postgresql" && socket.host == nil && socket.user == "postgres")
        #expect(tcp.applicationName == "taskhost" && tcp.connectTimeout == .seconds(10), "the defaults")
        let named = try PostgresStoreLocation(url: "postgres://h/db?application_name=web-1&connect_timeout=3")
        #expect(named.applicationName == "web-1" && named.connectTimeout == .seconds(3))
        let options = named.configuration(tls: .disabled).options
        #expect(options.connectTimeout == .seconds(3))
        #expect(options.additionalStartupParameters.map { "\($0.0)=\($0.1)" } == ["application_name=web-1"])
    }

    @Test func badUrlsAreRefusedWithTheFormat() {
        for url in [
            "mysql://h/db", "postgres://h", "postgres://h/a/b", "postgres://h/db?sslmode=on", "postgres://h/db?connect_timeout=0",
            "postgres://h/db?connect_timeout=soon", "postgres://h/db?application_name=", "postgres://h/db?options=-c%20x%3Dy",
        ] {
            let error = #expect(throws: StoreError.self) { try PostgresStoreLocation(url: url) }
            #expect(error?.message.isEmpty == false)
        }
        let error = #expect(throws: StoreError.self) { try PostgresStoreLocation(url: "postgres://u:pw@h/db?sslmode=verify-full") }
        #expect(error?.message.contains("pw") == false, "the password is not repeated")
    }

    @Test func sqlStatesMapToCodes() {
        let cases: [(String, StoreError.Code?)] = [
            ("40001", .busy), ("40P01", .busy), ("55P03", .busy), ("23505", .constraint), ("23503", .constraint),
            ("23514", .constraint), ("53100", .full), ("53200", .full), ("XX001", .corrupt), ("XX002", .corrupt),
            ("08006", .unavailable), ("57P01", .unavailable), ("42P01", nil),
        ]
        for (state, code) in cases {
            #expect(PostgresFailure.code(sqlState: state) == code, "\(state)")
            if let code { #expect(StoreError("x", resultCode: PostgresFailure.resultCode(code)).code == code) }
        }
    }
}
