import Foundation
import Synchronization

/// Token buckets by key (a channel, a credential, a source address): `burst`
/// requests at once, refilled at `ratePerSecond`. The table of buckets is
/// bounded: past `capacity` keys, buckets that have refilled are forgotten
/// (a full bucket is the same as none), then, if that is not enough, the half
/// least recently used, so that a flood of distinct keys cannot grow it
/// without bound.
package final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    package let ratePerSecond: Double
    package let burst: Double
    /// Keys remembered at most.
    package let capacity: Int
    private let buckets = Mutex<[String: Bucket]>([:])
    private let clock = ContinuousClock()

    /// A limiter allowing `burst` requests at once and `ratePerSecond` on
    /// average per key, remembering at most `capacity` keys.
    package init(ratePerSecond: Double, burst: Int, capacity: Int = 100_000) {
        self.ratePerSecond = max(0, ratePerSecond)
        self.burst = Double(max(1, burst))
        self.capacity = max(1, capacity)
    }

    /// Takes one token for `key`; returns whether there was one.
    package func allow(_ key: String) -> Bool {
        update(key) { bucket in
            guard bucket.tokens >= 1 else { return false }
            bucket.tokens -= 1
            return true
        }
    }

    /// How long until `key` has a token again: `nil` when it has one now
    /// (nothing is taken).
    package func wait(for key: String) -> Duration? {
        let now = clock.now
        // A key without a bucket has a full one: nothing to remember.
        guard let bucket = buckets.withLock({ $0[key] }) else { return nil }
        let tokens = refilled(bucket, at: now)
        guard tokens < 1 else { return nil }
        guard ratePerSecond > 0 else { return .seconds(86_400) }
        return .milliseconds(Int64(((1 - tokens) / ratePerSecond * 1000).rounded(.up)))
    }

    /// Takes one token for `key` if there is one (a failure to count).
    package func take(_ key: String) {
        _ = allow(key)
    }

    /// Keys remembered now.
    var count: Int { buckets.withLock { $0.count } }

    /// Refills `key`'s bucket to now, lets `body` look at or change it, and
    /// keeps the table within `capacity`.
    private func update<Result>(_ key: String, _ body: (inout Bucket) -> Result) -> Result {
        let now = clock.now
        return buckets.withLock { buckets in
            var bucket = buckets[key] ?? Bucket(tokens: burst, updated: now)
            bucket.tokens = refilled(bucket, at: now)
            bucket.updated = now
            let result = body(&bucket)
            buckets[key] = bucket
            if buckets.count > capacity { trim(&buckets, now: now) }
            return result
        }
    }

    private func refilled(_ bucket: Bucket, at now: ContinuousClock.Instant) -> Double {
        let elapsed = now - bucket.updated
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return min(burst, bucket.tokens + seconds * ratePerSecond)
    }

    /// Forgets the buckets that have refilled, then if still over capacity
    /// the least recently used half.
    private func trim(_ buckets: inout [String: Bucket], now: ContinuousClock.Instant) {
        buckets = buckets.filter { refilled($0.value, at: now) < burst }
        guard buckets.count > capacity else { return }
        let keep = buckets.sorted { $0.value.updated > $1.value.updated }.prefix(capacity / 2)
        buckets = Dictionary(uniqueKeysWithValues: keep.map { ($0.key, $0.value) })
    }
}
