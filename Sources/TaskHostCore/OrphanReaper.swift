import Foundation
import Synchronization

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
/// for it, and a sweep reaps only children that are not registered. A sweep
/// does not run while a child is being created (between `posix_spawn` or a
/// zygote's fork and the registration of its pid), so a fresh worker is never
/// mistaken for an orphan.
///
/// Sweeps run only once ``start(interval:)`` is called: by a process whose
/// every child is started through ``WorkerProcess`` (`taskhost serve`). A
/// process that also starts children another way (Foundation's `Process`,
/// as the tests do) must not start it.
public final class OrphanReaper: Sendable {
    /// The process's reaper.
    public static let shared = OrphanReaper()

    private struct State {
        /// Children whose owner waits for them.
        var registered: Set<pid_t> = []
        /// Children being created whose pid is not registered yet.
        var creating = 0
        var started = false
    }

    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)

    private init() {}

    /// Runs `create`, which starts a child and returns its pid (or `nil` when
    /// it started none), and registers that pid before any sweep can see the
    /// child unregistered.
    func creatingChild<Failure: Error>(_ create: () throws(Failure) -> pid_t?) throws(Failure) -> pid_t? {
        state.withLock { $0.creating += 1 }
        let pid: pid_t?
        do {
            pid = try create()
        } catch {
            state.withLock { $0.creating -= 1 }
            throw error
        }
        state.withLock { state in
            if let pid, pid > 0 { state.registered.insert(pid) }
            state.creating -= 1
        }
        return pid
    }

    /// Forgets a registered child once its owner has reaped it, and asks for
    /// a sweep (an instance that ended may have left orphans).
    func reaped(_ pid: pid_t) {
        let started = state.withLock { state in
            state.registered.remove(pid)
            return state.started
        }
        if started { wake.signal() }
    }

    /// Starts sweeping every `interval`, and soon after each registered
    /// child is reaped. Idempotent.
    public func start(interval: Duration = .seconds(1)) {
        let first = state.withLock { state in
            defer { state.started = true }
            return !state.started
        }
        guard first else { return }
        let seconds = Double(interval.components.seconds) + Double(interval.components.attoseconds) / 1e18
        let thread = Thread { [self] in
            while true {
                _ = wake.wait(timeout: .now() + seconds)
                while sweep() == nil { usleep(20_000) }  // a child is being created: in a moment
            }
        }
        thread.name = "taskhost-orphan-reaper"
        thread.start()
    }

    /// Reaps every exited child that nobody registered; returns how many, or
    /// `nil` when a child was being created (try again shortly).
    @discardableResult
    func sweep() -> Int? {
        state.withLock { state -> Int? in
            // Under the lock: no child can be created (and registered) meanwhile.
            guard state.creating == 0 else { return nil }
            var reaped = 0
            for pid in Self.children() where !state.registered.contains(pid) {
                var status: Int32 = 0
                if waitpid(pid, &status, WNOHANG) == pid { reaped += 1 }
            }
            return reaped
        }
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
            guard let pid = pid_t(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return nil }
            // After "pid (comm)": state, then the parent's pid.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && pid_t(fields[1]) == me ? pid : nil
        }
    }
}
