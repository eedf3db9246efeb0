import PostgresNIO
package import TaskHostStore

/// What ``HostStore`` adds to the protocols of each concern, from PostgreSQL.
extension PostgresTaskStore: HostStore {
    /// The database's URL without its password (`postgres://USER@HOST:PORT/DATABASE`).
    package var location: String { databaseLocation.description }

    /// The server's `synchronous_commit` and `fsync` settings, and the TLS of a
    /// pooled connection as the server reports it (`pg_stat_ssl`) with what
    /// ``PostgresStoreLocation/tls`` has checked: `synchronous_commit on, fsync on;
    /// TLS TLSv1.3, certificate and host name verified`, or `…; no TLS`.
    package func durabilityDescription() throws(StoreError) -> String {
        let rows = try rows(
            "read the server's durability settings",
            """
            SELECT current_setting('synchronous_commit'), current_setting('fsync'),
                (SELECT CASE WHEN ssl THEN version END FROM pg_stat_ssl WHERE pid = pg_backend_pid())
            """)
        let (commit, fsync, tlsVersion) = try decoding("read the server's durability settings") {
            try rows.first?.decode((String, String, String?).self) ?? ("unknown", "unknown", nil)
        }
        return "synchronous_commit \(commit), fsync \(fsync); " + (tlsVersion.map { "TLS \($0), \(verification)" } ?? "no TLS")
    }

    /// What the store checked of the server's certificate, for ``durabilityDescription()``.
    private var verification: String {
        let tls = databaseLocation.tls
        if tls.verifiesHostName { return "certificate and host name verified" }
        if tls.verifiesChain { return "certificate chain verified, host name not" }
        return "certificate not verified (sslmode=\(tls.mode.rawValue))"
    }

    /// A check that a pooled connection answers and the server takes writes
    /// (it is not a standby in recovery), within `timeout`.
    package func readinessCheck(timeout: Duration) -> StoreReadinessCheck {
        { () throws(StoreError) in try self.checkReadiness(timeout: timeout) }
    }

    /// Asks the server whether it is in recovery (read-only), waiting at most `timeout` for its answer.
    func checkReadiness(timeout: Duration) throws(StoreError) {
        let client = client
        let logger = logger
        let inRecovery: Bool
        do {
            inRecovery = try bridge.wait {
                try await withThrowingTaskGroup(of: Bool.self) { group in
                    group.addTask {
                        var answer = false
                        for try await value in try await client.query("SELECT pg_is_in_recovery()", logger: logger).decode(Bool.self) {
                            answer = value
                        }
                        return answer
                    }
                    group.addTask {
                        try await Task.sleep(for: timeout)
                        throw StoreError(
                            "store (PostgreSQL): no answer from the server within \(timeout) (is it up, and reachable from this host?)",
                            resultCode: PostgresFailure.resultCode(.unavailable))
                    }
                    defer { group.cancelAll() }
                    guard let first = try await group.next() else { return false }
                    return first
                }
            }
        } catch {
            throw PostgresFailure.storeError("check that the server answers", error)
        }
        if inRecovery {
            throw StoreError(
                "store (PostgreSQL): the server at \(location) is a standby in recovery and takes no writes; "
                    + "point --store at the primary", resultCode: PostgresFailure.resultCode(.unavailable))
        }
    }
}
