package import Foundation
import GRDB
import GRDBSQLite
import Synchronization
import TaskHostCore
import TaskHostIPC

extension SQLiteTaskStore {
}

private func encodePairs(_ pairs: [String: String]) -> [UInt8] {
    var writer = ByteWriter()
    writer.pairs(pairs)
    return writer.bytes
}

/// SQLite copies the value before the call returns.
private let transient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)

/// A non-null pointer for empty values: SQLite binds NULL for a null one, and the columns are NOT NULL.
private var emptyValue: UnsafeRawPointer { UnsafeRawPointer(("" as StaticString).utf8Start) }

private func bindText(_ statement: OpaquePointer, _ index: Int32, _ text: String) {
    var text = text
    text.withUTF8 { utf8 in
        _ = sqlite3_bind_text(
            statement, index, (utf8.baseAddress.map(UnsafeRawPointer.init) ?? emptyValue).assumingMemoryBound(to: CChar.self),
            Int32(utf8.count), transient)
    }
}

private func bindBlob(_ statement: OpaquePointer, _ index: Int32, _ bytes: [UInt8]) {
    bytes.withUnsafeBytes { _ = sqlite3_bind_blob(statement, index, $0.baseAddress ?? emptyValue, Int32($0.count), transient) }
}

private func decodePairs(_ data: Data?) -> [String: String] {
    guard let data else { return [:] }
    var reader = ByteReader(Array(data))
    return (try? reader.pairs("pairs")) ?? [:]
}

extension SQLiteTaskStore: TriggerQueueStore {
    static func trigger(from row: Row) -> QueuedTrigger {
        let payload: Data = row["payload"]
        let expires: Double? = row["expires_at"]
        let event = TriggerEvent(
            kind: TriggerKind(rawValue: row["kind"]) ?? .application, triggerId: row["id"], attempt: row["attempts"],
            payload: Array(payload), channelId: row["channel_id"], headers: decodePairs(row["headers"]),
            arguments: decodePairs(row["arguments"]), replayOf: row["replay_of"])
        return QueuedTrigger(
            id: row["id"], app: row["app"], task: row["task"], event: event,
            state: TriggerState(rawValue: row["state"]) ?? .pending, attempts: row["attempts"],
            createdAt: Date(timeIntervalSince1970: row["created_at"]),
            availableAt: Date(timeIntervalSince1970: row["available_at"]),
            expiresAt: expires.map(Date.init(timeIntervalSince1970:)), lastError: row["last_error"],
            lastInstanceId: row["last_instance_id"])
    }

