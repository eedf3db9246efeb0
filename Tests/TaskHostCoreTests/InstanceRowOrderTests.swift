import Foundation
import Synchronization
import TaskHostShared
import TaskHostTestSupport
import Testing

@testable import TaskHostCore
@testable import TaskHostIsolation
@testable import TaskHostStore

/// A store that, when an instance's row is written, looks at whether the
/// instance's worker has loaded the plugin library yet (a spawned worker
/// loads it when its start message arrives).
final class RowOrderStore: TaskStore {
    let base: SQLiteTaskStore
    let library: String
    /// Whether the library was mapped in the worker when its row was written.
    let loadedBeforeRow = Mutex<Bool?>(nil)

    init(base: SQLiteTaskStore, library: String) {
        self.base = base
        self.library = library
    }

    func insertInstance(_ record: InstanceRecord) throws(StoreError) {
        if let pid = record.pid {
            // Time enough for a worker that already has its start message to load the library.
            usleep(300_000)
            let maps = (try? String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8)) ?? ""
            loadedBeforeRow.withLock { $0 = maps.contains(library) }
        }
        try base.insertInstance(record)
    }

    func setting(app: String, key: String) throws(StoreError) -> StoredSetting? { try base.setting(app: app, key: key) }
    func setSetting(app: String, key: String, value: SettingValue) throws(StoreError) {
        try base.setSetting(app: app, key: key, value: value)
    }
    func deleteSetting(app: String, key: String) throws(StoreError) -> Bool { try base.deleteSetting(app: app, key: key) }
    func settings(app: String) throws(StoreError) -> [StoredSetting] { try base.settings(app: app) }
    func apps() throws(StoreError) -> [String] { try base.apps() }
    func finishInstance(
        id: String, endedAt: Date, outcome: InstanceOutcome, progress: UInt32, sandbox: String, appendingLog lines: [LogLine]
    ) throws(StoreError) {
        try base.finishInstance(id: id, endedAt: endedAt, outcome: outcome, progress: progress, sandbox: sandbox, appendingLog: lines)
    }
    func instances(task: String?, limit: Int) throws(StoreError) -> [InstanceRecord] { try base.instances(task: task, limit: limit) }
    func instance(idPrefix: String) throws(StoreError) -> InstanceRecord? { try base.instance(idPrefix: idPrefix) }
    func appendLog(instanceId: String, lines: [LogLine]) throws(StoreError) { try base.appendLog(instanceId: instanceId, lines: lines) }
    func recordProgress(instanceId: String, progress: UInt32) throws(StoreError) {
        try base.recordProgress(instanceId: instanceId, progress: progress)
    }
    func log(instanceId: String) throws(StoreError) -> [LogLine] { try base.log(instanceId: instanceId) }
}

/// An instance's row is written before any plugin code can run: a plugin
/// that kills its host cannot leave an instance without a row.
@Suite struct InstanceRowOrderTests {
    @Test func theRowIsWrittenBeforeTheWorkerIsToldToRun() async throws {
        let store = RowOrderStore(base: try Fixtures.store(), library: "libFaultyTasks.so")
        let runner = TaskRunner(store: store, workerPath: Fixtures.workerPath, isolation: .spawn)
        let task = Fixtures.task("Slow", "FaultyTasks.SlowTask")
        let record = try await runner.run(task, trigger: .application(arguments: ["ms": "10"]))
        #expect(record.outcome == .completed)
        #expect(store.loadedBeforeRow.withLock { $0 } == false, "the worker had not loaded the plugin when its row was written")
        #expect(try store.instance(idPrefix: record.id)?.outcome == .completed)
    }
}
