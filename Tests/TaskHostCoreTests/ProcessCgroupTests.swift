import Foundation
import TaskHostShared
import TaskHostTestSupport
import Testing

@testable import TaskHostCore
@testable import TaskHostIsolation
@testable import TaskHostStore

/// Each instance's own `pids` cgroup (root hosts with a cgroup v1 `pids` hierarchy).
@Suite(.enabled(if: ProcessCgroups.detect() != nil, "needs a writable cgroup v1 pids hierarchy (root)"))
struct ProcessCgroupTests {
    @Test func whatAnInstanceLeavesBehindIsKilledEvenOutsideItsProcessGroup() async throws {
        let runner = try Fixtures.runner()
        let record = try await runner.run(Fixtures.task("Escaping", "FaultyTasks.EscapingTask"))
        #expect(record.outcome == .completed)
        #expect(record.sandbox.contains("process-limit"), "\(record.sandbox)")
        let escaped = try #require(try runner.store.setting(app: "com.example.tests", key: "escaped")?.value)
        guard case .int(let pid) = escaped, pid > 0 else {
            Issue.record("escaped is \(escaped)")
            return
        }
        // It left the process group (setsid), so only the cgroup finds it.
        #expect(kill(pid_t(pid), 0) == -1 && errno == ESRCH, "process \(pid) outlived its instance")
    }

    @Test func theCgroupsOfAHostThatIsGoneAreSwept() throws {
        let cgroups = try #require(ProcessCgroups.detect())
        let root = (cgroups.base as NSString).deletingLastPathComponent
        // A pid that no longer runs: a process that has exited and been reaped.
        let exited = try ChildProcess.start("/bin/true")
        exited.waitUntilExit()
        // This host's directory is named host-PIDNS-PID; a gone host's differs only in its pid.
        let name = (cgroups.base as NSString).lastPathComponent
        let stale = root + "/" + name.dropLast(String(getpid()).count) + "\(exited.pid)"
        // Another PID namespace's host is left alone, whatever its pid.
        let foreign = root + "/host-1-\(exited.pid)"
        try FileManager.default.createDirectory(atPath: foreign, withIntermediateDirectories: true)
        defer { rmdir(foreign) }
        try FileManager.default.createDirectory(atPath: stale + "/an-instance", withIntermediateDirectories: true)
        #expect(ProcessCgroups.detect() != nil)
        #expect(!FileManager.default.fileExists(atPath: stale), "the dead host's cgroups were removed")
        #expect(FileManager.default.fileExists(atPath: cgroups.base), "this host's stay")
        #expect(FileManager.default.fileExists(atPath: foreign), "another PID namespace's stay")
    }
}
