import Foundation
import GRDB
import TaskHostShared
import TaskHostTestSupport
import Testing

@testable import TaskHostCore
@testable import TaskHostStore

/// The schema versions every backend shares, and SQLite's way of applying them.
@Suite struct StoreMigrationTests {
    @Test func migrationsAreNumberedOneByOneAndNamedAfterTheirNumber() {
        let all = StoreMigration.allCases
        #expect(all.map(\.rawValue) == Array(1...all.count), "numbered in order, without a gap")
        #expect(Set(all.map(\.name)).count == all.count, "each name once")
        for migration in all {
            #expect(
                migration.name == "v\(migration.rawValue)" || migration.name.hasPrefix("v\(migration.rawValue)-"),
                "\(migration.name) carries its number")
        }
    }

    @Test func aNewSQLiteDatabaseHasAppliedEveryMigrationInOrder() throws {
        let store = try SQLiteTaskStore(path: TestSupport.temporaryDirectory() + "/taskhost.sqlite")
        let applied = try store.read("read the applied migrations") { db in
            try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY rowid")
        }
        #expect(applied == StoreMigration.allCases.map(\.name))
    }

    /// A database an older taskhost made (here: as of v3-sandbox, before the
    /// plugins) opens, is migrated to the current schema, and keeps its rows.
    @Test func aDatabaseOfAnOlderSchemaIsMigratedAndKeepsItsRows() throws {
        let path = TestSupport.temporaryDirectory() + "/taskhost.sqlite"
        do {
            let old = try DatabasePool(path: path)
            try SQLiteTaskStore.migrator.migrate(old, upTo: StoreMigration.sandbox.name)
            try old.write { db in
                try db.execute(
                    sql: "INSERT INTO setting (app, key, value, updated_at) VALUES (?, ?, ?, ?)",
                    arguments: ["com.example.old", "count", Data(SettingValue.int(7).encoded()), 1_700_000_000])
                try db.execute(
                    sql: """
                        INSERT INTO instance (id, app, task, trigger_kind, trigger_id, attempt, host_pid, started_at, ended_at,
                                              outcome, outcome_detail, progress, sandbox)
                        VALUES ('old-instance', 'com.example.old', 'T', 'application', 'tr', 1, 1, 1700000000, 1700000001,
                                ?, ?, 100, '')
                        """,
                    arguments: [InstanceOutcome.completed.code, InstanceOutcome.completed.detail])
                try db.execute(
                    sql: "INSERT INTO trigger (id, app, task, kind, payload, channel_id, headers, arguments, state, created_at, "
                        + "available_at, updated_at) VALUES ('old-trigger', 'com.example.old', 'T', 'application', x'', '', x'', x'', "
                        + "'pending', 1700000000, 1700000000, 1700000000)")
            }
            let applied = try old.read { db in try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations") }
            #expect(applied == ["v1", "v2-queue", "v3-sandbox"])
        }

        let store = try SQLiteTaskStore(path: path)
        let applied = try store.read("read the applied migrations") { db in
            try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY rowid")
        }
        #expect(applied == StoreMigration.allCases.map(\.name))
        #expect(try store.setting(app: "com.example.old", key: "count")?.value == .int(7))
        let instance = try #require(try store.instance(idPrefix: "old-instance"))
        #expect(instance.outcome == .completed)
        #expect(instance.appVersion == nil && instance.replayOf == nil, "columns added later are empty for old rows")
        #expect(try store.queuedTrigger(idPrefix: "old-trigger")?.state == .pending)
        #expect(try store.plugins().isEmpty && store.disabledTasks().isEmpty, "tables added later exist")
        #expect(try store.subscriptions(app: nil).isEmpty)
    }
}
