package import Foundation
package import TaskHostCore

/// Where a queued trigger is in its life.
package enum TriggerState: String, Sendable, CaseIterable {
    /// Waiting to run.
    case pending
    /// Claimed by a host; an instance is running.
    case running
    /// Its last run did not complete; it runs again at `availableAt`.
    case retrying
    /// It ran to completion.
    case done
    /// It failed every attempt (or cannot run at all); it waits for `taskhost retry`.
    case dead
    /// Its time to live ran out before it could run (`X-WNS-TTL`).
    case expired
    /// Its task cannot run on this host now (not loaded: its plugin was
    /// removed or is being replaced; or disabled, or its plugin quarantined):
    /// it waits, out of the claim's way, until the task is registered again
    /// (then it is pending). Its last error says why.
    case parked
    /// Its task requires conditions (the manifest's `"Conditions"`) that did
    /// not hold when it was read: it waits, out of the claim's way and without
    /// an attempt counted, until they all hold (then it is pending). Its time
    /// to live still applies; its last error names the conditions.
    case waiting
    /// A foreground listener of its app claimed it within its task's claim
    /// window (`claim <id>` on `GET /listen/v1/APP`): the app handled the push
    /// itself, and no instance runs for it. Settled, like `done`.
    case claimed
}

/// What a claim does with a runnable trigger it reads.
package enum ClaimDecision: Sendable, Equatable {
    /// Claim it: mark it running and count the attempt.
    case take
    /// Leave it as it is (its task is at its concurrency limit).
    case skip
    /// Park it without counting an attempt, `reason` as its last error: its
    /// task cannot run on this host now. It leaves the claim's index, so it
    /// is not read again until it is unparked.
    case park(reason: String)
    /// Make it wait without counting an attempt, `reason` as its last error:
    /// its task's conditions do not hold. It leaves the claim's index until
    /// ``TriggerQueueStore/resumeWaiting(tasks:)`` names its task.
    case wait(reason: String)
}

/// A trigger to add to the queue.
package struct NewTrigger: Sendable, Equatable {
    /// The trigger's stable id (also the push's `X-WNS-Msg-ID`).
    package var id: String
    /// The app and task it fires.
    package var app: String
    package var task: String
    /// What fired, and what it carries.
    package var event: TriggerEvent
    /// After this moment it is not run but recorded as expired.
    package var expiresAt: Date?
    /// When it may run first.
    package var availableAt: Date
    /// A Web Push `Topic`: enqueueing it removes the messages of the same
    /// channel (subscription) and topic that have not run yet (RFC 8030 section 5.4).
    package var topic: String?

    /// Creates a trigger; `event.triggerId` becomes its id.
    package init(
        app: String, task: String, event: TriggerEvent, expiresAt: Date? = nil, availableAt: Date = Date(), topic: String? = nil
    ) {
        self.id = event.triggerId
        self.app = app
        self.task = task
        self.event = event
        self.expiresAt = expiresAt
        self.availableAt = availableAt
        self.topic = topic
    }

    /// A new trigger id: 32 hex digits, the first 12 the creation time in
    /// milliseconds, the other 20 random (80 bits). Ids of triggers created
    /// together sort together, so inserting a burst touches a few index pages
    /// instead of one random page per push; a message id is not a secret, and
    /// 80 random bits keep it unguessable all the same.
    package static func newId(now: Date = Date()) -> String {
        let milliseconds = UInt64(max(0, now.timeIntervalSince1970 * 1000)) & 0xFFFF_FFFF_FFFF
        let prefix = String(milliseconds, radix: 16)
        return String(repeating: "0", count: 12 - prefix.count) + prefix + RandomToken.hex(bytes: 10)
    }
}

/// A trigger in the queue.
package struct QueuedTrigger: Sendable, Equatable {
    package var id: String
    package var app: String
    package var task: String
    package var event: TriggerEvent
    package var state: TriggerState
    /// Runs started so far.
    package var attempts: Int
    package var createdAt: Date
    package var availableAt: Date
    package var expiresAt: Date?
    /// Why the last run did not complete.
    package var lastError: String?
    /// The last instance that ran it.
    package var lastInstanceId: String?

    /// Creates a trigger as a store read it.
    package init(
        id: String, app: String, task: String, event: TriggerEvent, state: TriggerState, attempts: Int, createdAt: Date,
        availableAt: Date, expiresAt: Date?, lastError: String?, lastInstanceId: String?
    ) {
        self.id = id
        self.app = app
        self.task = task
        self.event = event
        self.state = state
        self.attempts = attempts
        self.createdAt = createdAt
        self.availableAt = availableAt
        self.expiresAt = expiresAt
        self.lastError = lastError
        self.lastInstanceId = lastInstanceId
    }
}

