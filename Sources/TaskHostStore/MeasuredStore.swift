import CoreMetrics
package import Foundation
package import TaskHostCore
package import TaskHostShared

/// The store as the daemon's queue users see it, counting and timing the
/// queue's writes into ``HostMetrics``: triggers enqueued, claimed, retried,
/// dead-lettered and expired, and the latency and size of each write. Every
/// call goes to ``base`` unchanged; what fails is not counted.
package final class MeasuredStore: TaskStore, TriggerQueueStore, ChannelStore {
    /// The store underneath.
    package let base: any HostStore
    /// Where the counts go.
    package let metrics: HostMetrics

    /// Measures `base` into `metrics`.
    package init(_ base: any HostStore, metrics: HostMetrics) {
        self.base = base
        self.metrics = metrics
    }

    /// Runs `write`, recording its latency and `size` under `operation`.
    private func measured<T>(_ operation: String, size: Int? = nil, _ write: () throws(StoreError) -> T) throws(StoreError) -> T {
        guard metrics.isEnabled else { return try write() }
        let start = ContinuousClock.now
        let result = try write()
        metrics.timer("taskhost_store_commit_duration_seconds", [operation]).recordNanoseconds((ContinuousClock.now - start).nanoseconds)
        if let size { metrics.recorder("taskhost_store_commit_batch_size", [operation]).record(size) }
        return result
    }

    // MARK: The queue, measured

    package func enqueue(_ triggers: [NewTrigger]) throws(StoreError) {
        guard !triggers.isEmpty else { return try base.enqueue(triggers) }
        try measured("enqueue", size: triggers.count) { () throws(StoreError) in try base.enqueue(triggers) }
        guard metrics.isEnabled else { return }
        var kinds: [TriggerKind: Int] = [:]
        for trigger in triggers { kinds[trigger.event.kind, default: 0] += 1 }
        for (kind, count) in kinds { metrics.counter("taskhost_triggers_enqueued_total", [kind.rawValue]).increment(by: count) }
    }

    package func claim(limit: Int, owner: String, now: Date, decide: (String, String) -> ClaimDecision) throws(StoreError)
        -> [QueuedTrigger]
    {
        let expiredBefore = base.expiredCount
        let claimed = try measured("claim") { () throws(StoreError) in try base.claim(limit: limit, owner: owner, now: now, decide: decide)
        }
        guard metrics.isEnabled else { return claimed }
        if !claimed.isEmpty {
            metrics.recorder("taskhost_store_commit_batch_size", ["claim"]).record(claimed.count)
            metrics.counter("taskhost_triggers_claimed_total").increment(by: claimed.count)
        }
        let expired = base.expiredCount - expiredBefore
        if expired > 0 { metrics.counter("taskhost_triggers_expired_total").increment(by: expired) }
        return claimed
    }

    package func markDone(id: String, instanceId: String) throws(StoreError) {
        try measured("settle") { () throws(StoreError) in try base.markDone(id: id, instanceId: instanceId) }
    }

    package func markRetrying(id: String, instanceId: String?, error: String, availableAt: Date) throws(StoreError) {
        try measured("settle") { () throws(StoreError) in
            try base.markRetrying(id: id, instanceId: instanceId, error: error, availableAt: availableAt)
        }
        if metrics.isEnabled { metrics.counter("taskhost_triggers_retried_total").increment() }
    }

    package func markDead(id: String, instanceId: String?, error: String) throws(StoreError) {
        try measured("settle") { () throws(StoreError) in try base.markDead(id: id, instanceId: instanceId, error: error) }
        if metrics.isEnabled { metrics.counter("taskhost_triggers_dead_lettered_total").increment() }
    }

    package func release(id: String, instanceId: String?, note: String) throws(StoreError) {
        try measured("settle") { () throws(StoreError) in try base.release(id: id, instanceId: instanceId, note: note) }
    }

    // MARK: The rest, as it is

    package func park(app: String) throws(StoreError) -> Int { try base.park(app: app) }
    package func park(id: String, note: String?) throws(StoreError) { try base.park(id: id, note: note) }
    package func unpark(app: String) throws(StoreError) -> Int { try base.unpark(app: app) }
    package func unpark(tasks: [(app: String, task: String)]) throws(StoreError) -> Int { try base.unpark(tasks: tasks) }
    package func resumeWaiting(tasks: [(app: String, task: String)]) throws(StoreError) -> Int { try base.resumeWaiting(tasks: tasks) }
    package func recoverAbandoned(owner: String, now: Date) throws(StoreError) -> Int { try base.recoverAbandoned(owner: owner, now: now) }
    package func queueCounts() throws(StoreError) -> [TriggerState: Int] { try base.queueCounts() }
    package func queuedTriggers(states: [TriggerState], limit: Int) throws(StoreError) -> [QueuedTrigger] {
        try base.queuedTriggers(states: states, limit: limit)
    }
    package func queuedTrigger(idPrefix: String) throws(StoreError) -> QueuedTrigger? { try base.queuedTrigger(idPrefix: idPrefix) }
    package func requeue(id: String) throws(StoreError) -> Bool { try base.requeue(id: id) }
    package func backlog(app: String, task: String) throws(StoreError) -> Int { try base.backlog(app: app, task: task) }

    package func setting(app: String, key: String) throws(StoreError) -> StoredSetting? { try base.setting(app: app, key: key) }
    package func setSetting(app: String, key: String, value: SettingValue) throws(StoreError) {
        try base.setSetting(app: app, key: key, value: value)
    }
    package func deleteSetting(app: String, key: String) throws(StoreError) -> Bool { try base.deleteSetting(app: app, key: key) }
    package func settings(app: String) throws(StoreError) -> [StoredSetting] { try base.settings(app: app) }
    package func apps() throws(StoreError) -> [String] { try base.apps() }
    package func insertInstance(_ record: InstanceRecord) throws(StoreError) { try base.insertInstance(record) }
    package func finishInstance(
        id: String, endedAt: Date, outcome: InstanceOutcome, progress: UInt32, sandbox: String, appendingLog lines: [LogLine]
    ) throws(StoreError) {
        try base.finishInstance(id: id, endedAt: endedAt, outcome: outcome, progress: progress, sandbox: sandbox, appendingLog: lines)
    }
    package func instances(task: String?, limit: Int) throws(StoreError) -> [InstanceRecord] {
        try base.instances(task: task, limit: limit)
    }
    package func instance(idPrefix: String) throws(StoreError) -> InstanceRecord? { try base.instance(idPrefix: idPrefix) }
    package func appendLog(instanceId: String, lines: [LogLine]) throws(StoreError) {
        try base.appendLog(instanceId: instanceId, lines: lines)
    }
    package func recordProgress(instanceId: String, progress: UInt32) throws(StoreError) {
        try base.recordProgress(instanceId: instanceId, progress: progress)
    }
    package func log(instanceId: String) throws(StoreError) -> [LogLine] { try base.log(instanceId: instanceId) }

    package func insertChannel(_ channel: PushChannel) throws(StoreError) { try base.insertChannel(channel) }
    package func channel(id: String) throws(StoreError) -> PushChannel? { try base.channel(id: id) }
    package func channels(app: String?) throws(StoreError) -> [PushChannel] { try base.channels(app: app) }
    package func revokeChannel(id: String, at: Date) throws(StoreError) -> Bool { try base.revokeChannel(id: id, at: at) }
    package func renewChannel(id: String, expiresAt: Date) throws(StoreError) -> PushChannel? {
        try base.renewChannel(id: id, expiresAt: expiresAt)
    }
    package func insertCredential(_ credential: Credential) throws(StoreError) { try base.insertCredential(credential) }
    package func credential(id: String) throws(StoreError) -> Credential? { try base.credential(id: id) }
    package func credentials() throws(StoreError) -> [Credential] { try base.credentials() }
    package func revokeCredential(id: String, at: Date) throws(StoreError) -> Bool { try base.revokeCredential(id: id, at: at) }
    package func timerAnchor(app: String, task: String, default: Date) throws(StoreError) -> Date {
        try base.timerAnchor(app: app, task: task, default: `default`)
    }
}

extension MeasuredStore: WebPushStore {
    package func insertSubscription(_ subscription: WebPushSubscription) throws(StoreError) { try base.insertSubscription(subscription) }
    package func subscription(id: String) throws(StoreError) -> WebPushSubscription? { try base.subscription(id: id) }
    package func subscriptions(app: String?) throws(StoreError) -> [WebPushSubscription] { try base.subscriptions(app: app) }
    package func revokeSubscription(id: String, at: Date) throws(StoreError) -> Bool { try base.revokeSubscription(id: id, at: at) }
    package func deletePendingMessage(id: String, subscriptionId: String) throws(StoreError) -> Bool {
        try base.deletePendingMessage(id: id, subscriptionId: subscriptionId)
    }
}

extension MeasuredStore: ListenerClaimStore {
    package func claimForListener(id: String, app: String, at now: Date) throws(StoreError) -> Bool {
        let won = try measured("settle") { () throws(StoreError) in try base.claimForListener(id: id, app: app, at: now) }
        if won, metrics.isEnabled { metrics.counter("taskhost_triggers_claimed_by_listeners_total").increment() }
        return won
    }
}
