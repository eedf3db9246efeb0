package import Foundation
import Logging
import NIOCore
import PostgresNIO
package import TaskHostCore
package import TaskHostShared
package import TaskHostStore

/// Settings (scoped by app) and the history of instances with their logs.
extension PostgresTaskStore: TaskStore {
    // MARK: Settings

    private static func setting(from row: PostgresRow) throws -> StoredSetting {
        let (key, value, updatedAt) = try row.decode((String, Data, Date).self)
        return StoredSetting(key: key, value: try SettingValue(encoded: Array(value)), updatedAt: updatedAt)
    }

    package func setting(app: String, key: String) throws(StoreError) -> StoredSetting? {
        let rows = try rows("read setting \"\(key)\"", "SELECT key, value, updated_at FROM setting WHERE app = \(app) AND key = \(key)")
        return try decoding("read setting \"\(key)\"") { try rows.first.map(Self.setting(from:)) }
    }

    package func setSetting(app: String, key: String, value: SettingValue) throws(StoreError) {
        let bytes = ByteBuffer(bytes: value.encoded())
        try execute(
            "write setting \"\(key)\"",
            """
            INSERT INTO setting (app, key, value, updated_at) VALUES (\(app), \(key), \(bytes), \(Date()))
            ON CONFLICT (app, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
            """)
    }

    package func deleteSetting(app: String, key: String) throws(StoreError) -> Bool {
        try execute("delete setting \"\(key)\"", "DELETE FROM setting WHERE app = \(app) AND key = \(key) RETURNING 1") > 0
    }

    package func settings(app: String) throws(StoreError) -> [StoredSetting] {
        let rows = try rows("list settings", "SELECT key, value, updated_at FROM setting WHERE app = \(app) ORDER BY key")
        return try decoding("list settings") { try rows.map(Self.setting(from:)) }
    }

    package func apps() throws(StoreError) -> [String] {
        let rows = try rows("list apps", "SELECT app FROM setting UNION SELECT app FROM instance ORDER BY 1")
        return try decoding("list apps") { try rows.map { try $0.decode(String.self) } }
    }

    // MARK: History

    package func insertInstance(_ record: InstanceRecord) throws(StoreError) {
        try execute(
            "record instance \(record.id)",
            """
            INSERT INTO instance (id, app, task, trigger_kind, trigger_id, attempt, pid, host_pid, host_id, started_at,
                                  ended_at, outcome, outcome_detail, progress, app_version, supervisor, replay_of)
            VALUES (\(record.id), \(record.app), \(record.task), \(record.triggerKind.rawValue), \(record.triggerId),
                    \(record.attempt), \(record.pid), \(record.hostPid), \(hostId), \(record.startedAt), \(record.endedAt),
                    \(record.outcome?.code), \(record.outcome?.detail), \(Int64(record.progress)), \(record.appVersion),
                    \(hostId), \(record.replayOf))
            """)
    }

    package func recordProgress(instanceId: String, progress: UInt32) throws(StoreError) {
        try execute(
            "record the progress of instance \(instanceId)",
            "UPDATE instance SET progress = \(Int64(progress)) WHERE id = \(instanceId) AND ended_at IS NULL")
    }

    package func finishInstance(
        id: String, endedAt: Date, outcome: InstanceOutcome, progress: UInt32, sandbox: String, appendingLog lines: [LogLine]
    ) throws(StoreError) {
        let (code, detail) = (outcome.code, outcome.detail)
        try transaction("record the outcome of instance \(id)") { connection, logger in
            try await Self.appendLog(connection, logger, instanceId: id, lines: lines)
            try await connection.query(
                """
                UPDATE instance SET ended_at = \(endedAt), outcome = \(code), outcome_detail = \(detail),
                    progress = \(Int64(progress)), sandbox = \(sandbox) WHERE id = \(id)
                """, logger: logger)
        }
    }

    /// The columns of an ``InstanceRecord``; `host_name` is the name the host
    /// of `host_id` registered (`hosts`), `NULL` when it registered none.
    static let instanceColumns = """
        id, app, task, trigger_kind, trigger_id, attempt, pid, host_pid, started_at, ended_at, outcome, outcome_detail,
        progress, sandbox, app_version, replay_of, (SELECT name FROM hosts WHERE hosts.id = instance.host_id) AS host_name
        """

    private static func instance(from row: PostgresRow) throws -> InstanceRecord {
        let cells = row.makeRandomAccess()
        let code = try cells["outcome"].decode(String?.self)
        let detail = try cells["outcome_detail"].decode(String?.self)
        return InstanceRecord(
            id: try cells["id"].decode(String.self), app: try cells["app"].decode(String.self), task: try cells["task"].decode(String.self),
            triggerKind: TriggerKind(rawValue: try cells["trigger_kind"].decode(String.self)) ?? .application,
            triggerId: try cells["trigger_id"].decode(String.self), attempt: try cells["attempt"].decode(Int.self),
            pid: try cells["pid"].decode(Int32?.self), hostPid: try cells["host_pid"].decode(Int32.self),
            startedAt: try cells["started_at"].decode(Date.self), endedAt: try cells["ended_at"].decode(Date?.self),
            outcome: code.flatMap { InstanceOutcome(code: $0, detail: detail ?? "") },
            progress: UInt32(clamping: try cells["progress"].decode(Int64.self)), sandbox: try cells["sandbox"].decode(String?.self) ?? "",
            appVersion: try cells["app_version"].decode(String?.self), replayOf: try cells["replay_of"].decode(String?.self),
            hostName: try cells["host_name"].decode(String?.self))
    }

