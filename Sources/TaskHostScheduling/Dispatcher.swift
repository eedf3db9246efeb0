import Foundation
package import Logging
import Synchronization
import TaskHostConcurrency
package import TaskHostConditions
package import TaskHostCore
package import TaskHostIsolation
import TaskHostManifest
package import TaskHostPlugins
package import TaskHostShared
package import TaskHostStore

/// Takes triggers from the durable queue and runs their tasks, each instance
/// in its own worker process, within the concurrency limits. A run that does
/// not complete is retried with backoff, then dead-lettered; a trigger
/// claimed by a host that died is run again (at-least-once). A trigger
/// whose task is not in the registry is parked, not run nor dead-lettered,
/// until the task is registered again.
package final class Dispatcher: Sendable {
    /// What the dispatcher needs of the store: instances and the trigger queue.
    package typealias Store = any TaskStore & TriggerQueueStore

    struct Running {
        var app: String
        var task: String
        var cancellation: InstanceCancellation
    }

    struct State {
        /// What runs, by a key of its own per claim, never by trigger id: a
        /// trigger released by its run can be claimed again before that run
        /// has left this table, and both entries must stay apart.
        var running: [Int: Running] = [:]
        /// The key of the next claimed run.
        var nextRunKey = 0
        var stopping = false
        /// No claims before this moment: the host ran out of resources starting an instance.
        var pausedUntil: ContinuousClock.Instant?
        /// The pause after the next resource exhaustion (doubles up to ``Dispatcher/maxResourcePause``).
        var nextPause = Dispatcher.minResourcePause
        /// When the parked triggers of registered tasks were last made pending:
        /// at this registry generation, after this many triggers parked by a run.
        var unparked: UnparkMark?
        /// Triggers parked by a run (their task was unregistered after the claim).
        var parkedByRuns = 0
        /// When the waiting triggers of tasks whose conditions hold were last
        /// resumed: at this registry and conditions generation.
        var resumed: ResumeMark?
        /// When they were last resumed (with ``Dispatcher/resumeInterval``, again after it).
        var resumedAt: ContinuousClock.Instant?
        /// Claims asked of the store so far (tests: parked triggers cause no busy loop).
        var claims = 0
        /// Runs that have ended and left `running` (tests).
        var finishedRuns = 0
        /// Claims are failing (the store is unreachable): logged once per streak.
        var claimsFailing = false

        /// Sets ``claimsFailing``; returns what it was.
        mutating func setClaimsFailing(_ failing: Bool) -> Bool {
            defer { claimsFailing = failing }
            return claimsFailing
        }
    }

    struct UnparkMark: Equatable {
        var generation: Int
        var parkedByRuns: Int
    }

    /// The first pause of claims after a worker could not start for lack of
    /// resources; it doubles while starts keep failing, up to ``maxResourcePause``.
    static let minResourcePause: Duration = .milliseconds(500)
    /// The longest pause of claims for lack of resources.
    static let maxResourcePause: Duration = .seconds(8)

    /// Where triggers are claimed and settled.
    package let store: Store
    /// Where the dispatcher's store writes run (claims, settlements): an fsync,
    /// or a wait of up to the busy timeout (10 s) for the write lock a CLI
    /// command may hold, must not block a thread of the cooperative pool, which
    /// the push endpoint's handlers share. Several threads, so that concurrent
    /// settlements meet in the store's group commit and share one fsync.
    let storeWrites = BlockingExecutor(name: "taskhost-store", maxThreads: 16)
    /// Runs the claimed triggers' instances.
    package let runner: TaskRunner
    /// The tasks that can run; a trigger for any other task is parked.
    package let registry: TaskRegistry
    /// How many instances run at once, in all and per task.
    package let limits: ConcurrencyLimits
    /// When a failed trigger is retried, and when it is dead-lettered.
    package let retryPolicy: RetryPolicy
    /// This host's id in the queue's `claimed_by` column: the shared store's
    /// host id (``SharedQueueStore/hostId``), else one made for this run.
    package let owner: String
    private let pollInterval: Duration
    let logger: Logger
    private let wakeSignal = WakeSignal()
    let state = Mutex(State())
    private let observers = Mutex<[@Sendable (RegisteredTask, InstanceOutcome) -> Void]>([])
    /// Retries the writes that settle triggers and instances until they succeed or the host stops.
    package let settlements: SettlementRetry
    /// How long settlements that keep failing are retried once ``shutdown()`` was called.
    package static let settlementPatience: Duration = .seconds(5)

    /// Creates a dispatcher.
    package init(
        store: Store, runner: TaskRunner, registry: TaskRegistry, limits: ConcurrencyLimits = ConcurrencyLimits(),
        retryPolicy: RetryPolicy = RetryPolicy(), pollInterval: Duration = .milliseconds(250), owner: String? = nil,
        conditions: ConditionMonitor? = nil, resumeInterval: Duration? = nil, logger: Logger = Logger(label: "taskhost.dispatcher")
    ) {
        self.store = store
        self.runner = runner
        self.registry = registry
        self.limits = limits
        self.retryPolicy = retryPolicy
        self.pollInterval = pollInterval
        self.conditions = conditions
        self.resumeInterval = resumeInterval
        self.logger = logger
        self.settlements = SettlementRetry(logger: logger)
        self.owner = owner ?? "\(ProcessInfo.processInfo.hostName)/\(getpid())/\(RandomToken.hex(bytes: 4))"
        // A task registered (a plugin dropped in, or enabled): its parked triggers run now.
        let wake = wakeSignal
        registry.observeChanges { wake.signal() }
        // A condition changed: the waiting triggers of the tasks whose conditions hold now run.
        conditions?.observeChanges { wake.signal() }
        logConditionChanges()
    }

    /// Looks at the queue now rather than at the next poll (new triggers arrived).
    package func wake() { wakeSignal.signal() }

    /// How many instances are running.
    package var runningCount: Int { state.withLock { $0.running.count } }

    /// The host's conditions (`nil`: not checked, every task's conditions hold).
    package let conditions: ConditionMonitor?
    /// With a store other hosts share: how often the waiting triggers of the tasks
    /// whose conditions hold here are resumed even though nothing changed here
    /// (another host, whose conditions did not hold, made them wait).
    package let resumeInterval: Duration?

    /// How many times the dispatcher asked the store for triggers.
    var claimCount: Int { state.withLock { $0.claims } }
    /// How many runs have ended (tests).
    var finishedRuns: Int { state.withLock { $0.finishedRuns } }

    /// Whether `task` of `app` can start an instance now (it is registered,
    /// its conditions hold, and within the limits).
    package func hasCapacity(app: String, task: String) -> Bool {
        guard let registered = registry.lookup(app: app, task: task), waitReason(registered.task.conditions) == nil else { return false }
        return state.withLock { state in
            !state.stopping && state.running.count < limits.global
                && state.running.values.count { $0.app == app && $0.task == task } < limits.perTask
        }
    }

    /// Calls `observer` with each instance's outcome once it is recorded (the
    /// plugin manager counts crashes this way).
    package func observeOutcomes(_ observer: @escaping @Sendable (RegisteredTask, InstanceOutcome) -> Void) {
        observers.withLock { $0.append(observer) }
    }

    /// Cancels the running instances of `app` with `reason` (a plugin was
    /// removed: `Uninstall`); returns how many were asked to stop.
    @discardableResult
    package func cancelInstances(app: String, reason: BackgroundTaskCancellationReason) -> Int {
        let running = state.withLock { state in state.running.values.filter { $0.app == app } }
        for instance in running { instance.cancellation.cancel(reason) }
        return running.count
    }

    /// Stops claiming, cancels running instances with `Terminating`, and makes
    /// ``run()`` return once they have ended (each within its grace period).
    /// Their triggers go back to the queue; settlement writes that keep
    /// failing give up after ``settlementPatience`` (the next start recovers them).
    package func shutdown() {
        let running = state.withLock { state -> [Running] in
            state.stopping = true
            return Array(state.running.values)
        }
        settlements.stop(after: Self.settlementPatience)
        for instance in running { instance.cancellation.cancel(.terminating) }
        wakeSignal.signal()
    }

    /// ``shutdown()`` without waiting: running instances are killed at once
    /// (their outcome is `killed(Terminating)`, their triggers go back to the
    /// queue) and settlement writes that fail are not retried.
    package func shutdownNow() {
        shutdown()
        settlements.stop(after: .zero)
        let running = state.withLock { Array($0.running.values) }
        for instance in running { instance.cancellation.cancelNow(.terminating) }
    }

    /// Runs until ``shutdown()`` (or cancellation of the calling task).
    /// `onRecovered` is called once the triggers that a host that stopped
    /// had claimed are back in the queue (or could not be), before the first claim.
    package func run(onRecovered: @Sendable () -> Void = {}) async {
        do {
            let recovered = try await storeWrites.run { [store, owner] () throws(StoreError) -> Int in
                try store.recoverAbandoned(owner: owner, now: Date())
            }
            if recovered > 0 {
                logger.notice("requeued triggers left running by a host that stopped", metadata: ["count": "\(recovered)"])
            }
        } catch {
            logger.error("cannot recover abandoned triggers", metadata: ["error": "\(error)"])
        }
        onRecovered()
        await withTaskGroup(of: Void.self) { group in
            while !state.withLock({ $0.stopping }) {
                if Task.isCancelled {
                    shutdown()
                    break
                }
                // The claim writes to the store: off the cooperative pool.
                for (key, trigger) in await storeWrites.run({ [self] in claim() }) {
                    group.addTask { await self.execute(trigger, key: key) }
                }
                await wakeSignal.wait(timeout: pollInterval)
            }
            await group.waitForAll()
        }
        logger.info("dispatcher stopped")
    }

    /// Claims what may start now, each with its key in `running`.
    private func claim() -> [(key: Int, trigger: QueuedTrigger)] {
        let (free, counts) = state.withLock { state -> (Int, [String: Int]) in
            var counts: [String: Int] = [:]
            for running in state.running.values { counts[running.app + "/" + running.task, default: 0] += 1 }
            if let until = state.pausedUntil, ContinuousClock.now < until { return (0, counts) }
            return (limits.global - state.running.count, counts)
        }
        guard free > 0 else { return [] }
        unparkRegisteredTasks()
        resumeTasksWhoseConditionsHold()
        var taken = counts
        var parked = 0
        var waited = 0
        let claimed: [QueuedTrigger]
        do {
            state.withLock { $0.claims += 1 }
            claimed = try store.claim(limit: free, owner: owner, now: Date()) { app, task in
                guard let registered = registry.lookup(app: app, task: task) else {
                    parked += 1
                    return .park(reason: Self.notRunnableHere(app: app, task: task, registry: registry))
                }
                if let reason = waitReason(registered.task.conditions) {
                    waited += 1
                    return .wait(reason: reason)
                }
                let key = app + "/" + task
                guard taken[key, default: 0] < limits.perTask else { return .skip }
                taken[key, default: 0] += 1
                return .take
            }
        } catch {
            if !state.withLock({ $0.setClaimsFailing(true) }) {
                logger.error("cannot claim triggers; dispatch pauses and retries at every poll", metadata: ["error": "\(error)"])
            }
            return []
        }
        if state.withLock({ $0.setClaimsFailing(false) }) { logger.notice("claims succeed again; dispatch resumes") }
        if parked > 0 {
            logger.notice("parked triggers of tasks not loaded on this host; they run once their task is", metadata: ["count": "\(parked)"])
        }
        if waited > 0 {
            logger.info("triggers wait for their task's conditions; they run once these hold", metadata: ["count": "\(waited)"])
        }
        // They left the claim's index: look again at once for what was behind them.
        if parked + waited > 0 { wakeSignal.signal() }
        return state.withLock { state in
            claimed.map { trigger in
                let key = state.nextRunKey
                state.nextRunKey += 1
                state.running[key] = Running(app: trigger.app, task: trigger.task, cancellation: InstanceCancellation())
                return (key, trigger)
            }
        }
    }

    private func execute(_ trigger: QueuedTrigger, key: Int) async {
        defer {
            state.withLock { state in
                state.running.removeValue(forKey: key)
                state.finishedRuns += 1
            }
            wakeSignal.signal()
        }
        let metadata: Logger.Metadata = ["trigger": "\(trigger.id)", "task": "\(trigger.task)", "attempt": "\(trigger.attempts)"]
        guard let registered = registry.lookup(app: trigger.app, task: trigger.task) else {
            // Unregistered since the claim: it waits, its attempt not counted, until the task is back.
            let reason = Self.notRunnableHere(app: trigger.app, task: trigger.task, registry: registry)
            await settle("park the trigger", trigger) { [store] in try store.park(id: trigger.id, note: reason) }
            // Were the task registered again meanwhile, the next claim unparks it.
            state.withLock { $0.parkedByRuns += 1 }
            logger.notice("parked a trigger whose task is not loaded on this host", metadata: metadata)
            return
        }
        let (cancellation, stopping) = state.withLock { state in
            // Only this run removes its entry (when it returns).
            (state.running[key]?.cancellation ?? InstanceCancellation(), state.stopping)
        }
        if stopping { cancellation.cancel(.terminating) }

        let record: InstanceRecord
        do throws(InstanceRunError) {
            record = try await runner.run(
                app: registered.app, task: registered.task, libraryPath: registered.libraryPath, trigger: trigger.event,
                cancellation: cancellation, settlements: settlements)
        } catch {
            switch error {
            case .resourcesExhausted(let message):
                // Transient: not the task's failure; it goes back without
                // losing an attempt, and claims pause so that the host recovers.
                let pause = state.withLock { state in
                    let pause = state.nextPause
                    state.pausedUntil = ContinuousClock.now + pause
                    state.nextPause = min(pause * 2, Self.maxResourcePause)
                    return pause
                }
                await settle("release the trigger", trigger) { [store] in
                    try store.release(id: trigger.id, instanceId: nil, note: "not started, the host is out of resources: \(message)")
                }
                logger.warning(
                    "cannot start an instance: the host is out of resources; the trigger goes back to the queue",
                    metadata: metadata.merging(["error": "\(message)", "pause": "\(pause)"]) { $1 })
            case .store(let error):
                logger.error(
                    "cannot record an instance; the trigger goes back to the queue",
                    metadata: metadata.merging(["error": "\(error)"]) { $1 })
                await settle("release the trigger", trigger) { [store] in
                    try store.release(id: trigger.id, instanceId: nil, note: "store error: \(error)")
                }
            }
            return
        }
        state.withLock { $0.nextPause = Self.minResourcePause }
        let outcome = record.outcome ?? .protocolError("no outcome")
        runner.metrics.instanceEnded(
            app: trigger.app, task: trigger.task, outcome: outcome,
            startLatency: .seconds(record.startedAt.timeIntervalSince(trigger.availableAt)),
            duration: record.endedAt.map { .seconds($0.timeIntervalSince(record.startedAt)) })
        for observer in observers.withLock({ $0 }) { observer(registered, outcome) }
        var logMetadata = metadata
        logMetadata["instance"] = "\(record.id)"
        logMetadata["outcome"] = "\(outcome.code)"
        switch outcome {
        case .completed:
            await settle("mark the trigger done", trigger) { [store] in try store.markDone(id: trigger.id, instanceId: record.id) }
            logger.info("instance completed", metadata: logMetadata)
        case .canceled(.terminating), .killed(.terminating):
            await settle("release the trigger", trigger) { [store] in
                try store.release(id: trigger.id, instanceId: record.id, note: "host shut down during the run")
            }
            logger.notice("instance stopped by shutdown; the trigger stays queued", metadata: logMetadata)
        case .canceled(.uninstall), .killed(.uninstall):
            await settle("dead-letter the trigger", trigger) { [store] in
                try store.markDead(id: trigger.id, instanceId: record.id, error: "the plugin was removed during the run")
            }
            logger.notice("instance stopped because its plugin was removed; dead-lettered", metadata: logMetadata)
        case .refused(let message):
            await settle("dead-letter the trigger", trigger) { [store] in
                try store.markDead(id: trigger.id, instanceId: record.id, error: "refused: \(message)")
            }
            logger.error("instance refused; dead-lettered", metadata: logMetadata)
        default:
            if trigger.attempts >= retryPolicy.maxAttempts {
                await settle("dead-letter the trigger", trigger) { [store] in
                    try store.markDead(id: trigger.id, instanceId: record.id, error: outcome.description)
                }
                logger.error("instance did not complete; no attempt left, dead-lettered", metadata: logMetadata)
            } else {
                let delay = retryPolicy.delay(afterAttempts: trigger.attempts)
                let at = Date().addingTimeInterval(Double(delay.components.seconds) + Double(delay.components.attoseconds) / 1e18)
                await settle("schedule the trigger's retry", trigger) { [store] in
                    try store.markRetrying(id: trigger.id, instanceId: record.id, error: outcome.description, availableAt: at)
                }
                logger.warning("instance did not complete; retrying", metadata: logMetadata.merging(["retryIn": "\(delay)"]) { $1 })
            }
        }
    }

    /// Writes a trigger's settlement, retrying until it succeeds or the host stops.
    private func settle(_ what: String, _ trigger: QueuedTrigger, _ change: @escaping @Sendable () throws -> Void) async {
        await settlements.perform(
            "\(what) \(trigger.id)", metadata: ["trigger": "\(trigger.id)", "task": "\(trigger.task)"], on: storeWrites, change)
    }
}
