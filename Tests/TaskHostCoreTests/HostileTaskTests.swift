import Foundation
import TaskHostShared
import TaskHostTestSupport
import Testing

@testable import TaskHostCore
@testable import TaskHostIsolation
@testable import TaskHostManifest
@testable import TaskHostStore

/// Plugins that misbehave on purpose. For each: the host (this process) stays
/// up, the outcome says precisely what happened, nothing is half-written, and
/// the next instance runs normally.
@Suite struct HostileTaskTests {
    func run(
        _ entryPoint: String, limits: ResourceLimits = ResourceLimits(), capabilities: [Capability] = [],
        arguments: [String: String] = [:], timeLimit: Duration = .seconds(30)
    ) async throws -> (InstanceRecord, TaskRunner) {
        let runner = try Fixtures.runner()
        var task = Fixtures.task("Hostile", entryPoint, timeLimit: timeLimit, grace: .milliseconds(500))
        task.limits = limits
        task.capabilities = capabilities
        let record = try await runner.run(task, trigger: .application(arguments: arguments))
        // The host carries on: the next instance, in the same runner, completes.
        let next = try await runner.run(Fixtures.task("Next", "FaultyTasks.AsyncEchoTask"))
        #expect(next.outcome == .completed, "an instance after \(entryPoint) runs normally")
        return (record, runner)
    }

    func log(_ record: InstanceRecord, _ runner: TaskRunner) throws -> [String] {
        try runner.store.log(instanceId: record.id).map(\.text)
    }

