import Foundation
import GRDB
import Synchronization
import TaskHostShared
import TaskHostTestSupport
import Testing

@testable import TaskHostCore
@testable import TaskHostStore

@Suite struct SQLiteTaskStoreTests {
    let directory = StateDirectory(path: TestSupport.temporaryDirectory() + "/state")

    @Test func createsThePrivateStateDirectoryAndDurableWAL() throws {
        let store = try SQLiteTaskStore(stateDirectory: directory)
        let attributes = try FileManager.default.attributesOfItem(atPath: directory.path)
        #expect((attributes[.posixPermissions] as? Int) == 0o700)
        let durability = try store.durability()
        #expect(durability.journalMode == "wal")
        #expect(durability.synchronous == 2, "synchronous=FULL: an acknowledged write survives power loss")
    }

    @Test func instanceBookkeepingAndClaimsAreRelaxedButEveryOtherWriteStaysFull() throws {
        let store = try SQLiteTaskStore(stateDirectory: directory)
        let seen = try store.writeRelaxed("probe") { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
        #expect(seen == 1, "NORMAL inside a relaxed write")
        try store.insertInstance(
            InstanceRecord(
                id: "i", app: "a", task: "t", triggerKind: .application, triggerId: "tr", attempt: 1, hostPid: 1, startedAt: Date()))
        try store.appendLog(instanceId: "i", lines: [LogLine(stream: .stdout, text: "x")])
        // Claims too: one lost with the power leaves its trigger pending, to be claimed again.
        try store.enqueue([NewTrigger(app: "a", task: "t", event: .application())])
        #expect(try store.claim(limit: 1, owner: "o", now: Date()) { _, _ in true }.count == 1)
        let after = try store.write("probe") { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
        #expect(after == 2, "FULL again for the writes that follow")
        #expect(try store.log(instanceId: "i").map(\.text) == ["x"])
    }

    @Test func settingsAreScopedByApp() throws {
        let store = try SQLiteTaskStore(stateDirectory: directory)
        try store.setSetting(app: "one", key: "k", value: .int(1))
        try store.setSetting(app: "two", key: "k", value: .string("two"))
        try store.setSetting(app: "one", key: "k", value: .int(2))
        #expect(try store.setting(app: "one", key: "k")?.value == .int(2))
        #expect(try store.setting(app: "two", key: "k")?.value == .string("two"))
        #expect(try store.settings(app: "one").map(\.key) == ["k"])
        #expect(try store.apps() == ["one", "two"])
        #expect(try store.deleteSetting(app: "one", key: "k"))
        #expect(try !store.deleteSetting(app: "one", key: "k"))
        #expect(try store.setting(app: "one", key: "k") == nil)
    }

    @Test func everyValueTypeSurvivesTheStore() throws {
        let store = try SQLiteTaskStore(stateDirectory: directory)
        let values: [SettingValue] = [
            "text", .int(-5), .uint(UInt64.max), .double(0.25), true, .date(Date(timeIntervalSince1970: 1_700_000_000.5)),
            .uuid(UUID()), .bytes([0, 255]), .composite(["a": 1, "b": "x"]),
        ]
        for (index, value) in values.enumerated() { try store.setSetting(app: "a", key: "k\(index)", value: value) }
        let reopened = try SQLiteTaskStore(stateDirectory: directory)
        #expect(try reopened.settings(app: "a").map(\.value) == values)
    }

    @Test func recordsInstancesAndTheirLogs() throws {
        let store = try SQLiteTaskStore(stateDirectory: directory)
        let started = Date(timeIntervalSince1970: 1000)
        let record = InstanceRecord(
            id: "0123abcd-0000-0000-0000-000000000000", app: "a", task: "T", triggerKind: .pushNotification,
            triggerId: "trigger", attempt: 1, pid: 42, hostPid: 10, startedAt: started)
        try store.insertInstance(record)
        #expect(try store.instance(idPrefix: "0123")?.outcome == nil)
        try store.appendLog(instanceId: record.id, lines: [LogLine(stream: .task, text: "one")])
        try store.finishInstance(
            id: record.id, endedAt: started.addingTimeInterval(1.5), outcome: .crashed(signal: 11), progress: 7,
            sandbox: "enforced: seccomp",
            appendingLog: [LogLine(stream: .stderr, text: "two"), LogLine(stream: .host, text: "three")])
        let loaded = try #require(try store.instance(idPrefix: "0123abcd"))
        #expect(loaded.pid == 42)
        #expect(loaded.outcome == .crashed(signal: 11))
        #expect(loaded.progress == 7)
        #expect(loaded.sandbox == "enforced: seccomp")
        #expect(loaded.duration == .milliseconds(1500))
        #expect(try store.log(instanceId: record.id).map(\.text) == ["one", "two", "three"])
        #expect(try store.log(instanceId: record.id).map(\.stream) == [.task, .stderr, .host])
        #expect(try store.instances(task: "T", limit: 5).map(\.id) == [record.id])
        #expect(try store.instances(task: "Other", limit: 5).isEmpty)
        #expect(try store.instance(idPrefix: "012") == nil, "prefixes shorter than 4 characters do not match")
    }

    @Test func ambiguousPrefixesAreAnError() throws {
        let store = try SQLiteTaskStore(stateDirectory: directory)
        for suffix in ["1", "2"] {
            try store.insertInstance(
                InstanceRecord(
                    id: "abcd000\(suffix)", app: "a", task: "T", triggerKind: .application, triggerId: "t", attempt: 1,
                    hostPid: 1, startedAt: Date()))
        }
        #expect(throws: StoreError.self) { try store.instance(idPrefix: "abcd") }
        #expect(try store.instance(idPrefix: "abcd0002")?.id == "abcd0002")
    }

    @Test func everyOutcomeRoundTrips() {
        let outcomes: [InstanceOutcome] = [
            .completed, .failed("x"), .canceled(.terminating), .timedOut, .killed(.uninstall), .crashed(signal: 6),
            .exited(code: 3), .protocolError("bad"), .refused("no"),
        ]
        for outcome in outcomes {
            #expect(InstanceOutcome(code: outcome.code, detail: outcome.detail) == outcome)
        }
    }

    /// serve and a CLI command opening a new database at the same moment:
    /// each migration is applied once, and every open succeeds.
    @Test func storesOpenedAtOnceMigrateOnce() throws {
        for _ in 0..<5 {
            let path = TestSupport.temporaryDirectory() + "/taskhost.sqlite"
            let failures = Mutex<[String]>([])
            DispatchQueue.concurrentPerform(iterations: 6) { _ in
                do {
                    _ = try SQLiteTaskStore(path: path)
                } catch {
                    failures.withLock { $0.append(String(describing: error)) }
                }
            }
            #expect(failures.withLock { $0 }.isEmpty)
        }
    }
}
