package import Foundation
import Synchronization

/// VAPID tokens already verified, until their `exp`: a sender reuses one
/// token for up to 24 hours, so its signature is checked once, not per push.
/// Keyed by token, key and audience, so a token presented with another key
/// is verified on its own.
package final class VerifiedTokenCache: Sendable {
    private let entries = Mutex<[String: Date]>([:])
    /// Tokens remembered at most; past it, expired ones are dropped, then all.
    package let capacity: Int

    /// Creates an empty cache.
    package init(capacity: Int = 10_000) {
        self.capacity = max(1, capacity)
    }

    /// Verifies `credentials` as ``VAPID/verify(_:audience:now:)`` does,
    /// unless the same token, key and audience were verified before and the
    /// token has not expired. Returns its `exp`.
    package func verify(_ credentials: VAPIDCredentials, audience: String, now: Date = Date()) throws(WebPushError) -> Date {
        let key = audience + " " + Base64URL.encode(credentials.key) + " " + credentials.token
        if let exp = entries.withLock({ $0[key] }), exp > now { return exp }
        let exp = try VAPID.verify(credentials, audience: audience, now: now)
        let capacity = self.capacity
        entries.withLock { entries in
            if entries.count >= capacity { entries = entries.filter { $0.value > now } }
            if entries.count >= capacity { entries.removeAll() }
            entries[key] = exp
        }
        return exp
    }

    /// Tokens remembered now (tests).
    package var count: Int { entries.withLock { $0.count } }
}
