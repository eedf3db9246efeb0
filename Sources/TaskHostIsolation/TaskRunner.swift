import CTaskHostABI
import Foundation
import Logging
import Synchronization
import TaskHostConcurrency
package import TaskHostCore
import TaskHostIPC
package import TaskHostManifest
import TaskHostShared
package import TaskHostStore

/// Runs task instances in isolated worker processes and records them.
///
/// Each instance gets a fresh `taskhost-worker` process; the calling task
/// waits while a dedicated thread supervises it. The store is only touched by
/// the host: the worker asks, the host checks and writes.
package final class TaskRunner: Sendable {
    /// The store instances and settings are recorded in.
    package let store: any TaskStore
    /// The worker executable.
    package let workerPath: String
    /// How instances are sandboxed.
    package let sandbox: SandboxOptions
    /// How instances get their process.
    package let isolation: IsolationMode
    /// Where instance starts, zygotes and missing sandbox layers are counted.
    package let metrics: HostMetrics
    private let sandboxIdentity: (uid: UInt32, gid: UInt32)?
    private let zygotes: ZygotePool?
    private let cgroups: ProcessCgroups?
    /// What an instance gets where there are no pids cgroups (what `doctor` reports).
    private let processLimitFallback: SandboxLayer?
    private let workingDirectories: WorkingDirectoryPool
    /// Starts a worker process (`WorkerProcess.spawn`; tests make it fail).
    private let spawnWorker: @Sendable (_ executable: String, _ environment: [String]) throws(WorkerSpawnError) -> WorkerProcess

    /// Creates a runner.
    package convenience init(
        store: any TaskStore, workerPath: String, sandbox: SandboxOptions = SandboxOptions(),
        isolation: IsolationMode = .fromEnvironment(), metrics: HostMetrics = .disabled
    ) {
        self.init(
            store: store, workerPath: workerPath, sandbox: sandbox, isolation: isolation, cgroups: ProcessCgroups.detect(), metrics: metrics
        )
    }

    /// Creates a runner that puts each instance in a pids cgroup of `cgroups`,
    /// or, with `nil`, limits its processes with the per-user `RLIMIT_NPROC`
    /// (what an unprivileged host gets; tests use it to take that path as root).
    init(
        store: any TaskStore, workerPath: String, sandbox: SandboxOptions, isolation: IsolationMode, cgroups: ProcessCgroups?,
        metrics: HostMetrics = .disabled,
        spawnWorker: @escaping @Sendable (_ executable: String, _ environment: [String]) throws(WorkerSpawnError) -> WorkerProcess = {
            (executable: String, environment: [String]) throws(WorkerSpawnError) -> WorkerProcess in
            try WorkerProcess.spawn(executable: executable, environment: environment)
        }
    ) {
        self.spawnWorker = spawnWorker
        self.store = store
        self.workerPath = workerPath
        self.sandbox = sandbox
        self.isolation = isolation
        self.metrics = metrics
        self.sandboxIdentity = sandbox.resolveIdentity()
        self.workingDirectories = WorkingDirectoryPool(sandbox: sandbox, identity: sandboxIdentity)
        self.cgroups = cgroups
        self.processLimitFallback =
            cgroups == nil ? ProcessCgroups.fallbackLayer(ProcessCgroups.unavailability() ?? "this runner makes none") : nil
        self.zygotes = isolation == .prefork ? ZygotePool(workerPath: workerPath, cgroups: cgroups, metrics: metrics) : nil
    }

    /// Stops the pre-forked workers of libraries other than `libraryPaths`
    /// (plugins replaced or removed); the next instance of a new version gets
    /// a zygote of its own.
    package func retireZygotes(keeping libraryPaths: Set<String>) {
        zygotes?.retire(keeping: libraryPaths)
    }

    /// How many pre-forked workers run.
    package var zygoteCount: Int { zygotes?.count ?? 0 }

    /// Their process ids (tests).
    var zygotePids: [pid_t] { zygotes?.pids ?? [] }

    /// Runs one instance of `task` for `trigger` and returns its record once it is over.
    ///
    /// - Parameters:
    ///   - libraryPath: the resolved library (see ``LibraryResolver``).
    ///   - cancellation: cancels the instance from elsewhere (shutdown, Ctrl-C).
    ///   - settlements: retries the write of the instance's outcome until it
    ///     succeeds or the host stops (`nil`: one attempt).
    ///   - onLog: sees every log line as it arrives.
    ///   - onProgress: sees the task's progress as it arrives (at most one
    ///     value per 100 ms, the last one always), on the supervisor's thread.
    package func run(
        app: AppManifest, task: TaskDeclaration, libraryPath: String, trigger: TriggerEvent,
        instanceId: String = RandomToken.uuid(), cancellation: InstanceCancellation? = nil,
        settlements: SettlementRetry? = nil, onLog: (@Sendable (LogLine) -> Void)? = nil,
        onProgress: (@Sendable (UInt32) -> Void)? = nil
    ) async throws(InstanceRunError) -> InstanceRecord {
        let result: Result<InstanceRecord, InstanceRunError> = await withCheckedContinuation { continuation in
            // A thread of its own: supervision blocks in poll(2).
            BlockingExecutor.supervisors.execute {
                continuation.resume(
                    returning: Result { () throws(InstanceRunError) -> InstanceRecord in
                        try self.runBlocking(
                            app: app, task: task, libraryPath: libraryPath, trigger: trigger, instanceId: instanceId,
                            cancellation: cancellation, settlements: settlements, onLog: onLog, onProgress: onProgress)
                    })
            }
        }
        return try result.get()
    }

    /// ``run(app:task:libraryPath:trigger:instanceId:cancellation:settlements:onLog:onProgress:)`` on the calling thread.
    package func runBlocking(
        app: AppManifest, task: TaskDeclaration, libraryPath: String, trigger: TriggerEvent,
        instanceId: String = RandomToken.uuid(), cancellation: InstanceCancellation? = nil,
        settlements: SettlementRetry? = nil, onLog: (@Sendable (LogLine) -> Void)? = nil,
        onProgress: (@Sendable (UInt32) -> Void)? = nil
    ) throws(InstanceRunError) -> InstanceRecord {
        var record = InstanceRecord(
            id: instanceId, app: app.identity.name, task: task.name, triggerKind: trigger.kind,
            triggerId: trigger.triggerId, attempt: trigger.attempt, hostPid: getpid(), startedAt: Date(),
            appVersion: app.identity.version, replayOf: trigger.replayOf)
        let events = RunEvents(store: store, app: app.identity.name, instanceId: instanceId, onLog: onLog, onProgress: onProgress)
        let workingDirectory = workingDirectories.take()
        var reuseDirectory = false  // only once every process of the instance is known to be gone
        defer { workingDirectories.give(workingDirectory, reuse: reuseDirectory) }
        var policy = sandbox.policy(for: task, workingDirectory: workingDirectory, identity: sandboxIdentity)
        // The instance's pids cgroup: a spare's, or made for it below.
        var cgroup: InstanceCgroup?
        defer {
            cgroup?.remove()
            reuseDirectory = cgroup != nil
        }
        var hostLayers: [SandboxLayer] = []
        var spareCgroup: InstanceCgroup?

        // The process first, so that the instance's row is written once, with its pid.
        var process: WorkerProcess?
        var replenish: (@Sendable () -> Void)?
        // A forked worker gets its working directory right before its start
        // message, so that both arrive while it is awake.
        var handOver: (() -> Void)?
        var spawnError: WorkerSpawnError?
        if let forked = zygotes?.process(for: task, libraryPath: libraryPath, policy: policy) {
            process = forked.process
            replenish = forked.replenish
            spareCgroup = forked.cgroup
            handOver = { forked.process.handOver(workingDirectory: workingDirectory) }
        } else {
            if zygotes != nil { metrics.zygoteFallback() }
            do {
                process = try spawnWorker(workerPath, WorkerProcess.environment(instanceId: instanceId))
            } catch {
                // Out of descriptors, memory or processes: nothing ran and
                // nothing is recorded; the caller starts it again later.
                if error.code == .resourcesExhausted { throw .resourcesExhausted(error) }
                spawnError = error
            }
        }
        record.pid = process?.pid
        // In its own pids cgroup (before it runs plugin code), the instance
        // needs no per-user process rlimit.
        if let process {
            cgroup = cgroups?.cgroup(for: process.pid, name: instanceId, maxProcesses: task.limits.processes, current: spareCgroup)
        }
        if let cgroup {
            policy.processes = 0
            hostLayers.append(cgroup.layer)
        } else if process != nil {
            // RLIMIT_NPROC only: the layer is missing, as `doctor` says.
            hostLayers.append(processLimitFallback ?? ProcessCgroups.fallbackLayer("cannot make the instance's pids cgroup"))
        }
        for layer in hostLayers where layer.isMissing { events.log(LogLine(stream: .host, text: "host: sandbox: \(layer)")) }
        let missing = hostLayers.filter(\.isMissing)
        if sandbox.required, !missing.isEmpty, let refused = process {
            // Refused before any plugin code runs, as the worker refuses what it cannot enforce.
            refused.dispose()
            process = nil
            record.pid = nil
            spawnError = WorkerSpawnError(
                message: "the sandbox is required but not enforced: " + missing.map(\.description).joined(separator: "; "),
                code: .sandboxNotEnforced)
        }

        let report: SupervisionReport
        var insertError: StoreError?
        if let process {
            // The instance's row is written before the start message goes
            // out, so before any plugin code runs: a plugin that kills the host
            // cannot leave an instance without a row, and a host that dies
            // leaves a row without an outcome, which the next open of the store
            // settles as abandoned (its trigger, still claimed, runs again).
            // The write survives the death of the process (WAL, no fsync of its own).
            let recordAndHandOver = { [store, metrics] in
                do throws(StoreError) {
                    try store.insertInstance(record)
                    metrics.instanceStarted(app: app.identity.name, task: task.name)
                } catch {
                    insertError = error
                    process.killGroup()
                }
                handOver?()
            }
            let supervisor = InstanceSupervisor(
                process: process,
                limits: SupervisionLimits(timeLimit: task.timeLimit, gracePeriod: task.cancellationGracePeriod),
                events: events, cancellation: cancellation)
            report = supervisor.supervise(
                first: .start(
                    StartRequest(
                        libraryPath: libraryPath, entryPoint: task.entryPoint, taskName: task.name,
                        taskId: StableID.uuid(for: app.identity.name + "/" + task.name), instanceId: instanceId,
                        triggerId: trigger.triggerId, attempt: UInt32(clamping: trigger.attempt), triggerKind: trigger.abiKind,
                        payload: trigger.payload, channelId: trigger.channelId, headers: trigger.headers,
                        arguments: trigger.arguments, sandbox: policy, cSignature: task.cSignature)),
                beforeSend: recordAndHandOver, afterSend: replenish)
            if let insertError { throw .store(insertError) }
        } else {
            do throws(StoreError) { try store.insertInstance(record) } catch { throw .store(error) }
            metrics.instanceStarted(app: app.identity.name, task: task.name)
            let error = spawnError?.description ?? "no worker process"
            events.log(LogLine(stream: .host, text: "host: \(error)"))
            report = SupervisionReport(outcome: .refused(error))
        }

        var outcome = report.outcome
        if case .refused(let message) = outcome, !message.contains(libraryPath) {
            outcome = .refused("\(message) (library \(libraryPath))")
        }
        record.endedAt = Date()
        record.outcome = outcome
        record.progress = report.progress
        record.sandbox = SandboxOptions.summary(report.sandbox + hostLayers)
        for layer in report.sandbox + hostLayers where layer.isMissing { metrics.sandboxLayerMissing(layer.name) }
        let pendingLog = events.takePending()
        var finishError: StoreError?
        let finish = { [store] () throws(StoreError) -> Void in
            do throws(StoreError) {
                try store.finishInstance(
                    id: instanceId, endedAt: record.endedAt!, outcome: outcome, progress: report.progress, sandbox: record.sandbox,
                    appendingLog: pendingLog)
            } catch {
                finishError = error
                throw error
            }
        }
        if let settlements {
            // The outcome is retried like the trigger's settlement; given up, the
            // row stays without one and the next open of the store settles it as abandoned.
            if !settlements.performBlocking("record the outcome of instance \(instanceId)", metadata: ["instance": "\(instanceId)"], finish)
            {
                throw .store(finishError ?? StoreError("cannot record the outcome of instance \(instanceId)"))
            }
        } else {
            do throws(StoreError) { try finish() } catch { throw .store(error) }
        }
        if let error = events.storeError { throw .store(error) }
        return record
    }
}

