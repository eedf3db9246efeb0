import CTaskHostABI
import FoundationEssentials
import Glibc
import TaskHostIPC
import _TaskHostCShims

/// `taskhost-worker --zygote`: a pre-forked worker for one plugin library.
///
/// The host sends a `check` message naming the library, its entry points and
/// the sandbox layers every instance shares (network, user, no_new_privs,
/// seccomp). The zygote applies those to itself, loads the library, resolves
/// the entry points, answers like a scanner, and then waits for fork
/// requests: a byte and, as `SCM_RIGHTS`, the descriptors of one worker
/// (IPC socket, standard output, standard error). For each it forks a child
/// and answers with the child's pid. The child waits until the host hands it
/// an instance (a byte with the working directory, then the start message:
/// the host keeps one such child ready as a spare, forked ahead of need),
/// then becomes an ordinary worker for that instance (its own process group,
/// the per-instance layers, the same IPC protocol). The child is forked with `CLONE_PARENT`, so
/// that it is the host's child (or, where that cannot be done safely, through
/// an intermediate process that exits at once, so that it is reparented to the
/// host, a child subreaper), and the host waits for it exactly as for a
/// spawned worker.
///
/// Forking is only safe from a single-threaded process: the zygote never
/// starts a thread or Swift concurrency, and checks `/proc/self/task` before
/// every fork. If the plugin's load-time code started a thread, the zygote
/// says so and exits; the host then spawns a worker per instance.
enum Zygote {
    // The control protocol (request bytes, replies, descriptors) is `ZygoteProtocol`, shared with the host.

    static func main() -> Never {
        let control = Worker.ipcDescriptor
        let session = WorkerSession(fd: control)
        var decoder = FrameDecoder()
        guard
            case .check(let libraryPath, let entryPoints, let policy, let symbols) = Worker.readFirstMessage(
                session: session, decoder: &decoder)
        else {
            Worker.fail(session, "a zygote's first message must be check")
        }
        var shared: [SandboxLayer] = []
        let library = Worker.enterSandbox(policy, library: libraryPath, session: session) { policy in
            shared = Sandbox.applyToZygote(policy)
            return shared
        }
        let (handle, path) = Worker.openLibrary(library, session: session)
        // A zygote started for a C task need not find a Swift descriptor (its children look for one if asked).
        let plugin = entryPoints.isEmpty ? nil : Worker.descriptor(handle, path: path, session: session)
        Worker.sendCheckResult(plugin, entryPoints: entryPoints, handle: handle, path: path, symbols: symbols, session: session)
        let loaded = Loaded(plugin: plugin, handle: handle, path: path, libraryPath: libraryPath, entryPoints: entryPoints, policy: policy)
        rehearse(policy, libraryPath: libraryPath)
        loaded.prepare()
        serve(loaded, shared: shared, control: control)
    }

    /// What a zygote loaded.
    struct Loaded {
        /// The Swift plugin descriptor, when the zygote was asked about Swift entry points.
        var plugin: th_plugin_v1?
        var handle: UnsafeMutableRawPointer
        /// The library's path as the host named it (for messages).
        var path: String
        /// The path the host asked for (requests must name the same).
        var libraryPath: String
        /// The Swift entry points the host asked about.
        var entryPoints: [String]
        /// The layers every instance shares, as the host sent them.
        var policy: SandboxPolicy

        /// Calls the plugin's `prepare` for each entry point (see `th_plugin_v1`).
        func prepare() {
            guard let plugin, plugin.struct_size >= MemoryLayout<th_plugin_v1>.size, let prepare = plugin.prepare else { return }
            for entryPoint in entryPoints {
                Array(entryPoint.utf8).withUnsafeBufferPointer { prepare(th_bytes(data: $0.baseAddress, length: $0.count)) }
            }
        }
    }

    /// Runs, once and without effects, the worker's own code that every
    /// forked child runs on its way to `run`: decoding a start message,
    /// describing its limits, encoding its reports. Swift fills its runtime
    /// caches (generic metadata, protocol conformances) on first use; filled
    /// here, they are inherited by every child instead of being rebuilt by
    /// each (a conformance lookup that misses scans every loaded image's
    /// conformance records, hundreds of microseconds with Foundation loaded).
    static func rehearse(_ policy: SandboxPolicy, libraryPath: String) {
        var policy = policy
        policy.workingDirectory = "/rehearsal"
        let request = StartRequest(
            libraryPath: libraryPath, entryPoint: "Rehearsal.Task", taskName: "Rehearsal",
            taskId: "00000000-0000-0000-0000-000000000000", instanceId: "00000000-0000-0000-0000-000000000000",
            triggerId: "rehearsal", attempt: 1, triggerKind: TH_TRIGGER_APPLICATION.rawValue, payload: [0],
            channelId: "rehearsal", headers: ["name": "value"], arguments: ["name": "value"], sandbox: policy, cSignature: nil)
        var decoder = FrameDecoder()
        decoder.append(HostMessage.start(request).frame.encoded)
        if let frame = try? decoder.next() { _ = try? HostMessage(frame: frame) }
        let layers = Sandbox.rehearseForkedChild(policy)
        for message in [
            WorkerMessage.sandbox(layers), .ready(sdkVersion: "", buildSignature: ""), .log("rehearsal"), .progress(1),
            .settingsGet(requestId: 1, key: "k"), .result(.completed, message: ""),
        ] {
            _ = message.frame.encoded
        }
    }

