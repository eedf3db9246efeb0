import CTaskHostABI
import FoundationEssentials
import Glibc
import TaskHostIPC
import _TaskHostCShims

/// `taskhost-worker`: the child process that runs one task instance.
///
/// The host starts it with the IPC socket as descriptor 3, sends one `start`
/// (or `check`) message, and reads log lines, settings requests and the
/// result back. The worker loads exactly one plugin, never unloads it, and
/// exits when the instance is over or when the host goes away.
@main
enum Worker {
    static let ipcDescriptor: Int32 = 3

    static func main() {
        harden()
        if CommandLine.arguments.dropFirst().first == ZygoteProtocol.argument { Zygote.main() }
        let session = WorkerSession(fd: ipcDescriptor)
        var decoder = FrameDecoder()
        switch readFirstMessage(session: session, decoder: &decoder) {
        case .start(let request):
            let library = enterSandbox(request.sandbox, library: request.libraryPath, session: session)
            if let signature = request.cSignature {
                let (handle, path) = openLibrary(library, session: session)
                CTask.run(handle: handle, path: path, signature: signature, request: request, session: session, pending: decoder)
            }
            let plugin = load(library, session: session)
            run(plugin, request: request, session: session, pending: decoder)
        case .check(let libraryPath, let entryPoints, let sandbox, let symbols):
            let library = enterSandbox(sandbox, library: libraryPath, session: session)
            let (handle, path) = openLibrary(library, session: session)
            // A library asked about C symbols only need not be a Swift plugin.
            let plugin = entryPoints.isEmpty && !symbols.isEmpty ? nil : descriptor(handle, path: path, session: session)
            check(plugin, entryPoints: entryPoints, handle: handle, path: path, symbols: symbols, session: session)
        case .probe(let sandbox):
            _ = enterSandbox(sandbox, library: nil, session: session)
            finish(0)
        default:
            fail(session, "the host's first message was not start, check or probe")
        }
    }

    /// The host's first message on `session`; exits when the host is gone or
    /// sent something malformed. Frames that came with it stay in `decoder`.
    static func readFirstMessage(session: WorkerSession, decoder: inout FrameDecoder) -> HostMessage {
        do {
            guard let frame = try FileDescriptorIO.readFrame(session.fd, decoder: &decoder) else { exitBecauseHostIsGone() }
            return try HostMessage(frame: frame)
        } catch {
            fail(session, "the host sent a malformed first message: \(error)")
        }
    }

    /// A library to load: its path, and what `dlopen` is given.
    struct Library {
        var path: String
        var loadPath: String
        /// The descriptor `loadPath` names under `/proc/self/fd` (-1: none),
        /// closed once the library is loaded: plugin code must not find it open.
        var descriptor: Int32 = -1
    }

    /// Applies the sandbox and reports it. The library is opened first, while
    /// the worker may still read it, and loaded through `/proc/self/fd` once
    /// the worker runs as the sandbox user (which may not traverse the
    /// directories that hold it).
    static func enterSandbox(
        _ policy: SandboxPolicy, library path: String?, session: WorkerSession,
        layers apply: (SandboxPolicy) -> [SandboxLayer] = Sandbox.apply
    ) -> Library? {
        var library = path.map { Library(path: $0, loadPath: $0) }
        if let path, geteuid() == 0, policy.userId != nil {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            if fd >= 0 {
                library?.loadPath = "/proc/self/fd/\(fd)"
                library?.descriptor = fd
            }
        }
        report(apply(policy), required: policy.required, session: session)
        return library
    }

    /// Sends the sandbox layers; refuses to go on when the sandbox is
    /// required and a layer is missing.
    static func report(_ layers: [SandboxLayer], required: Bool, session: WorkerSession) {
        session.send(.sandbox(layers))
        let missing = layers.filter(\.isMissing)
        if required, !missing.isEmpty {
            refuse(session, "the sandbox is required but not enforced: " + missing.map(\.description).joined(separator: "; "))
        }
    }

