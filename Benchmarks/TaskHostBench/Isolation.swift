import CTaskHostABI
import Foundation
import Synchronization
import TaskHostCore
import TaskHostIsolation
import TaskHostManifest
import TaskHostPlugins
import TaskHostScheduling
import TaskHostStore
import TaskHostStoreBackends

/// The baselines of an isolated run: a bare process, and the task called in-process.
enum Baselines {
    /// `posix_spawn` of `path` and `waitpid` for it; whether it exited 0.
    static func spawnAndWait(_ path: String) -> Bool {
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup(path), nil]
        defer { free(argv[0]) }
        guard posix_spawn(&pid, path, nil, nil, argv, environ) == 0 else { return false }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        return status == 0
    }
}

/// The no-op plugin loaded into this process and called through its C ABI
/// (`taskhost_plugin_v1()->run`) with a host table of no-op callbacks: the
/// cost of the task itself, without any isolation.
final class InProcessPlugin: @unchecked Sendable {
    private let descriptor: UnsafePointer<th_plugin_v1>
    private let request: UnsafeMutablePointer<th_run_request>
    private let host: UnsafeMutablePointer<th_host_api>
    /// Where the log callback stores the `entered` timestamp (one call at a time).
    private let entered: UnsafeMutablePointer<Int64>
    private let message = UnsafeMutablePointer<CChar>.allocate(capacity: 512)

    init(library: String, entryPoint: String) throws {
        guard let handle = dlopen(library, RTLD_NOW | RTLD_LOCAL) else {
            throw BenchError("cannot load \(library): \(String(cString: dlerror()))")
        }
        guard let symbol = dlsym(handle, "taskhost_plugin_v1") else { throw BenchError("\(library) exports no taskhost_plugin_v1") }
        let entry = unsafeBitCast(symbol, to: th_plugin_entry_v1.self)
        guard let descriptor = entry(), descriptor.pointee.abi_version == TH_ABI_VERSION, descriptor.pointee.run != nil else {
            throw BenchError("\(library): no descriptor, or another ABI version")
        }
        self.descriptor = descriptor
        entered = .allocate(capacity: 1)
        entered.initialize(to: 0)
        func bytes(_ text: String) -> th_bytes {
            let utf8 = Array(text.utf8)
            let storage = UnsafeMutablePointer<UInt8>.allocate(capacity: max(utf8.count, 1))
            storage.initialize(from: utf8, count: utf8.count)
            return th_bytes(data: storage, length: utf8.count)
        }
        let taskId = UUID().uuidString
        request = .allocate(capacity: 1)
        request.initialize(
            to: th_run_request(
                struct_size: UInt32(MemoryLayout<th_run_request>.size), entry_point: bytes(entryPoint), task_name: bytes("Noop"),
                task_id: bytes(taskId), instance_id: bytes(UUID().uuidString), trigger_id: bytes("bench"), attempt: 1,
                trigger_kind: TH_TRIGGER_APPLICATION.rawValue, payload: th_bytes(data: nil, length: 0),
                channel_id: th_bytes(data: nil, length: 0), headers: nil, header_count: 0, arguments: nil, argument_count: 0))
        host = .allocate(capacity: 1)
        host.initialize(
            to: th_host_api(
                struct_size: UInt32(MemoryLayout<th_host_api>.size), context: UnsafeMutableRawPointer(entered),
                log: { context, line in
                    guard let context, let data = line.data else { return }
                    let text = String(decoding: UnsafeBufferPointer(start: data, count: line.length), as: UTF8.self)
                    if let at = Clock.entered(text) { context.assumingMemoryBound(to: Int64.self).pointee = at }
                },
                progress: { _, _ in },
                settings_get: { _, _, _, _, length in
                    length?.pointee = 0
                    return Int32(TH_NOT_FOUND.rawValue)
                },
                settings_set: { _, _, _ in Int32(TH_OK.rawValue) },
                settings_delete: { _, _ in Int32(TH_NOT_FOUND.rawValue) },
                settings_keys: { _, _, _, length in
                    length?.pointee = 0
                    return Int32(TH_OK.rawValue)
                }))
    }

    /// Calls `run` once; returns (trigger → run entered, trigger → returned) in nanoseconds.
    func call() throws -> (entered: Int64, total: Int64) {
        let startReal = Clock.realtime()
        let start = Clock.monotonic()
        let result = descriptor.pointee.run!(request, host, message, 512)
        let total = Clock.monotonic() - start
        guard result == Int32(TH_RUN_COMPLETED.rawValue) else {
            throw BenchError("in-process run ended with \(result): \(String(cString: message))")
        }
        return (entered.pointee - startReal, total)
    }
}

