import _TaskHostCShims
import Foundation
import Synchronization
import TaskHostCore
import TaskHostIPC
import TaskHostManifest

/// Pre-forked workers ("zygotes"), one per plugin library and network policy,
/// started on first use. Each has applied the sandbox layers its instances
/// share and loaded the plugin; an instance is a child it forks (see the
/// worker's `Zygote`). When no zygote can serve (it cannot start, refuses the
/// plugin, died too often, stopped being single-threaded, or does not
/// answer), ``process(for:libraryPath:workingDirectory:policy:)`` returns
/// `nil` and the runner spawns a worker as in `spawn` mode.
final class ZygotePool: Sendable {
    struct Key: Hashable, Sendable {
        var libraryPath: String
        var allowNetwork: Bool
    }

    private struct State {
        var zygotes: [Key: ZygoteProcess] = [:]
        /// Keys no zygote serves, with the reason.
        var unusable: [Key: String] = [:]
        /// Recent starts per key, to give up on a zygote that keeps dying.
        var starts: [Key: [ContinuousClock.Instant]] = [:]
        /// Keys whose zygote is starting: other instances spawn meanwhile
        /// rather than start a second one (or count as deaths).
        var starting: Set<Key> = []
        var closed = false
    }

    private let workerPath: String
    private let launcher = LauncherThread.shared
    /// Where spares are forked, one request at a time.
    private let replenisher = DispatchQueue(label: "taskhost.zygote-spares")
    private let state = Mutex(State())
    /// How long a zygote may take to load its plugin and answer.
    static let startTimeout: Duration = .seconds(10)
    /// How long a fork request may take.
    static let forkTimeoutMilliseconds: Int32 = 2000

    /// Where spares get their cgroup (`nil`: the instance's runner attaches none, or its own).
    private let cgroups: ProcessCgroups?

    init(workerPath: String, cgroups: ProcessCgroups? = nil) {
        self.workerPath = workerPath
        self.cgroups = cgroups
    }

    /// A worker for one instance, and the pids cgroup it is already in (a spare's).
    struct Forked {
        var process: WorkerProcess
        var cgroup: InstanceCgroup?
        /// Forks the next spare (call once the instance has its work).
        var replenish: @Sendable () -> Void
    }

    deinit { shutdown() }

    /// A worker forked for one instance of `task`, or `nil` when the caller
    /// must spawn one. The worker waits for ``WorkerProcess/handOver(workingDirectory:)``
    /// and its start message. It is the zygote's spare when one is ready;
    /// `replenish` (once the instance has its work) forks the next spare.
    func process(for task: TaskDeclaration, libraryPath: String, policy: SandboxPolicy) -> Forked? {
        guard WorkerProcess.isSubreaper else { return nil }
        let key = Key(libraryPath: libraryPath, allowNetwork: policy.allowNetwork)
        for _ in 0..<2 {
            guard let zygote = zygote(for: key, task: task, policy: policy) else { return nil }
            // Off the supervisor's thread: it has an instance to watch.
            let replenish: @Sendable () -> Void = { [weak self] in
                guard let pool = self else { return }
                pool.replenisher.async { [weak pool] in pool?.replenish(key, zygote, task: task, policy: policy) }
            }
            if let spare = zygote.takeSpare() { return Forked(process: spare.process, cgroup: spare.cgroup, replenish: replenish) }
            switch zygote.fork() {
            case .success(let process):
                return Forked(process: process, cgroup: nil, replenish: replenish)
            case .failure(let reason):
                retire(key, zygote, unusable: reason.permanent ? reason.message : nil)
            }
        }
        return nil
    }

    /// Forks a spare worker for `zygote` if it is still the one serving
    /// `key`. A zygote that cannot fork is retired, and its successor started
    /// and asked for a spare here, off the way of the next instance.
    private func replenish(_ key: Key, _ zygote: ZygoteProcess, task: TaskDeclaration, policy: SandboxPolicy) {
        guard state.withLock({ !$0.closed && $0.zygotes[key] === zygote }) else { return }
        guard case .failure(let reason) = zygote.replenish(cgroups: cgroups) else { return }
        retire(key, zygote, unusable: reason.permanent ? reason.message : nil)
        if !reason.permanent, let successor = self.zygote(for: key, task: task, policy: policy) {
            _ = successor.replenish(cgroups: cgroups)
        }
    }

    /// Stops the zygotes of libraries not in `libraryPaths` (replaced or removed plugins).
    func retire(keeping libraryPaths: Set<String>) {
        let stale = state.withLock { state -> [ZygoteProcess] in
            let keys = state.zygotes.keys.filter { !libraryPaths.contains($0.libraryPath) }
            return keys.compactMap { state.zygotes.removeValue(forKey: $0) }
        }
        for zygote in stale { zygote.stop() }
    }

    /// Stops every zygote; later requests get `nil`.
    func shutdown() {
        let all = state.withLock { state -> [ZygoteProcess] in
            state.closed = true
            defer { state.zygotes.removeAll() }
            return Array(state.zygotes.values)
        }
        for zygote in all { zygote.stop() }
    }

    /// How many zygotes run (tests, status).
    var count: Int { state.withLock { $0.zygotes.count } }

    /// The zygotes' process ids (tests).
    var pids: [pid_t] { state.withLock { $0.zygotes.values.map(\.pid) } }

    private func retire(_ key: Key, _ zygote: ZygoteProcess, unusable reason: String?) {
        state.withLock { state in
            if state.zygotes[key] === zygote { state.zygotes.removeValue(forKey: key) }
            if let reason { state.unusable[key] = reason }
        }
        zygote.stop()
    }

    private func zygote(for key: Key, task: TaskDeclaration, policy: SandboxPolicy) -> ZygoteProcess? {
        if let existing = state.withLock({ $0.zygotes[key] }) {
            if existing.isAlive { return existing }
            retire(key, existing, unusable: nil)
        }
        let allowed = state.withLock { state -> Bool in
            guard !state.closed, state.unusable[key] == nil, !state.starting.contains(key) else { return false }
            let now = ContinuousClock.now
            let recent = state.starts[key, default: []].filter { now - $0 < .seconds(60) }
            if recent.count >= 3 {
                state.unusable[key] = "its zygote died 3 times within a minute"
                return false
            }
            state.starts[key] = recent + [now]
            state.starting.insert(key)
            return true
        }
        guard allowed else { return nil }
        defer { state.withLock { _ = $0.starting.remove(key) } }
        var phase = policy
        phase.workingDirectory = ""
        switch ZygoteProcess.start(
            workerPath: workerPath, libraryPath: key.libraryPath, entryPoint: task.entryPoint, isCTask: task.cSignature != nil,
            policy: phase, launcher: launcher)
        {
        case .failure(let unavailable):
            state.withLock { $0.unusable[key] = unavailable.reason }
            return nil
        case .success(let zygote):
            state.withLock { $0.zygotes[key] = zygote }
            return zygote
        }
    }
}
