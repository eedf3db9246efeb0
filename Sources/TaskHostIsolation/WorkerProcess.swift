import Foundation
import Synchronization
import TaskHostIPC
import _TaskHostCShims

/// Why the host could not start or talk to a worker process: a ``code``
/// that code acts on, the `errno` underneath when a system call failed, and
/// a message a person reads.
package struct WorkerSpawnError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    package enum Code: String, Sendable, CaseIterable {
        /// The host ran out of descriptors, memory or processes (`EMFILE`,
        /// `ENFILE`, `ENOMEM`, `EAGAIN`): transient, not a fault of the task;
        /// the instance can be started again later.
        case resourcesExhausted
        /// The worker executable cannot be found (`TASKHOST_WORKER`, or next to `taskhost`).
        case workerNotFound
        /// Starting the worker failed for another reason (see ``WorkerSpawnError/errno``): it will not get better by waiting.
        case spawnFailed
        /// The sandbox is required but a layer of it cannot be enforced: the worker was refused before any plugin code ran.
        case sandboxNotEnforced
    }

    /// What failed and what to do.
    package var message: String
    /// What kind of failure this is.
    package var code: Code
    /// The `errno` of the system call that failed, if one did.
    package var errno: Int32?
    /// Whether the host ran out of descriptors, memory or processes (``Code/resourcesExhausted``).
    package var resourcesExhausted: Bool { code == .resourcesExhausted }
    package var description: String { message }

    /// Creates an error; without `code`, `errno` decides it: ``Code/resourcesExhausted``
    /// for an exhausted resource, else ``Code/spawnFailed``.
    package init(message: String, errno: Int32? = nil, code: Code? = nil) {
        self.message = message
        self.errno = errno
        self.code = code ?? (errno.map(Self.isResourceExhaustion) == true ? .resourcesExhausted : .spawnFailed)
    }

    /// Whether `code` says the system or this process is out of a resource
    /// that comes back by itself (descriptors, memory, processes).
    package static func isResourceExhaustion(_ code: Int32) -> Bool {
        [EMFILE, ENFILE, ENOMEM, EAGAIN].contains(code)
    }
}