/// A value shared by the threads or tasks of one measurement.
final class Box<Value: Sendable>: Sendable {
    private let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R { value.withLock { body(&$0) } }
}

/// One no-op isolated run through ``TaskRunner``, as the dispatcher makes it.
struct IsolatedNoop: Sendable {
    let runner: TaskRunner
    let app: AppManifest
    let task: TaskDeclaration
    let library: String

    init(store: any HostStore, products: Products, isolation: IsolationMode) {
        runner = TaskRunner(store: store, workerPath: products.worker, isolation: isolation)
        task = TaskDeclaration(name: "Noop", entryPoint: Products.noopEntryPoint, library: products.noopLibrary, triggers: [.application])
        app = AppManifest(path: "bench", identity: AppIdentity(name: "com.example.bench", version: "1"), tasks: [task])
        library = products.noopLibrary
    }

    /// Runs one instance; returns (trigger → run entered, trigger → outcome recorded) in nanoseconds.
    func run() async throws -> (entered: Int64?, total: Int64) {
        let entered = Box<Int64?>(nil)
        let startReal = Clock.realtime()
        let start = Clock.monotonic()
        let record = try await runner.run(
            app: app, task: task, libraryPath: library, trigger: .application()
        ) { line in
            if let at = Clock.entered(line.text) { entered.withLock { $0 = at } }
        }
        let total = Clock.monotonic() - start
        guard record.outcome == .completed else {
            throw BenchError("a no-op run ended \(record.outcome.map(String.init(describing:)) ?? "without outcome")")
        }
        return (entered.withLock { $0 }.map { $0 - startReal }, total)
    }
}

/// Counts operations done by `concurrency` workers within `seconds`; returns operations per second.
enum Throughput {
    /// Workers that are threads (for blocking calls such as `waitpid`).
    static func threads(concurrency: Int, seconds: Double, _ body: @escaping @Sendable () -> Bool) -> Double {
        let done = Box(0)
        let finished = DispatchSemaphore(value: 0)
        let start = Clock.monotonic()
        let deadline = start + Int64(seconds * 1e9)
        for _ in 0..<concurrency {
            Thread {
                var count = 0
                while Clock.monotonic() < deadline { if body() { count += 1 } }
                done.withLock { $0 += count }
                finished.signal()
            }.start()
        }
        for _ in 0..<concurrency { finished.wait() }
        return Double(done.withLock { $0 }) / (Double(Clock.monotonic() - start) / 1e9)
    }

    /// Workers that are Swift tasks (for ``TaskRunner/run``, which supervises on a thread of its own).
    static func tasks(concurrency: Int, seconds: Double, _ body: @escaping @Sendable () async -> Bool) async -> Double {
        let start = Clock.monotonic()
        let deadline = start + Int64(seconds * 1e9)
        let total = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    var count = 0
                    while Clock.monotonic() < deadline { if await body() { count += 1 } }
                    return count
                }
            }
            return await group.reduce(0, +)
        }
        return Double(total) / (Double(Clock.monotonic() - start) / 1e9)
    }
}

