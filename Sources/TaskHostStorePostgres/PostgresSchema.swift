/// The PostgreSQL store's schema: numbered migrations, in one place.
///
/// ``PostgresTaskStore`` applies the ones a database lacks when it opens, all in
/// one transaction under an advisory lock (hosts that start together migrate
/// once), and records each in `schema_migrations`. A migration is never edited
/// once released: a change is a new migration at the end.
///
/// The tables are SQLite's (`SQLiteTaskStore`'s migrations v1 to v11), with
/// PostgreSQL's types (`timestamptz` for times, `bytea` for bytes), plus what
/// several hosts on one database need:
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
    /// A numbered migration: statements run in order (one statement each: the
    /// extended query protocol runs one at a time).
    struct Migration: Sendable {
        var version: Int
        var name: String
        var statements: [String]
    }

    /// Serializes migrations across hosts (`pg_advisory_xact_lock`).
    static let migrationLock: Int64 = 0x7461_736B_686F_7374  // "taskhost"

    static let migrations: [Migration] = [
        Migration(version: 1, name: "tables of the SQLite store, with leases, fences and hosts", statements: tables + indexes),
        Migration(
            version: 2, name: "the settled index, for pruning",
            statements: [
                "CREATE INDEX trigger_settled ON trigger (updated_at) WHERE state IN ('done', 'dead', 'expired') AND kind != 'time'"
            ]),
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
