package import Foundation
import Logging
import PostgresNIO
import Synchronization
import TaskHostCore
package import TaskHostStore

/// A claimed trigger's settlement, checked against its fence.
///
/// Each claim gives the trigger a new fence (`trigger_fence`); this store object
/// remembers the fence of each trigger it claimed. Settling (done, retrying, dead,
/// released, parked) writes only where the row still carries that fence: when
/// this host's lease ran out and another host claimed the trigger again, the
/// write changes nothing and throws a ``StoreError`` (code `constraint`: retrying
/// does not help) that says which host holds it now, for the caller to log. The
/// other host's run is the one whose outcome counts. A trigger this store object
/// did not claim (a CLI command's write) is written without a fence, as SQLite's store does.
/// Release, requeue and the recovery of abandoned triggers make triggers
/// runnable: they notify the hosts listening for wake-ups (``notifying(_:)``).
extension PostgresTaskStore {
    /// The outcome of a fenced write.
    package enum FencedWrite: Sendable, Equatable {
        /// The write applied (or there was no row with that id: nothing to change).
        case applied
        /// Another claim holds the trigger now: nothing was written.
        case stale(StoreError.Stale)
    }

    /// The fence this store object holds for trigger `id`, if it claimed it.
    package func fence(of id: String) -> Int64? { fences.withLock { $0[id] } }

    /// Runs the settlement `statement` (an UPDATE with `RETURNING 1`, checking
    /// `fence` itself); when it changed nothing although this store holds a
    /// fence, says who holds the trigger now. The fence is forgotten either way.
    func settle(_ what: String, id: String, fence: Int64?, _ statement: PostgresQuery) throws(StoreError) -> FencedWrite {
        let changed = try execute(what, statement)
        fences.withLock { _ = $0.removeValue(forKey: id) }
        lostLeases.withLock { _ = $0.remove(id) }
        guard changed == 0, let fence else { return .applied }
        let rows = try rows("read trigger \(id)", "SELECT claimed_by, fence, state FROM trigger WHERE id = \(id)")
        guard let row = rows.first else { return .applied }
        let (holder, current, state) = try decoding("read trigger \(id)") { try row.decode((String?, Int64?, String).self) }
        return .stale(StoreError.Stale(trigger: id, fence: fence, currentFence: current, holder: holder, state: state))
    }

    /// Throws when `write` is stale.
    func require(_ write: FencedWrite) throws(StoreError) {
        if case .stale(let stale) = write { throw StoreError(stale.description, resultCode: PostgresFailure.resultCode(.constraint)) }
    }

    package func markDone(id: String, instanceId: String) throws(StoreError) {
        try require(markDone(id: id, instanceId: instanceId, fence: fence(of: id)))
    }

    /// ``markDone(id:instanceId:)`` with an explicit fence (`nil`: unfenced).
    package func markDone(id: String, instanceId: String, fence: Int64?) throws(StoreError) -> FencedWrite {
        try settle(
            "mark trigger \(id) done", id: id, fence: fence,
            """
            UPDATE trigger SET state = 'done', claimed_by = NULL, lease_expires_at = NULL, last_instance_id = \(instanceId),
                last_error = NULL, updated_at = \(Date()) WHERE id = \(id) AND (\(fence)::bigint IS NULL OR fence = \(fence)) RETURNING 1
            """)
    }

    package func markRetrying(id: String, instanceId: String?, error: String, availableAt: Date) throws(StoreError) {
        let fence = fence(of: id)
        try require(
            settle(
                "reschedule trigger \(id)", id: id, fence: fence,
                """
                UPDATE trigger SET state = 'retrying', claimed_by = NULL, lease_expires_at = NULL,
                    last_instance_id = COALESCE(\(instanceId), last_instance_id), last_error = \(error), available_at = \(availableAt),
                    updated_at = \(Date()) WHERE id = \(id) AND (\(fence)::bigint IS NULL OR fence = \(fence)) RETURNING 1
                """))
    }

    package func markDead(id: String, instanceId: String?, error: String) throws(StoreError) {
        let fence = fence(of: id)
        try require(
            settle(
                "dead-letter trigger \(id)", id: id, fence: fence,
                """
                UPDATE trigger SET state = 'dead', claimed_by = NULL, lease_expires_at = NULL,
                    last_instance_id = COALESCE(\(instanceId), last_instance_id), last_error = \(error), updated_at = \(Date())
                WHERE id = \(id) AND (\(fence)::bigint IS NULL OR fence = \(fence)) RETURNING 1
                """))
    }

    package func release(id: String, instanceId: String?, note: String) throws(StoreError) {
        let fence = fence(of: id)
        try require(
            settle(
                "release trigger \(id)", id: id, fence: fence,
                Self.notifying(
                    """
                    UPDATE trigger SET state = 'pending', claimed_by = NULL, lease_expires_at = NULL, attempts = GREATEST(attempts - 1, 0),
                        last_instance_id = COALESCE(\(instanceId), last_instance_id), last_error = \(note), updated_at = \(Date())
                    WHERE id = \(id) AND (\(fence)::bigint IS NULL OR fence = \(fence)) RETURNING 1
                    """)))
    }

    package func park(id: String, note: String?) throws(StoreError) {
        let fence = fence(of: id)
        try require(
            settle(
                "park trigger \(id)", id: id, fence: fence,
                """
                UPDATE trigger SET state = 'parked', claimed_by = NULL, lease_expires_at = NULL, attempts = GREATEST(attempts - 1, 0),
                    last_error = COALESCE(\(note), last_error), updated_at = \(Date())
                WHERE id = \(id) AND (\(fence)::bigint IS NULL OR fence = \(fence)) RETURNING 1
                """))
    }

