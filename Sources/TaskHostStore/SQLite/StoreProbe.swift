import Foundation
import GRDB
import Synchronization

/// Asks the SQLite store whether it can take a write now, for readiness
/// checks (``SQLiteTaskStore/readinessCheck(timeout:)``): a
/// connection of its own begins an immediate (write-locking) transaction and
/// rolls it back, waiting at most ``timeout`` for the lock. A store that
/// cannot be opened, read or locked for writing within that time fails it.
///
/// The connection is opened at the first check and kept; a check that fails
/// drops it, so that the next one opens the file again.
package final class StoreProbe: Sendable {
    /// The database file.
    package let path: String
    /// How long a check waits for the write lock.
    package let timeout: Duration
    private let connection = Mutex<DatabaseQueue?>(nil)

    /// A probe of the database at `path`.
    package init(path: String, timeout: Duration = .seconds(1)) {
        self.path = path
        self.timeout = timeout
    }

    /// A probe of `store`'s database.
    package convenience init(store: SQLiteTaskStore, timeout: Duration = .seconds(1)) {
        self.init(path: store.path, timeout: timeout)
    }

    /// Returns if the store answers and could take a write now; throws what
    /// kept it from it otherwise (``StoreError/code`` says which kind). Blocks
    /// the calling thread for up to ``timeout``.
    package func check() throws(StoreError) {
        do {
            try connection.withLock { (queue: inout DatabaseQueue?) throws -> Void in
                do {
                    if queue == nil {
                        guard FileManager.default.fileExists(atPath: path) else {
                            throw StoreError("store: the database \(path) does not exist", resultCode: 14)
                        }
                        var configuration = Configuration()
                        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
                        configuration.busyMode = .timeout(seconds)
                        configuration.label = "taskhost.store-probe"
                        queue = try DatabaseQueue(path: path, configuration: configuration)
                    }
                    try queue?.inTransaction(.immediate) { db in
                        _ = try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master")
                        return .rollback
                    }
                } catch {
                    queue = nil
                    throw error
                }
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw SQLiteTaskStore.failure("take the write lock", error)
        }
    }
}