/// Why ``TaskRunner`` returned no record of an instance.
package enum InstanceRunError: Error, Sendable, CustomStringConvertible {
    /// The store could not record the instance.
    case store(StoreError)
    /// The host ran out of descriptors, memory or processes (`EMFILE`,
    /// `ENFILE`, `ENOMEM`, `EAGAIN`) while starting the worker. Nothing ran
    /// and nothing was recorded: a transient condition of the host, not a
    /// failure of the task; start it again later.
    case resourcesExhausted(WorkerSpawnError)

    /// What kind of failure this is, for code to act on.
    package enum Code: String, Sendable, CaseIterable {
        /// The store failed (``InstanceRunError/underlying`` is the ``StoreError``, with its own code).
        case store
        /// The host is out of resources: transient, start the instance again later.
        case resourcesExhausted
    }

    /// What kind of failure this is.
    package var code: Code {
        switch self {
        case .store: .store
        case .resourcesExhausted: .resourcesExhausted
        }
    }

    /// The error underneath: the ``StoreError`` or the ``WorkerSpawnError``.
    package var underlying: any Error {
        switch self {
        case .store(let error): error
        case .resourcesExhausted(let error): error
        }
    }

    /// The `errno` of the system call that failed, if one did.
    package var errno: Int32? {
        if case .resourcesExhausted(let error) = self { return error.errno }
        return nil
    }

    /// What went wrong and what to do.
    package var description: String {
        switch self {
        case .store(let error): error.description
        case .resourcesExhausted(let error):
            "\(error.message): the host is out of descriptors, memory or processes; try again once fewer are in use (serve puts the trigger back in the queue and retries it)"
        }
    }
}