extension Bench {
    func isolationLatency(_ products: Products, state: String) async throws {
        var spawnTrue = Samples()
        for _ in 0..<(runs / 10 + 5) { _ = Baselines.spawnAndWait("/bin/true") }
        for _ in 0..<runs {
            let start = Clock.monotonic()
            guard Baselines.spawnAndWait("/bin/true") else { throw BenchError("/bin/true failed") }
            spawnTrue.add(Clock.monotonic() - start)
        }

        let plugin = try InProcessPlugin(library: products.noopLibrary, entryPoint: Products.noopEntryPoint)
        var inProcessEntered = Samples()
        var inProcessTotal = Samples()
        for _ in 0..<100 { _ = try plugin.call() }
        for _ in 0..<runs {
            let (entered, total) = try plugin.call()
            inProcessEntered.add(entered)
            inProcessTotal.add(total)
        }

        var table = Table(
            "Isolated no-op run: latency (\(runs) sequential runs each)",
            ["how", "trigger → run entered p50", "p99", "trigger → outcome recorded p50", "p99", "entered p50 vs posix_spawn(/bin/true)"])
        table.row(
            "`posix_spawn(\"/bin/true\")` + `waitpid`", "–", "–", Format.ms(spawnTrue.p50), Format.ms(spawnTrue.p99), "1.00× (baseline)")
        table.row(
            "in-process call of `run` (C ABI, no-op host table)", Format.ms(inProcessEntered.p50), Format.ms(inProcessEntered.p99),
            Format.ms(inProcessTotal.p50), Format.ms(inProcessTotal.p99), Format.ratio(inProcessEntered.p50, over: spawnTrue.p50))
        for mode in isolationModes {
            let store = try StoreLocation.stateDirectory(StateDirectory(path: "\(state)/isolation-\(mode)")).open()
            let noop = IsolatedNoop(store: store, products: products, isolation: mode)
            for _ in 0..<max(5, runs / 10) { _ = try await noop.run() }  // warm-up (prefork starts its zygote)
            var entered = Samples()
            var total = Samples()
            for _ in 0..<runs {
                let sample = try await noop.run()
                guard let at = sample.entered else { throw BenchError("no 'entered' line from the no-op task (\(mode))") }
                entered.add(at)
                total.add(sample.total)
            }
            table.row(
                "`TaskRunner`, isolation `\(mode)`", Format.ms(entered.p50), Format.ms(entered.p99), Format.ms(total.p50),
                Format.ms(total.p99), Format.ratio(entered.p50, over: spawnTrue.p50))
            results.isolationEntered[mode] = entered.p50
        }
        results.spawnTrueP50 = spawnTrue.p50
        table.note(
            "Trigger → run entered: CLOCK_REALTIME just before the call, minus the timestamp the no-op task logs first thing in `run`. "
                + "Trigger → outcome recorded: until `TaskRunner.run` returns, i.e. the instance row, its log line and its outcome are committed "
                + "(SQLite WAL: the row, with its pid, without an fsync of its own; the log lines and the outcome with one). "
                + "Target: prefork entered p50 ≤ posix_spawn(/bin/true) p50.")
        table.print()
    }

    func isolationThroughput(_ products: Products, state: String) async throws {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        var table = Table(
            "Isolated no-op runs per second (\(Format.count(seconds)) s per cell)",
            ["how", "concurrency 1", "vs /bin/true", "concurrency \(2 * cores) (2× cores)", "vs /bin/true"])
        let true1 = Throughput.threads(concurrency: 1, seconds: seconds) { Baselines.spawnAndWait("/bin/true") }
        let trueN = Throughput.threads(concurrency: 2 * cores, seconds: seconds) { Baselines.spawnAndWait("/bin/true") }
        table.row("`posix_spawn(\"/bin/true\")` + `waitpid`", Format.count(true1), "1.00×", Format.count(trueN), "1.00×")
        // The floor under any run in a fresh process: fork + _exit + waitpid of an image, with no work at all.
        var floorCPU: [(image: String, cpuPerFork: Double)] = []
        for (name, libraries) in try ForkFloor.images(products) {
            let one = try ForkFloor.measure(products, concurrency: 1, seconds: seconds, libraries: libraries)
            let many = try ForkFloor.measure(products, concurrency: 2 * cores, seconds: seconds, libraries: libraries)
            table.row(
                "floor: `fork()` + `_exit(0)` + `waitpid` of \(name)", Format.count(one.rate), Format.ratio(one.rate, over: true1),
                Format.count(many.rate), Format.ratio(many.rate, over: trueN))
            floorCPU.append((name, many.cpuPerFork))
        }
        for mode in isolationModes {
            let store = try StoreLocation.stateDirectory(StateDirectory(path: "\(state)/throughput-\(mode)")).open()
            let noop = IsolatedNoop(store: store, products: products, isolation: mode)
            for _ in 0..<5 { _ = try await noop.run() }
            let one = await Throughput.tasks(concurrency: 1, seconds: seconds) { (try? await noop.run()) != nil }
            let many = await Throughput.tasks(concurrency: 2 * cores, seconds: seconds) { (try? await noop.run()) != nil }
            table.row(
                "`TaskRunner`, isolation `\(mode)`", Format.count(one), Format.ratio(one, over: true1), Format.count(many),
                Format.ratio(many, over: trueN))
            results.runsPerSecond[mode] = many
        }
        for mode in isolationModes {
            let rate = try await dispatcherThroughput(
                products, state: "\(state)/dispatcher-\(mode)", isolation: mode, concurrency: 2 * cores)
            table.row(
                "`Dispatcher` end to end (queue → claim → run → settle), isolation `\(mode)`", "–", "–", Format.count(rate),
                Format.ratio(rate, over: trueN))
        }
        table.note(
            "Concurrency N: N workers each starting the next run as soon as theirs has ended (threads for /bin/true, Swift tasks calling "
                + "`TaskRunner.run` otherwise). The dispatcher row: \(dispatcherTriggers) application triggers queued, then a `Dispatcher` "
                + "with --concurrency \(2 * cores) started and timed until every trigger is done. Target: ≥ 4,000 isolated no-op runs/s.")
        table.note(
            "Floor rows: `taskhost-fork-floor` (plain C) loads the named libraries as a zygote loads its plugin, then forks children that "
                + "`_exit(0)` at once and reaps them: what a fresh process of that image costs before it does anything. CPU per fork, at concurrency \(2 * cores): "
                + floorCPU.map { image, cpu in
                    "\(image): " + String(format: "%.3f", cpu * 1e3)
                        + " ms (child and parent), so at most \(Format.count(Double(cores) / cpu)) forks/s on \(cores) cores"
                }.joined(separator: "; ") + ".")
        table.print()
    }

