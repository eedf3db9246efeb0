import Foundation
import GRDB
import TaskHostManifest
import TaskHostShared
import TaskHostTestSupport
import Testing

@testable import TaskHostCore
@testable import TaskHostIsolation
@testable import TaskHostStore

/// Errors that code acts on carry a code set where they are raised, and the
/// error underneath; nothing has to read their text.
@Suite struct ErrorCodeTests {
    @Test func storeCodesFollowSQLitesPrimaryResultCodes() {
        let expected: [Int32?: StoreError.Code] = [
            5: .busy, 6: .busy, 3: .unavailable, 8: .unavailable, 10: .unavailable, 14: .unavailable,
            19: .constraint, 13: .full, 11: .corrupt, 26: .corrupt, 12: .notFound, 1: .other, nil: .other,
        ]
        for (resultCode, code) in expected {
            #expect(StoreError("x", resultCode: resultCode).code == code, "result code \(resultCode.map(String.init) ?? "none")")
        }
    }

    @Test func aStoreWhoseWriteLockIsHeldElsewhereFailsWithBusy() throws {
        let directory = StateDirectory(path: Fixtures.temporaryDirectory() + "/state")
        let holder = try SQLiteTaskStore(stateDirectory: directory)
        let blocked = try SQLiteTaskStore(stateDirectory: directory)
        // The blocked store gives up at once instead of after its 10 s busy timeout.
        try blocked.writeRelaxed("drop the busy timeout") { db in try db.execute(sql: "PRAGMA busy_timeout = 0") }
        var failure: StoreError?
        // An immediate transaction: the write lock is held while the body runs.
        try holder.writeRelaxed("hold the write lock") { _ in
            do throws(StoreError) {
                try blocked.setSetting(app: "com.example.tests", key: "k", value: .int(1))
            } catch {
                failure = error
            }
        }
        let error = try #require(failure, "a write while another connection holds the lock fails")
        #expect(error.code == .busy, "\(error)")
        #expect(error.resultCode == 5)
        #expect(error.underlying != nil, "the SQLite error is kept")
        // Once the lock is free, the same write goes through.
        try blocked.setSetting(app: "com.example.tests", key: "k", value: .int(1))
    }

    @Test func aConstraintViolationFailsWithConstraint() throws {
        let store = try TestSupport.store()
        let record = InstanceRecord(
            id: "same", app: "com.example.tests", task: "T", triggerKind: .application, triggerId: "t", attempt: 1,
            hostPid: getpid(), startedAt: Date())
        try store.insertInstance(record)
        do {
            try store.insertInstance(record)
            Issue.record("a second instance with the same id was accepted")
        } catch {
            #expect(error.code == .constraint, "\(error)")
            #expect(error.underlying != nil)
        }
    }

    @Test func spawnErrorsAreClassifiedByErrno() {
        for code in [EMFILE, ENFILE, ENOMEM, EAGAIN] {
            let error = WorkerSpawnError(message: "x", errno: code)
            #expect(error.code == .resourcesExhausted)
            #expect(error.errno == code)
        }
        for code in [ENOENT, EACCES, ENOEXEC] { #expect(WorkerSpawnError(message: "x", errno: code).code == .spawnFailed) }
        #expect(WorkerSpawnError(message: "x").code == .spawnFailed)
    }

    @Test func aMissingWorkerIsWorkerNotFound() {
        do {
            _ = try WorkerExecutable.locate(environment: ["TASKHOST_WORKER": "/nonexistent/worker"])
            Issue.record("a worker that does not exist was found")
        } catch {
            #expect(error.code == .workerNotFound)
        }
    }

    @Test func aRunThatCannotStartItsWorkerForLackOfDescriptorsSaysSoWithTheErrno() throws {
        let store = try TestSupport.store()
        let failures = FailingSpawns(count: 1, errno: EMFILE)
        let runner = TaskRunner(
            store: store, workerPath: TestSupport.workerPath, sandbox: SandboxOptions(), isolation: .spawn,
            cgroups: ProcessCgroups.detect(), spawnWorker: failures.spawn)
        let task = TestSupport.task("Echo", "FaultyTasks.AsyncEchoTask")
        do {
            _ = try runner.runBlocking(
                app: TestSupport.app([task]), task: task, libraryPath: task.library,
                trigger: TriggerEvent(kind: .application, triggerId: "t"))
            Issue.record("the run started although its worker could not")
        } catch {
            #expect(error.code == .resourcesExhausted)
            #expect(error.errno == EMFILE)
            #expect((error.underlying as? WorkerSpawnError)?.code == .resourcesExhausted)
        }
        #expect(try store.instances(task: "Echo", limit: 10).isEmpty, "nothing recorded")
    }
}
