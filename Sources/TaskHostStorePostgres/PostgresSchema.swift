import TaskHostStore

/// The PostgreSQL store's schema: what PostgreSQL does for each
/// ``StoreMigration``, the numbering every backend shares.
///
/// ``PostgresTaskStore`` applies the migrations a database lacks when it opens,
/// all in one transaction under an advisory lock (hosts that start together
/// migrate once), and records each (its number and ``StoreMigration/name``) in
/// `schema_migrations`, those PostgreSQL does not need too, as SQLite records
/// every one in `grdb_migrations`. A migration is never edited once released:
/// a change is a new ``StoreMigration`` case, with its SQL for each backend.
///
/// PostgreSQL's store began with the schema SQLite has after
/// ``StoreMigration/webPush``: ``StoreMigration/history`` creates all of it
/// (SQLite's tables with PostgreSQL's types, `timestamptz` for times, `bytea`
/// for bytes), and the cases up to ``StoreMigration/webPush`` are not needed.
/// Besides SQLite's tables it has what several hosts on one database need:
/// - `trigger.claimed_by`: the id of the host that claimed a running trigger
///   (SQLite's `owner`);
/// - `trigger.lease_expires_at`: until when that claim holds; the host extends
///   it while the instance runs, and once it has passed another host may claim
///   the trigger again (counting an attempt);
/// - `trigger.fence`: the claim's token, a new number from `trigger_fence` at
///   each claim; a settlement (done, retry, dead-letter, release, park) applies
///   only with the fence of the current claim, so a host whose lease was taken
///   over cannot record an outcome over the new claim's;
/// - `hosts`: each host's id, name, heartbeat and the tasks it runs;
///   `instance.host_id`: which host ran an instance.
enum PostgresSchema {
    /// What PostgreSQL does for one ``StoreMigration``.
    enum Step: Sendable, Equatable {
        /// Statements run in order (one statement each: the extended query
        /// protocol runs one at a time).
        case statements([String])
        /// Nothing, for the reason given: what the migration brings to SQLite
        /// PostgreSQL's schema has already, or does not need.
        case notNeeded(because: String)
    }

    /// Serializes migrations across hosts (`pg_advisory_xact_lock`).
    static let migrationLock: Int64 = 0x7461_736B_686F_7374  // "taskhost"

    /// The last ``StoreMigration`` that PostgreSQL's first schema (its step for
    /// ``StoreMigration/history``) includes.
    static let baseline = StoreMigration.webPush

    /// PostgreSQL's step for `migration`. The switch is exhaustive: a new
    /// ``StoreMigration`` does not compile until PostgreSQL has its SQL, or says
    /// why it needs none (and StoreMigrationTests compares the two backends'
    /// tables, columns and indexes).
    static func step(_ migration: StoreMigration) -> Step {
        switch migration {
        case .history:
            .statements(tables + indexes)
        case .queue, .sandbox, .plugins, .queueIndexes, .oneStateIndex, .disabledTasks, .instanceSupervisor, .parkedTriggersExpire,
            .replays, .webPush:
            .notNeeded(because: "PostgreSQL's first schema (its step for v1) has SQLite's tables and indexes as of v11-webpush")
        case .settledIndex:
            .statements([
                "CREATE INDEX trigger_settled ON trigger (updated_at) WHERE state IN ('done', 'dead', 'expired') AND kind != 'time'"
            ])
        // The state's CHECK admits `waiting`, and the expiry index covers it
        // (a trigger waiting for its task's conditions still expires).
        case .waitingTriggers:
            .statements([
                "ALTER TABLE trigger DROP CONSTRAINT trigger_state_check",
                """
                ALTER TABLE trigger ADD CONSTRAINT trigger_state_check
                    CHECK (state IN ('pending', 'running', 'retrying', 'done', 'dead', 'expired', 'parked', 'waiting'))
                """,
                "DROP INDEX trigger_expiry",
                """
                CREATE INDEX trigger_expiry ON trigger (expires_at)
                    WHERE state IN ('pending', 'retrying', 'parked', 'waiting') AND expires_at IS NOT NULL
                """,
            ])
        // The state's CHECK admits `claimed` too; a claimed trigger is settled, so
        // in the pruning index; credentials get a scope (push or listen).
        case .listenClaims:
            .statements([
                "ALTER TABLE trigger DROP CONSTRAINT trigger_state_check",
                """
                ALTER TABLE trigger ADD CONSTRAINT trigger_state_check
                    CHECK (state IN ('pending', 'running', 'retrying', 'done', 'dead', 'expired', 'parked', 'waiting', 'claimed'))
                """,
                "DROP INDEX trigger_settled",
                "CREATE INDEX trigger_settled ON trigger (updated_at) WHERE state IN ('done', 'dead', 'expired', 'claimed') AND kind != 'time'",
                "ALTER TABLE credential ADD COLUMN scope text NOT NULL DEFAULT 'push'",
            ])
        }
    }

    /// The migrations as this store recorded them before they were numbered in
    /// ``StoreMigration`` (its own versions 1 and 2), by the name recorded, with
    /// the cases each stands for: opening such a database records those cases
    /// in their place, and applies only what is missing.
    static let earlierMigrations: [String: [StoreMigration]] = [
        "tables of the SQLite store, with leases, fences and hosts": StoreMigration.allCases.filter { $0.rawValue <= baseline.rawValue },
        "the settled index, for pruning": [.settledIndex],
    ]

