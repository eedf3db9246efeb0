import Logging
package import PostgresNIO
import Synchronization
import TaskHostCore
package import TaskHostStore

/// The store on a PostgreSQL database that several hosts share (issue 16).
///
/// Every protocol method is one transaction (or one statement), committed with
/// the server's `synchronous_commit` (on by default: a returned write survives a
/// crash of the database server). The methods block their calling thread, a
/// `BlockingExecutor` thread in the host, through ``BlockingBridge``.
///
/// Claims take a lease (``leaseDuration``) and a fence; this store object keeps
/// the fence of each trigger it claimed and settles only with it (see
/// PostgresTaskStore+Settlement.swift). Times are the callers' clocks (the
/// protocols pass `now`): hosts sharing a database need clocks in step (NTP),
/// far closer than a lease.
package final class PostgresTaskStore: Sendable {
    /// Where the database is (``location`` is its description, without the password).
    package let databaseLocation: PostgresStoreLocation
    /// This host's id: recorded as `claimed_by` on the triggers it claims and `host_id` on its instances.
    package let hostId: String
    /// How long a claim holds without being extended.
    package let leaseDuration: Duration
    let client: PostgresClient
    /// The TLS settings of every connection the store makes (the pool's and the wake-up listener's).
    let tls: PostgresTLSContext
    let bridge = BlockingBridge.shared
    let logger: Logger
    private let running: Task<Void, Never>
    /// The fence of each trigger this store object claimed and has not settled.
    let fences = Mutex<[String: Int64]>([:])
    /// Triggers whose lease this store object lost (another host claimed them
    /// again): their fences are kept, so that settling them is refused, and
    /// each loss is reported once.
    let lostLeases = Mutex<Set<String>>([])
    /// Triggers this store object has moved to `expired` so far, for metrics.
    let expired = Atomic<Int>(0)
    /// The tasks (`app/task`) this host runs, from its last heartbeat; `nil`
    /// until the first one (claims then take triggers of any task).
    let claimableTasks = Mutex<[String]?>(nil)

    /// How many triggers this store object has moved to `expired` so far.
    package var expiredCount: Int { expired.load(ordering: .relaxed) }

    /// Connects to the database at `location` (up to `maximumConnections` at
    /// once) and applies the ``StoreMigration``s it lacks (``PostgresSchema``).
    ///
    /// An unreachable server is a ``StoreError`` with code `unavailable`.
    package init(
        location: PostgresStoreLocation, hostId: String = RandomToken.uuid(), leaseDuration: Duration = .seconds(30),
        maximumConnections: Int = 8, logger: Logger = Logger(label: "taskhost.store.postgres")
    ) throws(StoreError) {
        self.databaseLocation = location
        self.hostId = hostId
        self.leaseDuration = leaseDuration
        self.logger = logger
        do {
            tls = try location.tlsContext()
        } catch {
            throw StoreError("cannot open the PostgreSQL store at \(location.description): \(error.message)", underlying: error.underlying)
        }
        var configuration = location.configuration(tls: tls)
        configuration.options.maximumConnections = max(1, maximumConnections)
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        running = bridge.start { await client.run() }
        do {
            try migrate()
        } catch {
            running.cancel()
            throw StoreError(
                "cannot open the PostgreSQL store at \(location.description): \(error.message)", resultCode: error.resultCode,
                underlying: error.underlying)
        }
    }

    deinit { running.cancel() }

    /// Closes the connections.
    package func close() { running.cancel() }

    /// Applies the migrations the database lacks, in one transaction, on a
    /// connection of its own: an unreachable server fails here at once, with
    /// what the connection met, instead of after the pool's retries.
    private func migrate() throws(StoreError) {
        let configuration = databaseLocation.connectionConfiguration(tls: tls)
        let logger = logger
        do {
            try bridge.wait(timeout: .seconds(600)) {  // migrations may rewrite large tables
                let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
                do {
                    try await connection.withTransaction(logger: logger) { connection in
                        try await Self.migrate(connection, logger)
                    }
                } catch {
                    try? await connection.close()
                    throw error
                }
                try await connection.close()
            }
        } catch {
            throw PostgresFailure.storeError("connect and migrate the schema", error)
        }
    }

    private static func migrate(_ connection: PostgresConnection, _ logger: Logger) async throws {
        try await connection.query("SELECT pg_advisory_xact_lock(\(PostgresSchema.migrationLock))", logger: logger)
        try await connection.query(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())
            """, logger: logger)
        var recorded: [(Int, String)] = []
        for try await row in try await connection.query("SELECT version, name FROM schema_migrations", logger: logger).decode(
            (Int, String).self)
        {
            recorded.append(row)
        }
        var applied = Set<Int>()
        var earlier: [StoreMigration] = []
        for (version, name) in recorded {
            if let cases = PostgresSchema.earlierMigrations[name] {
                // Recorded before the numbering was StoreMigration's: its row makes way for the cases it stands for.
                try await connection.query("DELETE FROM schema_migrations WHERE version = \(version) AND name = \(name)", logger: logger)
                earlier += cases
            } else {
                applied.insert(version)
            }
        }
        for migration in earlier {
            guard applied.insert(migration.rawValue).inserted else { continue }
            try await record(migration, connection, logger)
        }
        for migration in StoreMigration.allCases where !applied.contains(migration.rawValue) {
            if case .statements(let statements) = PostgresSchema.step(migration) {
                for statement in statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
            }
            try await record(migration, connection, logger)
        }
    }

    /// Records `migration` as applied (or as not needed: PostgresSchema.step).
    private static func record(_ migration: StoreMigration, _ connection: PostgresConnection, _ logger: Logger) async throws {
        try await connection.query(
            "INSERT INTO schema_migrations (version, name) VALUES (\(migration.rawValue), \(migration.name))", logger: logger)
    }

    /// The numbers of the migrations applied (``StoreMigration``'s raw values), in
    /// order, those PostgreSQL does not need included (tests, `taskhost doctor`).
    package func appliedMigrations() throws(StoreError) -> [Int] {
        try query("read the schema's version") { client, logger in
            try await client.query("SELECT version FROM schema_migrations ORDER BY version", logger: logger).collect()
                .map { try $0.decode(Int.self) }
        }
    }

    // MARK: Running statements

    /// Runs `body` with a pooled connection in one transaction (committed when it
    /// returns, rolled back when it throws), blocking until it is done.
    func transaction<T: Sendable>(
        _ what: String, _ body: @escaping @Sendable (PostgresConnection, Logger) async throws -> T
    ) throws(StoreError) -> T {
        let client = client
        let logger = logger
        do {
            return try bridge.wait {
                try await client.withTransaction(logger: logger) { connection in try await body(connection, logger) }
            }
        } catch {
            throw PostgresFailure.storeError(what, error)
        }
    }

    /// Runs `body`'s statements (each its own transaction), blocking until done.
    func query<T: Sendable>(_ what: String, _ body: @escaping @Sendable (PostgresClient, Logger) async throws -> T) throws(StoreError)
        -> T
    {
        let client = client
        let logger = logger
        do {
            return try bridge.wait { try await body(client, logger) }
        } catch {
            throw PostgresFailure.storeError(what, error)
        }
    }

    /// Runs one statement; returns how many rows it returned (`RETURNING` counts changed rows).
    @discardableResult
    func execute(_ what: String, _ statement: PostgresQuery) throws(StoreError) -> Int {
        try query(what) { client, logger in try await client.query(statement, logger: logger).collect().count }
    }

    /// Runs one statement; returns its rows.
    func rows(_ what: String, _ statement: PostgresQuery) throws(StoreError) -> [PostgresRow] {
        try query(what) { client, logger in try await client.query(statement, logger: logger).collect() }
    }
}