    /// What the worker does to itself first, whatever it is asked to do (the
    /// rest of the sandbox is `enterSandbox`).
    static func harden() {
        th_line_buffer_stdout()
        _ = th_set_parent_death_signal(SIGKILL)
        if getppid() == 1 { exitBecauseHostIsGone() }  // the host died before prctl
        _ = th_close_from(UInt32(ipcDescriptor + 1))
        signal(SIGPIPE, SIG_IGN)
    }

    /// Loads the plugin and checks its ABI and build against the worker's.
    static func load(_ library: Library?, session: WorkerSession) -> th_plugin_v1 {
        let (handle, path) = openLibrary(library, session: session)
        return descriptor(handle, path: path, session: session)
    }

    /// Loads the library (running its initializers): its handle and path.
    static func openLibrary(_ library: Library?, session: WorkerSession) -> (UnsafeMutableRawPointer, String) {
        guard let library else { refuse(session, "no library to load") }
        let loaded = dlopen(library.loadPath, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE)
        // The mapping outlives the descriptor; only the IPC socket and the standard streams stay open.
        if library.descriptor >= 0 { close(library.descriptor) }
        guard let handle = loaded else {
            let reason = (dlerror().map { String(cString: $0) } ?? "unknown error")
                .replacing(library.loadPath, with: library.path)
            refuse(session, "cannot load \(library.path): \(reason)")
        }
        return (handle, library.path)
    }

    /// The loaded library's plugin descriptor, checked against the worker's ABI and build.
    static func descriptor(_ handle: UnsafeMutableRawPointer, path: String, session: WorkerSession) -> th_plugin_v1 {
        guard let symbol = dlsym(handle, TH_PLUGIN_ENTRY_SYMBOL) else {
            refuse(
                session, "\(path) is not a taskhost plugin: it does not export \(TH_PLUGIN_ENTRY_SYMBOL) (does it link BackgroundTaskKit?)")
        }
        let entry = unsafeBitCast(symbol, to: th_plugin_entry_v1.self)
        guard let descriptor = entry() else { refuse(session, "\(TH_PLUGIN_ENTRY_SYMBOL) in \(path) returned NULL") }
        let plugin = descriptor.pointee
        let sdkVersion = plugin.sdk_version.map { String(cString: $0) } ?? "unknown"
        let signature = plugin.build_signature.map { String(cString: $0) } ?? ""
        if let problem = WorkerBuildInfo.mismatch(pluginABI: plugin.abi_version, signature: signature, sdkVersion: sdkVersion) {
            refuse(session, problem)
        }
        guard plugin.struct_size >= MemoryLayout<th_plugin_v1>.size, plugin.run != nil, plugin.check_entry_point != nil else {
            refuse(session, "the plugin descriptor of \(path) is incomplete (struct_size \(plugin.struct_size))")
        }
        session.send(.ready(sdkVersion: sdkVersion, buildSignature: signature))
        return plugin
    }

    /// Answers a check: one report per entry point (through the descriptor),
    /// then one per C symbol (found or not).
    static func check(
        _ plugin: th_plugin_v1?, entryPoints: [String], handle: UnsafeMutableRawPointer, path: String, symbols: [String],
        session: WorkerSession
    ) -> Never {
        sendCheckResult(plugin, entryPoints: entryPoints, handle: handle, path: path, symbols: symbols, session: session)
        finish(0)
    }

