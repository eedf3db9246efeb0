import GRDB

/// The SQLite schema: every ``StoreMigration``, in order, as SQLite applies
/// it. GRDB's migrator runs the ones a database has not applied yet, each in
/// a transaction of its own, and records their names in `grdb_migrations`
/// (a database made by an older taskhost is brought up to date at its next
/// open; see ``openDatabase(path:configuration:)``).
///
/// The migrations are SQL text compiled into the binary, not a `.sql`
/// resource: the `taskhost` executable is installed alone (no resource
/// bundle to find at run time), and the `switch` below is exhaustive, so a
/// migration added to ``StoreMigration`` does not compile until SQLite has it.
extension SQLiteTaskStore {
    /// Applies every ``StoreMigration`` a database lacks.
    static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        for migration in StoreMigration.allCases {
            migrator.registerMigration(migration.name) { db in try db.execute(sql: sql(migration)) }
        }
        return migrator
    }()

    /// The SQL of `migration`.
    static func sql(_ migration: StoreMigration) -> String {
        switch migration {
        case .history:
            """
            CREATE TABLE setting (
                app TEXT NOT NULL,
                key TEXT NOT NULL,
                value BLOB NOT NULL,
                updated_at DOUBLE NOT NULL,
                PRIMARY KEY (app, key)
            ) WITHOUT ROWID;
            CREATE TABLE instance (
                id TEXT PRIMARY KEY,
                app TEXT NOT NULL,
                task TEXT NOT NULL,
                trigger_kind TEXT NOT NULL,
                trigger_id TEXT NOT NULL,
                attempt INTEGER NOT NULL,
                pid INTEGER,
                host_pid INTEGER NOT NULL,
                started_at DOUBLE NOT NULL,
                ended_at DOUBLE,
                outcome TEXT,
                outcome_detail TEXT,
                progress INTEGER NOT NULL DEFAULT 0
            );
            CREATE INDEX instance_by_start ON instance (started_at);
            CREATE INDEX instance_by_task ON instance (task, started_at);
            CREATE TABLE log_line (
                instance_id TEXT NOT NULL REFERENCES instance(id) ON DELETE CASCADE,
                seq INTEGER NOT NULL,
                stream TEXT NOT NULL,
                text TEXT NOT NULL,
                at DOUBLE NOT NULL,
                PRIMARY KEY (instance_id, seq)
            ) WITHOUT ROWID;
            """
        case .queue:
            """
            CREATE TABLE trigger (
                id TEXT PRIMARY KEY,
                app TEXT NOT NULL,
                task TEXT NOT NULL,
                kind TEXT NOT NULL,
                payload BLOB NOT NULL,
                channel_id TEXT NOT NULL,
                headers BLOB NOT NULL,
                arguments BLOB NOT NULL,
                state TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                created_at DOUBLE NOT NULL,
                available_at DOUBLE NOT NULL,
                expires_at DOUBLE,
                owner TEXT,
                last_error TEXT,
                last_instance_id TEXT,
                updated_at DOUBLE NOT NULL
            );
            CREATE INDEX trigger_runnable ON trigger (state, available_at);
            CREATE INDEX trigger_by_task ON trigger (app, task, state);
            CREATE TABLE channel (
                id TEXT PRIMARY KEY,
                app TEXT NOT NULL,
                task TEXT NOT NULL,
                created_at DOUBLE NOT NULL,
                expires_at DOUBLE NOT NULL,
                revoked_at DOUBLE
            );
            CREATE TABLE credential (
                id TEXT PRIMARY KEY,
                app TEXT NOT NULL,
                label TEXT NOT NULL,
                secret_hash BLOB NOT NULL,
                created_at DOUBLE NOT NULL,
                revoked_at DOUBLE
            );
            CREATE TABLE timer (
                app TEXT NOT NULL,
                task TEXT NOT NULL,
                anchor DOUBLE NOT NULL,
                PRIMARY KEY (app, task)
            ) WITHOUT ROWID;
            """
        case .sandbox:
            """
            ALTER TABLE instance ADD COLUMN sandbox TEXT
            """
        case .plugins:
            """
            CREATE TABLE plugin (
                name TEXT PRIMARY KEY,
                identity TEXT NOT NULL,
                version TEXT,
                state TEXT NOT NULL,
                reason TEXT,
                fingerprint TEXT NOT NULL,
                staged_path TEXT NOT NULL,
                tasks TEXT NOT NULL,
                updated_at DOUBLE NOT NULL
            ) WITHOUT ROWID;
            ALTER TABLE instance ADD COLUMN app_version TEXT;
            """
        // Claiming must cost the same with 100,000 triggers queued as with
        // none: partial indexes over the runnable rows, read in order, so a
        // claim stops after LIMIT rows instead of sorting every pending one,
        // and expiring reads only rows that have a time to live.
        case .queueIndexes:
            """
            DROP INDEX trigger_runnable;
            CREATE INDEX trigger_state ON trigger (state);
            CREATE INDEX trigger_ready ON trigger (available_at, created_at) WHERE state IN ('pending', 'retrying');
            CREATE INDEX trigger_expiry ON trigger (expires_at) WHERE state IN ('pending', 'retrying') AND expires_at IS NOT NULL;
            """
        // Every index of `trigger` is one more B-tree page written (and one
        // more WAL frame) per ingest commit: counts, backlogs, parking and
        // recovery all filter on the state first, so one index serves them.
        case .oneStateIndex:
            """
            DROP INDEX trigger_state;
            DROP INDEX trigger_by_task;
            CREATE INDEX trigger_by_state ON trigger (state, app, task);
            """
        case .disabledTasks:
            """
            CREATE TABLE disabled_task (
                plugin TEXT NOT NULL,
                task TEXT NOT NULL,
                app TEXT NOT NULL,
                reason TEXT NOT NULL,
                disabled_at DOUBLE NOT NULL,
                PRIMARY KEY (plugin, task)
            ) WITHOUT ROWID;
            """
        // The partial index keeps the look at unfinished instances, done at
        // every open of the store, independent of the length of the history.
        case .instanceSupervisor:
            """
            ALTER TABLE instance ADD COLUMN supervisor TEXT;
            CREATE INDEX instance_unfinished ON instance (supervisor) WHERE outcome IS NULL;
            """
        // A parked trigger still expires: the expiry index covers it, so the
        // claim's expiry pass reads only rows that have a time to live.
        case .parkedTriggersExpire:
            """
            DROP INDEX trigger_expiry;
            CREATE INDEX trigger_expiry ON trigger (expires_at)
                WHERE state IN ('pending', 'retrying', 'parked') AND expires_at IS NOT NULL;
            """
        case .replays:
            """
            ALTER TABLE trigger ADD COLUMN replay_of TEXT;
            ALTER TABLE instance ADD COLUMN replay_of TEXT;
            """
        // The private key is kept as the store keeps its other secrets: in the
        // database, in the private (0700) state directory. A topic is indexed
        // only where there is one, so pushes without a topic write no more pages.
        case .webPush:
            """
            CREATE TABLE webpush_subscription (
                id TEXT PRIMARY KEY,
                app TEXT NOT NULL,
                task TEXT NOT NULL,
                private_key BLOB NOT NULL,
                public_key BLOB NOT NULL,
                auth_secret BLOB NOT NULL,
                application_server_key BLOB,
                created_at DOUBLE NOT NULL,
                expires_at DOUBLE,
                revoked_at DOUBLE
            );
            ALTER TABLE trigger ADD COLUMN topic TEXT;
            CREATE INDEX trigger_topic ON trigger (channel_id, topic) WHERE topic IS NOT NULL;
            """
        // Pruning reads the settled triggers oldest first and stops at the
        // cutoff: a partial index, so that a prune with nothing to remove
        // costs one index probe however many settled triggers are kept, and
        // ingest (which inserts pending rows) never writes to it. Timer
        // triggers are not in it: they are never pruned (a period's row keeps
        // the period from firing twice).
        case .settledIndex:
            "CREATE INDEX trigger_settled ON trigger (updated_at) WHERE state IN ('done', 'dead', 'expired') AND kind != 'time'"
        // A trigger waiting for its task's conditions still expires: the
        // expiry index covers it (the state column is free text in SQLite).
        case .waitingTriggers:
            """
            DROP INDEX trigger_expiry;
            CREATE INDEX trigger_expiry ON trigger (expires_at)
                WHERE state IN ('pending', 'retrying', 'parked', 'waiting') AND expires_at IS NOT NULL;
            """
        // A claimed trigger is settled: pruned like a done one. A credential
        // created before scopes existed pushes, as it always did.
        case .listenClaims:
            """
            DROP INDEX trigger_settled;
            CREATE INDEX trigger_settled ON trigger (updated_at) WHERE state IN ('done', 'dead', 'expired', 'claimed') AND kind != 'time';
            ALTER TABLE credential ADD COLUMN scope TEXT NOT NULL DEFAULT 'push';
            """
        }
    }
}
