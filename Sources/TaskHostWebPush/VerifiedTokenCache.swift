package import Foundation
import Synchronization

/// VAPID tokens already verified, until their `exp`: a sender reuses one
/// token for up to 24 hours, so its signature is checked once, not per push.
/// Keyed by token, key and audience, so a token presented with another key
/// is verified on its own.
package final class VerifiedTokenCache: Sendable {
    private struct Entry {
        var exp: Date
        var credentials: VAPIDCredentials?
    }

    private let entries = Mutex<[String: Entry]>([:])
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
        let key = "t " + audience + " " + credentials.keyText + " " + credentials.token
        if let entry = entries.withLock({ $0[key] }), entry.exp > now { return entry.exp }
        let exp = try VAPID.verify(credentials, audience: audience, now: now)
        remember(key, Entry(exp: exp, credentials: nil), now: now)
        return exp
    }

    /// The credentials of a push's `Authorization` (and `Crypto-Key`)
    /// header, parsed as ``VAPID/parse(authorization:cryptoKey:)`` does and
    /// verified for `audience`. A header seen before whose token has not
    /// expired is neither parsed nor verified again: the same bytes give the
    /// same credentials, and senders send the same header for hours.
    package func authorize(authorization: String?, cryptoKey: String?, audience: String, now: Date = Date()) throws(WebPushError)
        -> VAPIDCredentials
    {
        let key = "h " + audience + "\n" + (authorization ?? "") + "\n" + (cryptoKey ?? "")
        if let entry = entries.withLock({ $0[key] }), entry.exp > now, let credentials = entry.credentials { return credentials }
        let credentials = try VAPID.parse(authorization: authorization, cryptoKey: cryptoKey)
        let exp = try VAPID.verify(credentials, audience: audience, now: now)
        remember(key, Entry(exp: exp, credentials: credentials), now: now)
        return credentials
    }

    private func remember(_ key: String, _ entry: Entry, now: Date) {
        let capacity = self.capacity
        entries.withLock { entries in
            if entries.count >= capacity { entries = entries.filter { $0.value.exp > now } }
            if entries.count >= capacity { entries.removeAll() }
            entries[key] = entry
        }
    }

    /// Tokens remembered now (tests).
    package var count: Int { entries.withLock { $0.count } }
}