    var dispatcherTriggers: Int { quick ? 300 : 2000 }

    /// Queues triggers, starts a dispatcher and returns triggers done per second.
    func dispatcherThroughput(_ products: Products, state: String, isolation: IsolationMode, concurrency: Int) async throws -> Double {
        let store = try StoreLocation.stateDirectory(StateDirectory(path: state)).open()
        let noop = IsolatedNoop(store: store, products: products, isolation: isolation)
        let registry = TaskRegistry([RegisteredTask(app: noop.app, task: noop.task, libraryPath: noop.library)])
        let triggers = (0..<dispatcherTriggers).map { _ in
            NewTrigger(app: noop.app.identity.name, task: noop.task.name, event: .application())
        }
        try store.enqueue(triggers)
        let dispatcher = Dispatcher(
            store: store, runner: noop.runner, registry: registry, limits: ConcurrencyLimits(global: concurrency),
            logger: .silent)
        let (outcomes, continuation) = AsyncStream<Bool>.makeStream()
        dispatcher.observeOutcomes { _, outcome in continuation.yield(outcome == .completed) }
        let start = Clock.monotonic()
        let running = Task { await dispatcher.run() }
        var completed = 0
        var seen = 0
        for await ok in outcomes {
            seen += 1
            if ok { completed += 1 }
            if seen == triggers.count { break }
        }
        let elapsed = Double(Clock.monotonic() - start) / 1e9
        dispatcher.shutdown()
        await running.value
        guard completed == triggers.count else { throw BenchError("dispatcher: \(triggers.count - completed) no-op runs did not complete") }
        return Double(completed) / elapsed
    }
}

/// The floor under an isolated run: `taskhost-fork-floor`, a C process that
/// loads an image's libraries and then forks children that exit at once.
enum ForkFloor {
    /// What one measurement found.
    struct Result {
        /// Forks (each reaped) per second.
        var rate: Double
        /// CPU seconds per fork, child and parent (page tables copied, the child's exit, the reap).
        var cpuPerFork: Double
    }

    /// The images measured: each one's name and the libraries it loads.
    static func images(_ products: Products) throws -> [(name: String, libraries: [String])] {
        guard let foundation = loadedLibrary(named: "libFoundation.so") else {
            throw BenchError("cannot find libFoundation.so among this process's mappings")
        }
        return [
            ("a C process (nothing loaded)", []),
            ("the no-op plugin's image (Swift runtime, FoundationEssentials, the SDK: a zygote)", [products.noopLibrary]),
            ("the same + Foundation (a plugin that imports Foundation)", [products.noopLibrary, foundation]),
        ]
    }

    static func measure(_ products: Products, concurrency: Int, seconds: Double, libraries: [String]) throws -> Result {
        let fields = try Bench.resultLine(of: products.forkFloor, ["\(concurrency)", "\(seconds)"] + libraries, fields: 5)
        guard fields[0] > 0, fields[1] > 0 else { throw BenchError("taskhost-fork-floor forked nothing: \(fields)") }
        return Result(rate: fields[0] / fields[1], cpuPerFork: (fields[2] + fields[3]) / fields[0])
    }

    /// The path of a library this process has mapped.
    static func loadedLibrary(named name: String) -> String? {
        // procfs files report a size of 0: read to the end, not by size.
        guard let file = FileHandle(forReadingAtPath: "/proc/self/maps") else { return nil }
        defer { try? file.close() }
        let maps = String(decoding: file.readDataToEndOfFile(), as: UTF8.self)
        return maps.split(separator: "\n").lazy.compactMap { $0.split(separator: " ", omittingEmptySubsequences: true).last }
            .first { $0.hasSuffix("/" + name) }.map(String.init)
    }
}
