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