    @Test func aSegfaultIsACrashAndWhatWasWrittenBeforeItStays() async throws {
        let (record, runner) = try await run("FaultyTasks.SegfaultTask")
        #expect(record.outcome == .crashed(signal: SIGSEGV))
        #expect(
            try runner.store.setting(app: "com.example.tests", key: "before-crash")?.value == "written",
            "a setting acknowledged before the crash is whole")
    }

    @Test func abortIsACrash() async throws {
        let (record, _) = try await run("FaultyTasks.AbortTask")
        #expect(record.outcome == .crashed(signal: SIGABRT))
    }

    @Test func busyCPUIsStoppedByItsCPULimit() async throws {
        let (record, runner) = try await run("FaultyTasks.BusyTask", limits: ResourceLimits(cpuSeconds: 1))
        #expect(record.outcome == .crashed(signal: SIGXCPU) || record.outcome == .crashed(signal: SIGKILL))
        #expect(record.outcome?.description.contains("CPU time limit") == true || record.outcome == .crashed(signal: SIGKILL))
        #expect(try runner.store.instance(idPrefix: record.id)?.sandbox.contains("rlimits") == true)
    }

    @Test func aMemoryBombHitsItsMemoryLimit() async throws {
        let (record, runner) = try await run("FaultyTasks.MemoryBombTask", limits: ResourceLimits(memoryMB: 256))
        guard case .crashed = record.outcome else {
            Issue.record("expected a crash, got \(String(describing: record.outcome))")
            return
        }
        let allocated = try log(record, runner).first { $0.hasPrefix("allocated ") }
        let megabytes = allocated.flatMap { Int($0.split(separator: " ")[1]) }
        #expect(megabytes != nil && megabytes! < 256, "stopped by the 256 MiB limit: \(allocated ?? "no log")")
    }

    @Test func aForkBombIsBoundedAndCleanedUp() async throws {
        await Self.sandboxUserProcesses.acquire()
        defer { Self.sandboxUserProcesses.release() }
        let (record, runner) = try await run("FaultyTasks.ForkBombTask", limits: ResourceLimits(processes: 48))
        #expect(record.outcome == .completed)
        if geteuid() == 0 {
            // As root the task runs as the sandbox user, whose process count the limit bounds.
            let forked = try #require(try runner.store.setting(app: "com.example.tests", key: "forked")?.value)
            guard case .int(let count) = forked else {
                Issue.record("forked is \(forked)")
                return
            }
            #expect(count < 48)
        }
        let pid = try #require(record.pid)
        #expect(kill(-pid, 0) == -1 && errno == ESRCH, "nothing of the instance's process group survives it")
    }

    /// Every instance runs as the same sandbox user. With only the per-user
    /// process rlimit, other processes of that user (another instance's fork
    /// bomb, here 12 sleeping processes) would leave an instance limited to 8
    /// unable to start its threads. In a pids cgroup of its own, it only
    /// counts its own.
    @Test(.enabled(if: Self.canRunAsNobody))
    func anInstancesProcessLimitCountsOnlyItsOwnProcesses() async throws {
        await Self.sandboxUserProcesses.acquire()
        defer { Self.sandboxUserProcesses.release() }
        let sleepers = try Self.sleepingAsNobody(12)
        defer { Self.stop(sleepers) }
        let runner = try Fixtures.runner()
        var task = Fixtures.task("Echo", "FaultyTasks.AsyncEchoTask", timeLimit: .seconds(10), grace: .milliseconds(200))
        task.limits = ResourceLimits(processes: 8)
        let record = try await runner.run(task)
        let lines = try log(record, runner)
        #expect(record.outcome == .completed, "\(String(describing: record.outcome)): \(lines)")
        #expect(record.sandbox.contains("process-limit"), "the instance's own pids cgroup: \(record.sandbox)")
    }

    /// Without a pids cgroup (an unprivileged host), the process limit is the
    /// per-user `RLIMIT_NPROC`, which a spawned worker applies before it
    /// starts its reader thread. When other processes of the sandbox user
    /// already fill it, the worker cannot start that thread: it fails at once
    /// and says why, instead of waiting until its time limit for replies it
    /// would never read.
    @Test(.enabled(if: Self.canRunAsNobody))
    func aWorkerThatCannotStartItsReaderThreadFailsAtOnceSayingWhy() async throws {
        await Self.sandboxUserProcesses.acquire()
        defer { Self.sandboxUserProcesses.release() }
        let sleepers = try Self.sleepingAsNobody(12)
        defer { Self.stop(sleepers) }
        let runner = TaskRunner(
            store: try Fixtures.store(), workerPath: Fixtures.workerPath, sandbox: SandboxOptions(), isolation: .spawn, cgroups: nil)
        var task = Fixtures.task("Echo", "FaultyTasks.AsyncEchoTask", timeLimit: .seconds(20), grace: .milliseconds(200))
        task.limits = ResourceLimits(processes: 8)
        let record = try await runner.run(task)
        guard case .failed(let message) = record.outcome else {
            Issue.record("expected a failure, got \(String(describing: record.outcome)): \(try log(record, runner))")
            return
        }
        #expect(message.contains("reader thread") && message.contains("Limits.Processes"), "\(message)")
        #expect(try #require(record.duration) < .seconds(10), "it did not wait for its time limit")
    }

    /// Without a pids cgroup (an unprivileged host), the process limit is
    /// only the sandbox user's `RLIMIT_NPROC`: the history lists
    /// `process-limit` as not enforced, as `taskhost doctor` does, and with
    /// `--require-sandbox` the instance is refused before plugin code runs.
    @Test func withoutAPidsCgroupTheProcessLimitIsMissingAndARequiredSandboxRefusesTheInstance() async throws {
        await Self.sandboxUserProcesses.acquire()
        defer { Self.sandboxUserProcesses.release() }
        var task = Fixtures.task("Echo", "FaultyTasks.AsyncEchoTask")
        // Without a cgroup the limit is RLIMIT_NPROC, which counts every process
        // and thread of the sandbox user on this machine: zygotes and workers
        // of other tests, and of other suites running beside this one. A high
        // limit keeps this instance from failing for lack of a thread.
        task.limits = ResourceLimits(processes: 100_000)
        let lenient = TaskRunner(
            store: try Fixtures.store(), workerPath: Fixtures.workerPath, sandbox: SandboxOptions(), isolation: .fromEnvironment(),
            cgroups: nil)
        let record = try await lenient.run(task)
        #expect(record.outcome == .completed, "\((try? log(record, lenient)) ?? [])")
        let notEnforced = record.sandbox.components(separatedBy: "NOT enforced: ").dropFirst().first ?? ""
        #expect(notEnforced.contains("process-limit"), "\(record.sandbox)")
        #expect(try log(record, lenient).contains { $0.hasPrefix("host: sandbox: process-limit: NOT enforced") })

        let strict = TaskRunner(
            store: try Fixtures.store(), workerPath: Fixtures.workerPath, sandbox: SandboxOptions(required: true),
            isolation: .fromEnvironment(), cgroups: nil)
        let refused = try await strict.run(task)
        guard case .refused(let message) = refused.outcome else {
            Issue.record("expected a refusal, got \(String(describing: refused.outcome))")
            return
        }
        #expect(message.contains("the sandbox is required but not enforced: ") && message.contains("process-limit"), "\(message)")
        #expect(refused.pid == nil, "its worker was stopped before its start message")
    }

    /// Whether a test may start processes as `nobody` (root, with setpriv).
    static let canRunAsNobody = geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")

    /// Turns for the tests that fill the sandbox user's process count (a fork
    /// bomb, sleepers as `nobody`) and the one that needs room in it without a
    /// pids cgroup: `RLIMIT_NPROC` counts every process of that user, so
    /// these must not overlap.
    static let sandboxUserProcesses = TestTurns()

    /// `count` processes of the sandbox user (`nobody`) that sleep 30 s: ``stop(_:)`` them when done.
    static func sleepingAsNobody(_ count: Int) throws -> [ChildProcess] {
        try (0..<count).map { _ in
            try ChildProcess.start("/usr/bin/setpriv", arguments: ["--reuid=nobody", "--regid=nogroup", "--clear-groups", "sleep", "30"])
        }
    }

    /// Terminates `sleepers` and waits until they are reaped: a zombie still
    /// counts against its user's process limit.
    static func stop(_ sleepers: [ChildProcess]) {
        for sleeper in sleepers { sleeper.signal(SIGTERM) }
        for sleeper in sleepers { _ = sleeper.waitBlocking(timeout: 20) }
    }

    @Test func garbageOnTheIPCSocketIsAProtocolError() async throws {
        let (record, _) = try await run("FaultyTasks.GarbageFramesTask")
        guard case .protocolError(let message) = record.outcome else {
            Issue.record("expected a protocol error, got \(String(describing: record.outcome))")
            return
        }
        #expect(message.contains("exceeds the limit") || message.contains("unknown message"))
    }

    @Test func closingTheIPCSocketIsAProtocolError() async throws {
        let (record, _) = try await run("FaultyTasks.ClosesIPCSocketTask")
        guard case .protocolError(let message) = record.outcome else {
            Issue.record("expected a protocol error, got \(String(describing: record.outcome))")
            return
        }
        #expect(message.contains("IPC socket"))
        #expect(try #require(record.duration) < .seconds(10))
    }

    @Test func theSandboxStopsWhatATaskHasNoBusinessDoing() async throws {
        let listener = try LoopbackListener()
        let store = Fixtures.temporaryDirectory() + "/state"
        let database = try SQLiteTaskStore(stateDirectory: StateDirectory(path: store))
        let runner = TaskRunner(store: database, workerPath: Fixtures.workerPath)
        let task = Fixtures.task("Escape", "FaultyTasks.EscapeArtistTask")
        let record = try await runner.run(
            task, trigger: .application(arguments: ["path": database.path, "port": String(listener.port)]))
        #expect(record.outcome == .completed)
        func value(_ key: String) throws -> String? { try database.setting(app: "com.example.tests", key: key)?.value.description }
        #expect(try value("connect") == "failed: Network is unreachable", "no network without internetClient")
        #expect(try value("unshare") == "failed: Operation not permitted", "seccomp denies namespaces")
        if geteuid() == 0 {
            #expect(try value("open") == "failed: Permission denied", "the state database is out of reach")
            #expect(try value("uid") == "65534", "root's instances run as nobody")
        }
        #expect(record.sandbox.contains("seccomp") && record.sandbox.contains("network"))

        var online = task
        online.capabilities = [.internetClient]
        _ = try await runner.run(online, trigger: .application(arguments: ["port": String(listener.port)]))
        #expect(try value("connect") == "succeeded", "internetClient keeps the network")
    }

    @Test func requireSandboxRefusesWhenALayerIsMissing() async throws {
        let store = try TestSupport.store()
        // Keeping root is a missing layer when the host runs as root; otherwise state isolation is.
        let runner = TaskRunner(store: store, workerPath: Fixtures.workerPath, sandbox: SandboxOptions(user: nil, required: true))
        let record = try await runner.run(Fixtures.task("Sample", "FaultyTasks.AsyncEchoTask"))
        guard let message = refusal(record) else { return }
        #expect(message.hasPrefix("the sandbox is required but not enforced: "))
    }
}

/// A TCP listener on 127.0.0.1 for the duration of a test.
final class LoopbackListener {
    let fd: Int32
    let port: UInt16

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && listen(fd, 16) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw CocoaError(.fileWriteUnknown) }
        port = UInt16(bigEndian: address.sin_port)
    }

    deinit { close(fd) }
}
