import Foundation
import TaskHostCore
import TaskHostStore
import TaskHostTestSupport
import Testing

@testable import TaskHostStorePostgres

/// Plugin states and disabled tasks on PostgreSQL.
@Suite(
    .enabled("needs PostgreSQL (skipped when absent outside CI; the line above the results says why)") { await PostgresServer.testsRun() })
struct PostgresPluginStateTests {
    func plugin(_ name: String, state: PluginState, reason: String? = nil) -> PluginRecord {
        PluginRecord(
            name: name, identity: "com.example.\(name)", version: "1.0.0.0", state: state, reason: reason, fingerprint: "f-\(name)",
            stagedPath: "/staged/\(name)", tasks: ["One", "Two"], updatedAt: Date(timeIntervalSince1970: 1000))
    }

    @Test func pluginRecordsAreSavedReplacedEnabledAndDeleted() async throws {
        try await withStore { store, _ in
            try store.savePlugin(plugin("b", state: .active))
            try store.savePlugin(plugin("a", state: .active))
            try store.savePlugin(plugin("a", state: .quarantined, reason: "bad manifest"))
            #expect(try store.plugins() == [plugin("a", state: .quarantined, reason: "bad manifest"), plugin("b", state: .active)])
            try store.disableTask(DisabledTask(plugin: "a", task: "One", app: "com.example.a", reason: "crashed", disabledAt: Date()))
            let before = try #require(try store.enablePlugin(name: "com.example.a"), "by identity too")
            #expect(before.state == .quarantined)
            #expect(try store.plugins().first?.state == .pending && store.plugins().first?.reason == nil)
            #expect(try store.disabledTasks().isEmpty, "enabling a plugin enables its tasks")
            #expect(try store.enablePlugin(name: "missing") == nil)
            try store.disableTask(DisabledTask(plugin: "b", task: "Two", app: "com.example.b", reason: "crashed", disabledAt: Date()))
            try store.deletePlugin(name: "b")
            #expect(try store.plugins().map(\.name) == ["a"])
            #expect(try store.disabledTasks().isEmpty, "deleting a plugin forgets its disabled tasks")
        }
    }

    @Test func disabledTasksAreRecordedReplacedAndEnabledByFolderOrIdentity() async throws {
        try await withStore { store, _ in
            let at = Date(timeIntervalSince1970: 2000)
            try store.disableTask(DisabledTask(plugin: "p", task: "B", app: "com.example.p", reason: "first", disabledAt: at))
            try store.disableTask(DisabledTask(plugin: "p", task: "A", app: "com.example.p", reason: "crashed", disabledAt: at))
            try store.disableTask(DisabledTask(plugin: "p", task: "B", app: "com.example.p", reason: "again", disabledAt: at))
            #expect(try store.disabledTasks().map(\.qualifiedName) == ["p/A", "p/B"])
            #expect(try store.disabledTasks().last?.reason == "again")
            #expect(try store.enableTask(plugin: "com.example.p", task: "A")?.reason == "crashed")
            #expect(try store.enableTask(plugin: "p", task: "A") == nil)
            #expect(try store.enableTask(plugin: "p", task: "B")?.disabledAt == at)
            #expect(try store.disabledTasks().isEmpty)
        }
    }
}
