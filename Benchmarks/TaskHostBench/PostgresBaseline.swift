import Foundation
import TaskHostCore
import TaskHostStore
import TaskHostStorePostgres

extension Bench {
    /// The PostgreSQL baselines of issue 16, in one run on a fresh database with the
    /// PostgreSQL store's schema: what committing each push alone costs the database
    /// (`pgbench`, a custom script of one INSERT per transaction into `trigger`, at 1,
    /// 16 and 64 clients), next to the store's own enqueue transaction by batch size
    /// (`PostgresTaskStore.enqueue`, one thread: the group committer's unit of work).
    ///
    /// Not yet here: ingest through the HTTP endpoint on PostgreSQL (the backend is not
    /// wired into `taskhost serve` yet), whose target is 1.5× pgbench's rate at 64 clients.
    func postgresBaseline(state: String) throws {
        guard let server = postgres else {
            throw BenchError(
                "the postgres section needs --postgres URL: a PostgreSQL server whose role may create databases "
                    + "(e.g. postgres://postgres@127.0.0.1:5432/postgres)")
        }
        guard let pgbench = Self.which("pgbench"), let psql = Self.which("psql") else {
            throw BenchError("the postgres section needs pgbench and psql (apt-get install postgresql-client-15)")
        }
        let location = try PostgresStoreLocation(url: server)
        let database = "taskhost_bench_" + RandomToken.hex(bytes: 6)
        try Self.runTool(psql, [server, "-v", "ON_ERROR_STOP=1", "-qc", "CREATE DATABASE \(database)"])
        defer { _ = try? Self.runTool(psql, [server, "-qc", "DROP DATABASE IF EXISTS \(database) WITH (FORCE)"]) }
        let target = location.with(database: database)
        let store = try PostgresTaskStore(location: target, logger: .silent)
        defer { store.close() }
        let targetURL =
            "postgres://\(target.user)\(target.password.map { ":" + $0 } ?? "")@\(target.host ?? "localhost"):\(target.port)/\(database)"
        let settings = try Self.runTool(psql, [targetURL, "-Atc", "SHOW synchronous_commit; SHOW fsync"])
            .split(separator: "\n").joined(separator: ", ")

        let script = "\(state)/pgbench-insert.sql"
        try Self.pgbenchScript.write(toFile: script, atomically: true, encoding: .utf8)
        var table = Table(
            "PostgreSQL: one durable INSERT per transaction (pgbench) vs the store's enqueue transaction",
            ["what", "clients / pushes per commit", "pushes per second", "vs pgbench, 64 clients"])
        var rates: [(String, String, Double)] = []
        for clients in [1, 16, 64] {
            let output = try Self.runTool(
                pgbench,
                [
                    "-n", "-M", "prepared", "-f", script, "-c", "\(clients)", "-j", "\(min(clients, 2))", "-T",
                    "\(Int(seconds.rounded(.up)))",
                    targetURL,
                ])
            guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("tps = ") }),
                let tps = Double(line.dropFirst("tps = ".count).prefix { $0 != " " })
            else { throw BenchError("cannot read pgbench's rate: \(output.suffix(400))") }
            rates.append(("pgbench, one INSERT per transaction", clients == 1 ? "1 client" : "\(clients) clients", tps))
        }
        for batch in [1, 16, 64] {
            let commits = (quick ? 300 : 1_500) / batch + 20
            let batches = (0..<commits).map { _ in (0..<batch).map { _ in Self.benchTrigger() } }
            let start = Clock.monotonic()
            for triggers in batches { try store.enqueue(triggers) }
            let seconds = Double(Clock.monotonic() - start) / 1e9
            rates.append(("`PostgresTaskStore.enqueue`, one thread", "\(batch) per commit", Double(commits * batch) / seconds))
        }
        let baseline = rates[2].2
        for (what, how, rate) in rates { table.row(what, how, Format.count(rate), Format.ratio(rate, over: baseline)) }
        table.note(
            "PostgreSQL \(settings) (synchronous_commit, fsync), a fresh database with the store's schema (its indexes included), "
                + "64-byte payloads with a WNS push's headers, \(Int(seconds.rounded(.up))) s per pgbench cell. The store's rows run "
                + "one transaction at a time from one thread: a batch is what the group committer hands it when pushes arrive together.")
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
