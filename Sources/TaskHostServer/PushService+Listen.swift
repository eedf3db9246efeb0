import Foundation
import HTTPTypes
import TaskHostStore

extension PushService {
    /// Checks a listener's bearer token for `app` (`GET /listen/v1/APP`), as
    /// pushes are checked: 429 while the source address is over its failed
    /// authentications, 401 for a missing, malformed, unknown or revoked token
    /// (counted against the address when `countFailure`), 403 for a token that
    /// may not listen to `app` (a push token, or another app's listen token).
    /// Reads the store when the credential is not cached: call it off the pool.
    package func authorizeListener(
        app: String, authorization: String?, source: String?, countFailure: Bool = true
    ) throws(PushRejection) -> ListenerGrant {
        let credential = try authenticate(authorization, source: source, countFailure: countFailure)
        guard credential.scope == .listen else {
            throw PushRejection(
                status: 403,
                description: "this token may push, not listen: listen with a token from taskhost credentials create --app \(app) --listen")
        }
        guard credential.app == app else {
            throw PushRejection(
                status: 403, description: "this token may not listen to \(app): its credential listens to another app")
        }
        return ListenerGrant(app: app, claims: false)
    }

    /// ``authorizeListener(app:authorization:source:countFailure:)`` on the store-read executor, never on the pool.
    package func authorizeListenerOffThePool(
        app: String, claims: Bool, authorization: String?, source: String?, countFailure: Bool = true
    ) async throws(PushRejection) -> ListenerGrant {
        var grant = try await storeReads.run { () throws(PushRejection) -> ListenerGrant in
            try self.authorizeListener(app: app, authorization: authorization, source: source, countFailure: countFailure)
        }
        grant.claims = claims
        return grant
    }
}
