import PostgresNIO
import TaskHostCore
package import TaskHostStore
import _ConnectionPoolModule

/// PostgreSQL's failures as ``StoreError``s with the right ``StoreError/Code``.
///
/// `StoreError` derives its code from a SQLite result code; a PostgreSQL failure
/// carries the SQLite code of the same class (busy 5, unavailable 14, constraint
/// 19, full 13, corrupt 11), so code that acts on ``StoreError/code`` (the push
/// endpoint's 503 with `Retry-After`) treats both backends alike. The SQLSTATE
/// and PostgreSQL's own message are in ``StoreError/message``, the error itself in
/// ``StoreError/underlying``.
package enum PostgresFailure {
    /// The code of a PostgreSQL SQLSTATE (`nil`: not one the store acts on).
    ///
    /// serialization_failure 40001, deadlock_detected 40P01, lock_not_available
    /// 55P03: busy. Class 23 (unique, foreign key, check, not null violations):
    /// constraint. disk_full 53100, out_of_memory 53200 and the rest of class 53:
    /// full. data_corrupted XX001, index_corrupted XX002: corrupt. Class 08
    /// (connection exceptions), admin_shutdown 57P01, crash_shutdown 57P02,
    /// cannot_connect_now 57P03: unavailable.
    package static func code(sqlState: String) -> StoreError.Code? {
        switch sqlState {
        case "40001", "40P01", "55P03": return .busy
        case "XX001", "XX002": return .corrupt
        case "57P01", "57P02", "57P03": return .unavailable
        default: break
        }
        switch sqlState.prefix(2) {
        case "23": return .constraint
        case "53": return .full
        case "08": return .unavailable
        default: return nil
        }
    }

    /// The SQLite result code of the same class as `code`, which ``StoreError`` derives its code from.
    package static func resultCode(_ code: StoreError.Code) -> Int32? {
        switch code {
        case .busy: 5
        case .unavailable: 14
        case .constraint: 19
        case .full: 13
        case .corrupt: 11
        case .notFound: 12
        case .other: nil
        }
    }

    /// The error of the store operation `what` that failed with `error`.
    package static func storeError(_ what: String, _ error: any Error) -> StoreError {
        if let error = error as? StoreError { return error }
        let (code, detail) = classify(error)
        return StoreError(
            "store (PostgreSQL): cannot \(what): \(detail)\(advice(code))", resultCode: code.flatMap(resultCode), underlying: error)
    }

    /// What kind of failure `error` is, and what PostgreSQL said.
    static func classify(_ error: any Error) -> (StoreError.Code?, String) {
        if let transaction = error as? PostgresTransactionError {
            // The first failure of the transaction is its cause.
            if let cause = transaction.beginError ?? transaction.closureError ?? transaction.commitError {
                return classify(cause)
            }
        }
        if let error = error as? ConnectionPoolError {
            switch error {
            case .connectionCreationCircuitBreakerTripped:
                return (.unavailable, "no connection to PostgreSQL could be made for a while (the pool's circuit breaker tripped)")
            case .poolShutdown: return (.unavailable, "the store is closed")
            default: return (nil, "\(error)")
            }
        }
        if let timeout = error as? BlockingBridge.Timeout { return (.unavailable, "\(timeout)") }
        guard let error = error as? PSQLError else { return (nil, "\(error)") }
        // Permanent: waiting does not give a server TLS or its certificate another CA.
        if let tls = PostgresTLSFailure.message(error) { return (nil, tls) }
        switch error.code {
        case .server:
            let state = error.serverInfo?[.sqlState] ?? ""
            let message = error.serverInfo?[.message] ?? "unknown error"
            let detail = error.serverInfo?[.detail].map { " (\($0))" } ?? ""
            return (code(sqlState: state), "\(message)\(detail) [SQLSTATE \(state)]")
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed:
            let underlying = error.underlying.map { ": \($0)" } ?? ""
            return (.unavailable, "the connection to PostgreSQL failed (\(error.code))\(underlying)")
        default:
            return (nil, "\(error.code)")
        }
    }

    private static func advice(_ code: StoreError.Code?) -> String {
        switch code {
        case .unavailable: "; check that PostgreSQL runs and that --store names it (taskhost serve keeps retrying)"
        case .busy: "; another transaction held the rows; retry"
        case .full: "; free space on the database server"
        case .corrupt: "; the database reported damaged data: restore it from a backup (see PostgreSQL's amcheck)"
        default: ""
        }
    }
}