    /// Extends to `now` + ``leaseDuration`` the lease of every trigger this store
    /// object holds, in one statement; returns the ids whose claim it lost since
    /// the last call (another host claimed them after the lease ran out, or they
    /// were settled elsewhere). It keeps their fences: settling them later is
    /// refused, never applied over the other host's claim. The host calls it
    /// well within the lease (a third of it) while instances run.
    @discardableResult
    package func extendLeases(now: Date = Date()) throws(StoreError) -> [String] {
        let lost = lostLeases.withLock { $0 }
        let held = fences.withLock { $0 }.filter { !lost.contains($0.key) }
        guard !held.isEmpty else { return [] }
        let leaseEnd = now.addingTimeInterval(Self.seconds(leaseDuration))
        let rows = try rows(
            "extend \(held.count) lease(s)",
            """
            UPDATE trigger SET lease_expires_at = \(leaseEnd)
            WHERE state = 'running' AND claimed_by = \(hostId) AND fence = ANY(\(Array(held.values))) RETURNING id
            """)
        let kept = Set(try decoding("extend leases") { try rows.map { try $0.decode(String.self) } })
        let newlyLost = held.keys.filter { !kept.contains($0) }.sorted()
        let stillHeld = fences.withLock { fences in newlyLost.filter { fences[$0] == held[$0] } }
        lostLeases.withLock { $0.formUnion(stillHeld) }
        return stillHeld
    }

    /// Makes retrying at once the running triggers that `owner` claimed (this
    /// host's id, kept in its state directory: what it ran before it restarted
    /// died with it) and those whose lease ran out; returns how many. (A claim
    /// takes expired ones by itself; this is for a host that starts and wants
    /// them run without waiting for the queue to reach them.) Live hosts'
    /// triggers are left alone: their leases have not run out.
    package func recoverAbandoned(owner: String, now: Date) throws(StoreError) -> Int {
        try transaction("recover abandoned triggers") { connection, logger in
            let recovered = try await connection.query(
                Self.notifying(
                    """
                    UPDATE trigger SET state = 'retrying', claimed_by = NULL, lease_expires_at = NULL, available_at = \(now),
                        updated_at = \(now), last_error = 'the host running it stopped before it finished'
                    WHERE state = 'running' AND (claimed_by = \(owner) OR lease_expires_at <= \(now)) RETURNING id
                    """), logger: logger)
            var ids: [String] = []
            for try await id in recovered.decode(String.self) { ids.append(id) }
            try await Self.abandonInstances(ofTriggers: ids, now: now, connection, logger)
            return ids.count
        }
    }

    /// Settles as abandoned the instances without an outcome that ran
    /// `triggers` (claims that died with their host, or whose lease ran out
    /// and was taken over): their host cannot record an outcome any more, and
    /// history would otherwise show them running for ever. A host that was
    /// only frozen and records its outcome later overwrites `abandoned` with
    /// what really happened (its settlement of the trigger is still refused).
    static func abandonInstances(ofTriggers triggers: [String], now: Date, _ connection: PostgresConnection, _ logger: Logger)
        async throws
    {
        guard !triggers.isEmpty else { return }
        try await connection.query(
            """
            UPDATE instance SET outcome = 'abandoned', ended_at = \(now),
                outcome_detail = 'its host (' || COALESCE((SELECT name FROM hosts WHERE hosts.id = instance.host_id), host_id, '?')
                    || ') stopped or lost its lease before the instance ended; no outcome was recorded'
            WHERE outcome IS NULL AND supervisor IS NOT NULL AND trigger_id = ANY(\(triggers))
            """, logger: logger)
    }

    package func requeue(id: String) throws(StoreError) -> Bool {
        let now = Date()
        return try execute(
            "requeue trigger \(id)",
            Self.notifying(
                """
                UPDATE trigger SET state = 'pending', attempts = 0, available_at = \(now), expires_at = NULL, updated_at = \(now)
                WHERE id = \(id) AND state IN ('dead', 'expired') RETURNING 1
                """)) > 0
    }
}

extension StoreError {
    /// A settlement refused because another claim holds the trigger now.
    package struct Stale: Sendable, Equatable, CustomStringConvertible {
        /// The trigger.
        package var trigger: String
        /// The fence of the claim that tried to settle it.
        package var fence: Int64
        /// The fence it carries now, and the host that holds it (`nil` once settled).
        package var currentFence: Int64?
        package var holder: String?
        /// Its state now.
        package var state: String

        package var description: String {
            "trigger \(trigger): this host's claim (fence \(fence)) was taken over after its lease ran out "
                + "(now fence \(currentFence.map(String.init) ?? "none"), state \(state)"
                + (holder.map { ", held by host \($0)" } ?? "") + "); its outcome here was not recorded: the other claim's counts"
        }
    }
}

extension PostgresTaskStore: ListenerClaimStore {
    /// The claim of a listener: one autocommitted UPDATE. A dispatcher's claim
    /// that holds the row (`FOR UPDATE`) makes it wait, and PostgreSQL then
    /// checks `state = 'pending'` again on the row as that claim left it, so
    /// exactly one of them takes the trigger, whichever host each is on.
    package func claimForListener(id: String, app: String, at now: Date) throws(StoreError) -> Bool {
        try execute(
            "claim trigger \(id) for a listener",
            """
            UPDATE trigger SET state = 'claimed', claimed_by = NULL, lease_expires_at = NULL, fence = NULL, last_error = NULL,
                updated_at = \(now)
            WHERE id = \(id) AND app = \(app) AND state = 'pending' AND kind IN ('push', 'webpush') RETURNING 1
            """) > 0
    }
}
