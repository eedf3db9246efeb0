import HTTPTypes
package import TaskHostStore

extension PushRejection {
    /// `Retry-After` of a 503 for a store that is busy, unreachable or full:
    /// long enough for a busy timeout's lock holder to finish, short enough
    /// that a sender retrying at once after it loses no time.
    package static let storeRetryAfter = 2

    /// The answer to a push the store failed while `doing` (a phrase such as
    /// "the push could not be stored"), from the failure's ``StoreError/Code``:
    /// 503 with `Retry-After` when the condition is the store's and passes
    /// (`busy`, `unavailable`, `full`: the sender retries), 500 when retrying
    /// cannot help (`constraint`, `corrupt`, `notFound`, `other`: a bug or
    /// damage, for the operator). Nothing was acknowledged either way.
    package static func storeFailure(_ error: StoreError, _ doing: String) -> PushRejection {
        switch error.code {
        case .busy, .unavailable, .full:
            PushRejection(
                status: .serviceUnavailable,
                description: "\(doing): the store is \(Self.condition(error.code)); retry in \(storeRetryAfter) s",
                retryAfter: storeRetryAfter)
        case .constraint, .corrupt, .notFound, .other:
            PushRejection(
                status: .internalServerError,
                description: "\(doing): the host's store failed (\(error.code.rawValue)); the host's log says why")
        }
    }

    private static func condition(_ code: StoreError.Code) -> String {
        switch code {
        case .busy: "busy (its write lock is held)"
        case .full: "full (no space left for it)"
        default: "unavailable (it cannot be read or written now)"
        }
    }
}
