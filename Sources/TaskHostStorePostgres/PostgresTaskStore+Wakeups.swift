import Logging
import PostgresNIO
package import TaskHostStore

/// Wake-ups across hosts: `LISTEN`/`NOTIFY` on one channel.
///
/// Every transaction that makes a trigger runnable (enqueue, replay, unpark,
/// requeue, release, recovery of abandoned triggers) sends one
/// `pg_notify('taskhost_queue', '')` from inside the transaction; PostgreSQL
/// delivers it to every listening connection when, and only if, the
/// transaction commits. Each host listens on a connection of its own (not one
/// of the pool's: a listen holds its connection for as long as the host runs)
/// and wakes its dispatcher, which claims as it would after a poll.
extension PostgresTaskStore: QueueWakeupSource {
    /// The channel the store notifies and listens on.
    package static let wakeupChannel = "taskhost_queue"

    /// The `application_name` of the listening connection, as `pg_stat_activity` shows it.
    package static let wakeupApplicationName = "taskhost-wakeups"

    /// Connects, listens on ``wakeupChannel`` and calls `wake` for every
    /// notification until the calling task is cancelled; throws (code
    /// `unavailable`) when it cannot connect or the connection is lost.
    package func listenForWakeups(listening: @escaping @Sendable () -> Void, wake: @escaping @Sendable () -> Void) async throws(StoreError)
    {
        var configuration = databaseLocation.connectionConfiguration(tls: tls)  // the pool's TLS
        configuration.options.additionalStartupParameters = [("application_name", Self.wakeupApplicationName)]
        let logger = logger
        do {
            try await Self.listen(configuration, logger, listening: listening, wake: wake)
        } catch {
            if Task.isCancelled { return }
            throw PostgresFailure.storeError("listen for wake-ups on \(databaseLocation.description)", error)
        }
        if Task.isCancelled { return }
        throw StoreError(
            "store (PostgreSQL): the connection listening for wake-ups on \(databaseLocation.description) ended; "
                + "check that PostgreSQL runs; taskhost listens again",
            resultCode: PostgresFailure.resultCode(.unavailable))
    }

    /// One connection's listen: returns when the notifications end (the task
    /// was cancelled, or the server closed the connection cleanly), throws what
    /// broke the connection otherwise.
    private static func listen(
        _ configuration: PostgresConnection.Configuration, _ logger: Logger, listening: @escaping @Sendable () -> Void,
        wake: @escaping @Sendable () -> Void
    ) async throws {
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
        do {
            try await connection.listen(on: wakeupChannel) { notifications in
                listening()
                for try await _ in notifications { wake() }
            }
        } catch {
            try? await connection.close()
            throw error
        }
        try? await connection.close()
    }

    /// `statement`, a data-modifying statement with `RETURNING`, as one
    /// statement that returns the same rows and also notifies ``wakeupChannel``
    /// once when it changed a row (its transaction's commit delivers it).
    static func notifying(_ statement: PostgresQuery) -> PostgresQuery {
        PostgresQuery(
            unsafeSQL: """
                WITH changed AS (\(statement.sql)),
                    woken AS (SELECT pg_notify('\(wakeupChannel)', '') WHERE EXISTS (SELECT 1 FROM changed))
                SELECT changed.* FROM changed, (SELECT count(*) FROM woken) AS wake
                """, binds: statement.binds)
    }

    /// The statement that notifies ``wakeupChannel`` (once per transaction: it
    /// is the last statement of a transaction that made triggers runnable).
    static let wakeupNotification = PostgresQuery(unsafeSQL: "SELECT pg_notify('\(wakeupChannel)', '')")
}
