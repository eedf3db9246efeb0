package import Foundation
import Logging
import NIOCore
import PostgresNIO
import Synchronization
import TaskHostCore
import TaskHostIPC
package import TaskHostStore

/// The queue: enqueueing (group commit), claiming with leases and fences, and reading it.
extension PostgresTaskStore: TriggerQueueStore {
    static let triggerColumns = """
        id, app, task, kind, payload, channel_id, headers, arguments, state, attempts, created_at, available_at, expires_at,
        last_error, last_instance_id, replay_of, fence
        """

    static func trigger(from row: PostgresRow) throws -> QueuedTrigger {
        let cells = row.makeRandomAccess()
        let id = try cells["id"].decode(String.self)
        let attempts = try cells["attempts"].decode(Int.self)
        let event = TriggerEvent(
            kind: TriggerKind(rawValue: try cells["kind"].decode(String.self)) ?? .application, triggerId: id, attempt: attempts,
            payload: Array(try cells["payload"].decode(Data.self)), channelId: try cells["channel_id"].decode(String.self),
            headers: decodePairs(try cells["headers"].decode(Data.self)), arguments: decodePairs(try cells["arguments"].decode(Data.self)),
            replayOf: try cells["replay_of"].decode(String?.self))
        return QueuedTrigger(
            id: id, app: try cells["app"].decode(String.self), task: try cells["task"].decode(String.self), event: event,
            state: TriggerState(rawValue: try cells["state"].decode(String.self)) ?? .pending, attempts: attempts,
            createdAt: try cells["created_at"].decode(Date.self), availableAt: try cells["available_at"].decode(Date.self),
            expiresAt: try cells["expires_at"].decode(Date?.self), lastError: try cells["last_error"].decode(String?.self),
            lastInstanceId: try cells["last_instance_id"].decode(String?.self))
    }

    /// Rows per multi-row INSERT: 13 parameters each, under the protocol's 65,535.
    static let rowsPerInsert = 2000

    /// Adds `triggers` in one transaction: multi-row INSERTs (one per 2,000
    /// triggers), `ON CONFLICT DO NOTHING` keeping a queued id as it is. A trigger
    /// with a Web Push topic first removes the messages it replaces, in batch
    /// order, so the last of several with one topic is the one that stays. The
    /// last INSERT also notifies the hosts listening for wake-ups (one
    /// `pg_notify` per transaction, delivered at its commit).
    ///
    /// The common batch (no topic, at most one INSERT's rows) is that one
    /// statement alone, which PostgreSQL commits as its own transaction: one
    /// round trip instead of three (`BEGIN`, `INSERT`, `COMMIT`), the same
    /// atomicity and durability.
    package func enqueue(_ triggers: [NewTrigger]) throws(StoreError) {
        guard !triggers.isEmpty else { return }
        let now = Date()
        if triggers.count <= Self.rowsPerInsert, !triggers.contains(where: { $0.topic != nil }) {
            let client = client
            try query("enqueue \(triggers.count) trigger(s)") { _, logger in
                try await client.withConnection { connection in
                    try await Self.insert(triggers, now: now, notifying: true, connection, logger)
                }
            }
            return
        }
        try transaction("enqueue \(triggers.count) trigger(s)") { connection, logger in
            var pending: [NewTrigger] = []
            for trigger in triggers {
                if let topic = trigger.topic {
                    try await Self.insert(pending, now: now, connection, logger)
                    pending.removeAll(keepingCapacity: true)
                    try await connection.query(
                        """
                        DELETE FROM trigger WHERE channel_id = \(trigger.event.channelId) AND topic = \(topic)
                            AND state IN ('pending', 'retrying', 'parked', 'waiting') AND id != \(trigger.id)
                        """, logger: logger)
                }
                pending.append(trigger)
                if pending.count == Self.rowsPerInsert {
                    try await Self.insert(pending, now: now, connection, logger)
                    pending.removeAll(keepingCapacity: true)
                }
            }
            try await Self.insert(pending, now: now, notifying: true, connection, logger)
        }
    }

