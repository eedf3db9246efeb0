import Foundation
import Synchronization
import TaskHostConcurrency
import TaskHostCore
import TaskHostIPC
import TaskHostManifest
import _TaskHostCShims

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
        var zygotes: [Key: Zygote] = [:]
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
    /// Where spares are forked, one request at a time (off the supervisor's thread: it has an instance to watch).
    private let replenisher = BlockingExecutor(name: "taskhost-zygote-spares", maxThreads: 1)
    private let state = Mutex(State())
    /// How long a zygote may take to load its plugin and answer.
    static let startTimeout: Duration = .seconds(10)
    /// How long a fork request may take.
    static let forkTimeoutMilliseconds: Int32 = 2000

    /// Where spares get their cgroup (`nil`: the instance's runner attaches none, or its own).
    private let cgroups: ProcessCgroups?
    /// Where zygote starts and deaths are counted.
    private let metrics: HostMetrics

    init(workerPath: String, cgroups: ProcessCgroups? = nil, metrics: HostMetrics = .disabled) {
        self.metrics = metrics
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
                pool.replenisher.execute { [weak pool] in pool?.replenish(key, zygote, task: task, policy: policy) }
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
    private func replenish(_ key: Key, _ zygote: Zygote, task: TaskDeclaration, policy: SandboxPolicy) {
        guard state.withLock({ !$0.closed && $0.zygotes[key] === zygote }) else { return }
        guard case .failure(let reason) = zygote.replenish(cgroups: cgroups) else { return }
        retire(key, zygote, unusable: reason.permanent ? reason.message : nil)
        if !reason.permanent, let successor = self.zygote(for: key, task: task, policy: policy) {
            _ = successor.replenish(cgroups: cgroups)
        }
    }

    /// Stops the zygotes of libraries not in `libraryPaths` (replaced or removed plugins).
    func retire(keeping libraryPaths: Set<String>) {
        let stale = state.withLock { state -> [Zygote] in
            let keys = state.zygotes.keys.filter { !libraryPaths.contains($0.libraryPath) }
            return keys.compactMap { state.zygotes.removeValue(forKey: $0) }
        }
        for zygote in stale { zygote.stop() }
    }

    /// Stops every zygote; later requests get `nil`.
    func shutdown() {
        let all = state.withLock { state -> [Zygote] in
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

    /// Stops a zygote that died or cannot fork (counted as a death).
    private func retire(_ key: Key, _ zygote: Zygote, unusable reason: String?) {
        metrics.zygoteDied()
        state.withLock { state in
            if state.zygotes[key] === zygote { state.zygotes.removeValue(forKey: key) }
            if let reason { state.unusable[key] = reason }
        }
        zygote.stop()
    }

    private func zygote(for key: Key, task: TaskDeclaration, policy: SandboxPolicy) -> Zygote? {
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
        switch Zygote.start(
            workerPath: workerPath, libraryPath: key.libraryPath, entryPoint: task.entryPoint, isCTask: task.cSignature != nil,
            policy: phase)
        {
        case .failure(let unavailable):
            state.withLock { $0.unusable[key] = unavailable.reason }
            return nil
        case .success(let zygote):
            metrics.zygoteStarted()
            state.withLock { $0.zygotes[key] = zygote }
            return zygote
        }
    }
}

/// One zygote process and the host's end of its control socket.
final class Zygote: Sendable {
    /// Why a zygote could not start.
    struct Unavailable: Error {
        var reason: String
    }

    /// Why a zygote did not fork a worker.
    struct ForkFailure: Error {
        /// `notSingleThreaded`: it can never serve again; `forkFailed`: a call failed
        /// (``errno``), in the zygote or the host; `noAnswer`: none in time, or nonsense.
        enum Code { case notSingleThreaded, forkFailed, noAnswer }
        var message: String
        var code: Code
        /// The `errno` of the failed call, if one failed.
        var errno: Int32?
        /// The zygote can never serve (it is no longer single-threaded).
        var permanent: Bool { code == .notSingleThreaded }
    }

    private let process: WorkerProcess
    /// Serializes fork requests, checks and the end on the control socket.
    private let control = Mutex(())
    /// A worker forked ahead of need (in a pids cgroup of its own where the host
    /// makes them), and the state around it.
    private struct SpareState {
        var spare: Spare?
        var replenishing = false
        var stopped = false
    }
    private let spareState = Mutex(SpareState())

    private init(process: WorkerProcess) {
        self.process = process
    }

    /// Spawns a zygote (from the launcher thread, so that its parent-death
    /// signal is tied to a thread that lives as long as the host) and waits
    /// until it has loaded the plugin.
    static func start(
        workerPath: String, libraryPath: String, entryPoint: String, isCTask: Bool, policy: SandboxPolicy
    ) -> Result<Zygote, Unavailable> {
        let spawned = BlockingExecutor.zygoteLauncher.runAndWait {
            Result { () throws(WorkerSpawnError) -> WorkerProcess in
                try WorkerProcess.spawn(
                    executable: workerPath, arguments: [ZygoteProtocol.argument],
                    // Every symbol bound once, in the zygote, rather than lazily in each child.
                    environment: WorkerProcess.environment(instanceId: "zygote") + ["LD_BIND_NOW=1"],
                    discardOutput: true)
            }
        }
        let process: WorkerProcess
        switch spawned {
        case .success(let started): process = started
        case .failure(let error): return .failure(Unavailable(reason: error.description))
        }
        let zygote = Zygote(process: process)
        let request = HostMessage.check(
            libraryPath: libraryPath, entryPoints: isCTask ? [] : [entryPoint], sandbox: policy, symbols: isCTask ? [entryPoint] : [])
        guard FileDescriptorIO.writeAll(process.ipc, request.frame.encoded) else {
            zygote.stop()
            return .failure(Unavailable(reason: "the zygote exited before it got its library"))
        }
        var decoder = FrameDecoder()
        let deadline = ContinuousClock.now + ZygotePool.startTimeout
        while true {
            let remaining = deadline - ContinuousClock.now
            let milliseconds = Int32(max(0, remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000))
            var poller = pollfd(fd: process.ipc, events: Int16(POLLIN), revents: 0)
            guard milliseconds > 0, poll(&poller, 1, milliseconds) > 0 else {
                zygote.stop()
                return .failure(Unavailable(reason: "the zygote did not load \(libraryPath) within \(ZygotePool.startTimeout)"))
            }
            guard let bytes = FileDescriptorIO.read(process.ipc), !bytes.isEmpty else {
                zygote.stop()
                return .failure(Unavailable(reason: "the zygote exited while loading \(libraryPath)"))
            }
            decoder.append(bytes)
            do {
                while let frame = try decoder.next() {
                    switch try WorkerMessage(frame: frame) {
                    case .checkResult: return .success(zygote)
                    case .result(_, let message):
                        zygote.stop()
                        return .failure(Unavailable(reason: message))
                    default: continue
                    }
                }
            } catch {
                zygote.stop()
                return .failure(Unavailable(reason: "the zygote sent a malformed message: \(error)"))
            }
        }
    }

    /// The zygote's process id.
    var pid: pid_t { process.pid }

    /// Whether the zygote process still runs.
    var isAlive: Bool {
        control.withLock { _ in process.reapIfExited() == nil }
    }

    struct Spare: Sendable {
        var process: WorkerProcess
        var cgroup: InstanceCgroup?

        func dispose() {
            process.dispose()
            cgroup?.remove()
        }
    }

    /// The spare worker, if one is ready and alive.
    func takeSpare() -> Spare? {
        let taken = spareState.withLock { state -> Spare? in
            defer { state.spare = nil }
            return state.spare
        }
        guard let taken else { return nil }
        if taken.process.reapIfExited() == nil { return taken }
        taken.dispose()
        return nil
    }

    /// Forks a spare worker unless one is ready or being forked, and moves it
    /// into a pids cgroup of its own (its limit is set when it is used).
    func replenish(cgroups: ProcessCgroups?) -> Result<Void, ForkFailure> {
        let go = spareState.withLock { state -> Bool in
            guard !state.stopped, !state.replenishing, state.spare == nil else { return false }
            state.replenishing = true
            return true
        }
        guard go else { return .success(()) }
        let forked = fork().map { process in
            Spare(
                process: process,
                cgroup: cgroups?.cgroup(
                    for: process.pid, name: "spare-\(process.pid)-" + RandomToken.hex(bytes: 4), maxProcesses: ResourceLimits().processes))
        }
        let unused = spareState.withLock { state -> Spare? in
            state.replenishing = false
            guard case .success(let fresh) = forked else { return nil }
            guard !state.stopped else { return fresh }
            state.spare = fresh
            return nil
        }
        unused?.dispose()
        return forked.map { _ in () }
    }

    /// Asks the zygote to fork a worker. The worker becomes one instance's
    /// once it is handed its working directory and start message.
    func fork() -> Result<WorkerProcess, ForkFailure> {
        let pairs: WorkerProcess.DescriptorPairs
        do {
            pairs = try WorkerProcess.DescriptorPairs.make()
        } catch {
            return .failure(ForkFailure(message: error.description, code: .forkFailed, errno: error.errno))
        }
        defer { pairs.closeChildEnds() }
        let descriptors = pairs.childEnds
        // The child is the host's as soon as the zygote forks it: registered with
        // the orphan reaper before any sweep may take it for an orphan. The
        // creation begins once this request has the control socket, not while it waits
        // for another fork.
        let wireValue: Int32? = control.withLock { _ in
            OrphanReaper.shared.creatingChild { () -> pid_t? in
                guard th_send_fds(process.ipc, ZygoteProtocol.forkRequest, descriptors, Int32(descriptors.count)) == 0 else { return nil }
                var bytes: [UInt8] = []
                while bytes.count < ZygoteProtocol.ForkReply.size {
                    var poller = pollfd(fd: process.ipc, events: Int16(POLLIN), revents: 0)
                    guard poll(&poller, 1, ZygotePool.forkTimeoutMilliseconds) > 0,
                        let chunk = FileDescriptorIO.read(process.ipc, capacity: ZygoteProtocol.ForkReply.size - bytes.count),
                        !chunk.isEmpty
                    else { return nil }
                    bytes += chunk
                }
                return ZygoteProtocol.ForkReply(bytes: bytes)?.wireValue
            }
        }
        let answer = wireValue.flatMap(ZygoteProtocol.ForkReply.init(wireValue:))
        if case .forked(let pid) = answer { return .success(WorkerProcess.adopt(pid: pid, pairs: pairs)) }
        for end in [pairs.ipc[0], pairs.out[0], pairs.err[0]] { close(end) }
        let failure: ForkFailure =
            switch answer {
            case .notSingleThreaded:
                ForkFailure(message: "the plugin started a thread while loading; a zygote cannot fork safely", code: .notSingleThreaded)
            case .failed(let error):
                ForkFailure(message: "the zygote could not fork: \(String(cString: strerror(error)))", code: .forkFailed, errno: error)
            case .forked, nil: ForkFailure(message: "the zygote did not answer", code: .noAnswer)
            }
        return .failure(failure)
    }

    /// Ends the zygote and its spare (the workers it forked for instances are
    /// not its children: they go on).
    func stop() {
        let unused = spareState.withLock { state -> Spare? in
            state.stopped = true
            defer { state.spare = nil }
            return state.spare
        }
        unused?.dispose()
        control.withLock { _ in process.dispose() }
    }
}
