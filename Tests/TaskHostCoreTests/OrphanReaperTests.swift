import Foundation
import Testing

@testable import TaskHostCore
@testable import TaskHostIsolation
@testable import TaskHostStore

/// The orphan reaper's decisions, on children this test starts itself (the
/// test process also runs `ChildProcess` children in parallel tests:
/// every sweep here is limited to this test's own pids, on a reaper of its own).
@Suite struct OrphanReaperTests {
    /// Starts `/bin/true` with `posix_spawn` (registered nowhere) and waits,
    /// without reaping it, until it is a zombie.
    static func exitedChild() throws -> pid_t {
        let pid = try spawn(["/bin/true"])
        var info = siginfo_t()
        while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) != 0 && errno == EINTR {}
        return pid
    }

    static func spawn(_ arguments: [String]) throws -> pid_t {
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let status = posix_spawn(&pid, arguments[0], nil, nil, argv, environ)
        try #require(status == 0, "posix_spawn: \(String(cString: strerror(status)))")
        return pid
    }

    /// Whether `pid` is still this process's child (unreaped).
    static func isChild(_ pid: pid_t) -> Bool {
        var info = siginfo_t()
        return waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0
    }

    /// A sweep while a child is being created (here: a zygote's fork or a
    /// spawn that has not registered its pid yet) no longer gives up: it
    /// reaps the orphan that started before the creation began, and leaves
    /// the one that started since, which may be the child being created.
    @Test func aSweepDuringACreationReapsTheOrphansThatStartedBeforeIt() throws {
        let reaper = OrphanReaper()
        let older = try Self.exitedChild()
        let olderStart = try #require(OrphanReaper.startTime(of: older))
        while OrphanReaper.ticksSinceBoot() <= olderStart { usleep(2000) }  // the next clock tick

        var during = OrphanReaper.Sweep()
        var younger: pid_t = 0
        let created = try reaper.creatingChild { () throws -> pid_t? in
            younger = try Self.exitedChild()
            during = reaper.sweep(among: [older, younger])
            return younger
        }
        #expect(created == younger)
        #expect(during == OrphanReaper.Sweep(reaped: 1, deferred: 1))
        #expect(!Self.isChild(older), "the older orphan is reaped")
        #expect(Self.isChild(younger), "the child being created is not")

        // Registered: sweeps leave it to its owner, who gets its real status.
        #expect(reaper.sweep(among: [younger]) == OrphanReaper.Sweep())
        #expect(reaper.reapIfExited(younger) == .status(0))
        #expect(!Self.isChild(younger))
    }

    /// An owner's wait reaps its child and unregisters it in one step, so no
    /// sweep takes the status meanwhile and no new child with the same pid can
    /// be registered before it is forgotten.
    @Test func anOwnerReapsAndForgetsItsChildInOneStep() throws {
        let reaper = OrphanReaper()
        let pid = try #require(try reaper.creatingChild { () throws -> pid_t? in try Self.spawn(["/bin/sleep", "30"]) })
        #expect(reaper.reapIfExited(pid) == nil, "still running")
        kill(pid, SIGKILL)
        var info = siginfo_t()
        while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) != 0 && errno == EINTR {}
        #expect(reaper.sweep(among: [pid]) == OrphanReaper.Sweep(), "a registered child is its owner's")
        guard case .status(let status) = reaper.waitAndReap(pid) else {
            Issue.record("the owner did not get its child's status")
            return
        }
        #expect(status & 0x7f == SIGKILL, "killed, not \"exited 0\": \(status)")
        #expect(!Self.isChild(pid))
        #expect(reaper.reapIfExited(pid) == .notAChild)
    }
}