    static let tables = [
        """
        CREATE TABLE setting (
            app text NOT NULL,
            key text NOT NULL,
            value bytea NOT NULL,
            updated_at timestamptz NOT NULL,
            PRIMARY KEY (app, key)
        )
        """,
        """
        CREATE TABLE hosts (
            id text PRIMARY KEY,
            name text NOT NULL,
            heartbeat_at timestamptz NOT NULL,
            tasks text[] NOT NULL DEFAULT '{}'
        )
        """,
        """
        CREATE TABLE instance (
            seq bigserial UNIQUE,
            id text PRIMARY KEY,
            app text NOT NULL,
            task text NOT NULL,
            trigger_kind text NOT NULL,
            trigger_id text NOT NULL,
            attempt integer NOT NULL,
            pid integer,
            host_pid integer NOT NULL,
            host_id text,
            started_at timestamptz NOT NULL,
            ended_at timestamptz,
            outcome text,
            outcome_detail text,
            progress bigint NOT NULL DEFAULT 0,
            sandbox text,
            app_version text,
            supervisor text,
            replay_of text
        )
        """,
        """
        CREATE TABLE log_line (
            instance_id text NOT NULL REFERENCES instance (id) ON DELETE CASCADE,
            seq integer NOT NULL,
            stream text NOT NULL,
            text text NOT NULL,
            at timestamptz NOT NULL,
            PRIMARY KEY (instance_id, seq)
        )
        """,
        "CREATE SEQUENCE trigger_fence AS bigint",
        """
        CREATE TABLE trigger (
            id text PRIMARY KEY,
            app text NOT NULL,
            task text NOT NULL,
            kind text NOT NULL,
            payload bytea NOT NULL,
            channel_id text NOT NULL,
            headers bytea NOT NULL,
            arguments bytea NOT NULL,
            state text NOT NULL
                CHECK (state IN ('pending', 'running', 'retrying', 'done', 'dead', 'expired', 'parked')),
            attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
            created_at timestamptz NOT NULL,
            available_at timestamptz NOT NULL,
            expires_at timestamptz,
            claimed_by text,
            lease_expires_at timestamptz,
            fence bigint,
            last_error text,
            last_instance_id text,
            updated_at timestamptz NOT NULL,
            topic text,
            replay_of text
        )
        """,
        """
        CREATE TABLE channel (
            id text PRIMARY KEY,
            app text NOT NULL,
            task text NOT NULL,
            created_at timestamptz NOT NULL,
            expires_at timestamptz NOT NULL,
            revoked_at timestamptz
        )
        """,
        """
        CREATE TABLE credential (
            id text PRIMARY KEY,
            app text NOT NULL,
            label text NOT NULL,
            secret_hash bytea NOT NULL,
            created_at timestamptz NOT NULL,
            revoked_at timestamptz
        )
        """,
        """
        CREATE TABLE timer (
            app text NOT NULL,
            task text NOT NULL,
            anchor timestamptz NOT NULL,
            PRIMARY KEY (app, task)
        )
        """,
        """
        CREATE TABLE plugin (
            name text PRIMARY KEY,
            identity text NOT NULL,
            version text,
            state text NOT NULL,
            reason text,
            fingerprint text NOT NULL,
            staged_path text NOT NULL,
            tasks text NOT NULL,
            updated_at timestamptz NOT NULL
        )
        """,
        """
        CREATE TABLE disabled_task (
            plugin text NOT NULL,
            task text NOT NULL,
            app text NOT NULL,
            reason text NOT NULL,
            disabled_at timestamptz NOT NULL,
            PRIMARY KEY (plugin, task)
        )
        """,
        """
        CREATE TABLE webpush_subscription (
            id text PRIMARY KEY,
            app text NOT NULL,
            task text NOT NULL,
            private_key bytea NOT NULL,
            public_key bytea NOT NULL,
            auth_secret bytea NOT NULL,
            application_server_key bytea,
            created_at timestamptz NOT NULL,
            expires_at timestamptz,
            revoked_at timestamptz
        )
        """,
    ]

    /// SQLite's indexes, and the lease index: a claim reads expired leases in
    /// expiry order from `trigger_lease`, runnable triggers in queue order from
    /// `trigger_ready`, both partial, so a claim costs the same however long the
    /// queue and however much of it is done.
    static let indexes = [
        "CREATE INDEX instance_by_start ON instance (started_at, seq)",
        "CREATE INDEX instance_by_task ON instance (task, started_at, seq)",
        "CREATE INDEX instance_unfinished ON instance (supervisor) WHERE outcome IS NULL",
        "CREATE INDEX trigger_ready ON trigger (available_at, created_at) WHERE state IN ('pending', 'retrying')",
        """
        CREATE INDEX trigger_expiry ON trigger (expires_at)
            WHERE state IN ('pending', 'retrying', 'parked') AND expires_at IS NOT NULL
        """,
        "CREATE INDEX trigger_lease ON trigger (lease_expires_at) WHERE state = 'running'",
        "CREATE INDEX trigger_by_state ON trigger (state, app, task)",
        "CREATE INDEX trigger_topic ON trigger (channel_id, topic) WHERE topic IS NOT NULL",
    ]
}