    package func enqueue(_ triggers: [NewTrigger]) throws(StoreError) {
        guard !triggers.isEmpty else { return }
        try write("enqueue \(triggers.count) trigger(s)") { db in
            // The ingest hot path: bound through SQLite's C API (GRDB's
            // `StatementArguments` box every value, a cost paid per push
            // inside the writer's transaction, where nothing else can run).
            let statement = try db.cachedStatement(
                sql: """
                    INSERT OR IGNORE INTO trigger (id, app, task, kind, payload, channel_id, headers, arguments, state,
                        attempts, created_at, available_at, expires_at, updated_at, topic)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?, ?)
                    """)
            let now = Date().timeIntervalSince1970
            let handle = statement.sqliteStatement
            defer {
                sqlite3_reset(handle)
                sqlite3_clear_bindings(handle)
            }
            for trigger in triggers {
                sqlite3_reset(handle)
                bindText(handle, 1, trigger.id)
                bindText(handle, 2, trigger.app)
                bindText(handle, 3, trigger.task)
                bindText(handle, 4, trigger.event.kind.rawValue)
                bindBlob(handle, 5, trigger.event.payload)
                bindText(handle, 6, trigger.event.channelId)
                bindBlob(handle, 7, encodePairs(trigger.event.headers))
                bindBlob(handle, 8, encodePairs(trigger.event.arguments))
                sqlite3_bind_double(handle, 9, now)
                sqlite3_bind_double(handle, 10, trigger.availableAt.timeIntervalSince1970)
                if let expires = trigger.expiresAt {
                    sqlite3_bind_double(handle, 11, expires.timeIntervalSince1970)
                } else {
                    sqlite3_bind_null(handle, 11)
                }
                sqlite3_bind_double(handle, 12, now)
                if let topic = trigger.topic {
                    // The message it replaces leaves the queue in the same transaction (RFC 8030 section 5.4).
                    try db.cachedStatement(sql: Self.replaceTopicSQL).execute(arguments: [trigger.event.channelId, topic, trigger.id])
                    bindText(handle, 13, topic)
                } else {
                    sqlite3_bind_null(handle, 13)
                }
                let code = sqlite3_step(handle)
                guard code == SQLITE_DONE else {
                    throw DatabaseError(
                        resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)),
                        sql: statement.sql)
                }
            }
        }
    }

    /// Parked and waiting triggers expire too: a push waiting for its task to
    /// come back, or for its conditions, leaves the queue by its own time to
    /// live (index `trigger_expiry`, v9, with waiting ones since ``StoreMigration/waitingTriggers``).
    static let expireSQL = """
        UPDATE trigger SET state = 'expired', updated_at = ?, last_error = 'time to live ran out before it could run'
        WHERE id IN (SELECT id FROM trigger INDEXED BY trigger_expiry
                     WHERE state IN ('pending', 'retrying', 'parked', 'waiting') AND expires_at IS NOT NULL AND expires_at <= ?)
        """

    /// The runnable triggers, oldest first, read in the order of the partial
    /// index `trigger_ready` (no sort: a claim reads LIMIT rows, however long the queue).
    static let claimSQL = """
        SELECT * FROM trigger INDEXED BY trigger_ready
        WHERE state IN ('pending', 'retrying') AND available_at <= ?
        ORDER BY available_at, created_at LIMIT ?
        """

    // Counts and backlogs, served by the index `trigger_by_state` (parking too:
    // SQLiteTaskStore+Parking.swift).
    static let countsSQL = "SELECT state, COUNT(*) AS n FROM trigger GROUP BY state"
    static let backlogSQL = "SELECT COUNT(*) FROM trigger WHERE app = ? AND task = ? AND state IN ('pending', 'retrying', 'running')"

    /// SQLite's query plan for `sql` (tests).
    func queryPlan(_ sql: String, arguments: [any DatabaseValueConvertible]) throws(StoreError) -> String {
        try read("explain") { db in
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: StatementArguments(arguments))
                .map { $0["detail"] as String }.joined(separator: "\n")
        }
    }

    package func claim(limit: Int, owner: String, now: Date, decide: (String, String) -> ClaimDecision) throws(StoreError)
        -> [QueuedTrigger]
    {
        guard limit > 0 else { return [] }
        // Not fsync'd on its own: a claim lost with the power leaves its
        // trigger pending, to be claimed again (at least once either way);
        // the instance's outcome, a durable commit, makes it durable.
        var expiredRows = 0
        let claimed = try writeRelaxed("claim triggers") { db in
            let time = now.timeIntervalSince1970
            try db.cachedStatement(sql: Self.expireSQL).execute(arguments: [time, time])
            expiredRows = db.changesCount
            // Candidates in queue order; only the taken ones are decoded.
            let candidates = try Row.fetchCursor(db.cachedStatement(sql: Self.claimSQL), arguments: [time, max(limit * 4, 64)])
            var claimed: [QueuedTrigger] = []
            var parked: [(id: String, reason: String)] = []
            var waiting: [(id: String, reason: String)] = []
            while claimed.count < limit, let row = try candidates.next() {
                switch decide(row["app"], row["task"]) {
                case .take: claimed.append(Self.trigger(from: row))
                case .skip: continue
                case .park(let reason): parked.append((row["id"], reason))
                case .wait(let reason): waiting.append((row["id"], reason))
                }
            }
            // Out of the claim's index: not read again until unparked (or resumed).
            let park = try db.cachedStatement(sql: Self.parkClaimSQL)
            for (id, reason) in parked { try park.execute(arguments: [reason, time, id]) }
            let wait = try db.cachedStatement(sql: Self.waitClaimSQL)
            for (id, reason) in waiting { try wait.execute(arguments: [reason, time, id]) }
            let update = try db.cachedStatement(
                sql: "UPDATE trigger SET state = 'running', attempts = attempts + 1, owner = ?, updated_at = ? WHERE id = ?")
            for index in claimed.indices {
                try update.execute(arguments: [owner, time, claimed[index].id])
                claimed[index].state = .running
                claimed[index].attempts += 1
                claimed[index].event.attempt = claimed[index].attempts
            }
            return claimed
        }
        if expiredRows > 0 { expired.add(expiredRows, ordering: .relaxed) }
        return claimed
    }

    /// One durable UPDATE; returns how many rows it changed.
    @discardableResult
    func transition(_ what: String, _ sql: String, _ arguments: StatementArguments) throws(StoreError) -> Int {
        try write(what) { db in
            try db.execute(sql: sql, arguments: arguments)
            return db.changesCount
        }
    }

    package func markDone(id: String, instanceId: String) throws(StoreError) {
        try transition(
            "mark trigger \(id) done",
            "UPDATE trigger SET state = 'done', owner = NULL, last_instance_id = ?, last_error = NULL, updated_at = ? WHERE id = ?",
            [instanceId, Date().timeIntervalSince1970, id])
    }

    package func markRetrying(id: String, instanceId: String?, error: String, availableAt: Date) throws(StoreError) {
        try transition(
            "reschedule trigger \(id)",
            """
            UPDATE trigger SET state = 'retrying', owner = NULL, last_instance_id = COALESCE(?, last_instance_id),
                last_error = ?, available_at = ?, updated_at = ? WHERE id = ?
            """,
            [instanceId, error, availableAt.timeIntervalSince1970, Date().timeIntervalSince1970, id])
    }

    package func markDead(id: String, instanceId: String?, error: String) throws(StoreError) {
        try transition(
            "dead-letter trigger \(id)",
            """
            UPDATE trigger SET state = 'dead', owner = NULL, last_instance_id = COALESCE(?, last_instance_id),
                last_error = ?, updated_at = ? WHERE id = ?
            """,
            [instanceId, error, Date().timeIntervalSince1970, id])
    }

    package func release(id: String, instanceId: String?, note: String) throws(StoreError) {
        try transition(
            "release trigger \(id)",
            """
            UPDATE trigger SET state = 'pending', owner = NULL, attempts = MAX(attempts - 1, 0),
                last_instance_id = COALESCE(?, last_instance_id), last_error = ?, updated_at = ? WHERE id = ?
            """,
            [instanceId, note, Date().timeIntervalSince1970, id])
    }

    package func recoverAbandoned(owner: String, now: Date) throws(StoreError) -> Int {
        try write("recover abandoned triggers") { db in
            try db.execute(
                sql: """
                    UPDATE trigger SET state = 'retrying', owner = NULL, available_at = ?, updated_at = ?,
                        last_error = 'the host running it stopped before it finished'
                    WHERE state = 'running'
                    """,
                arguments: [now.timeIntervalSince1970, now.timeIntervalSince1970])
            return db.changesCount
        }
    }

    package func queueCounts() throws(StoreError) -> [TriggerState: Int] {
        try read("count triggers") { db in
            var counts: [TriggerState: Int] = [:]
            for row in try Row.fetchAll(db, sql: Self.countsSQL) {
                if let state = TriggerState(rawValue: row["state"]) { counts[state] = row["n"] }
            }
            return counts
        }
    }

    package func queuedTriggers(states: [TriggerState], limit: Int) throws(StoreError) -> [QueuedTrigger] {
        try read("list triggers") { db in
            let marks = states.map { _ in "?" }.joined(separator: ", ")
            return try Row.fetchAll(
                db, sql: "SELECT * FROM trigger WHERE state IN (\(marks)) ORDER BY created_at LIMIT ?",
                arguments: StatementArguments(states.map(\.rawValue) + [String(limit)])
            ).map(Self.trigger(from:))
        }
    }

    package func queuedTrigger(idPrefix: String) throws(StoreError) -> QueuedTrigger? {
        try row(in: "trigger", what: "trigger", idPrefix: idPrefix, pattern: idPrefix, id: \.id, decode: Self.trigger(from:))
    }

    package func requeue(id: String) throws(StoreError) -> Bool {
        let now = Date().timeIntervalSince1970
        return try transition(
            "requeue trigger \(id)",
            """
            UPDATE trigger SET state = 'pending', attempts = 0, available_at = ?, expires_at = NULL,
                updated_at = ? WHERE id = ? AND state IN ('dead', 'expired')
            """,
            [now, now, id]) > 0
    }

    package func backlog(app: String, task: String) throws(StoreError) -> Int {
        try read("count the backlog of \(task)") { db in
            try Int.fetchOne(db, sql: Self.backlogSQL, arguments: [app, task]) ?? 0
        }
    }
}

extension SQLiteTaskStore: ListenerClaimStore {
    /// The claim of a listener: the writer lock serializes it with the
    /// dispatcher's claims, and `state = 'pending'` makes the first one win.
    /// Durable (fsync'd) before it returns: a listener told it won never sees
    /// the task run after a crash.
    package func claimForListener(id: String, app: String, at now: Date) throws(StoreError) -> Bool {
        try transition(
            "claim trigger \(id) for a listener",
            """
            UPDATE trigger SET state = 'claimed', owner = NULL, last_error = NULL, updated_at = ?
            WHERE id = ? AND app = ? AND state = 'pending' AND kind IN ('push', 'webpush')
            """,
            [now.timeIntervalSince1970, id, app]) > 0
    }
}
