import _TaskHostCShims
import Foundation
import Synchronization
import TaskHostCore
import TaskHostIPC
import TaskHostManifest

/// One zygote process and the host's end of its control channel. (The worker's
/// side of the same process is the worker's `Zygote`.)
final class ZygoteProcess: @unchecked Sendable {
    /// Why a zygote could not start.
    struct Unavailable: Error {
        var reason: String
    }

    struct ForkFailure: Error {
        var message: String
        /// The zygote can never serve (it is no longer single-threaded).
        var permanent: Bool
    }

    private let process: WorkerProcess
    /// Serializes fork requests on the control channel; guards `process`.
    private let lock = NSLock()
    /// A worker forked ahead of need (in a pids cgroup of its own where the host
    /// makes them), and the state around it (under `spareLock`).
    private var spare: Spare?
    private var replenishing = false
    private var stopped = false
    private let spareLock = NSLock()

    private init(process: WorkerProcess) {
        self.process = process
    }

    /// Spawns a zygote (from the launcher thread, so that its parent-death
    /// signal is tied to a thread that lives as long as the host) and waits
    /// until it has loaded the plugin.
    static func start(
        workerPath: String, libraryPath: String, entryPoint: String, isCTask: Bool, policy: SandboxPolicy, launcher: LauncherThread
    ) -> Result<ZygoteProcess, Unavailable> {
        let spawned = launcher.run {
            Result { () throws(WorkerSpawnError) -> WorkerProcess in
                try WorkerProcess.spawn(
                    executable: workerPath, arguments: ["--zygote"],
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
        let zygote = ZygoteProcess(process: process)
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
        lock.withLock { process.reapIfExited() == nil }
    }

    struct Spare {
        var process: WorkerProcess
        var cgroup: InstanceCgroup?

        func dispose() {
            process.dispose()
            cgroup?.remove()
        }
    }

    /// The spare worker, if one is ready and alive.
    func takeSpare() -> Spare? {
        let taken = spareLock.withLock { () -> Spare? in
            defer { spare = nil }
            return spare
        }
        guard let taken else { return nil }
        if taken.process.reapIfExited() == nil { return taken }
        taken.dispose()
        return nil
    }

    /// Forks a spare worker unless one is ready or being forked, and moves it
    /// into a pids cgroup of its own (its limit is set when it is used).
    func replenish(cgroups: ProcessCgroups?) -> Result<Void, ForkFailure> {
        let go = spareLock.withLock { () -> Bool in
            guard !stopped, !replenishing, spare == nil else { return false }
            replenishing = true
            return true
        }
        guard go else { return .success(()) }
        let forked = fork().map { process in
            Spare(process: process, cgroup: cgroups?.cgroup(
                for: process.pid, name: "spare-\(process.pid)-" + RandomToken.hex(bytes: 4), maxProcesses: ResourceLimits().processes))
        }
        let unused = spareLock.withLock { () -> Spare? in
            replenishing = false
            guard case .success(let fresh) = forked else { return nil }
            guard !stopped else { return fresh }
            spare = fresh
            return nil
        }
        unused?.dispose()
        return forked.map { _ in () }
    }

    /// Asks the zygote to fork a worker. The worker becomes one instance's
    /// once it is handed its working directory and start message.
    func fork() -> Result<WorkerProcess, ForkFailure> {
        let channels: WorkerProcess.Channels
        do {
            channels = try WorkerProcess.Channels.make()
        } catch {
            return .failure(ForkFailure(message: error.description, permanent: false))
        }
        defer { channels.closeChildEnds() }
        let descriptors = channels.childEnds
        // The child is the host's as soon as the zygote forks it: registered with
        // the orphan reaper before any sweep may take it for an orphan. The
        // creation begins once this request has the channel, not while it waits
        // for another fork.
        let answer: Int32? = lock.withLock { OrphanReaper.shared.creatingChild { () -> pid_t? in
            guard th_send_fds(process.ipc, 1, descriptors, Int32(descriptors.count)) == 0 else { return nil }
            var bytes: [UInt8] = []
            while bytes.count < 4 {
                var poller = pollfd(fd: process.ipc, events: Int16(POLLIN), revents: 0)
                guard poll(&poller, 1, ZygotePool.forkTimeoutMilliseconds) > 0,
                    let chunk = FileDescriptorIO.read(process.ipc, capacity: 4 - bytes.count), !chunk.isEmpty
                else { return nil }
                bytes += chunk
            }
            return Int32(littleEndian: bytes.withUnsafeBytes { $0.loadUnaligned(as: Int32.self) })
        } }
        guard let answer, answer > 0 else {
            close(channels.ipc[0])
            close(channels.out[0])
            close(channels.err[0])
            if answer == -100_000 {
                return .failure(ForkFailure(message: "the plugin started a thread while loading; a zygote cannot fork safely", permanent: true))
            }
            let reason = answer.map { "the zygote could not fork: \(String(cString: strerror(-$0)))" } ?? "the zygote did not answer"
            return .failure(ForkFailure(message: reason, permanent: false))
        }
        return .success(WorkerProcess.adopt(pid: answer, channels: channels))
    }

    /// Ends the zygote and its spare (the workers it forked for instances are
    /// not its children: they go on).
    func stop() {
        let unused = spareLock.withLock { () -> Spare? in
            stopped = true
            defer { spare = nil }
            return spare
        }
        unused?.dispose()
        lock.withLock { process.dispose() }
    }
}