    /// One multi-row INSERT of `triggers`; `notifying`: it also notifies
    /// ``wakeupChannel`` (alone, when `triggers` is empty), in the same statement.
    private static func insert(
        _ triggers: [NewTrigger], now: Date, notifying: Bool = false, _ connection: PostgresConnection, _ logger: Logger
    ) async throws {
        guard !triggers.isEmpty else {
            if notifying { try await connection.query(wakeupNotification, logger: logger) }
            return
        }
        var sql = notifying ? "WITH inserted AS (" : ""
        sql += """
            INSERT INTO trigger (id, app, task, kind, payload, channel_id, headers, arguments, state, attempts,
                created_at, available_at, expires_at, updated_at, topic) VALUES
            """
        var binds = PostgresBindings(capacity: triggers.count * 13)
        for (row, trigger) in triggers.enumerated() {
            let marks = (1...13).map { "$\(row * 13 + $0)" }
            sql += (row == 0 ? " (" : ", (") + marks[0..<8].joined(separator: ", ") + ", 'pending', 0, "
            sql += marks[8...].joined(separator: ", ") + ")"
            binds.append(trigger.id)
            binds.append(trigger.app)
            binds.append(trigger.task)
            binds.append(trigger.event.kind.rawValue)
            binds.append(ByteBuffer(bytes: trigger.event.payload))
            binds.append(trigger.event.channelId)
            binds.append(encodePairs(trigger.event.headers))
            binds.append(encodePairs(trigger.event.arguments))
            binds.append(now)
            binds.append(trigger.availableAt)
            binds.append(trigger.expiresAt)
            binds.append(now)
            binds.append(trigger.topic)
        }
        sql += " ON CONFLICT (id) DO NOTHING"
        if notifying { sql += ") SELECT pg_notify('\(wakeupChannel)', '')" }
        try await connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
    }

    /// Claims in one transaction: expires what outlived its time to live (waiting and parked triggers too), then
    /// reads, `FOR UPDATE SKIP LOCKED` (rows another host is claiming are passed
    /// over, not waited for), first the running triggers whose lease ran out
    /// (their host died, froze or lost the network: claiming one again counts an
    /// attempt), then the runnable ones in queue order. Each taken trigger gets
    /// state running, `claimed_by` = `owner`, a lease until `now` + ``leaseDuration``
    /// and a new fence, which this store object keeps for its settlement.
    /// After a heartbeat (``heartbeat(name:tasks:now:)``) only triggers of the
    /// tasks it named are read: a host never claims, nor parks, what it cannot run.
    package func claim(limit: Int, owner: String, now: Date, decide: (String, String) -> ClaimDecision) throws(StoreError)
        -> [QueuedTrigger]
    {
        guard limit > 0 else { return [] }
        let leaseEnd = now.addingTimeInterval(Self.seconds(leaseDuration))
        let candidates = max(limit * 4, 64)
        let tasks = claimableTasks.withLock { $0 }
        let filtered = tasks != nil
        let claimable = tasks ?? []
        let (claimed, expiredRows) = try LentClosure.lend(decide) { (lent) throws(StoreError) in
            try transaction("claim triggers") { connection, logger -> ([(QueuedTrigger, Int64)], Int) in
                let expiredRows = try await connection.query(
                    """
                    UPDATE trigger SET state = 'expired', updated_at = \(now), last_error = 'time to live ran out before it could run'
                    WHERE id IN (SELECT id FROM trigger WHERE state IN ('pending', 'retrying', 'parked', 'waiting')
                                 AND expires_at IS NOT NULL AND expires_at <= \(now) FOR UPDATE SKIP LOCKED)
                    RETURNING 1
                    """, logger: logger
                ).collect().count
                var rows = try await connection.query(
                    """
                    SELECT \(unescaped: Self.triggerColumns) FROM trigger WHERE state = 'running' AND lease_expires_at <= \(now)
                        AND (NOT \(filtered) OR app || '/' || task = ANY(\(claimable)))
                    ORDER BY lease_expires_at LIMIT \(candidates) FOR UPDATE SKIP LOCKED
                    """, logger: logger
                ).collect()
                rows += try await connection.query(
                    """
                    SELECT \(unescaped: Self.triggerColumns) FROM trigger WHERE state IN ('pending', 'retrying') AND available_at <= \(now)
                        AND (NOT \(filtered) OR app || '/' || task = ANY(\(claimable)))
                    ORDER BY available_at, created_at LIMIT \(candidates) FOR UPDATE SKIP LOCKED
                    """, logger: logger
                ).collect()
                var taken: [QueuedTrigger] = []
                // Lease-expired triggers taken or parked here: their instances died with their claim.
                var reclaimed: [String] = []
                for row in rows where taken.count < limit {
                    let trigger = try Self.trigger(from: row)
                    let decision = lent.call(trigger.app, trigger.task)
                    if trigger.state == .running, decision != .skip { reclaimed.append(trigger.id) }
                    switch decision {
                    case .take: taken.append(trigger)
                    case .skip: continue
                    case .park(let reason):
                        try await connection.query(
                            """
                            UPDATE trigger SET state = 'parked', claimed_by = NULL, lease_expires_at = NULL, fence = NULL, last_error = \(reason),
                                updated_at = \(now) WHERE id = \(trigger.id)
                            """, logger: logger)
                    case .wait(let reason):
                        try await connection.query(Self.waitClaim(id: trigger.id, reason: reason, now: now), logger: logger)
                    }
                }
                var claimed: [(QueuedTrigger, Int64)] = []
                for var trigger in taken {
                    let wasRunning = trigger.state == .running
                    for try await (attempts, fence, lastError) in try await connection.query(
                        """
                        UPDATE trigger SET state = 'running', attempts = attempts + 1, claimed_by = \(owner),
                            lease_expires_at = \(leaseEnd), fence = nextval('trigger_fence'), updated_at = \(now),
                            last_error = CASE WHEN \(wasRunning) THEN 'the lease of host ' || COALESCE(claimed_by, '?')
                                || ' ran out before it settled this trigger' ELSE last_error END
                        WHERE id = \(trigger.id) RETURNING attempts, fence, last_error
                        """, logger: logger
                    ).decode((Int, Int64, String?).self) {
                        trigger.state = .running
                        trigger.lastError = lastError
                        trigger.attempts = attempts
                        trigger.event.attempt = attempts
                        claimed.append((trigger, fence))
                    }
                }
                try await Self.abandonInstances(ofTriggers: reclaimed, now: now, connection, logger)
                return (claimed, expiredRows)
            }
        }
        if expiredRows > 0 { expired.add(expiredRows, ordering: .relaxed) }
        fences.withLock { fences in
            for (trigger, fence) in claimed { fences[trigger.id] = fence }
        }
        return claimed.map(\.0)
    }

