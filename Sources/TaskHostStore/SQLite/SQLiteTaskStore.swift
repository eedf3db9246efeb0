package import Foundation
import GRDB
import Synchronization
package import TaskHostCore
package import TaskHostShared

/// The embedded store: one SQLite database in the state directory, in WAL mode
/// with `synchronous=FULL` (an acknowledged write survives power loss),
/// immediate write transactions (GRDB uses `BEGIN IMMEDIATE` for a pool's
/// writes) and a busy timeout, so several taskhost
/// processes (the daemon and the CLI) can share it.
package final class SQLiteTaskStore: TaskStore {
    /// The database file.
    package let path: String
    /// The database (internal for tests, which drive ``DurableWrites`` over it).
    let pool: DatabasePool
    private let committer: DurableWrites
    /// This process's mark in the instance rows it writes, made with the first one.
    private let supervisor = Mutex<SupervisorLock?>(nil)
    /// Triggers this store object has expired (claims expire them), for metrics.
    let expired = Atomic<Int>(0)

    /// How many triggers this store object has moved to `expired` so far.
    package var expiredCount: Int { expired.load(ordering: .relaxed) }

    /// Opens (creating if needed) the database at `path`, checks it, migrates
    /// it, and settles the instances of hosts that stopped before they ended
    /// (see ``settleAbandonedInstances()``; should that fail, the next open
    /// does it).
    ///
    /// A new database is created mode 0600 (its `-wal` and `-shm` files get
    /// the same mode from SQLite); an existing one open to other users is made
    /// private, saying so. An existing database that is empty (0 bytes) or
    /// fails SQLite's `quick_check` is refused with what to do (see
    /// ``openDatabase(path:configuration:)``).
    package init(path: String) throws(StoreError) {
        self.path = path
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            try db.execute(sql: "PRAGMA foreign_keys = ON")
        }
        // Two processes opening a new or older database at once (serve and
        // a CLI command) would both turn on WAL mode or apply a migration,
        // and the second would fail ("database is locked", "duplicate
        // column"): they open it one at a time. The lock is held only while
        // opening; the migrator skips what an earlier open applied.
        let lock = FileLock.exclusive(path: path + "-open.lock")
        if case .failed(let message) = lock { throw StoreError(message) }
        defer { withExtendedLifetime(lock) {} }
        let pool = try Self.openDatabase(path: path, configuration: configuration)
        self.pool = pool
        committer = DurableWrites(savepointsIn: pool)
        _ = try? settleAbandonedInstances()
    }

    /// The token of this store's ``SupervisorLock``, if it has recorded an instance.
    var currentSupervisorToken: String? { supervisor.withLock { $0?.token } }

    /// The token recorded in this store's instance rows; the first call takes
    /// the lock that says this process is alive.
    private func supervisorToken() throws(StoreError) -> String {
        try supervisor.withLock { (lock: inout SupervisorLock?) throws(StoreError) -> String in
            if let lock { return lock.token }
            let created = try SupervisorLock(directory: Self.supervisorDirectory(databasePath: path))
            lock = created
            return created.token
        }
    }

    /// Opens the store in a state directory, creating the directory (mode
    /// 0700; an existing one open to other users is made private, saying so).
    package convenience init(stateDirectory: StateDirectory) throws(StoreError) {
        try stateDirectory.create()
        try self.init(path: stateDirectory.databasePath)
    }

    /// A durable write (`synchronous = FULL`). Writes that arrive while
    /// another commits are committed together, each in a savepoint of its own,
    /// with one fsync: the outcomes and trigger settlements of concurrent
    /// instances share the cost of durability instead of queueing for it.
    func write<T>(_ what: String, _ body: (Database) throws -> T) throws(StoreError) -> T {
        try committer.write(what) { db in try body(db) as Any }.get() as! T
    }

    /// A write transaction that is not fsync'd on its own (`synchronous =
    /// NORMAL`): it survives a crash of the process, and becomes durable
    /// against power loss with the next ordinary (FULL) commit, which fsyncs
    /// the whole write-ahead log. For bookkeeping that a durable commit always
    /// follows: an instance's start, pid and log lines (its outcome, the
    /// trigger's settlement and settings stay FULL).
    func writeRelaxed<T>(_ what: String, _ body: (Database) throws -> T) throws(StoreError) -> T {
        do {
            return try pool.writeWithoutTransaction { db in
                try db.cachedStatement(sql: "PRAGMA synchronous = NORMAL").execute()
                defer { try? db.cachedStatement(sql: "PRAGMA synchronous = FULL").execute() }
                var result: T?
                try db.inTransaction(.immediate) {
                    result = try body(db)
                    return .commit
                }
                return result!
            }
        } catch {
            throw Self.failure(what, error)
        }
    }

    /// The error of a store operation that SQLite (or its caller) failed.
    static func failure(_ what: String, _ error: any Error) -> StoreError {
        StoreError(
            "store: cannot \(what): \(error)", resultCode: (error as? DatabaseError)?.resultCode.primaryResultCode.rawValue,
            underlying: error)
    }

    func read<T>(_ what: String, _ body: (Database) throws -> T) throws(StoreError) -> T {
        do {
            return try pool.read(body)
        } catch {
            throw Self.failure(what, error)
        }
    }

    /// The journal mode and `synchronous` level the store's connections use
    /// (`wal` and 2, FULL), for `taskhost doctor` and tests.
    package func durability() throws(StoreError) -> (journalMode: String, synchronous: Int) {
        try read("read the durability settings") { db in
            (try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "", try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1)
        }
    }

    // MARK: Settings

    private static func setting(from row: Row) throws -> StoredSetting {
        let bytes: Data = row["value"]
        return StoredSetting(
            key: row["key"], value: try SettingValue(encoded: Array(bytes)),
            updatedAt: Date(timeIntervalSince1970: row["updated_at"]))
    }

    package func setting(app: String, key: String) throws(StoreError) -> StoredSetting? {
        try read("read setting \"\(key)\"") { db in
            try Row.fetchOne(
                db, sql: "SELECT key, value, updated_at FROM setting WHERE app = ? AND key = ?",
                arguments: [app, key]
            ).map(Self.setting(from:))
        }
    }

    package func setSetting(app: String, key: String, value: SettingValue) throws(StoreError) {
        try write("write setting \"\(key)\"") { db in
            try db.execute(
                sql: """
                    INSERT INTO setting (app, key, value, updated_at) VALUES (?, ?, ?, ?)
                    ON CONFLICT (app, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
                    """,
                arguments: [app, key, Data(value.encoded()), Date().timeIntervalSince1970])
        }
    }

    package func deleteSetting(app: String, key: String) throws(StoreError) -> Bool {
        try write("delete setting \"\(key)\"") { db in
            try db.execute(sql: "DELETE FROM setting WHERE app = ? AND key = ?", arguments: [app, key])
            return db.changesCount > 0
        }
    }

    package func settings(app: String) throws(StoreError) -> [StoredSetting] {
        try read("list settings") { db in
            try Row.fetchAll(
                db, sql: "SELECT key, value, updated_at FROM setting WHERE app = ? ORDER BY key",
                arguments: [app]
            ).map(Self.setting(from:))
        }
    }

    package func apps() throws(StoreError) -> [String] {
        try read("list apps") { db in
            try String.fetchAll(db, sql: "SELECT app FROM setting UNION SELECT app FROM instance ORDER BY 1")
        }
    }

    // MARK: History

    /// Records the instance with this process's supervisor token, so that it
    /// is settled as abandoned should the process die before its outcome.
    package func insertInstance(_ record: InstanceRecord) throws(StoreError) {
        let token = try supervisorToken()
        try writeRelaxed("record instance \(record.id)") { db in
            try db.cachedStatement(
                sql: """
                    INSERT INTO instance (id, app, task, trigger_kind, trigger_id, attempt, pid, host_pid, started_at,
                                          ended_at, outcome, outcome_detail, progress, app_version, supervisor, replay_of)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """
            ).execute(arguments: [
                record.id, record.app, record.task, record.triggerKind.rawValue, record.triggerId, record.attempt,
                record.pid, record.hostPid, record.startedAt.timeIntervalSince1970,
                record.endedAt?.timeIntervalSince1970, record.outcome?.code, record.outcome?.detail,
                Int64(record.progress), record.appVersion, token, record.replayOf,
            ])
        }
    }

    /// Not fsync'd on its own (like the instance's start): progress lost with
    /// the power is progress of an instance that did not end, which the next
    /// open settles as abandoned.
    package func recordProgress(instanceId: String, progress: UInt32) throws(StoreError) {
        try writeRelaxed("record the progress of instance \(instanceId)") { db in
            try db.cachedStatement(sql: "UPDATE instance SET progress = ? WHERE id = ? AND ended_at IS NULL")
                .execute(arguments: [Int64(progress), instanceId])
        }
    }

    package func finishInstance(
        id: String, endedAt: Date, outcome: InstanceOutcome, progress: UInt32, sandbox: String, appendingLog lines: [LogLine]
    ) throws(StoreError) {
        try write("record the outcome of instance \(id)") { db in
            try Self.appendLog(db, instanceId: id, lines: lines)
            try db.cachedStatement(
                sql: "UPDATE instance SET ended_at = ?, outcome = ?, outcome_detail = ?, progress = ?, sandbox = ? WHERE id = ?"
            ).execute(arguments: [endedAt.timeIntervalSince1970, outcome.code, outcome.detail, Int64(progress), sandbox, id])
        }
    }

    private static func instance(from row: Row) -> InstanceRecord {
        let ended: Double? = row["ended_at"]
        let code: String? = row["outcome"]
        let detail: String? = row["outcome_detail"]
        let progress: Int64 = row["progress"]
        return InstanceRecord(
            id: row["id"], app: row["app"], task: row["task"],
            triggerKind: TriggerKind(rawValue: row["trigger_kind"]) ?? .application,
            triggerId: row["trigger_id"], attempt: row["attempt"], pid: row["pid"], hostPid: row["host_pid"],
            startedAt: Date(timeIntervalSince1970: row["started_at"]),
            endedAt: ended.map(Date.init(timeIntervalSince1970:)),
            outcome: code.flatMap { InstanceOutcome(code: $0, detail: detail ?? "") },
            progress: UInt32(clamping: progress), sandbox: row["sandbox"] ?? "", appVersion: row["app_version"],
            replayOf: row["replay_of"])
    }

    package func instances(task: String?, limit: Int) throws(StoreError) -> [InstanceRecord] {
        try read("list instances") { db in
            if let task {
                return try Row.fetchAll(
                    db, sql: "SELECT * FROM instance WHERE task = ? ORDER BY started_at DESC, rowid DESC LIMIT ?",
                    arguments: [task, limit]
                ).map(Self.instance(from:))
            }
            return try Row.fetchAll(
                db, sql: "SELECT * FROM instance ORDER BY started_at DESC, rowid DESC LIMIT ?", arguments: [limit]
            ).map(Self.instance(from:))
        }
    }

    package func instance(idPrefix: String) throws(StoreError) -> InstanceRecord? {
        try row(
            in: "instance", what: "instance", idPrefix: idPrefix, pattern: idPrefix.lowercased(), id: \.id, decode: Self.instance(from:))
    }

    /// The row of `table` whose id is `idPrefix`, or the only one whose id starts
    /// with `pattern` (4 characters at least); ambiguous prefixes are an error.
    func row<Record>(
        in table: String, what: String, idPrefix: String, pattern: String, id: (Record) -> String, decode: @escaping (Row) -> Record
    ) throws(StoreError) -> Record? {
        let matches = try read("find \(what) \(idPrefix)") { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM \(table) WHERE id = ? OR (length(?) >= 4 AND id LIKE ? || '%') LIMIT 3",
                arguments: [idPrefix, idPrefix, pattern]
            ).map(decode)
        }
        if let exact = matches.first(where: { id($0) == idPrefix }) { return exact }
        guard matches.count <= 1 else { throw StoreError("\(what) id \"\(idPrefix)\" is ambiguous; give more of it") }
        return matches.first
    }

    package func appendLog(instanceId: String, lines: [LogLine]) throws(StoreError) {
        guard !lines.isEmpty else { return }
        try writeRelaxed("append to the log of instance \(instanceId)") { db in
            try Self.appendLog(db, instanceId: instanceId, lines: lines)
        }
    }

    /// Appends `lines` after the instance's last line, inside the caller's transaction.
    private static func appendLog(_ db: Database, instanceId: String, lines: [LogLine]) throws {
        guard !lines.isEmpty else { return }
        var seq =
            try Int.fetchOne(
                db.cachedStatement(sql: "SELECT COALESCE(MAX(seq), 0) FROM log_line WHERE instance_id = ?"), arguments: [instanceId]) ?? 0
        let statement = try db.cachedStatement(sql: "INSERT INTO log_line (instance_id, seq, stream, text, at) VALUES (?, ?, ?, ?, ?)")
        for line in lines {
            seq += 1
            try statement.execute(arguments: [instanceId, seq, line.stream.rawValue, line.text, line.at.timeIntervalSince1970])
        }
    }

    package func log(instanceId: String) throws(StoreError) -> [LogLine] {
        try read("read the log of instance \(instanceId)") { db in
            try Row.fetchAll(
                db, sql: "SELECT stream, text, at FROM log_line WHERE instance_id = ? ORDER BY seq",
                arguments: [instanceId]
            ).map { row in
                LogLine(
                    stream: LogStream(rawValue: row["stream"]) ?? .host, text: row["text"],
                    at: Date(timeIntervalSince1970: row["at"]))
            }
        }
    }
}
