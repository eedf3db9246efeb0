import Foundation
import Logging
import TaskHostStore
import TaskHostStoreBackends

extension StateOptions {
    /// Opens the store for `taskhost serve`. A PostgreSQL server that does not
    /// answer (it is starting, or the network is not up yet) is waited for:
    /// each failure is logged and the open retried after 1 s, doubling to
    /// 30 s, until it answers or the host is stopped, so that a host started
    /// before its database does not crash-loop. Any other error (a malformed
    /// URL, a refused password, a missing database, a damaged SQLite file, and
    /// every TLS failure: a server without TLS under `sslmode=require`, a
    /// certificate of another CA or for another host, a missing `sslrootcert`
    /// file, none of which waiting changes) ends the command at once with its message.
    func openStoreWaiting(leaseDuration: Duration, logger: Logger) async throws -> any HostStore {
        let location = try storeLocation()
        var delay: Duration = .seconds(1)
        var attempt = 1
        while true {
            do {
                return try location.open(leaseDuration: leaseDuration, logger: logger)
            } catch  where location.isServer && error.code == .unavailable {
                logger.error(
                    "cannot reach the store; retrying",
                    metadata: ["store": "\(location)", "attempt": "\(attempt)", "retryIn": "\(delay)", "error": "\(error.message)"])
                try await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(30))
                attempt += 1
            } catch {
                throw CLIError(error.description)
            }
        }
    }
}
