import Foundation
import TaskHostTestSupport
import Testing

@testable import TaskHostCore
@testable import TaskHostStore

/// The state directory's host lock, and the settling of instances whose
/// supervising process is gone.
@Suite struct HostLockTests {
    @Test func oneHostPerStateDirectoryAndTheCLICanAskWhichOne() throws {
        let state = StateDirectory(path: TestSupport.temporaryDirectory())
        #expect(HostLock.holder(of: state) == nil)
        var lock: HostLock? = try HostLock.acquire(state)
        let starting = try #require(HostLock.holder(of: state))
        #expect(starting.pid == getpid())
        #expect(starting.publicURL == nil && starting.summary.hasSuffix("still starting"))
        try lock?.recordListening(address: "127.0.0.1:18092", publicURL: "http://127.0.0.1:18092")
        #expect(HostLock.holder(of: state)?.publicURL == "http://127.0.0.1:18092")

        // A second host (another open of the file, even in this process) is refused by name.
        #expect {
            try HostLock.acquire(state)
        } throws: { error in
            let error = error as? HostLockError
            return error?.holder?.pid == getpid()
                && error?.description.contains(
                    "another taskhost serve (pid \(getpid()) on 127.0.0.1:18092) is running on the state directory \(state.path)") == true
        }
        // Asking does not take the lock away from the host.
        #expect(HostLock.holder(of: state) != nil)
        lock = nil
        #expect(HostLock.holder(of: state) == nil, "released with its holder")
        _ = try HostLock.acquire(state)
    }

    static func record(_ id: String) -> InstanceRecord {
        InstanceRecord(
            id: id, app: "com.example.tests", task: "Slow", triggerKind: .application, triggerId: "t-" + id, attempt: 1,
            hostPid: getpid(), startedAt: Date())
    }

    @Test func instancesOfAStoreThatIsGoneAreSettledAsAbandonedByTheNextOpen() throws {
        let state = StateDirectory(path: TestSupport.temporaryDirectory())
        var supervisor: SQLiteTaskStore? = try SQLiteTaskStore(stateDirectory: state)
        try supervisor?.insertInstance(Self.record("running"))
        try supervisor?.insertInstance(Self.record("done"))
        try supervisor?.finishInstance(id: "done", endedAt: Date(), outcome: .completed, progress: 0, sandbox: "")
        let token = try #require(supervisor?.currentSupervisorToken)
        #expect(FileManager.default.fileExists(atPath: state.path + "/hosts/\(token).lock"))

        // While its supervisor lives, another open leaves its instance alone.
        let reader = try SQLiteTaskStore(stateDirectory: state)
        #expect(try reader.instance(idPrefix: "running")?.outcome == nil)
        #expect(try reader.settleAbandonedInstances() == 0)

        supervisor = nil
        #expect(!FileManager.default.fileExists(atPath: state.path + "/hosts/\(token).lock"))
        let next = try SQLiteTaskStore(stateDirectory: state)
        let settled = try #require(try next.instance(idPrefix: "running"))
        #expect(settled.outcome == .abandoned("its host (pid \(getpid())) stopped before the instance ended; no outcome was recorded"))
        #expect(settled.endedAt != nil)
        #expect(try next.instance(idPrefix: "done")?.outcome == .completed)
        #expect(InstanceOutcome(code: "abandoned", detail: "x") == .abandoned("x"))
    }

    @Test func aLockFileLeftBehindByAProcessThatDiedIsTakenAndRemoved() throws {
        // A process killed with SIGKILL leaves its file, unlocked.
        let directory = TestSupport.temporaryDirectory()
        let token = "00112233445566778899aabb"
        let path = SupervisorLock.path(directory: directory, token: token)
        #expect(FileManager.default.createFile(atPath: path, contents: Data("1\n".utf8)))
        #expect(SupervisorLock.isGone(directory: directory, token: token))
        #expect(!FileManager.default.fileExists(atPath: path))
        let alive = try SupervisorLock(directory: directory)
        #expect(!SupervisorLock.isGone(directory: directory, token: alive.token))
        #expect(SupervisorLock.isGone(directory: directory, token: "../etc/passwd"), "not a token: never a path")
    }

    @Test func lockFilesLeftByProcessesThatEndedAreSweptOnceTheyAreOld() throws {
        let directory = TestSupport.temporaryDirectory()
        let old = SupervisorLock.path(directory: directory, token: "aaaaaaaaaaaaaaaaaaaaaaaa")
        let fresh = SupervisorLock.path(directory: directory, token: "bbbbbbbbbbbbbbbbbbbbbbbb")
        #expect(FileManager.default.createFile(atPath: old, contents: nil))
        #expect(FileManager.default.createFile(atPath: fresh, contents: nil))
        let alive = try SupervisorLock(directory: directory)
        let hourAgo = Date().addingTimeInterval(-3600)
        for path in [old, SupervisorLock.path(directory: directory, token: alive.token)] {
            try FileManager.default.setAttributes([.modificationDate: hourAgo], ofItemAtPath: path)
        }
        #expect(SupervisorLock.sweep(directory: directory) == 1)
        #expect(!FileManager.default.fileExists(atPath: old), "old and free: removed")
        #expect(FileManager.default.fileExists(atPath: fresh), "just created: its process may be about to lock it")
        #expect(FileManager.default.fileExists(atPath: SupervisorLock.path(directory: directory, token: alive.token)), "held: kept")
    }
}
