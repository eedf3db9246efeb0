import Foundation

/// A throw-away PostgreSQL cluster of its own (`initdb` into a temporary
/// directory, `pg_ctl start` on a free loopback port), stopped and deleted
/// when the test process ends however it ends. The tests' shared server
/// (``PostgresServer``) is one; a test that stops and restarts its server
/// starts another, so that it disturbs no other test.
package final class PostgresCluster: Sendable {
    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    package let url: String
    let directory: String
    let data: String
    let port: Int
    let pgCtl: String
    let asRoot: Bool
    /// Server settings added to the command line (`-c ssl=on …`).
    let settings: String

    private init(directory: String, port: Int, pgCtl: String, asRoot: Bool, settings: String) {
        self.directory = directory
        self.data = directory + "/data"
        self.port = port
        self.pgCtl = pgCtl
        self.asRoot = asRoot
        self.settings = settings
        url = "postgres://postgres@127.0.0.1:\(port)/postgres"
    }

    /// The port the server listens on (127.0.0.1).
    package var serverPort: Int { port }

    /// Creates and starts a cluster, or says why it cannot. With `tls`, the
    /// server has `ssl = on` with `tls`'s server certificate and key, and asks
    /// clients for a certificate signed by `tls`'s CA (`ssl_ca_file`; one is not
    /// required: `pg_hba.conf` still trusts every local connection, with TLS or
    /// without).
    package static func start(tls: TestCertificates? = nil) -> Result<PostgresCluster, PostgresServer.Unavailable> {
        let install = "apt-get install postgresql-15, or set TASKHOST_TEST_POSTGRES to the URL of a server"
        guard let initdb = PostgresServer.serverTool("initdb"), let pgCtl = PostgresServer.serverTool("pg_ctl") else {
            return .failure(.init(message: "PostgreSQL's initdb and pg_ctl are not installed (\(install)); .ci/run installs them"))
        }
        let asRoot = geteuid() == 0
        guard !asRoot || getpwnam("postgres") != nil else {
            return .failure(.init(message: "the tests run as root and there is no user postgres to run initdb as (\(install))"))
        }
        let directory = NSTemporaryDirectory() + "taskhost-postgres-" + UUID().uuidString
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            if asRoot { try FileManager.default.setAttributes([.ownerAccountName: "postgres"], ofItemAtPath: directory) }
        } catch {
            return .failure(.init(message: "cannot create the cluster's directory \(directory): \(error)"))
        }
        guard let port = PostgresServer.freeLoopbackPort() else { return .failure(.init(message: "no free loopback port for PostgreSQL")) }
        var settings = ""
        if let tls {
            // The server reads them as its own user, and refuses a key others may read.
            for (source, name, mode) in [
                (tls.serverCertificate, "server.crt", 0o644), (tls.serverKey, "server.key", 0o600), (tls.authority, "ca.crt", 0o644),
            ] {
                let target = directory + "/" + name
                do {
                    try FileManager.default.copyItem(atPath: source, toPath: target)
                    var attributes: [FileAttributeKey: Any] = [.posixPermissions: mode]
                    if asRoot { attributes[.ownerAccountName] = "postgres" }
                    try FileManager.default.setAttributes(attributes, ofItemAtPath: target)
                } catch {
                    return .failure(.init(message: "cannot install \(source) as the server's \(name): \(error)"))
                }
            }
            settings =
                " -c ssl=on -c ssl_cert_file='\(directory)/server.crt' -c ssl_key_file='\(directory)/server.key'"
                + " -c ssl_ca_file='\(directory)/ca.crt'"
        }
        let cluster = PostgresCluster(directory: directory, port: port, pgCtl: pgCtl, asRoot: asRoot, settings: settings)
        let initialize = cluster.asServerUser([
            initdb, "-D", cluster.data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C",
        ])
        if let failure = PostgresServer.run(initialize, log: directory + "/initdb.log") {
            return .failure(.init(message: "initdb failed: \(failure)"))
        }
        if let failure = cluster.startServer() { return .failure(.init(message: failure)) }
        PostgresServer.watch(
            directory: directory, data: cluster.data, stop: cluster.asServerUser([pgCtl, "stop", "-D", cluster.data, "-m", "immediate"]))
        return .success(cluster)
    }

    /// Starts the server (again); returns what went wrong, `nil` once it accepts connections.
    @discardableResult
    package func startServer() -> String? {
        let start = asServerUser([
            pgCtl, "start", "-w", "-t", "120", "-D", data, "-l", directory + "/server.log", "-o",
            "-c listen_addresses=127.0.0.1 -p \(port) -c unix_socket_directories='\(directory)' "
                + "-c fsync=on -c synchronous_commit=on -c max_connections=200" + settings,
        ])
        return PostgresServer.run(start, log: directory + "/pg_ctl-start.log").map {
            "pg_ctl start failed: \($0) (server log: \(directory)/server.log)"
        }
    }

    /// Stops the server as an operator's restart does (`-m fast`: sessions are
    /// ended, their transactions rolled back); returns what went wrong, `nil` once it is down.
    @discardableResult
    package func stopServer() -> String? {
        PostgresServer.run(asServerUser([pgCtl, "stop", "-w", "-D", data, "-m", "fast"]), log: directory + "/pg_ctl-stop.log").map {
            "pg_ctl stop failed: \($0)"
        }
    }

    private func asServerUser(_ command: [String]) -> [String] {
        asRoot ? ["/usr/sbin/runuser", "-u", "postgres", "--"] + command : command
    }
}
