import Foundation
import Synchronization
import TaskHostConcurrency
import _TaskHostCShims

/// Reaps the children this process inherits as a child subreaper.
///
/// A plugin process that leaves its instance's process group (`setsid`) and
/// then exits, or whose parent exits first, is reparented to the host (see
/// ``WorkerProcess``). Nobody waits for such a process: without this, it
/// stays a zombie until the host exits, and a few hundred instances of such a
/// plugin exhaust the machine's process ids.
///
/// The reaper never takes the exit status of a child that other code waits
/// for: every child the host starts on purpose (workers, zygotes, scanner
/// processes, see ``WorkerProcess``) is registered before anything can wait
/// for it, and a sweep reaps only children that are not registered. Owners
/// reap their children through ``reapIfExited(_:)`` or ``waitAndReap(_:)``,
/// which reap and unregister in one step under the reaper's lock: a pid is
/// never free for reuse while it is still registered, so a new child that
/// gets the same pid is registered afresh, never unregistered by a late owner.
///
/// While a child is being created (between `posix_spawn` or a zygote's fork
/// and the registration of its pid), a sweep still reaps the orphans that
/// started before the oldest creation in flight began (their start time,
/// field 22 of `/proc/PID/stat`, tells), and leaves younger ones to a later
/// sweep: a fresh worker is never mistaken for an orphan, and bursts of
/// creations do not put sweeps off.
///
/// Sweeps run only once ``start(interval:)`` is called: by a process whose
/// every child is started through ``WorkerProcess`` (`taskhost serve`). A
/// process that also starts children another way (as the tests do, with
/// their `ChildProcess`) must not start it.
package final class OrphanReaper: Sendable {
    /// The process's reaper.
    package static let shared = OrphanReaper()

    private struct State {
        /// Children whose owner waits for them.
        var registered: Set<pid_t> = []
        /// Creations in flight: when each began, in clock ticks since boot.
        var creations: [Int: UInt64] = [:]
        var nextCreation = 0
        var started = false

        /// Whether a sweep may reap `pid`, an exited child: nobody waits for
        /// it, and it cannot be a child being created.
        func mayReap(_ pid: pid_t) -> Bool {
            guard !registered.contains(pid) else { return false }
            guard let oldest = creations.values.min() else { return true }
            guard let started = OrphanReaper.startTime(of: pid) else { return false }
            return OrphanReaper.predates(started, creationBegun: oldest)
        }
    }

    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)

    /// A reaper of its own (tests); the host uses ``shared``.
    init() {}

    /// Runs `create`, which starts a child and returns its pid (or `nil` when
    /// it started none), and registers that pid before any sweep can take it
    /// for an orphan. Call it around the fork or spawn and the reading of the
    /// pid only: meanwhile, sweeps leave the children younger than it alone.
    func creatingChild<Failure: Error>(_ create: () throws(Failure) -> pid_t?) throws(Failure) -> pid_t? {
        let creation = state.withLock { state in
            defer { state.nextCreation += 1 }
            // Taken under the lock, before the child exists: its start time is not earlier.
            state.creations[state.nextCreation] = Self.ticksSinceBoot()
            return state.nextCreation
        }
        let pid: pid_t?
        do {
            pid = try create()
        } catch {
            state.withLock { _ = $0.creations.removeValue(forKey: creation) }
            throw error
        }
        state.withLock { state in
            if let pid, pid > 0 { state.registered.insert(pid) }
            state.creations.removeValue(forKey: creation)
        }
        return pid
    }

    /// How a registered child ended, as its owner learns it.
    enum ChildExit: Equatable {
        /// Reaped: its wait status.
        case status(Int32)
        /// It is not (or no longer) this process's child: someone else reaped it.
        case notAChild
    }

    /// Reaps registered child `pid` if it has exited, and forgets it in the
    /// same step (no new child can get its pid in between); `nil` while it runs.
    /// Never blocks. Asks for a sweep: an instance that ended may have left orphans.
    func reapIfExited(_ pid: pid_t) -> ChildExit? {
        let (exit, started) = state.withLock { state -> (ChildExit?, Bool) in
            var status: Int32 = 0
            let result = waitpid(pid, &status, WNOHANG)
            let exit: ChildExit? = result == pid ? .status(status) : result < 0 && errno == ECHILD ? .notAChild : nil
            if exit != nil { state.registered.remove(pid) }
            return (exit, state.started)
        }
        if exit != nil, started { wake.signal() }
        return exit
    }

    /// Waits until registered child `pid` exits, then reaps and forgets it as
    /// ``reapIfExited(_:)`` does. The wait leaves the child a zombie
    /// (`WNOWAIT`) and holds no lock: registrations and sweeps go on meanwhile.
    func waitAndReap(_ pid: pid_t) -> ChildExit {
        while true {
            var info = siginfo_t()
            let waited = waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT)
            let failure = waited == 0 ? 0 : errno
            if let exit = reapIfExited(pid) { return exit }
            if failure != 0 && failure != EINTR { usleep(1000) }  // not expected: do not spin
        }
    }

    /// Reaps one exited member of process group `group` (a reaped worker's,
    /// which led it) unless `group` now names a registered child's group.
    /// Returns `true` when it reaped one, `false` while members still run,
    /// `nil` when none is left to reap.
    func reapGroupMember(_ group: pid_t) -> Bool? {
        state.withLock { state -> Bool? in
            // A registered worker leads the group of its own pid: that group is not the old one.
            guard !state.registered.contains(group) else { return nil }
            var status: Int32 = 0
            let result = waitpid(-group, &status, WNOHANG)
            return result > 0 ? true : result == 0 ? false : nil
        }
    }

    /// Reaps `pid`, a process that is nobody's to wait for (one killed with
    /// an instance's cgroup), once it has exited. Returns `false` while it may
    /// still need reaping, `true` once it is reaped or not this reaper's
    /// (not a child, or a registered child that reused its pid).
    func reapUnregistered(_ pid: pid_t) -> Bool {
        state.withLock { state -> Bool in
            if state.registered.contains(pid) { return true }
            let exited = th_child_has_exited(pid)
            if exited < 0 { return true }  // not a child
            guard exited == 1, state.mayReap(pid) else { return false }
            var status: Int32 = 0
            return waitpid(pid, &status, WNOHANG) != 0
        }
    }

    /// Starts sweeping every `interval`, and soon after each registered
    /// child is reaped. Idempotent.
    package func start(interval: Duration = .seconds(1)) {
        let first = state.withLock { state in
            defer { state.started = true }
            return !state.started
        }
        guard first else { return }
        let seconds = Double(interval.components.seconds) + Double(interval.components.attoseconds) / 1e18
        // A thread for the life of the process: it sleeps between sweeps.
        BlockingExecutor(name: "taskhost-orphan-reaper", maxThreads: 1, idleTimeout: nil).execute { [self] in
            while true {
                _ = wake.wait(timeout: .now() + seconds)
                // Orphans younger than a creation in flight: once it is done.
                while sweep().deferred > 0 { usleep(50_000) }
            }
        }
    }

    /// What a sweep did.
    struct Sweep: Equatable {
        /// Orphans reaped.
        var reaped = 0
        /// Exited orphans left for later: they started after a creation in
        /// flight began, so one of them may be the child being created.
        var deferred = 0
    }

    /// Reaps every exited child that nobody registered and that cannot be a
    /// child being created; considers only `candidates` when given (tests),
    /// else every child of this process.
    @discardableResult
    func sweep(among candidates: [pid_t]? = nil) -> Sweep {
        state.withLock { state -> Sweep in
            // Under the lock: no child is registered or reaped by its owner meanwhile.
            var sweep = Sweep()
            for pid in candidates ?? Self.children() where !state.registered.contains(pid) && th_child_has_exited(pid) == 1 {
                guard state.mayReap(pid) else {
                    sweep.deferred += 1
                    continue
                }
                var status: Int32 = 0
                if waitpid(pid, &status, WNOHANG) == pid { sweep.reaped += 1 }
            }
            return sweep
        }
    }

    /// Whether a process that started at `startTime` (clock ticks since boot,
    /// as `/proc/PID/stat` says) started before a creation that began at
    /// `creationBegun`, taken with ``ticksSinceBoot()`` before its fork, so it
    /// cannot be that creation's child. Same tick: it may be.
    static func predates(_ startTime: UInt64, creationBegun: UInt64) -> Bool {
        startTime < creationBegun
    }

    /// Now, in the units and on the clock of a process's start time in
    /// `/proc/PID/stat` (clock ticks since boot, rounded down as the kernel does).
    static func ticksSinceBoot() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_BOOTTIME, &now)
        let nanosecondsPerTick = UInt64(1_000_000_000) / UInt64(max(1, sysconf(Int32(_SC_CLK_TCK))))
        return (UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)) / nanosecondsPerTick
    }

    /// When process `pid` started (field 22 of `/proc/PID/stat`), or `nil`
    /// when it cannot be read.
    static func startTime(of pid: pid_t) -> UInt64? {
        statFields(of: pid).flatMap { $0.count > 19 ? UInt64($0[19]) : nil }
    }

    /// The fields of `/proc/PID/stat` after "pid (comm)" (so from field 3,
    /// the state, on: field N is at index N - 3), or `nil` when it cannot be read.
    private static func statFields(of pid: pid_t) -> [Substring]? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else {
            return nil
        }
        return stat[stat.index(after: close)...].split(separator: " ")
    }

    /// This process's children: `/proc/self/task/*/children` (a reparented
    /// orphan may be any thread's), or a scan of `/proc` where that file is missing.
    static func children() -> [pid_t] {
        let manager = FileManager.default
        let tasks = (try? manager.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        var pids: [pid_t] = []
        var found = false
        for task in tasks {
            guard let text = try? String(contentsOfFile: "/proc/self/task/\(task)/children", encoding: .utf8) else { continue }
            found = true
            pids += text.split(separator: " ").compactMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        if found { return pids }
        let me = getpid()
        return ((try? manager.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry -> pid_t? in
            // Field 4: the parent's pid.
            guard let pid = pid_t(entry), let fields = statFields(of: pid), fields.count > 1 else { return nil }
            return pid_t(fields[1]) == me ? pid : nil
        }
    }
}