    /// Sends the reports of a check (a zygote does this too, and goes on).
    static func sendCheckResult(
        _ plugin: th_plugin_v1?, entryPoints: [String], handle: UnsafeMutableRawPointer, path: String, symbols: [String],
        session: WorkerSession
    ) {
        var reports: [EntryPointReport] = []
        for entryPoint in entryPoints {
            guard let plugin else { break }
            var message = [CChar](repeating: 0, count: 1024)
            let bytes = Array(entryPoint.utf8)
            let code = bytes.withUnsafeBufferPointer { name in
                message.withUnsafeMutableBufferPointer {
                    plugin.check_entry_point!(th_bytes(data: name.baseAddress, length: name.count), $0.baseAddress, $0.count)
                }
            }
            reports.append(
                EntryPointReport(
                    entryPoint: entryPoint, code: UInt32(bitPattern: code),
                    message: String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)))
        }
        for symbol in symbols {
            let found = dlsym(handle, symbol) != nil
            reports.append(
                EntryPointReport(
                    entryPoint: symbol, code: found ? TH_CHECK_OK.rawValue : TH_CHECK_NOT_FOUND.rawValue,
                    message: found ? "" : CTask.notFound(path: path)))
        }
        let signature = plugin?.build_signature.map { String(cString: $0) } ?? ""
        let sdkVersion = plugin?.sdk_version.map { String(cString: $0) } ?? ""
        session.send(
            .checkResult(
                abiVersion: plugin?.abi_version ?? 0, sdkVersion: sdkVersion, buildSignature: signature, reports: reports))
    }

    static func run(_ plugin: th_plugin_v1, request: StartRequest, session: WorkerSession, pending: FrameDecoder) {
        let cancel = plugin.cancel
        session.startReading(decoder: pending)
        session.onCancel { reason in cancel?(reason) }
        let headers = PinnedPairs(request.headers)
        let arguments = PinnedPairs(request.arguments)
        var runRequest = th_run_request(
            struct_size: UInt32(MemoryLayout<th_run_request>.size),
            entry_point: pin(request.entryPoint), task_name: pin(request.taskName), task_id: pin(request.taskId),
            instance_id: pin(request.instanceId), trigger_id: pin(request.triggerId), attempt: request.attempt,
            trigger_kind: request.triggerKind, payload: pin(request.payload), channel_id: pin(request.channelId),
            headers: headers.pointer, header_count: headers.count,
            arguments: arguments.pointer, argument_count: arguments.count)
        var host = session.makeHostAPI()
        var message = [CChar](repeating: 0, count: 4096)
        let code = message.withUnsafeMutableBufferPointer { buffer in
            plugin.run!(&runRequest, &host, buffer.baseAddress, buffer.count)
        }
        let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let kind: RunResultKind
        switch th_run_result(rawValue: UInt32(bitPattern: code)) {
        case TH_RUN_COMPLETED: kind = .completed
        case TH_RUN_CANCELED: kind = .canceled
        case TH_RUN_FAILED: kind = .failed
        default: kind = .refused
        }
        session.send(.result(kind, message: text))
        finish(0)
    }

    /// Sends a refusal and exits.
    static func refuse(_ session: WorkerSession, _ message: String) -> Never {
        session.send(.result(.refused, message: message))
        finish(0)
    }

    static func fail(_ session: WorkerSession, _ message: String) -> Never {
        session.send(.log("worker: \(message)"))
        finish(2)
    }

    /// Ends the process without running the plugin's static destructors,
    /// which could crash or hang after the outcome was reported.
    static func finish(_ code: Int32) -> Never {
        fflush(nil)
        _exit(code)
    }

    /// The IPC socket to the host is gone (the host died, or the plugin closed
    /// descriptor 3): nobody is left to report to.
    static func exitBecauseHostIsGone() -> Never {
        _exit(WorkerExitCode.ipcLost)
    }

    /// Copies bytes into memory that lives as long as the process, followed
    /// by a NUL byte (not counted in the length) for C code's convenience.
    static func pin<C: Collection<UInt8>>(_ bytes: C) -> th_bytes {
        let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: bytes.count + 1)
        let end = buffer.initialize(fromContentsOf: bytes)
        buffer.initializeElement(at: end, to: 0)
        return th_bytes(data: UnsafePointer(buffer.baseAddress), length: bytes.count)
    }

    static func pin(_ text: String) -> th_bytes { pin(Array(text.utf8)) }
}

/// Name/value pairs in memory that lives as long as the process.
struct PinnedPairs {
    let pointer: UnsafePointer<th_pair>?
    let count: Int

    init(_ values: [String: String]) {
        count = values.count
        guard !values.isEmpty else {
            pointer = nil
            return
        }
        let buffer = UnsafeMutableBufferPointer<th_pair>.allocate(capacity: values.count)
        for (index, name) in values.keys.sorted().enumerated() {
            buffer[index] = th_pair(name: Worker.pin(name), value: Worker.pin(values[name]!))
        }
        pointer = UnsafePointer(buffer.baseAddress)
    }
}
