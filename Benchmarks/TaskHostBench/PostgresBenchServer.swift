import Foundation
import Synchronization
import TaskHostCore
import TaskHostStore
import TaskHostStorePostgres

/// The PostgreSQL server of the postgres section (`--postgres URL`), the
/// tools that drive it (`psql`, `pgbench`) and the throw-away databases the
/// section creates on it, each with the store's schema; ``dropAll()`` drops them.
final class PostgresBenchServer: Sendable {
    /// The URL `--postgres` gave (its role may create databases).
    let url: String
    let location: PostgresStoreLocation
    let psql: String
    let pgbench: String
    private let databases = Mutex<[String]>([])

    init(url: String?) throws {
        guard let url else {
            throw BenchError(
                "the postgres section needs --postgres URL: a PostgreSQL server whose role may create databases "
                    + "(e.g. postgres://postgres@127.0.0.1:5432/postgres)")
        }
        guard let pgbench = Bench.which("pgbench"), let psql = Bench.which("psql") else {
            throw BenchError("the postgres section needs pgbench and psql (apt-get install postgresql-client-15)")
        }
        self.url = url
        self.location = try PostgresStoreLocation(url: url)
        self.psql = psql
        self.pgbench = pgbench
    }

    /// Creates an empty database and gives it the store's schema (by opening a
    /// store on it once); returns where it is, for the store and for libpq's tools.
    func freshDatabase() throws -> (location: PostgresStoreLocation, url: String) {
        let name = "taskhost_bench_" + RandomToken.hex(bytes: 6)
        try Bench.runTool(psql, [url, "-v", "ON_ERROR_STOP=1", "-qc", "CREATE DATABASE \(name)"])
        databases.withLock { $0.append(name) }
        let target = location.with(database: name)
        let store = try PostgresTaskStore(location: target, logger: .silent)
        store.close()
        return (target, Self.libpqURL(target))
    }

    /// Drops every database ``freshDatabase()`` created.
    func dropAll() {
        let names = databases.withLock { names in
            defer { names.removeAll() }
            return names
        }
        for name in names { _ = try? Bench.runTool(psql, [url, "-qc", "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"]) }
    }

    /// Runs `sql` on the database at `target` (a libpq URL); returns what psql printed, unaligned.
    @discardableResult
    func sql(_ target: String, _ sql: String) throws -> String {
        try Bench.runTool(psql, [target, "-v", "ON_ERROR_STOP=1", "-Atqc", sql]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `location` as libpq's tools take it (`?host=DIR` for a Unix socket).
    static func libpqURL(_ location: PostgresStoreLocation) -> String {
        let credentials = location.user + (location.password.map { ":" + $0 } ?? "")
        if let directory = location.socketDirectory {
            return "postgres://\(credentials)@/\(location.database)?host=\(directory)&port=\(location.port)"
        }
        return "postgres://\(credentials)@\(location.host ?? "localhost"):\(location.port)/\(location.database)"
    }

    /// CPU seconds (user + system) that the PostgreSQL server's processes on this
    /// machine have used so far: the live ones (`postgres` in /proc), plus the
    /// ended backends that the postmaster reaped (its children's time). `nil`
    /// when none is found (a server on another machine).
    static func cpuSeconds() -> Double? {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return nil }
        var ticks = 0.0
        var found = false
        for entry in entries where entry.first?.isNumber == true {
            guard let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")"),
                stat[stat.index(after: open)..<close] == "postgres"
            else { continue }
            // After the command: state is field 3 overall; utime, stime, cutime, cstime are 14–17.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 14 else { continue }
            found = true
            ticks += fields[11...14].compactMap { Double($0) }.reduce(0, +)
        }
        return found ? ticks / Double(sysconf(Int32(_SC_CLK_TCK))) : nil
    }

    /// CPU seconds every process of the machine has used since boot (`/proc/stat`:
    /// user, nice, system, irq, softirq and steal time of all cores; idle and
    /// I/O wait left out), or `nil` when it cannot be read.
    static func machineCPUSeconds() -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let line = stat.split(separator: "\n").first, line.hasPrefix("cpu ")
        else { return nil }
        let ticks = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard ticks.count >= 8 else { return nil }
        let busy = ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6] + ticks[7]
        return busy / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}
