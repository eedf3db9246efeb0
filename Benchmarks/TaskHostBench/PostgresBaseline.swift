import Foundation
import TaskHostConcurrency
import TaskHostCore
import TaskHostStore
import TaskHostStorePostgres

extension Bench {
    /// The postgres section (issue 16), on a server `--postgres` names, each
    /// measurement on a fresh database with the store's schema, dropped at the
    /// end: durable ingest through the HTTP endpoint vs `pgbench` and SQLite
    /// (``postgresIngest(_:products:state:)``), the store's enqueue transaction
    /// by batch size, dispatch throughput with one and two hosts
    /// (``postgresDispatch(_:products:state:)``) and claim latency with a long
    /// queue (``postgresClaimLatency(_:)``).
    func postgres(_ products: Products, state: String) async throws {
        let server = try PostgresBenchServer(url: postgres)
        defer { server.dropAll() }
        let pgbench = try await postgresIngest(server, products: products, state: state)
        try await Self.blocking.run { [self] () throws in try postgresEnqueueCost(server, pgbench64: pgbench[64] ?? .nan) }
        try await postgresDispatch(server, products: products, state: state)
        try await postgresClaimLatency(server)
    }

    /// The store's own enqueue transaction by batch size
    /// (`PostgresTaskStore.enqueue`, one thread: the group committer's unit of
    /// work), next to pgbench's one INSERT per transaction at 64 clients measured
    /// earlier in the run.
    func postgresEnqueueCost(_ server: PostgresBenchServer, pgbench64: Double) throws {
        let database = try server.freshDatabase()
        let store = try PostgresTaskStore(location: database.location, logger: .silent)
        defer { store.close() }
        var table = Table(
            "PostgreSQL: the store's enqueue transaction by batch size vs one durable INSERT per transaction (pgbench)",
            ["what", "pushes per commit", "pushes per second", "wall per commit", "vs pgbench, 64 clients"])
        table.row("pgbench, one INSERT per transaction, 64 clients (ingest table above)", "1", Format.count(pgbench64), "–", "1.00×")
        for batch in [1, 16, 64] {
            let commits = (quick ? 300 : 1_500) / batch + 20
            let batches = (0..<commits).map { _ in (0..<batch).map { _ in Self.benchTrigger() } }
            let start = Clock.monotonic()
            for triggers in batches { try store.enqueue(triggers) }
            let seconds = Double(Clock.monotonic() - start) / 1e9
            let rate = Double(commits * batch) / seconds
            table.row(
                "`PostgresTaskStore.enqueue`, one thread", "\(batch)", Format.count(rate), Format.ms(seconds / Double(commits) * 1e3),
                Format.ratio(rate, over: pgbench64))
        }
        table.note(
            "64-byte payloads with a WNS push's headers, one transaction at a time from one thread, a fresh database: a batch is what "
                + "the group committer hands the store when pushes arrive together.")
        table.print()
    }

    /// One push as the endpoint would enqueue it.
    static func benchTrigger() -> NewTrigger {
        let event = TriggerEvent(
            kind: .pushNotification, triggerId: NewTrigger.newId(), payload: Array(repeating: 120, count: 64),
            channelId: PushChannel.newId(),
            headers: [
                "x-wns-type": "wns/raw", "content-type": "application/octet-stream", "host": "127.0.0.1:8080", "content-length": "64",
            ])
        return NewTrigger(app: "com.example.bench", task: "Noop", event: event)
    }

    /// pgbench's transaction: one push inserted as the store inserts it, alone.
    static let pgbenchScript = """
        INSERT INTO trigger (id, app, task, kind, payload, channel_id, headers, arguments, state, attempts, created_at, available_at, updated_at)
        VALUES (replace(gen_random_uuid()::text, '-', ''), 'com.example.bench', 'Noop', 'push', decode(repeat('78', 64), 'hex'),
                gen_random_uuid()::text, decode(repeat('61', 90), 'hex'), ''::bytea, 'pending', 0, now(), now(), now());

        """

    /// Runs `executable` to its end with `posix_spawn` (its output in a file, read
    /// afterwards); returns the output, or throws it when it fails. Not Foundation's
    /// `Process`: its child kept the bench's blocked signals here (pgbench's `-T` run never ended).
    @discardableResult
    static func runTool(_ executable: String, _ arguments: [String]) throws -> String {
        let log = NSTemporaryDirectory() + "taskhost-bench-tool-" + RandomToken.hex(bytes: 6)
        defer { unlink(log) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        // An empty signal mask and default dispositions: the bench's threads block
        // signals that the child needs (pgbench ends its -T run on SIGALRM).
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var signals = sigset_t()
        sigemptyset(&signals)
        posix_spawnattr_setsigmask(&attributes, &signals)
        sigfillset(&signals)
        posix_spawnattr_setsigdefault(&attributes, &signals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard spawned == 0 else { throw BenchError("cannot start \(executable): \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        let exited = status & 0x7F == 0
        guard exited && (status >> 8) & 0xFF == 0 else {
            throw BenchError("\((executable as NSString).lastPathComponent) failed (wait status \(status)): \(text.suffix(600))")
        }
        return text
    }
}