    package func queueCounts() throws(StoreError) -> [TriggerState: Int] {
        let rows = try rows("count triggers", "SELECT state, COUNT(*)::bigint FROM trigger GROUP BY state")
        return try decoding("count triggers") {
            var counts: [TriggerState: Int] = [:]
            for row in rows {
                let (state, count) = try row.decode((String, Int).self)
                if let state = TriggerState(rawValue: state) { counts[state] = count }
            }
            return counts
        }
    }

    package func queuedTriggers(states: [TriggerState], limit: Int) throws(StoreError) -> [QueuedTrigger] {
        let rows = try rows(
            "list triggers",
            """
            SELECT \(unescaped: Self.triggerColumns) FROM trigger WHERE state = ANY(\(states.map(\.rawValue)))
            ORDER BY created_at LIMIT \(limit)
            """)
        return try decoding("list triggers") { try rows.map(Self.trigger(from:)) }
    }

    package func queuedTrigger(idPrefix: String) throws(StoreError) -> QueuedTrigger? {
        try row(table: "trigger", columns: Self.triggerColumns, what: "trigger", idPrefix: idPrefix, pattern: idPrefix) {
            try Self.trigger(from: $0)
        } id: {
            $0.id
        }
    }

    package func backlog(app: String, task: String) throws(StoreError) -> Int {
        let rows = try rows(
            "count the backlog of \(task)",
            "SELECT COUNT(*)::bigint FROM trigger WHERE state IN ('pending', 'retrying', 'running') AND app = \(app) AND task = \(task)")
        return try decoding("count the backlog of \(task)") { try rows.first?.decode(Int.self) ?? 0 }
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

/// Headers and arguments as the queue stores them (the IPC pair encoding, as SQLite's store does).
func encodePairs(_ pairs: [String: String]) -> ByteBuffer {
    var writer = ByteWriter()
    writer.pairs(pairs)
    return ByteBuffer(bytes: writer.bytes)
}

func decodePairs(_ data: Data) -> [String: String] {
    var reader = ByteReader(Array(data))
    return (try? reader.pairs("pairs")) ?? [:]
}

/// A claim's `decide` closure lent to the bridged transaction for the time the
/// caller waits for it (see ``BlockingBridge``): the closure is not escaping, so
/// the lender clears it before the wait ends, and `withoutActuallyEscaping`
/// checks that nothing kept it.
final class LentClosure: @unchecked Sendable {
    private var decide: ((String, String) -> ClaimDecision)?

    private init(_ decide: @escaping (String, String) -> ClaimDecision) { self.decide = decide }

    /// Calls the lent closure (on the bridge's thread, while its owner's thread waits).
    func call(_ app: String, _ task: String) -> ClaimDecision { decide?(app, task) ?? .skip }

    /// Runs `body` with `decide` lent; it is cleared when `body` returns.
    static func lend<T>(
        _ decide: (String, String) -> ClaimDecision, _ body: (LentClosure) throws(StoreError) -> T
    ) throws(StoreError) -> T {
        try withoutActuallyEscaping(decide) { (escapable) throws(StoreError) -> T in
            let lent = LentClosure(escapable)
            defer { lent.decide = nil }
            return try body(lent)
        }
    }
}
