import Foundation
import TaskHostConcurrency

#if canImport(Glibc)
import Glibc
#endif

/// A real PostgreSQL server for the tests of the PostgreSQL store backend.
///
/// `TASKHOST_TEST_POSTGRES` (a URL such as `postgres://postgres@127.0.0.1:5432/postgres`,
/// of a role that may create databases) names one; `.ci/run` starts a throw-away
/// cluster and exports it. Without it, the first test that asks starts a cluster of
/// its own, once per test process: `initdb` into a temporary directory (as the user
/// `postgres` when the tests run as root: initdb refuses root), `pg_ctl start` on a
/// free loopback port with `fsync` and `synchronous_commit` on (what production
/// runs with). A watcher process stops it and deletes its directory when the test
/// process exits, however it exits (`kill -9` too).
///
/// When PostgreSQL cannot be found or started, ``current()`` says why: outside CI
/// the tests that need it are skipped with that reason (``testsRun()``, their
/// suites' condition); under CI (`CI` set) they run and fail.
package enum PostgresServer {
    /// The URL of the server to create test databases on, or why there is none.
    /// Starting the cluster blocks for seconds (initdb, pg_ctl): only ``current()``
    /// reads it, on a thread of its own, never on the cooperative pool, where it
    /// would stall every other test of the process meanwhile.
    private static let server: Result<String, Unavailable> = {
        if let url = ProcessInfo.processInfo.environment["TASKHOST_TEST_POSTGRES"], !url.isEmpty { return .success(url) }
        return startCluster()
    }()

    /// The one thread that starts the cluster.
    private static let starter = BlockingExecutor(name: "pgsql-cluster", maxThreads: 1)

    /// The server's URL, or why there is none (the first call starts the cluster).
    package static func current() async -> Result<String, Unavailable> {
        await starter.run { server }
    }

    /// Whether the PostgreSQL tests run: PostgreSQL is there, or we are under CI,
    /// where its absence must fail them. Outside CI a missing server prints why
    /// the tests are skipped.
    package static func testsRun() async -> Bool {
        guard case .failure(let reason) = await current() else { return true }
        if ExternalTools.underCI { return true }
        print("skipped: the PostgreSQL store's tests: \(reason.message)")
        return false
    }

    /// The server's URL; a missing server is an error naming what to install.
    package static func url() async throws -> String { try await current().get() }

    /// Why the tests have no PostgreSQL.
    package struct Unavailable: Error, CustomStringConvertible {
        /// What is missing and what to do.
        package var message: String
        package var description: String { message }
    }

    /// The directories searched for `initdb` and `pg_ctl` after `PATH` (Debian
    /// installs them under `/usr/lib/postgresql/VERSION/bin`, not on `PATH`).
    static let serverDirectories = ["/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin"]

    /// The path of the server program `name`, if installed.
    static func serverTool(_ name: String) -> String? {
        if let found = ExternalTools.executable(name) { return found }
        return serverDirectories.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Starts the throw-away cluster and its watcher; returns its URL.
    static func startCluster() -> Result<String, Unavailable> {
        PostgresCluster.start().map(\.url)
    }

    /// Runs `command` to its end, its output in `log`; returns what went wrong, `nil` on success.
    static func run(_ command: [String], log: String) -> String? {
        let child: ChildProcess
        do {
            child = try ChildProcess.start(command[0], arguments: Array(command.dropFirst()), output: .file(log), error: .standardOutput)
        } catch {
            return "cannot run \(command[0]): \(error)"
        }
        let termination = child.waitBlocking()
        guard termination != .exited(0) else { return nil }
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        return "\(termination.map(String.init(describing:)) ?? "did not end"): \(output.suffix(600))"
    }

    /// Starts a shell that waits for this process to end, however it ends, then
    /// stops the cluster and deletes its directory. Its output goes nowhere, so it
    /// never keeps a pipe of the test run open.
    static func watch(directory: String, data: String, stop: [String]) {
        let quoted = stop.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        let script = "while kill -0 \(getpid()) 2>/dev/null; do sleep 1; done; \(quoted) >/dev/null 2>&1; rm -rf '\(directory)'"
        _ = try? ChildProcess.start("/bin/sh", arguments: ["-c", script], output: .null, error: .null)
    }

    /// A TCP port on 127.0.0.1 that nothing listens on now.
    package static func freeLoopbackPort() -> Int? {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { return nil }
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(socket, $0, length) == 0 && getsockname(socket, $0, &length) == 0
            }
        }
        return bound ? Int(UInt16(bigEndian: address.sin_port)) : nil
    }
}