    package func instances(task: String?, limit: Int) throws(StoreError) -> [InstanceRecord] {
        let statement: PostgresQuery =
            task.map {
                "SELECT \(unescaped: Self.instanceColumns) FROM instance WHERE task = \($0) ORDER BY started_at DESC, seq DESC LIMIT \(limit)"
            } ?? "SELECT \(unescaped: Self.instanceColumns) FROM instance ORDER BY started_at DESC, seq DESC LIMIT \(limit)"
        let rows = try rows("list instances", statement)
        return try decoding("list instances") { try rows.map(Self.instance(from:)) }
    }

    package func instance(idPrefix: String) throws(StoreError) -> InstanceRecord? {
        try row(table: "instance", columns: Self.instanceColumns, what: "instance", idPrefix: idPrefix, pattern: idPrefix.lowercased()) {
            try Self.instance(from: $0)
        } id: {
            $0.id
        }
    }

    /// The row of `table` whose id is `idPrefix`, or the only one whose id starts
    /// with `pattern` (4 characters at least); ambiguous prefixes are an error.
    func row<Record: Sendable>(
        table: String, columns: String, what: String, idPrefix: String, pattern: String, decode: (PostgresRow) throws -> Record,
        id: (Record) -> String
    ) throws(StoreError) -> Record? {
        let escaped = pattern.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
            .replacingOccurrences(of: "_", with: "\\_")
        let rows = try rows(
            "find \(what) \(idPrefix)",
            """
            SELECT \(unescaped: columns) FROM \(unescaped: table)
            WHERE id = \(idPrefix) OR (length(\(idPrefix)) >= 4 AND id LIKE \(escaped + "%")) LIMIT 3
            """)
        let matches = try decoding("find \(what) \(idPrefix)") { try rows.map(decode) }
        if let exact = matches.first(where: { id($0) == idPrefix }) { return exact }
        guard matches.count <= 1 else { throw StoreError("\(what) id \"\(idPrefix)\" is ambiguous; give more of it") }
        return matches.first
    }

    package func appendLog(instanceId: String, lines: [LogLine]) throws(StoreError) {
        guard !lines.isEmpty else { return }
        try transaction("append to the log of instance \(instanceId)") { connection, logger in
            try await Self.appendLog(connection, logger, instanceId: instanceId, lines: lines)
        }
    }

    /// Appends `lines` after the instance's last line, in one multi-row INSERT,
    /// inside the caller's transaction (the instance's row is locked first, so
    /// two appends to one log take turns instead of colliding on `seq`).
    private static func appendLog(_ connection: PostgresConnection, _ logger: Logger, instanceId: String, lines: [LogLine]) async throws {
        guard !lines.isEmpty else { return }
        try await connection.query("SELECT 1 FROM instance WHERE id = \(instanceId) FOR UPDATE", logger: logger)
        var last = 0
        for try await seq in try await connection.query(
            "SELECT COALESCE(MAX(seq), 0) FROM log_line WHERE instance_id = \(instanceId)", logger: logger
        ).decode(Int.self) {
            last = seq
        }
        for chunk in stride(from: 0, to: lines.count, by: 1000) {
            var sql = "INSERT INTO log_line (instance_id, seq, stream, text, at) VALUES "
            var binds = PostgresBindings(capacity: 5 * min(1000, lines.count - chunk))
            for (offset, line) in lines[chunk..<min(chunk + 1000, lines.count)].enumerated() {
                let base = offset * 5
                sql += (offset == 0 ? "" : ", ") + "($\(base + 1), $\(base + 2), $\(base + 3), $\(base + 4), $\(base + 5))"
                binds.append(instanceId)
                binds.append(last + chunk + offset + 1)
                binds.append(line.stream.rawValue)
                binds.append(line.text)
                binds.append(line.at)
            }
            try await connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
        }
    }

    package func log(instanceId: String) throws(StoreError) -> [LogLine] {
        let rows = try rows(
            "read the log of instance \(instanceId)",
            "SELECT stream, text, at FROM log_line WHERE instance_id = \(instanceId) ORDER BY seq")
        return try decoding("read the log of instance \(instanceId)") {
            try rows.map { row in
                let (stream, text, at) = try row.decode((String, String, Date).self)
                return LogLine(stream: LogStream(rawValue: stream) ?? .host, text: text, at: at)
            }
        }
    }

    /// `body`'s result; a row it cannot decode is a ``StoreError``.
    func decoding<T>(_ what: String, _ body: () throws -> T) throws(StoreError) -> T {
        do {
            return try body()
        } catch {
            throw PostgresFailure.storeError(what, error)
        }
    }
}