/// How failed runs are retried: exponential backoff with jitter, a capped
/// number of attempts, then the dead-letter state.
package struct RetryPolicy: Sendable, Equatable {
    /// Runs before a trigger is dead-lettered.
    package var maxAttempts: Int
    /// The delay before the first retry; it doubles with each attempt.
    package var baseDelay: Duration
    /// The longest delay between attempts.
    package var maxDelay: Duration

    /// Creates a policy.
    package init(maxAttempts: Int = 5, baseDelay: Duration = .seconds(2), maxDelay: Duration = .seconds(300)) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// The delay after `attempts` failed runs: base × 2^(attempts−1), capped,
    /// with ±25 % jitter so that many failing triggers do not retry in lockstep.
    package func delay<G: RandomNumberGenerator>(afterAttempts attempts: Int, using generator: inout G) -> Duration {
        let base = seconds(baseDelay) * pow(2, Double(max(0, attempts - 1)))
        let capped = min(base, seconds(maxDelay))
        let jittered = capped * Double.random(in: 0.75...1.25, using: &generator)
        return .milliseconds(Int64(jittered * 1000))
    }

    /// ``delay(afterAttempts:using:)`` with the system's generator.
    package func delay(afterAttempts attempts: Int) -> Duration {
        var generator = SystemRandomNumberGenerator()
        return delay(afterAttempts: attempts, using: &generator)
    }

    private func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

/// The durable queue of triggers. Every operation is one transaction.
package protocol TriggerQueueStore: Sendable {
    /// Adds triggers in one transaction (group commit). A trigger whose id is
    /// already queued is left as it is, which makes re-enqueueing idempotent.
    func enqueue(_ triggers: [NewTrigger]) throws(StoreError)
    /// Claims up to `limit` runnable triggers for `owner`, oldest first, as
    /// `decide` says for each one's task: taken ones are marked running with
    /// the attempt counted, parked and waiting ones leave the claim's way.
    /// Triggers past their time to live (parked and waiting ones too) become expired.
    func claim(limit: Int, owner: String, now: Date, decide: (_ app: String, _ task: String) -> ClaimDecision)
        throws(StoreError) -> [QueuedTrigger]
    /// Parks the pending and retrying triggers of `app` (its plugin is
    /// disabled or quarantined); returns how many.
    @discardableResult
    func park(app: String) throws(StoreError) -> Int
    /// Parks a claimed trigger that cannot run now, without counting the
    /// attempt; `note`, when given, becomes its last error (why it waits).
    func park(id: String, note: String?) throws(StoreError)
    /// Makes the parked triggers of `app` pending again; returns how many.
    @discardableResult
    func unpark(app: String) throws(StoreError) -> Int
    /// Makes the parked triggers of each of `tasks` pending again (the tasks
    /// are registered now), in one transaction; returns how many.
    @discardableResult
    func unpark(tasks: [(app: String, task: String)]) throws(StoreError) -> Int
    /// Makes the waiting triggers of each of `tasks` pending again (their
    /// conditions hold now), in one transaction; returns how many.
    @discardableResult
    func resumeWaiting(tasks: [(app: String, task: String)]) throws(StoreError) -> Int
    /// A run completed.
    func markDone(id: String, instanceId: String) throws(StoreError)
    /// A run did not complete; run again at `availableAt`.
    func markRetrying(id: String, instanceId: String?, error: String, availableAt: Date) throws(StoreError)
    /// A run did not complete and no attempt is left (or it can never run).
    func markDead(id: String, instanceId: String?, error: String) throws(StoreError)
    /// Puts a claimed trigger back without counting the attempt (shutdown).
    func release(id: String, instanceId: String?, note: String) throws(StoreError)
    /// Called by a host as it starts, before its first claim: the running
    /// triggers it held itself before (`owner` is its id; they died with its
    /// previous run) and those no live host holds become retrying at once;
    /// returns how many. SQLite: every running trigger (one host uses the
    /// database: the state directory's host lock). PostgreSQL: the host's own
    /// and those whose lease ran out.
    func recoverAbandoned(owner: String, now: Date) throws(StoreError) -> Int
    /// How many triggers are in each state.
    func queueCounts() throws(StoreError) -> [TriggerState: Int]
    /// Triggers in `states`, oldest first.
    func queuedTriggers(states: [TriggerState], limit: Int) throws(StoreError) -> [QueuedTrigger]
    /// The trigger whose id is `idPrefix` or starts with it.
    func queuedTrigger(idPrefix: String) throws(StoreError) -> QueuedTrigger?
    /// Makes a dead or expired trigger pending again with its attempts reset.
    func requeue(id: String) throws(StoreError) -> Bool
    /// How many triggers of `app`/`task` are pending, retrying or running.
    func backlog(app: String, task: String) throws(StoreError) -> Int
}

extension TriggerQueueStore {
    /// Claims as ``claim(limit:owner:now:decide:)`` does, taking the triggers
    /// whose task `accept`s one more run and leaving the others.
    package func claim(limit: Int, owner: String, now: Date, accept: (_ app: String, _ task: String) -> Bool)
        throws(StoreError) -> [QueuedTrigger]
    {
        try claim(limit: limit, owner: owner, now: now) { app, task in accept(app, task) ? .take : .skip }
    }

    /// Parks a claimed trigger without counting the attempt, keeping its last error.
    package func park(id: String) throws(StoreError) {
        try park(id: id, note: nil)
    }
}