    /// Answers fork requests until the host closes the control socket.
    static func serve(_ loaded: Loaded, shared: [SandboxLayer], control: Int32) -> Never {
        while true {
            fflush(nil)
            var operation: UInt8 = 0
            var descriptors = [Int32](repeating: -1, count: ZygoteProtocol.forkDescriptorCount)
            let count = th_recv_fds(control, &operation, &descriptors, Int32(ZygoteProtocol.forkDescriptorCount))
            if count == -2 { _exit(0) }  // the host retired this zygote, or is gone
            if count < 0 { _exit(WorkerExitCode.ipcLost) }
            let received = Array(descriptors.prefix(Int(count)))
            guard operation == ZygoteProtocol.forkRequest, received.count >= ZygoteProtocol.forkDescriptorCount else {
                for fd in received { close(fd) }
                answer(control, .failed(errno: EINVAL))
                continue
            }
            guard th_thread_count() == 1 else {
                for fd in received { close(fd) }
                answer(control, .notSingleThreaded)
                _exit(0)
            }
            var pid = th_fork_sibling()
            let sibling = pid >= 0
            if pid < 0, errno == ENOTSUP { pid = th_fork_detached() }
            if pid == 0 {
                // A sibling's parent is the thread that spawned the zygote, which lives
                // as long as the host; a detached child's is any host thread, which may exit.
                if sibling { _ = th_set_parent_death_signal(SIGKILL) }
                child(loaded, shared: shared, descriptors: received)
            }
            let error = errno
            for fd in received { close(fd) }
            answer(control, pid > 0 ? .forked(pid: pid) : .failed(errno: error))
        }
    }

    private static func answer(_ control: Int32, _ reply: ZygoteProtocol.ForkReply) {
        if !FileDescriptorIO.writeAll(control, reply.encoded) { _exit(WorkerExitCode.ipcLost) }
    }

    /// The forked child: becomes a worker, waits to be handed an instance
    /// (a byte with its working directory, then its start message; a spare
    /// waits here until the host needs it) and runs it.
    static func child(_ loaded: Loaded, shared: [SandboxLayer], descriptors: [Int32]) -> Never {
        guard th_become_worker(descriptors[0], descriptors[1], descriptors[2]) == 0 else {
            _exit(WorkerExitCode.ipcLost)
        }
        signal(SIGPIPE, SIG_IGN)
        let session = WorkerSession(fd: Worker.ipcDescriptor)
        // The reader thread starts here, before the rlimits: the sandbox user
        // may already be at its process limit.
        session.prestartReader()
        // While it waits, the worker goes through its way to `run` once more,
        // in its own memory: the code pages it will need get mapped and the
        // data pages it will write get copied now, not after the trigger.
        rehearse(loaded.policy, libraryPath: loaded.libraryPath)
        loaded.prepare()
        var handOver: UInt8 = 0
        var directory: Int32 = -1
        let received = th_recv_fds(Worker.ipcDescriptor, &handOver, &directory, 1)
        if received == -2 { _exit(0) }  // a spare the host no longer needs
        guard received >= 0, handOver == ZygoteProtocol.handOverByte else { _exit(WorkerExitCode.ipcLost) }
        let workingDirectory = received == 1 ? directory : -1
        if workingDirectory >= 0 {
            if fchdir(workingDirectory) != 0 { _exit(WorkerExitCode.ipcLost) }
            close(workingDirectory)
        }
        var decoder = FrameDecoder()
        guard case .start(let request) = Worker.readFirstMessage(session: session, decoder: &decoder) else {
            Worker.fail(session, "a forked worker's first message must be start")
        }
        session.startReading(decoder: decoder)
        guard request.libraryPath == loaded.libraryPath else {
            Worker.refuse(session, "this worker was forked for \(loaded.libraryPath), not \(request.libraryPath)")
        }
        // The environment a spawned worker gets (see WorkerProcess.environment):
        // the instance's own id, not the zygote's, and nothing the zygote needed.
        setenv(WorkerEnvironment.instanceIdName, request.instanceId, 1)
        unsetenv("LD_BIND_NOW")
        Worker.report(
            shared + Sandbox.applyToForkedChild(request.sandbox, workingDirectoryEntered: workingDirectory >= 0),
            required: request.sandbox.required, session: session)
        if let signature = request.cSignature {
            CTask.run(
                handle: loaded.handle, path: loaded.path, signature: signature, request: request, session: session, pending: FrameDecoder())
        }
        if let plugin = loaded.plugin {
            session.send(
                .ready(
                    sdkVersion: plugin.sdk_version.map { String(cString: $0) } ?? "unknown",
                    buildSignature: plugin.build_signature.map { String(cString: $0) } ?? ""))
            Worker.run(plugin, request: request, session: session, pending: FrameDecoder())
        } else {
            Worker.run(
                Worker.descriptor(loaded.handle, path: loaded.path, session: session), request: request, session: session,
                pending: FrameDecoder())
        }
        Worker.finish(0)
    }
}