/// Finds the `taskhost-worker` executable: `TASKHOST_WORKER`, else next to
/// the running `taskhost` executable.
package enum WorkerExecutable {
    /// The worker's name next to the host executable.
    package static let name = "taskhost-worker"

    /// The worker executable's path.
    package static func locate(
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(WorkerSpawnError) -> String {
        if let explicit = environment["TASKHOST_WORKER"], !explicit.isEmpty {
            guard FileManager.default.isExecutableFile(atPath: explicit) else {
                throw WorkerSpawnError(message: "TASKHOST_WORKER=\(explicit) is not an executable file", code: .workerNotFound)
            }
            return explicit
        }
        let executable =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
        let candidate = (executable as NSString).deletingLastPathComponent + "/" + name
        guard FileManager.default.isExecutableFile(atPath: candidate) else {
            throw WorkerSpawnError(
                message: "cannot find \(name) next to \(executable) (build it with `swift build`, or set TASKHOST_WORKER)",
                code: .workerNotFound)
        }
        return candidate
    }
}

/// A running worker process and the host's ends of its descriptors.
///
/// Started with `posix_spawn` (never a bare `fork` from the multi-threaded
/// host): descriptor 3 is the IPC socket, 1 and 2 are pipes the host reads,
/// 0 is `/dev/null`, and nothing else is inherited. The worker leads its own
/// process group, so killing the group also kills anything the plugin started.
/// Its pid is registered with the ``OrphanReaper`` while it is being started
/// and forgotten in the same step as it is reaped here (through the reaper),
/// so that a sweep never takes its exit status; what escaped its group
/// (`setsid`) is the reaper's.
///
/// One owner at a time (the runner that starts it, the supervisor that
/// watches it, a zygote's spare slot) drives it; `reaped` is atomic so that
/// handing it from one thread to the next needs no lock.
final class WorkerProcess: Sendable {
    /// The worker's process id (and process group id).
    let pid: pid_t
    /// The host's end of the IPC socket (blocking; sends time out).
    let ipc: Int32
    /// Read end of the worker's standard output (non-blocking).
    let stdout: Int32
    /// Read end of the worker's standard error (non-blocking).
    let stderr: Int32
    /// Readable when the worker exits; -1 where the kernel has no pidfd.
    let exitDescriptor: Int32
    private let reaped = Atomic(false)

    /// How long a send to the worker may block before the worker counts as stuck.
    static let sendTimeoutMilliseconds: Int32 = 2000

    /// The environment a worker gets: nothing of the host's but the basics, so
    /// that secrets in the host's environment do not reach plugin code.
    static func environment(instanceId: String) -> [String] {
        WorkerEnvironment.variables(instanceId: instanceId)
    }

    private init(pid: pid_t, ipc: Int32, stdout: Int32, stderr: Int32) {
        self.pid = pid
        self.ipc = ipc
        self.stdout = stdout
        self.stderr = stderr
        self.exitDescriptor = th_pidfd_open(pid)
    }

    /// Done once per host process: orphans of plugins become the host's to reap.
    private static let becameSubreaper: Bool = th_set_child_subreaper() == 0

    /// The descriptors of a worker about to start: the host's ends and the child's.
    struct DescriptorPairs {
        var ipc: [Int32] = [-1, -1]
        var out: [Int32] = [-1, -1]
        var err: [Int32] = [-1, -1]

        /// A socket pair and two pipes, all close-on-exec.
        static func make() throws(WorkerSpawnError) -> DescriptorPairs {
            var pairs = DescriptorPairs()
            guard th_socketpair_cloexec(&pairs.ipc) == 0, th_pipe_cloexec(&pairs.out) == 0, th_pipe_cloexec(&pairs.err) == 0 else {
                let code = errno
                pairs.closeAll()
                throw WorkerSpawnError(message: "cannot create the worker's descriptors: \(String(cString: strerror(code)))", errno: code)
            }
            return pairs
        }

        /// The child's ends: its IPC socket, standard output and standard error.
        var childEnds: [Int32] { [ipc[1], out[1], err[1]] }

        func closeChildEnds() { for fd in childEnds where fd >= 0 { close(fd) } }
        func closeAll() { for fd in ipc + out + err where fd >= 0 { close(fd) } }
    }

    /// The host's side of a started worker whose child ends are closed.
    static func adopt(pid: pid_t, pairs: DescriptorPairs) -> WorkerProcess {
        _ = th_set_send_timeout(pairs.ipc[0], sendTimeoutMilliseconds)
        _ = th_set_nonblocking(pairs.out[0], 1)
        _ = th_set_nonblocking(pairs.err[0], 1)
        return WorkerProcess(pid: pid, ipc: pairs.ipc[0], stdout: pairs.out[0], stderr: pairs.err[0])
    }

    /// Whether this host reaps what its workers leave behind (and what a
    /// zygote forks): a child subreaper.
    static var isSubreaper: Bool { becameSubreaper }

    /// Starts `executable` as a worker; with `discardOutput`, its standard
    /// output and error go to `/dev/null` (a zygote's: nobody reads them).
    static func spawn(
        executable: String, arguments: [String] = [], environment: [String], discardOutput: Bool = false
    ) throws(WorkerSpawnError) -> WorkerProcess {
        _ = becameSubreaper
        let pairs = try DescriptorPairs.make()

        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawnattr_init(&attributes)
        defer {
            posix_spawn_file_actions_destroy(&actions)
            posix_spawnattr_destroy(&attributes)
        }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        if discardOutput {
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        } else {
            posix_spawn_file_actions_adddup2(&actions, pairs.out[1], 1)
            posix_spawn_file_actions_adddup2(&actions, pairs.err[1], 2)
        }
        posix_spawn_file_actions_adddup2(&actions, pairs.ipc[1], 3)
        th_spawn_file_actions_closefrom(&actions, 4)

        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        var defaultSignals = sigset_t()
        sigemptyset(&defaultSignals)
        for signal in [SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2] { sigaddset(&defaultSignals, signal) }
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        posix_spawnattr_setsigdefault(&attributes, &defaultSignals)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
        defer {
            for pointer in argv + envp { free(pointer) }
        }
        var status: Int32 = 0
        // Registered with the orphan reaper before anything may wait for it.
        _ = OrphanReaper.shared.creatingChild { () -> pid_t? in
            status = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
            return status == 0 ? pid : nil
        }
        pairs.closeChildEnds()
        guard status == 0 else {
            for fd in [pairs.ipc[0], pairs.out[0], pairs.err[0]] { close(fd) }
            throw WorkerSpawnError(message: "cannot start \(executable): \(String(cString: strerror(status)))", errno: status)
        }
        return adopt(pid: pid, pairs: pairs)
    }

    /// Gives a worker forked by a zygote its instance's working directory (as
    /// a descriptor: the sandbox user may not traverse the path). It waits for
    /// this before its start message; a spare waits here until it is used.
    /// A failure shows up as the start message's failure.
    func handOver(workingDirectory: String) {
        let directory = workingDirectory.isEmpty ? -1 : open(workingDirectory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { if directory >= 0 { close(directory) } }
        let descriptors = directory >= 0 ? [directory] : []
        _ = th_send_fds(ipc, ZygoteProtocol.handOverByte, descriptors, Int32(descriptors.count))
    }

    /// Kills the worker and everything in its process group.
    func killGroup() {
        guard !reaped.load(ordering: .acquiring) else { return }
        kill(-pid, SIGKILL)
        kill(pid, SIGKILL)
    }

    /// Reaps the worker if it has exited; returns its wait status. Before
    /// reaping, kills what is left of its process group: while the worker is
    /// an unreaped zombie its pid cannot name another process group.
    func reapIfExited() -> Int32? {
        guard !reaped.load(ordering: .acquiring) else { return nil }
        let exited = th_child_has_exited(pid)
        guard exited != 0 else { return nil }
        if exited == 1 { kill(-pid, SIGKILL) }
        // Reaped and unregistered in one step: see OrphanReaper.
        guard let exit = OrphanReaper.shared.reapIfExited(pid) else { return nil }
        reaped.store(true, ordering: .releasing)
        guard case .status(let status) = exit else { return 0 }
        reapGroup()
        return status
    }

    /// Reaps what the plugin forked: killed with the group, those processes
    /// were handed to the host (a child subreaper) and would stay zombies.
    private func reapGroup() {
        for _ in 0..<400 {
            switch OrphanReaper.shared.reapGroupMember(pid) {
            case true?: continue
            case false?:
                kill(-pid, SIGKILL)
                usleep(5000)
            case nil: return  // none left (or the host is not their subreaper)
            }
        }
    }

    /// Kills and reaps the worker (blocking), then closes every descriptor.
    func dispose() {
        if !reaped.load(ordering: .acquiring) {
            killGroup()
            _ = OrphanReaper.shared.waitAndReap(pid)
            reaped.store(true, ordering: .releasing)
            reapGroup()
        }
        for fd in [ipc, stdout, stderr, exitDescriptor] where fd >= 0 { close(fd) }
    }
}
